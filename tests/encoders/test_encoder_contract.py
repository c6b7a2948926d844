"""The contract every cell encoder keeps, checked on each of them."""

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from mmensemble import (
    ImageEncoder,
    MFCCEncoder,
    SignalEncoder,
    TextEncoder,
    VideoEncoder,
    WhisperEncoder,
)
from mmensemble.datasets import load_moving_shapes


def image_cells():
    rng = np.random.default_rng(0)
    cells = [rng.integers(0, 256, (20, 20, 3), dtype=np.uint8) for _ in range(4)]
    cells[2] = None
    return pd.Series(cells, index=[3, 1, 4, 9], name="photo")


def audio_cells():
    rng = np.random.default_rng(0)
    sr = 8000
    cells = [rng.normal(size=sr // 2).astype(np.float32) for _ in range(3)]
    cells.append((rng.normal(size=sr).astype(np.float32), 16000))
    cells[1] = None
    return pd.Series(cells, index=[3, 1, 4, 9], name="clip")


def signal_cells():
    rng = np.random.default_rng(0)
    cells = [rng.normal(size=(n, 3)) for n in (40, 25, 60)]
    cells.append((rng.normal(size=(80, 3)), 2.0))
    cells[1] = None
    return pd.Series(cells, index=[3, 1, 4, 9], name="sensor")


def video_cells():
    cells = load_moving_shapes().data["video"][:4].tolist()
    cells[1] = None
    return pd.Series(cells, index=[3, 1, 4, 9], name="video")


def text_cells():
    texts = ["a red cat", None, "", "two dogs play"]
    return pd.Series(texts, index=[3, 1, 4, 9], name="caption")


ENCODERS = [
    (ImageEncoder(image_size=32, batch_size=2), image_cells),
    (MFCCEncoder(sr=8000, n_fft=256, hop_length=128, n_mels=32, deltas=1), audio_cells),
    (SignalEncoder(), signal_cells),
    (
        SignalEncoder(features=("mean", "quantiles", "band_power", "correlation")),
        signal_cells,
    ),
    (TextEncoder(batch_size=2), text_cells),
    (
        VideoEncoder(ImageEncoder(image_size=32), n_frames=3, batch_size=2),
        video_cells,
    ),
    (WhisperEncoder(sr=8000, n_threads=1, batch_size=2), audio_cells),
]
IDS = [type(encoder).__name__ for encoder, _ in ENCODERS]


def _comparable(params):
    """Parameters with nested estimators (cloned, so new objects) by their params."""
    return {
        name: (type(value), value.get_params(deep=False))
        if hasattr(value, "get_params")
        else value
        for name, value in params.items()
    }


@pytest.mark.parametrize(("encoder", "make_cells"), ENCODERS, ids=IDS)
def test_get_params_clone_round_trip(encoder, make_cells):
    cloned = clone(encoder)
    assert cloned is not encoder
    assert _comparable(cloned.get_params()) == _comparable(encoder.get_params())
    original = encoder.batch_size
    cloned.set_params(batch_size=original + 1)
    assert cloned.batch_size == original + 1 and encoder.batch_size == original


@pytest.mark.parametrize(("encoder", "make_cells"), ENCODERS, ids=IDS)
def test_fit_returns_self_and_transform_needs_fit(encoder, make_cells):
    encoder = clone(encoder)
    with pytest.raises(NotFittedError):
        encoder.transform(make_cells())
    assert encoder.fit(make_cells()) is encoder


@pytest.mark.parametrize(("encoder", "make_cells"), ENCODERS, ids=IDS)
def test_output_shape_missing_rows_and_feature_names(encoder, make_cells):
    cells = make_cells()
    out = clone(encoder).fit(cells).transform(cells)
    fitted = clone(encoder).fit(cells)
    assert out.shape == (len(cells), fitted.n_features_out_)
    assert out.dtype == np.float32
    missing = cells.isna().to_numpy()
    assert np.isnan(out[missing]).all() and np.isfinite(out[~missing]).all()
    names = fitted.get_feature_names_out()
    assert len(names) == out.shape[1] and len(set(names)) == len(names)


@pytest.mark.parametrize(("encoder", "make_cells"), ENCODERS, ids=IDS)
def test_pickle_round_trip(encoder, make_cells):
    cells = make_cells()
    fitted = clone(encoder).fit(cells)
    expected = fitted.transform(cells)
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_allclose(restored.transform(cells), expected, atol=1e-5)


@pytest.mark.parametrize(("encoder", "make_cells"), ENCODERS, ids=IDS)
def test_pandas_output_keeps_index_and_names(encoder, make_cells):
    cells = make_cells()
    fitted = clone(encoder).set_output(transform="pandas").fit(cells)
    frame = fitted.transform(cells)
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.index) == list(cells.index)
    assert list(frame.columns) == list(fitted.get_feature_names_out())


@pytest.mark.parametrize(("encoder", "make_cells"), ENCODERS, ids=IDS)
def test_accepts_list_series_and_single_column_frame(encoder, make_cells):
    cells = make_cells()
    fitted = clone(encoder).fit(cells)
    from_series = fitted.transform(cells)
    np.testing.assert_allclose(fitted.transform(list(cells)), from_series, atol=1e-5)
    np.testing.assert_allclose(
        fitted.transform(cells.to_frame()), from_series, atol=1e-5
    )
