"""Tests of mmensemble.datasets: the spoken digits and the synthetic generator."""

import doctest
import os
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from PIL import Image
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mmensemble.datasets import (
    _spoken_digits,
    _synthetic,
    get_data_home,
    load_spoken_digits,
    make_multimodal_classification,
)

N_ROWS = 1500
COLUMNS = ["image", "audio", "text", "language", "voice"]


@pytest.fixture(scope="module")
def data_home(tmp_path_factory):
    """One extraction folder for the whole module (extracting takes ~1 s)."""
    return tmp_path_factory.mktemp("mmensemble_data")


@pytest.fixture(scope="module")
def path_bunch(data_home):
    return load_spoken_digits(data_home=data_home)


@pytest.fixture(scope="module")
def array_Xy():
    return load_spoken_digits(
        return_X_y=True, image_format="array", audio_format="array"
    )


# --------------------------------------------------------------------------
# load_spoken_digits


def test_bunch_layout(path_bunch):
    bunch = path_bunch
    assert list(bunch.data.columns) == COLUMNS == bunch.feature_names
    assert bunch.data.shape == (N_ROWS, 5)
    assert bunch.frame.shape == (N_ROWS, 6)
    assert bunch.target.name == "target"
    assert bunch.target.dtype == np.int64
    assert bunch.target.value_counts().sort_index().tolist() == [150] * 10
    np.testing.assert_array_equal(bunch.target_names, np.arange(10))
    assert "Spoken digits" in bunch.DESCR
    assert list(bunch.details.columns) == ["snr_db", "image_corruption"]
    assert set(bunch.details["image_corruption"]) == {
        "none",
        "noise",
        "occlusion",
        "overlay",
        "blur",
    }
    for column in ("image", "audio", "text"):
        assert bunch.data[column].dtype == object
    assert bunch.data["voice"].nunique() == 45
    assert bunch.data["language"].nunique() == 24
    # Every voice speaks a single language.
    assert (bunch.data.groupby("voice")["language"].nunique() == 1).all()


def test_path_format_files_exist_and_decode(path_bunch, data_home):
    data = path_bunch.data
    assert path_bunch.media_dir.parent == data_home
    for column in ("image", "audio"):
        paths = data[column]
        assert all(isinstance(p, str) and os.path.isabs(p) for p in paths)
        assert all(os.path.isfile(p) for p in paths)
    image = np.asarray(Image.open(data["image"].iloc[0]))
    assert image.shape == (32, 32) and image.dtype == np.uint8
    info = sf.info(data["audio"].iloc[0])
    assert (info.samplerate, info.channels) == (8000, 1)


def test_path_and_array_formats_agree(path_bunch, array_Xy):
    X, y = array_Xy
    np.testing.assert_array_equal(y, path_bunch.target)
    for i in (0, 777, N_ROWS - 1):
        image = np.asarray(Image.open(path_bunch.data["image"].iloc[i]))
        np.testing.assert_array_equal(image, X["image"].iloc[i])
        wave, sr = sf.read(path_bunch.data["audio"].iloc[i], dtype="float32")
        np.testing.assert_array_equal(wave, X["audio"].iloc[i][0])
        assert sr == X["audio"].iloc[i][1]


def test_array_format_cells(array_Xy):
    X, _ = array_Xy
    for image in X["image"]:
        assert isinstance(image, np.ndarray)
        assert image.shape == (32, 32) and image.dtype == np.uint8
    peaks = []
    for cell in X["audio"]:
        assert isinstance(cell, tuple) and len(cell) == 2
        wave, sr = cell
        assert sr == 8000
        assert wave.dtype == np.float32 and wave.ndim == 1
        assert 0 < len(wave) <= 1.5 * sr
        peaks.append(np.abs(wave).max())
    assert 0.2 < min(peaks) and max(peaks) <= 1.0


def test_text_cells_and_missing_rate(array_Xy):
    X, _ = array_Xy
    text = X["text"]
    assert all(t is None or (isinstance(t, str) and t) for t in text)
    assert text.isna().mean() == pytest.approx(0.15, abs=0.002)
    # Words that pandas would read as NaN by default stay text.
    assert (text.str.lower() == "null").any()


def test_cache_is_reused(path_bunch, data_home):
    before = os.stat(path_bunch.data["audio"].iloc[0]).st_mtime_ns
    again = load_spoken_digits(data_home=data_home)
    assert again.media_dir == path_bunch.media_dir
    assert os.stat(again.data["audio"].iloc[0]).st_mtime_ns == before
    assert [p.name for p in data_home.iterdir()] == [path_bunch.media_dir.name]


def test_data_home_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("MMENSEMBLE_DATA_HOME", str(tmp_path / "home"))
    assert get_data_home() == tmp_path / "home"
    assert (tmp_path / "home").is_dir()
    assert get_data_home(tmp_path / "other") == tmp_path / "other"


