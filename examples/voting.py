"""Model fusion by voting: one model per modality, their votes combined.

``ModalityVotingClassifier`` fits each modality's pipeline on that modality's
columns only. Hard voting takes the weighted majority of the predicted labels,
soft voting the weighted average of the predicted probabilities, and
``weights="auto"`` learns each modality's weight from its out-of-fold accuracy.
"""

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mmensemble import ImageEncoder, MFCCEncoder, ModalityVotingClassifier
from mmensemble.datasets import make_multimodal_classification

signal = {"image": 0.1, "audio": 0.3, "text": 0.3, "tabular": 0.3}
X, y = make_multimodal_classification(240, n_classes=3, signal=signal, random_state=0)
X_train, X_test, y_train, y_test = train_test_split(X, y, stratify=y, random_state=0)

modalities = [
    (
        "image",
        make_pipeline(
            ImageEncoder(image_size=64), StandardScaler(), LogisticRegression(C=0.1)
        ),
        "image",
    ),
    (
        "audio",
        make_pipeline(
            MFCCEncoder(sr=8000, n_fft=256, hop_length=80, n_mels=40),
            StandardScaler(),
            LogisticRegression(),
        ),
        "audio",
    ),
    ("text", make_pipeline(TfidfVectorizer(), LogisticRegression(C=10.0)), "text"),
    (
        "tabular",
        make_pipeline(StandardScaler(), LogisticRegression()),
        ["tabular_0", "tabular_1", "tabular_2", "tabular_3"],
    ),
]
for voting, weights in [("hard", None), ("soft", None), ("soft", "auto")]:
    vote = ModalityVotingClassifier(modalities, voting=voting, weights=weights)
    vote.fit(X_train, y_train)
    print(
        f"{voting} voting, weights={weights}: accuracy {vote.score(X_test, y_test):.3f}"
    )

for (name, estimator, columns), weight in zip(
    vote.modalities_, vote.weights_, strict=True
):
    alone = estimator.score(X_test[columns], y_test)
    print(f"{name}: learnt weight {weight:.2f}, accuracy alone {alone:.3f}")
