"""Video and signal modalities through the fusion net, importance and model files."""

import numpy as np
import pandas as pd

import mmensemble
from mmensemble import (
    FusionNetClassifier,
    ImageEncoder,
    SignalEncoder,
    VideoEncoder,
    modality_importance,
)
from mmensemble.datasets import load_moving_shapes


def table(n=36):
    """Moving-shape clips and a 2-channel sensor series whose level is the class."""
    shapes = load_moving_shapes()
    rows = np.flatnonzero(shapes.target.to_numpy() < 2)[:n]
    y = shapes.target.to_numpy()[rows]
    rng = np.random.default_rng(0)
    signals = [
        rng.normal(loc=2.0 * label, size=(40 + 5 * (i % 3), 2))
        for i, label in enumerate(y)
    ]
    X = pd.DataFrame(
        {
            "video": shapes.data["video"].to_numpy()[rows],
            "sensor": pd.Series(signals, dtype=object),
        }
    )
    X.loc[3, "sensor"] = None  # a missing modality
    return X, y


def test_fusion_net_over_video_and_signal_saves_and_explains(tmp_path):
    X, y = table()
    net = FusionNetClassifier(
        [
            (
                "video",
                VideoEncoder(ImageEncoder(image_size=32), n_frames=2),
                "video",
            ),
            ("sensor", SignalEncoder(sr=10.0, features=("mean", "std")), "sensor"),
        ],
        lr=0.01,
        max_epochs=60,
        early_stopping=False,
        random_state=0,
    ).fit(X, y)
    assert net.score(X, y) > 0.9
    importance = modality_importance(net, X, y)
    assert set(importance.index) == {"video", "sensor"}
    assert importance.loc["sensor", "shapley"] > 0
    path = tmp_path / "net.mmen"
    mmensemble.save(net, path)
    loaded = mmensemble.load(path)
    np.testing.assert_allclose(
        loaded.predict_proba(X), net.predict_proba(X), rtol=1e-5, atol=1e-6
    )