def test_array_formats_extract_nothing(monkeypatch, tmp_path):
    monkeypatch.setenv("MMENSEMBLE_DATA_HOME", str(tmp_path))
    bunch = load_spoken_digits(image_format="array", audio_format="array")
    assert bunch.media_dir is None
    assert list(tmp_path.iterdir()) == []


def test_as_frame_false(array_Xy):
    X, y = load_spoken_digits(
        return_X_y=True, as_frame=False, image_format="array", audio_format="array"
    )
    assert isinstance(X, np.ndarray) and X.dtype == object
    assert X.shape == (N_ROWS, 5)
    assert isinstance(y, np.ndarray)
    np.testing.assert_array_equal(y, array_Xy[1])


@pytest.mark.parametrize("held_out", [True, 0.4, 5, "list"])
def test_held_out_voices_are_disjoint(held_out):
    all_voices = sorted(
        load_spoken_digits(image_format="array", audio_format="array")
        .data["voice"]
        .unique()
    )
    if held_out == "list":
        held_out = all_voices[:3]
    X_train, X_test, y_train, y_test = load_spoken_digits(
        return_X_y=True,
        held_out_voices=held_out,
        image_format="array",
        audio_format="array",
    )
    train_voices, test_voices = set(X_train["voice"]), set(X_test["voice"])
    assert not train_voices & test_voices
    assert train_voices | test_voices == set(all_voices)
    assert len(X_train) + len(X_test) == N_ROWS
    assert len(X_train) == len(y_train) and len(X_test) == len(y_test)
    assert not set(X_train.index) & set(X_test.index)
    if held_out is True:
        assert 0.25 <= len(X_test) / N_ROWS < 0.4
        assert set(y_test) == set(range(10))
    elif held_out == 0.4:
        assert 0.4 <= len(X_test) / N_ROWS < 0.55
    elif held_out == 5:
        assert len(test_voices) == 5
    else:
        assert test_voices == set(all_voices[:3])


def test_held_out_voices_bunch_and_random_state():
    kwargs = dict(held_out_voices=4, image_format="array", audio_format="array")
    first = load_spoken_digits(random_state=0, **kwargs)
    again = load_spoken_digits(random_state=0, **kwargs)
    other = load_spoken_digits(random_state=1, **kwargs)
    assert first.test_voices == again.test_voices != other.test_voices
    assert set(first.data_test["voice"]) == set(first.test_voices)
    assert len(first.data_train) == len(first.target_train)
    assert len(first.data_train) + len(first.data_test) == len(first.data)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(image_format="jpg"), ValueError, "image_format"),
        (dict(audio_format=None), ValueError, "audio_format"),
        (dict(held_out_voices=0), ValueError, "held_out_voices=0"),
        (dict(held_out_voices=45), ValueError, "held_out_voices=45"),
        (dict(held_out_voices=1.5), ValueError, "held_out_voices=1.5"),
        (dict(held_out_voices=["nobody"]), ValueError, "nobody"),
        (dict(held_out_voices="flite:slt"), TypeError, "held_out_voices"),
    ],
)
def test_loader_rejects_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        load_spoken_digits(
            **{"image_format": "array", "audio_format": "array", **kwargs}
        )


