"""One fitted model shared by threads: same results, no fitted state changed."""

import pickle
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from mmensemble import (
    BadCellWarning,
    ImageEncoder,
    MFCCEncoder,
    ModalityStackingClassifier,
    clear_cache,
)

WORDS = ["red circle", "blue square", "green star"]


def table(n, seed):
    """Images, clips and texts carrying the class, with some bad cells."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    images, clips, texts = [], [], []
    for label in y:
        image = rng.integers(0, 60, (24, 24, 3), dtype=np.uint8)
        image[..., label] += 150
        images.append(image)
        tone = np.sin(2 * np.pi * (300 + 250 * label) * np.arange(2000) / 8000)
        clips.append((tone + 0.3 * rng.normal(size=2000)).astype(np.float32))
        texts.append(WORDS[label] if rng.random() < 0.7 else "something else")
    index = [f"r{i}" for i in range(n)]
    X = pd.DataFrame(
        {
            "photo": pd.Series(images, index=index, dtype=object),
            "clip": pd.Series(clips, index=index, dtype=object),
            "caption": pd.Series(texts, index=index, dtype=object),
        }
    )
    X.iat[1, 0] = b"not an image"
    X.iat[2, 1] = np.full(100, np.nan, dtype=np.float32)
    X.iat[3, 2] = 42  # not a text
    return X, y


def model():
    return ModalityStackingClassifier(
        [
            (
                "image",
                make_pipeline(
                    ImageEncoder(image_size=32, batch_size=4),
                    LogisticRegression(max_iter=500),
                ),
                "photo",
            ),
            (
                "audio",
                make_pipeline(
                    MFCCEncoder(sr=8000, n_fft=256, hop_length=128, n_mels=32),
                    LogisticRegression(max_iter=500),
                ),
                "clip",
            ),
            ("text", make_pipeline(TfidfVectorizer(), LogisticRegression()), "caption"),
        ],
        cv=3,
        on_error="missing",
        random_state=0,
    )


def test_threads_predicting_with_one_model_get_the_single_thread_result():
    X, y = table(60, seed=0)
    X_test, _ = table(24, seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BadCellWarning)
        fitted = model().fit(X, y)
        before = pickle.dumps(fitted)
        errors_before = fitted.errors_.copy()
        tables = [X_test.sample(frac=1.0, random_state=seed) for seed in range(4)]
        expected = [fitted.predict_proba(frame) for frame in tables]
        # every thread must encode for real, not read another's cache entries
        clear_cache()
        with ThreadPoolExecutor(4) as pool:
            for _ in range(3):
                results = list(pool.map(fitted.predict_proba, tables))
                for got, want in zip(results, expected, strict=True):
                    np.testing.assert_array_equal(got, want)
                clear_cache()
    assert pickle.dumps(fitted) == before
    pd.testing.assert_frame_equal(fitted.errors_, errors_before)
    assert sorted(errors_before["row"]) == ["r1", "r2", "r3"]
