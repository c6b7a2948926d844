"""Early fusion: encode every modality, concatenate the blocks, fit one model.

``FeatureFusion`` applies one encoder per modality (a pretrained CNN for the
images, MFCCs for the clips, TF-IDF for the texts, the numbers as they are),
scales each block to the same total variance, so that the 1280 image features
do not drown the 4 tabular ones, and concatenates the blocks. Any sklearn
model then learns from all modalities at once.
"""

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline

from mmensemble import FeatureFusion, ImageEncoder, MFCCEncoder
from mmensemble.datasets import make_multimodal_classification

X, y = make_multimodal_classification(240, n_classes=3, signal=0.3, random_state=0)
X_train, X_test, y_train, y_test = train_test_split(X, y, stratify=y, random_state=0)
tabular = ["tabular_0", "tabular_1", "tabular_2", "tabular_3"]

fusion = FeatureFusion(
    [
        # The images are 16x16 pixels: a 64-pixel network input is plenty.
        ("image", ImageEncoder(image_size=64), "image"),
        ("audio", MFCCEncoder(sr=8000, n_fft=256, hop_length=80, n_mels=40), "audio"),
        ("text", TfidfVectorizer(), "text"),
        ("tabular", "passthrough", tabular),
    ]
)
model = make_pipeline(fusion, LogisticRegression(C=10.0, max_iter=2000))
model.fit(X_train, y_train)

widths = {
    name: block.stop - block.start for name, block in fusion.output_indices_.items()
}
print(f"fused blocks and their widths: {widths}")
print(f"early fusion accuracy: {model.score(X_test, y_test):.3f}")
