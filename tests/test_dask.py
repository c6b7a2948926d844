"""Running mmensemble's parallel work on a Dask cluster through joblib."""

import numpy as np
import pandas as pd
import pytest
from distributed import Client, LocalCluster
from joblib import parallel_config
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline

from mmensemble import FeatureFusion, ImageEncoder, config_context


@pytest.fixture(scope="module")
def client():
    cluster = LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
    )
    with Client(cluster) as dask_client:
        yield dask_client
    cluster.close()


def text_table(n=60, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, size=n)
    vocabulary = np.array([["sun", "sea"], ["rain", "fog"]])
    text = [
        f"{vocabulary[label, rng.integers(2)]} day {rng.integers(5)}" for label in y
    ]
    return pd.DataFrame({"text": text, "x": y + rng.normal(scale=1.5, size=n)}), y


def test_grid_search_on_a_local_cluster_matches_the_local_one(client):
    X, y = text_table()
    pipe = make_pipeline(
        FeatureFusion(
            [("text", TfidfVectorizer(), "text"), ("x", "passthrough", ["x"])]
        ),
        LogisticRegression(),
    )
    grid = {"featurefusion__weights": [{"x": 0.0}, {"x": 1.0}, {"x": 4.0}]}
    local = GridSearchCV(pipe, grid, cv=3).fit(X, y)
    with parallel_config(backend="dask"):
        distributed = GridSearchCV(pipe, grid, cv=3, n_jobs=-1).fit(X, y)
    np.testing.assert_allclose(
        distributed.cv_results_["mean_test_score"], local.cv_results_["mean_test_score"]
    )
    assert distributed.best_params_ == local.best_params_


def test_image_encoding_is_spread_over_the_workers(client):
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (24, 24, 3), dtype=np.uint8) for _ in range(40)]
    images[5] = None
    encoder = ImageEncoder(image_size=32, batch_size=2).fit(images)
    with config_context(memory_cache_bytes=0):
        local = encoder.transform(images)
        with parallel_config(backend="dask"):
            remote = encoder.transform(images)
    # workers run torch on one thread: float sums differ in the last digits
    np.testing.assert_allclose(remote, local, rtol=1e-3, atol=1e-4)
    assert np.isnan(remote[5]).all()
    # The work ran in the workers: both imported the image encoder and its
    # runtime (ONNX Runtime on the CPU, torch elsewhere).
    loaded = client.run(_ran_the_image_encoder)
    assert len(loaded) == 2 and all(loaded.values())


@pytest.mark.parametrize("kind", ["text", "speech", "video", "signal"])
def test_encoding_is_spread_over_the_workers(client, kind):
    from mmensemble import (
        SignalEncoder,
        TextEncoder,
        VideoEncoder,
        WhisperEncoder,
    )
    from mmensemble.datasets import load_moving_shapes

    rng = np.random.default_rng(1)
    if kind == "text":
        cells = ["a sunny day", "rain again", None, "fog on the sea", "", "sun"]
        encoder = TextEncoder(batch_size=2)
    elif kind == "speech":
        cells = [0.1 * rng.normal(size=4000) for _ in range(5)] + [None]
        encoder = WhisperEncoder(sr=8000, batch_size=2)
    elif kind == "video":
        cells = load_moving_shapes().frame["video"].tolist()[:4] + [None]
        encoder = VideoEncoder(ImageEncoder(image_size=32), n_frames=2, batch_size=2)
    else:
        cells = [rng.normal(size=(50 + 10 * i, 3)) for i in range(5)] + [None]
        encoder = SignalEncoder(sr=10.0, minirocket_kernels=84, batch_size=2)
    encoder.fit(cells)
    with config_context(memory_cache_bytes=0):
        local = encoder.transform(cells)
        with parallel_config(backend="dask"):
            remote = encoder.transform(cells)
    # workers run on one thread: float sums differ in the last digits
    np.testing.assert_allclose(remote, local, rtol=1e-3, atol=1e-4)
    missing = np.array([cell is None for cell in cells])
    assert np.isnan(remote[missing]).all()
    assert not np.isnan(remote[~missing]).any()


def _ran_the_image_encoder():
    import sys

    runtime = "onnxruntime" in sys.modules or "torch" in sys.modules
    return runtime and "mmensemble.encoders._image" in sys.modules
