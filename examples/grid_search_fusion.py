"""Choose the fusion strategy itself by grid search.

A one-step ``Pipeline`` whose step is a grid-search parameter lets a single
``GridSearchCV`` compare early fusion, voting, stacking and the fusion
network, each with its own hyper-parameters, on the same folds. The
embedding cache encodes each image and clip once for the whole search.
"""

import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from mmensemble import (
    FeatureFusion,
    FusionNetClassifier,
    ImageEncoder,
    MFCCEncoder,
    ModalityStackingClassifier,
    ModalityVotingClassifier,
)
from mmensemble.datasets import make_multimodal_classification

signal = {"image": 0.1, "audio": 0.3, "text": 0.3, "tabular": 0.3}
X, y = make_multimodal_classification(240, n_classes=3, signal=signal, random_state=0)
X_train, X_test, y_train, y_test = train_test_split(X, y, stratify=y, random_state=0)

columns = {
    "image": "image",
    "audio": "audio",
    "text": "text",
    "tabular": ["tabular_0", "tabular_1", "tabular_2", "tabular_3"],
}
encoders = {
    "image": ImageEncoder(image_size=64),
    "audio": MFCCEncoder(sr=8000, n_fft=256, hop_length=80, n_mels=40),
    "text": TfidfVectorizer(),
    "tabular": StandardScaler(),
}
# Feature blocks for early fusion and the network; one classifier per
# modality for voting and stacking.
blocks = [(name, encoders[name], columns[name]) for name in columns]
models = [
    (
        name,
        make_pipeline(
            encoders[name],
            StandardScaler(with_mean=False),
            LogisticRegression(C=0.1, max_iter=2000),
        ),
        columns[name],
    )
    for name in columns
]

strategies = {
    "early fusion": make_pipeline(
        FeatureFusion(blocks), LogisticRegression(max_iter=2000)
    ),
    "voting": ModalityVotingClassifier(models, voting="soft"),
    "stacking": ModalityStackingClassifier(models, cv=3, random_state=0),
    "fusion network": FusionNetClassifier(blocks, max_epochs=200, random_state=0),
}
grid = [
    {
        "fusion": [strategies["early fusion"]],
        "fusion__logisticregression__C": [1.0, 10.0],
    },
    {"fusion": [strategies["voting"]], "fusion__weights": [None, "auto"]},
    {"fusion": [strategies["stacking"]]},
    {"fusion": [strategies["fusion network"]], "fusion__aux_weight": [0.0, 0.5]},
]
search = GridSearchCV(Pipeline([("fusion", strategies["voting"])]), grid, cv=3)
search.fit(X_train, y_train)

names = {id(estimator): name for name, estimator in strategies.items()}
results = pd.DataFrame(
    {
        "strategy": [
            " ".join(
                [names[id(params["fusion"])]]
                + [
                    f"{key.split('__')[-1]}={value}"
                    for key, value in params.items()
                    if key != "fusion"
                ]
            )
            for params in search.cv_results_["params"]
        ],
        "mean_test_score": search.cv_results_["mean_test_score"],
    }
)
print(results.sort_values("mean_test_score", ascending=False).to_string(index=False))
print(f"best strategy's test accuracy: {search.score(X_test, y_test):.3f}")
