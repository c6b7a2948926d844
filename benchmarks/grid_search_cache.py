"""Grid search over a stacked multimodal model: the naive sklearn way vs mmensemble.

``GridSearchCV(cv=5)`` over 6 settings of a stacking model with ``cv=5`` on
image + audio + text, three ways, on the same data in one run:

1. **naive sklearn**: :class:`~sklearn.ensemble.StackingClassifier` whose base
   models are column-selecting pipelines around mmensemble's encoders, with the
   embedding cache off. Every base fit and predict re-encodes its rows, so each
   image goes through the CNN about 30 times per setting.
2. **ModalityStackingClassifier, no cache**: the encoder that starts a
   modality's pipeline encodes the rows once per stacking fit (its folds reuse
   them), but every grid-search fit still re-encodes.
3. **ModalityStackingClassifier with the per-cell cache** (in-process, the
   default): each sample is encoded once per encoder setting.

Then 3 again with the on-disk cache shared by ``GridSearchCV(n_jobs=2)``
processes. The counts come from instrumenting the encoders' batch embedding
(cache misses); the ``cv_results_`` scores of 2 and 3 are checked to be equal.

Usage::

    python benchmarks/grid_search_cache.py --n-samples 100 --image-size 128
"""

import argparse
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
from sklearn.compose import make_column_transformer
from sklearn.ensemble import StackingClassifier
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mmensemble import (
    ImageEncoder,
    MFCCEncoder,
    ModalityStackingClassifier,
    clear_cache,
    config_context,
)
from mmensemble.datasets import make_multimodal_classification

ENCODED = Counter()
GRID = {
    "final_estimator__C": [0.1, 1.0, 10.0],
    "image__logisticregression__C": [0.1, 1.0],
}


def count_embeddings(encoder_class):
    """Count the cells an encoder class actually embeds (cache misses)."""
    original = encoder_class._embed

    def counting(self, decoded):
        ENCODED[encoder_class.__name__] += len(decoded)
        return original(self, decoded)

    encoder_class._embed = counting


def base_models(image_size, memory):
    """The per-modality models: (name, pipeline, column)."""
    return [
        (
            "image",
            make_pipeline(
                ImageEncoder(image_size=image_size, memory=memory),
                LogisticRegression(max_iter=300),
            ),
            "image",
        ),
        (
            "audio",
            make_pipeline(
                MFCCEncoder(sr=8000, n_fft=512, hop_length=256, memory=memory),
                StandardScaler(),
                LogisticRegression(max_iter=300),
            ),
            "audio",
        ),
        ("text", make_pipeline(TfidfVectorizer(), LogisticRegression()), "text"),
    ]


def naive_search(image_size):
    """sklearn's StackingClassifier over column-selecting pipelines."""
    # The column transformer applies the encoding steps (the encoder, or the
    # text vectorizer) to the modality's column; the classifier follows.
    estimators = [
        (
            name,
            make_pipeline(
                make_column_transformer((model[:-1], column)),
                model[-1],
            ),
        )
        for name, model, column in base_models(image_size, None)
    ]
    stacking = StackingClassifier(
        estimators, final_estimator=LogisticRegression(), cv=5
    )
    return GridSearchCV(stacking, GRID, cv=5)


def mmensemble_search(image_size, memory=None, n_jobs=None):
    stacking = ModalityStackingClassifier(
        base_models(image_size, memory),
        final_estimator=LogisticRegression(),
        cv=5,
        random_state=0,
    )
    return GridSearchCV(stacking, GRID, cv=5, n_jobs=n_jobs)


def timed_fit(search, X, y, *, cache):
    ENCODED.clear()
    clear_cache()
    start = time.perf_counter()
    with config_context(memory_cache_bytes=512 * 2**20 if cache else 0):
        search.fit(X, y)
    return time.perf_counter() - start, dict(ENCODED)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-samples", type=int, default=100)
    parser.add_argument("--image-size", type=int, default=128)
    args = parser.parse_args()
    X, y = make_multimodal_classification(
        args.n_samples,
        n_classes=2,
        modalities=("image", "audio", "text"),
        sr=8000,
        random_state=0,
    )
    count_embeddings(ImageEncoder)
    count_embeddings(MFCCEncoder)
    n_settings = np.prod([len(values) for values in GRID.values()])
    print(
        f"{args.n_samples} samples; GridSearchCV(cv=5) x {n_settings} settings of a "
        f"stacking model (cv=5) on image ({args.image_size} px) + audio + text\n"
        "cells embedded = encoder cache misses (image, audio)"
    )
    print(
        f"\n{'method':<40} {'seconds':>8} {'speed-up':>9} {'best CV accuracy':>17}"
        "  cells embedded"
    )
    runs = [
        ("naive sklearn StackingClassifier", naive_search(args.image_size), False),
        (
            "ModalityStackingClassifier, no cache",
            mmensemble_search(args.image_size),
            False,
        ),
        (
            "ModalityStackingClassifier + cache",
            mmensemble_search(args.image_size),
            True,
        ),
    ]
    rows = []
    for name, search, cache in runs:
        seconds, counts = timed_fit(search, X, y, cache=cache)
        rows.append((search, seconds, counts))
        baseline = rows[0][1]
        print(
            f"{name:<40} {seconds:8.1f} {baseline / seconds:8.1f}x "
            f"{search.best_score_:17.3f}  {counts}",
            flush=True,
        )
    np.testing.assert_allclose(
        rows[2][0].cv_results_["mean_test_score"],
        rows[1][0].cv_results_["mean_test_score"],
    )
    # The grid does not touch the encoders' parameters: one encoder setting.
    per_sample = rows[2][2].get("ImageEncoder", 0) / args.n_samples
    print(
        f"with the cache, each of the {args.n_samples} samples was embedded "
        f"{per_sample:.0f} time(s) by the image encoder (one setting)"
    )
    with tempfile.TemporaryDirectory() as directory:
        disk = mmensemble_search(args.image_size, memory=directory, n_jobs=2)
        seconds, _ = timed_fit(disk, X, y, cache=True)
        entries = Counter(
            path.parent.parent.name[:12] for path in Path(directory).rglob("*.npy")
        )
        print(
            "on-disk cache shared by GridSearchCV(n_jobs=2) processes: "
            f"{seconds:.1f} s ({baseline / seconds:.1f}x); "
            "entries per encoder fingerprint: "
            f"{dict(entries)} (one per sample and encoder setting)"
        )


if __name__ == "__main__":
    main()