def test_import_is_light():
    code = (
        "import sys, mmensemble.datasets; "
        "assert 'torch' not in sys.modules and 'librosa' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("module", [_spoken_digits, _synthetic])
def test_docstring_examples(module, monkeypatch, tmp_path):
    monkeypatch.setenv("MMENSEMBLE_DATA_HOME", str(tmp_path))
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


# --------------------------------------------------------------------------
# make_multimodal_classification


def test_generator_layout():
    X, y = make_multimodal_classification(60, n_classes=3, random_state=0)
    assert list(X.columns) == [
        "image",
        "audio",
        "text",
        "tabular_0",
        "tabular_1",
        "tabular_2",
        "tabular_3",
    ]
    assert X.shape == (60, 7) and y.shape == (60,)
    assert np.bincount(y).tolist() == [20, 20, 20]
    assert X.notna().all().all()
    assert all(i.shape == (16, 16) and i.dtype == np.uint8 for i in X["image"])
    assert all(a.shape == (2000,) and a.dtype == np.float32 for a in X["audio"])
    assert all(np.abs(a).max() <= 1 for a in X["audio"])
    assert all(isinstance(t, str) and len(t.split()) == 8 for t in X["text"])
    assert (X.dtypes.iloc[3:] == np.float64).all()


def test_generator_options():
    X, y = make_multimodal_classification(
        10,
        modalities=["audio", "image"],
        image_size=12,
        image_channels=3,
        audio_length=500,
        random_state=0,
    )
    assert list(X.columns) == ["audio", "image"]
    assert X["image"].iloc[0].shape == (12, 12, 3)
    assert X["audio"].iloc[0].shape == (500,)
    bunch = make_multimodal_classification(10, random_state=0, return_X_y=False)
    assert bunch.frame.shape == (10, 8)
    assert bunch.signal == dict.fromkeys(_synthetic.MODALITIES, 0.5)
    np.testing.assert_array_equal(bunch.target_names, [0, 1])


def _same(X1, X2):
    for column in X1.columns:
        for a, b in zip(X1[column], X2[column], strict=True):
            if isinstance(a, np.ndarray):
                if not np.array_equal(a, b):
                    return False
            elif not (a == b or (pd.isna(a) and pd.isna(b))):
                return False
    return True


def test_generator_is_deterministic():
    kwargs = dict(missing_rate=0.2, signal={"image": 0.7})
    X1, y1 = make_multimodal_classification(50, random_state=3, **kwargs)
    X2, y2 = make_multimodal_classification(50, random_state=3, **kwargs)
    X3, _ = make_multimodal_classification(50, random_state=4, **kwargs)
    np.testing.assert_array_equal(y1, y2)
    assert _same(X1, X2)
    assert not _same(X1, X3)


def test_modalities_do_not_depend_on_each_other():
    X_all, y_all = make_multimodal_classification(40, random_state=0)
    X_image, y_image = make_multimodal_classification(
        40, modalities=("image",), signal={"image": 0.5}, random_state=0
    )
    np.testing.assert_array_equal(y_all, y_image)
    assert _same(X_all[["image"]], X_image)


def _image_features(X):
    return np.stack(X["image"]).reshape(len(X), -1) / 255.0


def _audio_features(X):
    """Log magnitude spectrum in 50 bands."""
    spectrum = np.abs(np.fft.rfft(np.stack(X["audio"]), axis=1))[:, :1000]
    return np.log1p(spectrum.reshape(len(X), 50, 20).mean(axis=2))


FEATURES = {
    "image": (_image_features, LogisticRegression(C=0.1)),
    "audio": (
        _audio_features,
        make_pipeline(StandardScaler(), LogisticRegression(C=0.1)),
    ),
    "text": (
        lambda X: X["text"],
        make_pipeline(CountVectorizer(), LogisticRegression(max_iter=1000)),
    ),
    "tabular": (
        lambda X: X.filter(like="tabular_"),
        make_pipeline(StandardScaler(), LogisticRegression()),
    ),
}


@pytest.mark.parametrize("modality", _synthetic.MODALITIES)
def test_signal_controls_separability(modality):
    featurize, model = FEATURES[modality]
    scores = {}
    for signal in (0.0, 1.0):
        X, y = make_multimodal_classification(
            240,
            n_classes=3,
            modalities=(modality,),
            signal=signal,
            image_size=8,  # raw pixels, few enough for a quick fit
            random_state=0,
        )
        scores[signal] = cross_val_score(model, featurize(X), y, cv=3).mean()
    assert scores[1.0] > 0.9
    assert scores[0.0] < 0.5  # chance is 1/3


@pytest.mark.parametrize(
    "missing_rate, expected",
    [
        (None, dict.fromkeys(_synthetic.MODALITIES, 0)),
        (0.2, dict.fromkeys(_synthetic.MODALITIES, 40)),
        ({"text": 0.5, "image": 0.05}, dict(image=10, audio=0, text=100, tabular=0)),
    ],
)
def test_missing_rate_is_honoured(missing_rate, expected):
    X, _ = make_multimodal_classification(
        200, missing_rate=missing_rate, random_state=0
    )
    tabular = X.filter(like="tabular_")
    # The tabular columns go missing together.
    assert (tabular.isna().all(axis=1) == tabular.isna().any(axis=1)).all()
    counts = {m: int(X[m].isna().sum()) for m in ("image", "audio", "text")}
    counts["tabular"] = int(tabular.isna().all(axis=1).sum())
    assert counts == expected
    for column in ("image", "audio", "text"):
        assert all(v is None for v in X[column] if not isinstance(v, (np.ndarray, str)))


def test_every_row_keeps_a_modality():
    X, _ = make_multimodal_classification(
        200, modalities=("image", "text"), missing_rate=0.5, random_state=0
    )
    assert not (X["image"].isna() & X["text"].isna()).any()


def test_generator_is_fast():
    start = time.perf_counter()
    make_multimodal_classification(200, missing_rate=0.1, random_state=0)
    assert time.perf_counter() - start < 1.0  # about 0.03 s


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(n_classes=1), "n_classes"),
        (dict(modalities=("image", "video")), "modalities"),
        (dict(modalities=()), "modalities"),
        (dict(signal=1.5), r"signal\['image'\]"),
        (dict(signal={"video": 1.0}), "video"),
        (dict(modalities=("image",), signal={"text": 1.0}), "text"),
        (dict(missing_rate=-0.1), "missing_rate"),
        (dict(image_channels=2), "image_channels"),
        (dict(image_size=0), "image_size"),
    ],
)
def test_generator_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_multimodal_classification(10, **kwargs)


def test_generator_rejects_bad_n_samples():
    with pytest.raises(ValueError, match="n_samples"):
        make_multimodal_classification(0)
