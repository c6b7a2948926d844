"""Missing modalities: rows that lack an image, a clip, a text or the numbers.

A missing cell (None, NaN) means the modality is absent for that row. Each
fusion strategy copes in its own way, without crashing and without treating
the gap as data: early fusion zero-fills the block and adds a missing
indicator, voting combines the modalities present in each row, stacking gives
its meta-learner missingness indicators, and the fusion network substitutes a
learned "missing" embedding. Here 30% of the rows lack each modality, and a
second test set loses its audio entirely. The encoders and the per-modality
models are the package's defaults (``default_encoder``,
``default_modality_model``); the tabular default imputes the cells of a row
that lacks only some of the numbers.
"""

from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline

from mmensemble import (
    FeatureFusion,
    FusionNetClassifier,
    ModalityStackingClassifier,
    ModalityVotingClassifier,
    default_encoder,
    default_modality_model,
)
from mmensemble.datasets import make_multimodal_classification

X, y = make_multimodal_classification(
    300, n_classes=3, signal=0.3, missing_rate=0.3, random_state=0
)
X_train, X_test, y_train, y_test = train_test_split(X, y, stratify=y, random_state=0)
X_test_without_audio = X_test.assign(audio=None)
print(f"rows with every modality: {X.notna().all(axis=1).mean():.0%}")

tabular = ["tabular_0", "tabular_1", "tabular_2", "tabular_3"]
columns = {"image": "image", "audio": "audio", "text": "text", "tabular": tabular}
options = {"text_encoder": "tfidf", "audio_encoder": "mfcc", "sr": 8000}
# Feature blocks for early fusion and the network; one model per modality for
# voting and stacking.
blocks = [
    (role, default_encoder(role, image_size=64, **options), cols)
    for role, cols in columns.items()
]
models = [
    (role, default_modality_model(role, image_size=64, **options), cols)
    for role, cols in columns.items()
]
strategies = {
    "early fusion": make_pipeline(
        FeatureFusion(blocks), LogisticRegression(max_iter=2000)
    ),
    "voting": ModalityVotingClassifier(models, voting="soft", weights="auto"),
    "stacking": ModalityStackingClassifier(models, random_state=0),
    "fusion network": FusionNetClassifier(
        blocks, aux_weight=0.5, max_epochs=200, random_state=0
    ),
}
for name, model in strategies.items():
    model.fit(X_train, y_train)
    print(
        f"{name}: accuracy {model.score(X_test, y_test):.3f}, "
        f"without any audio {model.score(X_test_without_audio, y_test):.3f}"
    )
