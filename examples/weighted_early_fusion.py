"""Weighted early fusion: tune how much each modality's block counts.

After ``FeatureFusion`` has scaled every block to the same total variance, its
``weights`` multiply each block, so a grid search can learn that a noisy
modality deserves less say than a clean one (a weight of 0 leaves it out).
Every candidate refits the encoders, but the embedding cache encodes each
image and clip only once for the whole search.
"""

import itertools

import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline

from mmensemble import FeatureFusion, ImageEncoder, MFCCEncoder, cache_info
from mmensemble.datasets import make_multimodal_classification

# The image carries little of the class here, the audio much of it.
signal = {"image": 0.1, "audio": 0.3, "text": 0.3, "tabular": 0.3}
X, y = make_multimodal_classification(240, n_classes=3, signal=signal, random_state=0)
X_train, X_test, y_train, y_test = train_test_split(X, y, stratify=y, random_state=0)

model = make_pipeline(
    FeatureFusion(
        [
            ("image", ImageEncoder(image_size=64), "image"),
            (
                "audio",
                MFCCEncoder(sr=8000, n_fft=256, hop_length=80, n_mels=40),
                "audio",
            ),
            ("text", TfidfVectorizer(), "text"),
            (
                "tabular",
                "passthrough",
                ["tabular_0", "tabular_1", "tabular_2", "tabular_3"],
            ),
        ]
    ),
    LogisticRegression(C=10.0, max_iter=2000),
)
weights = [
    {"image": image, "audio": audio}
    for image, audio in itertools.product([0.0, 0.5, 1.0], [1.0, 2.0, 4.0])
]
search = GridSearchCV(model, {"featurefusion__weights": weights}, cv=3)
search.fit(X_train, y_train)

results = pd.DataFrame(search.cv_results_)
results["weights"] = results["param_featurefusion__weights"].map(str)
print(results.sort_values("rank_test_score")[["weights", "mean_test_score"]].head(4))
print(f"images and clips encoded: {cache_info()['memory_misses']} (cache misses)")
print(f"best weights: {search.best_params_['featurefusion__weights']}")
print(f"weighted early fusion accuracy: {search.score(X_test, y_test):.3f}")
