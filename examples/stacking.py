"""Model fusion by stacking: a meta-learner on per-modality predictions.

``ModalityStackingClassifier`` fits one model per modality and feeds their
out-of-fold class probabilities (computed by cross-validation, so the
meta-learner never sees predictions on rows a model was trained on) to a
final estimator, which learns how far to trust each modality, class by class.
"""

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mmensemble import ImageEncoder, MFCCEncoder, ModalityStackingClassifier
from mmensemble.datasets import make_multimodal_classification

X, y = make_multimodal_classification(
    240,
    n_classes=3,
    signal={"image": 0.1, "audio": 0.3, "text": 0.3, "tabular": 0.3},
    random_state=0,
)
X_train, X_test, y_train, y_test = train_test_split(X, y, stratify=y, random_state=0)

stack = ModalityStackingClassifier(
    [
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
    ],
    final_estimator=LogisticRegression(),
    cv=5,
    random_state=0,
)
stack.fit(X_train, y_train)

for name, estimator, columns in stack.modalities_:
    print(f"{name} alone: accuracy {estimator.score(X_test[columns], y_test):.3f}")
print(f"meta-features: {len(stack.get_feature_names_out())}")
print(f"stacking accuracy: {stack.score(X_test, y_test):.3f}")
