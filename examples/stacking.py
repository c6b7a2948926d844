"""Model fusion by stacking: a meta-learner on per-modality predictions.

``ModalityStackingClassifier`` fits one model per modality and feeds their
out-of-fold class probabilities (computed by cross-validation, so the
meta-learner never sees predictions on rows a model was trained on) to a
final estimator, which learns how far to trust each modality, class by class.
Each modality's model here is the package's default, ``default_modality_model``:
its encoder and a logistic regression that tunes its own regularisation.
"""

from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split

from mmensemble import ModalityStackingClassifier, default_modality_model
from mmensemble.datasets import make_multimodal_classification

# The image carries little of the class here, the other modalities more.
signal = {"image": 0.1, "audio": 0.3, "text": 0.3, "tabular": 0.3}
X, y = make_multimodal_classification(240, n_classes=3, signal=signal, random_state=0)
X_train, X_test, y_train, y_test = train_test_split(X, y, stratify=y, random_state=0)

tabular = ["tabular_0", "tabular_1", "tabular_2", "tabular_3"]
columns = {"image": "image", "audio": "audio", "text": "text", "tabular": tabular}
options = {"text_encoder": "tfidf", "audio_encoder": "mfcc", "sr": 8000}
stack = ModalityStackingClassifier(
    [
        (role, default_modality_model(role, image_size=64, **options), cols)
        for role, cols in columns.items()
    ],
    final_estimator=LogisticRegression(),
    cv=5,
    random_state=0,
)
stack.fit(X_train, y_train)

for name, estimator, cols in stack.modalities_:
    alone = accuracy_score(y_test, estimator.predict(X_test[cols]))
    print(f"{name} alone: accuracy {alone:.3f}")
print(f"meta-features: {len(stack.get_feature_names_out())}")
print(f"stacking accuracy: {stack.score(X_test, y_test):.3f}")
