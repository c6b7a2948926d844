"""Multi-task learning: auxiliary per-modality heads in a fusion network.

With ``aux_weight > 0``, ``FusionNetClassifier`` adds one head per modality
that predicts the class from that modality's embedding alone, and trains on
``main loss + aux_weight * mean(auxiliary losses)``. Each branch must then
learn features useful on their own, which helps when a modality is missing at
prediction time, as the second test set shows (half its texts removed).
"""

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.model_selection import train_test_split

from mmensemble import FusionNetClassifier, ImageEncoder, MFCCEncoder
from mmensemble.datasets import make_multimodal_classification

X, y = make_multimodal_classification(240, n_classes=3, signal=0.3, random_state=0)
X_train, X_test, y_train, y_test = train_test_split(X, y, stratify=y, random_state=0)
X_test_degraded = X_test.copy()
X_test_degraded.loc[X_test.index[::2], "text"] = None

modalities = [
    ("image", ImageEncoder(image_size=64), "image"),
    ("audio", MFCCEncoder(sr=8000, n_fft=256, hop_length=80, n_mels=40), "audio"),
    ("text", TfidfVectorizer(), "text"),
    ("tabular", "passthrough", ["tabular_0", "tabular_1", "tabular_2", "tabular_3"]),
]
for aux_weight in [0.0, 0.5]:
    net = FusionNetClassifier(
        modalities, aux_weight=aux_weight, max_epochs=200, random_state=0
    )
    net.fit(X_train, y_train)
    print(
        f"aux_weight={aux_weight}: accuracy {net.score(X_test, y_test):.3f}, "
        f"with half the texts missing {net.score(X_test_degraded, y_test):.3f}"
    )
