"""A shared-layer network: one branch per modality, a shared trunk, a head.

``FusionNetClassifier`` encodes each modality once (pretrained CNN, MFCCs,
TF-IDF, numbers), maps every block to an embedding with its own small branch,
concatenates the embeddings, and trains the branches, the shared trunk and
the classification head together (torch, on the GPU when there is one).
"""

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.model_selection import train_test_split

from mmensemble import FusionNetClassifier, ImageEncoder, MFCCEncoder
from mmensemble.datasets import make_multimodal_classification

X, y = make_multimodal_classification(240, n_classes=3, signal=0.3, random_state=0)
X_train, X_test, y_train, y_test = train_test_split(X, y, stratify=y, random_state=0)

net = FusionNetClassifier(
    [
        ("image", ImageEncoder(image_size=64), "image"),
        ("audio", MFCCEncoder(sr=8000, n_fft=256, hop_length=80, n_mels=40), "audio"),
        ("text", TfidfVectorizer(), "text"),
        (
            "tabular",
            "passthrough",
            ["tabular_0", "tabular_1", "tabular_2", "tabular_3"],
        ),
    ],
    branch_size=64,
    hidden_sizes=(64,),
    max_epochs=200,
    random_state=0,
)
net.fit(X_train, y_train)

print(f"trained {net.n_iter_} epochs, best validation loss at epoch {net.best_epoch_}")
print(f"shared-layer network accuracy: {net.score(X_test, y_test):.3f}")
