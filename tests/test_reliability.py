"""Reliability: bad cells under both error policies, random malformed tables,
determinism, and fitted models shared by threads.

The bad cells are generated here (no binary fixtures). Small encoders keep the
tests fast: a tiny CNN backbone (the pretrained network is tested in
``test_image.py``) and short MFCCs at 8 kHz.
"""

import io
import pickle
import re
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest
import soundfile
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from scipy import sparse
from sklearn.base import clone
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
)
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline

import mmensemble
from mmensemble import (
    BadCellWarning,
    CellDecodeError,
    FeatureFusion,
    FusionNetClassifier,
    FusionNetRegressor,
    ImageEncoder,
    MFCCEncoder,
    MMEnsembleError,
    ModalityStackingClassifier,
    ModalityStackingRegressor,
    ModalityVotingClassifier,
    ModalityVotingRegressor,
    ModelFileError,
)
from mmensemble._exceptions import ColumnNotFoundError

SR = 8000
N_ROWS = 12
FIRST_LABEL = 10  # index labels start here, so a label is never a position
BAD_ROW = 15
MODALITY_OF = {"photo": "image", "clip": "audio", "review": "text"}

# The only exceptions a public estimator may raise, whatever the cells hold:
# - mmensemble.MMEnsembleError and its subclasses (CellDecodeError for a cell
#   that cannot be decoded under on_error="raise", ColumnNotFoundError...);
# - ValueError or TypeError themselves (not subclasses such as
#   UnicodeDecodeError), with a message, for structurally invalid input, as
#   scikit-learn raises them: non-numeric or NaN values where numbers are
#   needed, a modality missing in every row, a single class, too few rows.
# Anything else (KeyError, IndexError, AttributeError, a raw PIL, soundfile or
# torch error...) is a bug.
SKLEARN_ERRORS = (ValueError, TypeError)


def assert_documented(exc):
    """Fail unless ``exc`` is one of the documented exceptions, with a message."""
    documented = isinstance(exc, MMEnsembleError) or type(exc) in SKLEARN_ERRORS
    assert documented, f"undocumented {type(exc).__name__}: {exc}"
    assert str(exc).strip(), f"{type(exc).__name__} without a message"


# Tiny networks run fastest (and steadiest on a shared machine) on one thread.
pytestmark = pytest.mark.usefixtures("one_torch_thread")


# -- encoders, tables and fusion estimators ------------------------------------


def tiny_backbone():
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten()
    )


def image_encoder():
    return ImageEncoder(tiny_backbone(), image_size=16, max_pixels=10_000, n_jobs=1)


def audio_encoder():
    return MFCCEncoder(
        sr=SR, n_mfcc=4, n_fft=128, hop_length=64, n_mels=8, max_duration=1.0, n_jobs=1
    )


def png_bytes(pixels):
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def write(directory, name, data):
    path = directory / name
    path.write_bytes(data)
    return str(path)


def object_column(values, index):
    cells = np.empty(len(values), dtype=object)
    for position, value in enumerate(values):
        cells[position] = value
    return pd.Series(cells, index=index, dtype=object)


def clean_table(directory, n=N_ROWS):
    """Mixed-type columns of valid cells: every kind of cell the contract allows."""
    rng = np.random.default_rng(0)
    y = np.arange(n) % 2
    index = pd.RangeIndex(FIRST_LABEL, FIRST_LABEL + n)
    photos, clips, reviews = [], [], []
    for i, label in enumerate(y):
        pixels = np.full((8 + i, 9, 3), 40 + 150 * label, np.uint8)
        pixels[::2] = rng.integers(0, 256, pixels[::2].shape, dtype=np.uint8)
        photos.append(
            [
                pixels,
                png_bytes(pixels),
                Image.fromarray(pixels),
                write(directory, f"photo{i}.png", png_bytes(pixels)),
            ][i % 4]
        )
        clip = ((0.05 + 0.4 * label) * rng.normal(size=400 + 40 * i)).astype(np.float32)
        if i % 3 == 2:
            path = directory / f"clip{i}.wav"
            soundfile.write(path, clip, SR, subtype="FLOAT")
            clips.append(str(path))
        else:
            clips.append([clip, (clip, SR)][i % 3])
        text = ["calm quiet evening", "loud noisy party"][label] + f" item{i}"
        reviews.append(text.encode() if i % 4 == 1 else text)
    X = pd.DataFrame(
        {
            "photo": object_column(photos, index),
            "clip": object_column(clips, index),
            "review": object_column(reviews, index),
            "num": rng.normal(size=n) + y,
        },
        index=index,
    )
    return X, y


def bad_table(directory, column, cell, clean=None):
    """The clean table (made in ``directory`` unless given) with one bad cell."""
    X, y = clean_table(directory) if clean is None else clean
    X = X.copy()
    cells = X[column].tolist()
    cells[BAD_ROW - FIRST_LABEL] = cell
    X[column] = object_column(cells, X.index)
    return X, y


def classifier():
    # liblinear: a fraction of lbfgs's time on a dozen rows
    return LogisticRegression(solver="liblinear")


def per_modality(final):
    return [
        ("image", make_pipeline(image_encoder(), clone(final)), "photo"),
        ("audio", make_pipeline(audio_encoder(), clone(final)), "clip"),
        ("text", make_pipeline(TfidfVectorizer(), clone(final)), "review"),
        ("num", clone(final), ["num"]),
    ]


def feature_blocks():
    return [
        ("image", image_encoder(), "photo"),
        ("audio", audio_encoder(), "clip"),
        ("text", TfidfVectorizer(), "review"),
        ("num", "passthrough", ["num"]),
    ]


def feature_fusion(on_error):
    return make_pipeline(
        FeatureFusion(feature_blocks(), on_error=on_error), classifier()
    )


def voting(on_error):
    return ModalityVotingClassifier(
        per_modality(classifier()), voting="soft", on_error=on_error
    )


def stacking(on_error):
    return ModalityStackingClassifier(
        per_modality(classifier()), cv=2, random_state=0, on_error=on_error
    )


FUSIONS = {"feature": feature_fusion, "voting": voting, "stacking": stacking}


def fusion_estimator(model):
    """The estimator that holds ``errors_`` (FeatureFusion is a pipeline step)."""
    return model[0] if hasattr(model, "steps") else model


def missing_rows(model, X, modality):
    """The positions of the rows where the fitted ``model`` lacks ``modality``."""
    fusion = fusion_estimator(model)
    out, _ = bad_cell_warnings(lambda: fusion.transform(X))
    out = out.toarray() if sparse.issparse(out) else out
    names = list(fusion.get_feature_names_out())
    if isinstance(fusion, ModalityVotingClassifier):
        prefix = f"modalityvotingclassifier_{modality}"
        columns = [i for i, name in enumerate(names) if name.startswith(prefix)]
        return np.flatnonzero(np.isnan(out[:, columns]).all(axis=1)).tolist()
    return np.flatnonzero(out[:, names.index(f"{modality}__missing")]).tolist()


def bad_cell_warnings(action):
    """Run ``action``; return its result and the BadCellWarnings it issued."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", BadCellWarning)
        result = action()
    return result, [w for w in caught if issubclass(w.category, BadCellWarning)]


# -- the corpus of bad cells ------------------------------------------------------

NOISE = np.random.default_rng(1).integers(0, 256, (40, 40, 3), dtype=np.uint8)

# case: (column, cell made in a directory, what the reason says)
BAD_CELLS = {
    "zero-byte image file": (
        "photo",
        lambda d: write(d, "empty.png", b""),
        "cannot identify image file",
    ),
    "truncated image file": (
        "photo",
        lambda d: write(d, "cut.png", png_bytes(NOISE)[:600]),
        "truncated",
    ),
    "non-image file": (
        "photo",
        lambda d: write(d, "notes.png", b"eggs, milk, bread\n"),
        "cannot identify image file",
    ),
    "image over max_pixels": (
        "photo",
        lambda d: write(d, "huge.png", png_bytes(np.zeros((200, 200), np.uint8))),
        "exceeds max_pixels",
    ),
    "nonexistent image path": (
        "photo",
        lambda d: str(d / "no-such-photo.png"),
        "No such file",
    ),
    "non-image bytes": ("photo", lambda d: b"GIF89a, or not", "cannot identify"),
    "number in image column": ("photo", lambda d: 42, "got int"),
    "list in image column": ("photo", lambda d: [[0, 255], [255, 0]], "got list"),
    "image array of odd shape": (
        "photo",
        lambda d: np.zeros((4, 4, 2), np.uint8),
        "HxW or HxWxC",
    ),
    "dict in mixed-type image column": (
        "photo",
        lambda d: {"path": "a.png"},
        "got dict",
    ),
    "number in text column": ("review", lambda d: 3.5, "got float"),
    "list in text column": ("review", lambda d: ["great", "value"], "got list"),
    "non-UTF-8 bytes in text column": (
        "review",
        lambda d: "café crème".encode("latin-1"),
        "not valid utf-8",
    ),
    "empty audio": ("clip", lambda d: np.zeros(0, np.float32), "empty"),
    "NaN-filled audio": ("clip", lambda d: np.full(800, np.nan), "non-finite"),
    "inf-filled audio": ("clip", lambda d: np.full(800, np.inf), "non-finite"),
    "zero-byte audio file": (
        "clip",
        lambda d: write(d, "empty.wav", b""),
        "not an audio file",
    ),
    "non-audio file": (
        "clip",
        lambda d: write(d, "notes.wav", b"RIFF? no: a shopping list\n"),
        "not an audio file",
    ),
    "too-long audio": (
        "clip",
        lambda d: np.zeros(2 * SR, np.float32),
        "more than max_duration",
    ),
    "nonexistent audio path": (
        "clip",
        lambda d: str(d / "no-such-clip.wav"),
        "no such audio file",
    ),
    "integer audio samples": (
        "clip",
        lambda d: np.arange(800),
        "expected float samples",
    ),
    "bytes in audio column": ("clip", lambda d: b"RIFF\x00\x00", "raw bytes"),
    "bad sample rate": (
        "clip",
        lambda d: (np.zeros(800, np.float32), 0),
        "sample rate",
    ),
}


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    return clean_table(tmp_path_factory.mktemp("clean"))


@pytest.fixture(scope="module")
def fitted_on_clean(clean):
    """Each fusion estimator, under on_error="raise", fitted on the clean table."""
    return {name: make("raise").fit(*clean) for name, make in FUSIONS.items()}


@pytest.mark.parametrize("fusion", FUSIONS)
@pytest.mark.parametrize("case", BAD_CELLS)
def test_bad_cell_raises_an_error_naming_its_row_and_column(
    case, fusion, clean, fitted_on_clean, tmp_path
):
    column, make_cell, reason = BAD_CELLS[case]
    X, y = bad_table(tmp_path, column, make_cell(tmp_path), clean)
    with pytest.raises(CellDecodeError, match=f"(?s)row {BAD_ROW}, column '{column}'"):
        FUSIONS[fusion]("raise").fit(X, y)
    with pytest.raises(CellDecodeError, match=f"(?s){re.escape(reason)}") as info:
        fitted_on_clean[fusion].predict(X)
    assert (info.value.row, info.value.column) == (BAD_ROW, column)


@pytest.mark.parametrize("fusion", FUSIONS)
@pytest.mark.parametrize("case", BAD_CELLS)
def test_bad_cell_becomes_missing_with_one_warning(case, fusion, clean, tmp_path):
    column, make_cell, reason = BAD_CELLS[case]
    X, y = bad_table(tmp_path, column, make_cell(tmp_path), clean)
    model = FUSIONS[fusion]("missing")
    _, caught = bad_cell_warnings(lambda: model.fit(X, y))
    assert len(caught) == 1
    assert f"row {BAD_ROW}:" in str(caught[0].message)
    errors = fusion_estimator(model).errors_
    assert errors[["row", "column"]].values.tolist() == [[BAD_ROW, column]]
    assert reason in errors["reason"].iloc[0]
    predictions, caught = bad_cell_warnings(lambda: model.predict(X))
    assert len(caught) == 1
    assert predictions.shape == (N_ROWS,)
    assert set(predictions) <= {0, 1}
    assert missing_rows(model, X, MODALITY_OF[column]) == [BAD_ROW - FIRST_LABEL]


def test_default_policy_keeps_the_encoders_own_setting(tmp_path):
    X, y = bad_table(tmp_path, "photo", 42)
    modalities = per_modality(classifier())
    modalities[0][1].steps[0][1].set_params(on_error="missing")
    stack = ModalityStackingClassifier(modalities, cv=2, random_state=0)
    _, caught = bad_cell_warnings(lambda: stack.fit(X, y))
    assert len(caught) == 1
    assert stack.errors_["row"].tolist() == [BAD_ROW]
    # on_error overrides it, in the fitted clones only
    with pytest.raises(CellDecodeError, match=f"row {BAD_ROW}, column 'photo'"):
        clone(stack).set_params(on_error="raise").fit(X, y)
    assert stack.modalities[0][1].steps[0][1].on_error == "missing"


def test_pipelines_starting_with_an_encoder_fit_as_pipeline_fit_would(tmp_path):
    X, y = clean_table(tmp_path)
    stack = stacking("missing").fit(X, y)
    image = stack.named_estimators_["image"]
    assert stack.estimators_[0] is image and len(image.steps) == 2
    alone = make_pipeline(image_encoder(), classifier()).fit(X["photo"], y)
    np.testing.assert_allclose(
        image.predict_proba(X["photo"]), alone.predict_proba(X["photo"]), rtol=1e-6
    )
    assert stack.errors_.empty
    assert stack.errors_.columns.tolist() == ["row", "column", "reason"]


def test_a_modality_whose_every_cell_is_bad_cannot_be_fitted(tmp_path):
    X, y = clean_table(tmp_path)
    X["photo"] = object_column([b"not an image"] * N_ROWS, X.index)
    with pytest.raises(ValueError, match="modality 'image' is missing in every row"):
        bad_cell_warnings(lambda: stacking("missing").fit(X, y))


@pytest.mark.parametrize("make", [FusionNetClassifier, FusionNetRegressor])
def test_fusion_net_on_error(make, tmp_path):
    X, y = bad_table(tmp_path, "clip", np.full(800, np.nan))
    params = {"max_epochs": 3, "branch_size": 4, "hidden_sizes": (4,)}
    with pytest.raises(CellDecodeError, match=f"row {BAD_ROW}, column 'clip'"):
        make(feature_blocks(), on_error="raise", **params).fit(X, y)
    net = make(feature_blocks(), on_error="missing", random_state=0, **params)
    _, caught = bad_cell_warnings(lambda: net.fit(X, y))
    assert len(caught) == 1
    assert net.errors_[["row", "column"]].values.tolist() == [[BAD_ROW, "clip"]]
    predictions, caught = bad_cell_warnings(lambda: net.predict(X))
    assert len(caught) == 1 and predictions.shape == (N_ROWS,)
    assert np.isfinite(predictions.astype(float)).all()


def test_errors_table_survives_save_and_load(tmp_path):
    X, y = bad_table(tmp_path, "review", 3.5)
    # a custom torch backbone cannot go into a model file: leave images out
    model = voting("missing").set_params(image="drop")
    bad_cell_warnings(lambda: model.fit(X, y))
    path = tmp_path / "model.mmen"
    mmensemble.save(model, path)
    loaded = mmensemble.load(path)
    assert loaded.errors_["row"].tolist() == [BAD_ROW]
    pd.testing.assert_frame_equal(loaded.errors_, model.errors_)
    np.testing.assert_array_equal(
        bad_cell_warnings(lambda: loaded.predict_proba(X))[0],
        bad_cell_warnings(lambda: model.predict_proba(X))[0],
    )


def test_a_model_that_cannot_go_into_a_model_file_is_refused(tmp_path):
    encoder = image_encoder().fit([np.zeros((8, 8), np.uint8)])  # custom backbone
    with pytest.raises(ModelFileError, match="custom torch modules"):
        mmensemble.save(encoder, tmp_path / "model.mmen")
    assert not (tmp_path / "model.mmen").exists()


def test_pickling_an_encoder_leaves_the_live_encoder_ready():
    encoder = image_encoder().fit([np.zeros((8, 8), np.uint8)])
    network = encoder._model
    restored = pickle.loads(pickle.dumps(encoder))
    assert encoder._model is network  # not stripped from the live encoder
    assert "_model" not in vars(restored)  # reloaded lazily after unpickling
    np.testing.assert_array_equal(
        restored.transform([np.ones((8, 8), np.uint8)]),
        encoder.transform([np.ones((8, 8), np.uint8)]),
    )


def test_an_unknown_column_is_a_key_error_and_a_value_error(tmp_path):
    X, y = clean_table(tmp_path)
    with pytest.raises(ColumnNotFoundError, match="column 'nope' is not in X") as info:
        ModalityVotingClassifier([("a", LogisticRegression(), "nope")]).fit(X, y)
    assert isinstance(info.value, KeyError)  # as pandas raises
    assert isinstance(info.value, ValueError)  # as ColumnTransformer raises
    assert str(info.value).startswith("column 'nope'")


# -- random malformed tables ------------------------------------------------------


def odd_array(shape, dtype, seed):
    if dtype == "object":
        return np.full(shape, None, dtype=object)
    values = np.random.default_rng(seed).normal(scale=300, size=shape)
    with np.errstate(all="ignore"):
        return values.astype(dtype)


ODD_ARRAYS = st.builds(
    odd_array,
    st.lists(st.integers(0, 4), max_size=4).map(tuple),
    st.sampled_from(
        ["float32", "float64", "float16", "uint8", "int64", "bool", "complex64"]
        + ["U3", "object", "datetime64[s]"]
    ),
    st.integers(0, 9),
)
SCALARS = st.one_of(
    st.none(),
    st.sampled_from([np.nan, pd.NA, pd.NaT, np.inf, -np.inf, True, 1j]),
    st.sampled_from(["", "/", ".", "a\x00b", "no-such-file.png", "nan"]),
    st.text(max_size=8),
    st.binary(max_size=12),
    st.integers(),
    st.floats(),
)
CELLS = st.one_of(
    SCALARS,
    ODD_ARRAYS,
    st.lists(SCALARS, max_size=3),
    st.tuples(ODD_ARRAYS, SCALARS),
    st.tuples(SCALARS, SCALARS, SCALARS),
)


VALID_CELLS = {
    "photo": st.builds(
        lambda value, size: np.full((size, 9, 3), value, np.uint8),
        st.integers(0, 255),
        st.integers(4, 12),
    ),
    "clip": st.builds(
        lambda seed, size: np.random.default_rng(seed).normal(size=size),
        st.integers(0, 9),
        st.integers(100, 900),
    ),
    "review": st.sampled_from(["red cat", "blue dog", "red dog", b"blue cat"]),
    "num": st.floats(-1e3, 1e3),
}


@st.composite
def random_tables(draw, numeric=False):
    """Tables of valid and random cells; with ``numeric``, ``num`` is floats."""
    n = draw(st.integers(1, 10))
    index = draw(
        st.sampled_from(
            [list(range(n)), [f"r{i}" for i in range(n)], [7] * n, list(range(-n, 0))]
        )
    )
    columns = {}
    for name, valid in VALID_CELLS.items():
        # two valid cells for one random cell, so that many fits succeed
        cells = valid if numeric and name == "num" else st.one_of(valid, valid, CELLS)
        columns[name] = object_column(
            draw(st.lists(cells, min_size=n, max_size=n)), index
        )
    labels = st.lists(st.integers(0, 2), min_size=n, max_size=n)
    y = np.array(draw(st.one_of(st.just([0, 1] * (n // 2) + [0] * (n % 2)), labels)))
    return pd.DataFrame(columns, index=index), y


def public_estimators(on_error):
    """Every public estimator, small; numbers go to models that take NaN."""
    encoder_policy = "raise" if on_error is None else on_error
    net = {
        "max_epochs": 2,
        "branch_size": 4,
        "hidden_sizes": (4,),
        "early_stopping": False,
        "random_state": 0,
        "on_error": on_error,
    }

    def modalities(final, numbers):
        return per_modality(final)[:3] + [("num", numbers, ["num"])]

    classifiers = modalities(classifier(), HistGradientBoostingClassifier())
    regressors = modalities(Ridge(), HistGradientBoostingRegressor())
    return {
        "FeatureFusion": FeatureFusion(feature_blocks(), on_error=on_error),
        "ModalityVotingClassifier": ModalityVotingClassifier(
            classifiers, voting="soft", on_error=on_error
        ),
        "ModalityVotingRegressor": ModalityVotingRegressor(
            regressors, on_error=on_error
        ),
        "ModalityStackingClassifier": ModalityStackingClassifier(
            classifiers, cv=2, random_state=0, on_error=on_error
        ),
        "ModalityStackingRegressor": ModalityStackingRegressor(
            regressors, cv=2, random_state=0, on_error=on_error
        ),
        "FusionNetClassifier": FusionNetClassifier(feature_blocks(), **net),
        "FusionNetRegressor": FusionNetRegressor(feature_blocks(), **net),
        "ImageEncoder": image_encoder().set_params(on_error=encoder_policy),
        "MFCCEncoder": audio_encoder().set_params(on_error=encoder_policy),
    }


ESTIMATOR_NAMES = list(public_estimators(None))
ENCODER_COLUMNS = {"ImageEncoder": "photo", "MFCCEncoder": "clip"}
RANDOM_SETTINGS = settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def fit_and_apply(name, estimator, X, y):
    """Fit ``estimator`` on ``X`` and apply it to ``X``, quietly; return the output."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BadCellWarning)
        warnings.simplefilter("ignore", UserWarning)
        if name in ENCODER_COLUMNS:
            return estimator.fit(X[ENCODER_COLUMNS[name]]).transform(
                X[ENCODER_COLUMNS[name]]
            )
        estimator.fit(X, y)
        return apply(name, estimator, X)


def apply(name, estimator, X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BadCellWarning)
        if name in ENCODER_COLUMNS:
            return estimator.transform(X[ENCODER_COLUMNS[name]])
        if name == "FeatureFusion":
            return estimator.transform(X)
        return estimator.predict(X)


@pytest.mark.parametrize("name", ESTIMATOR_NAMES)
@RANDOM_SETTINGS
@given(table=random_tables(), on_error=st.sampled_from([None, "raise", "missing"]))
def test_random_tables_raise_only_documented_errors(name, table, on_error):
    X, y = table
    estimator = public_estimators(on_error)[name]
    try:
        output = fit_and_apply(name, estimator, X, y)
    except Exception as exc:  # the property: which exceptions escape
        assert_documented(exc)
    else:
        assert output.shape[0] == len(X)


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """Every public estimator fitted on a clean table, under both policies."""
    X, y = clean_table(tmp_path_factory.mktemp("clean"))
    estimators = {}
    for on_error in ("raise", "missing"):
        for name, estimator in public_estimators(on_error).items():
            fit_and_apply(name, estimator, X, y)
            estimators[name, on_error] = estimator
    return estimators


@pytest.mark.parametrize("name", ESTIMATOR_NAMES)
@RANDOM_SETTINGS
@given(table=random_tables(numeric=True))
def test_random_cells_at_predict_give_an_output_for_every_row(fitted, name, table):
    X, _ = table
    try:
        apply(name, fitted[name, "raise"], X)
    except Exception as exc:  # the property: which exceptions escape
        assert_documented(exc)
    # under on_error="missing" any cell is fine: every row gets an output
    output = apply(name, fitted[name, "missing"], X)
    output = output.toarray() if sparse.issparse(output) else np.asarray(output)
    assert output.shape[0] == len(X)
    if name in ENCODER_COLUMNS:
        nan_rows = np.isnan(output).any(axis=1)
        assert np.isnan(output[nan_rows]).all()
        assert np.isfinite(output[~nan_rows]).all()
    elif name.endswith("Classifier"):
        assert set(output) <= {0, 1}
    else:
        assert np.isfinite(output).all()


STRUCTURAL_CASES = {
    "duplicate column names": lambda X, y: (pd.concat([X, X[["review"]]], axis=1), y),
    "no rows": lambda X, y: (X.iloc[:0], y[:0]),
    "no columns": lambda X, y: (X.iloc[:, :0], y),
    "a 1-D array": lambda X, y: (X["num"].to_numpy(), y),
    "None": lambda X, y: (None, y),
    "a sparse matrix": lambda X, y: (sparse.csr_matrix(np.ones((len(y), 4))), y),
    "columns of unequal lengths": lambda X, y: ({"photo": [None], "num": [1.0]}, y),
    "column names of mixed types": lambda X, y: (X.rename(columns={"num": 3}), y),
    "a y of another length": lambda X, y: (X, y[:-1]),
}


@pytest.mark.parametrize("case", STRUCTURAL_CASES)
def test_structurally_invalid_tables_raise_documented_errors(case, tmp_path):
    X, y = STRUCTURAL_CASES[case](*clean_table(tmp_path))
    for name, estimator in public_estimators("missing").items():
        if name in ENCODER_COLUMNS:
            continue  # an encoder takes one column, not a table
        try:
            estimator.fit(X, y)
        except Exception as exc:  # the property: which exceptions escape
            assert_documented(exc)
        else:
            pytest.fail(f"{name} fitted on {case}")


def test_a_table_unlike_the_training_one_is_refused(tmp_path):
    X, y = clean_table(tmp_path)
    changed = [X.drop(columns="clip"), X.assign(extra=1.0), X[X.columns[::-1]]]
    for name, estimator in public_estimators("missing").items():
        if name in ENCODER_COLUMNS:
            continue
        fit_and_apply(name, estimator, X, y)
        for other in changed:
            with pytest.raises(ValueError, match="feature names should match"):
                apply(name, estimator, other)


# -- determinism and threads ----------------------------------------------------


def deterministic_models(task):
    if task == "classification":
        return [
            ModalityStackingClassifier(
                per_modality(classifier()), cv=3, random_state=7
            ),
            FusionNetClassifier(
                feature_blocks(), max_epochs=4, branch_size=4, random_state=7
            ),
        ]
    return [
        ModalityStackingRegressor(per_modality(Ridge()), cv=3, random_state=7),
        FusionNetRegressor(
            feature_blocks(), max_epochs=4, branch_size=4, random_state=7
        ),
    ]


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("task", ["classification", "regression"])
def test_the_same_random_state_gives_identical_predictions(task, tmp_path):
    X, y = clean_table(tmp_path)
    if task == "regression":
        y = y + X["num"].to_numpy()
    runs = []
    for _ in range(2):
        mmensemble.clear_cache()  # the second run encodes afresh too
        models = deterministic_models(task)
        runs.append([model.fit(X, y).predict(X) for model in models])
    for first, second in zip(*runs, strict=True):
        np.testing.assert_array_equal(first, second)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_fitted_models_predict_from_four_threads_as_from_one(tmp_path):
    X, y = clean_table(tmp_path)
    stack = ModalityStackingClassifier(
        per_modality(classifier()), cv=2, random_state=0
    ).fit(X, y)
    fusion = make_pipeline(
        FeatureFusion(
            [
                ("image", ImageEncoder(image_size=32, n_jobs=2), "photo"),
                ("text", TfidfVectorizer(), "review"),
                ("num", "passthrough", ["num"]),
            ]
        ),
        classifier(),
    ).fit(X, y)
    net = FusionNetClassifier(
        feature_blocks(), max_epochs=3, branch_size=4, random_state=0
    ).fit(X, y)
    models = [stack, fusion, net]
    with mmensemble.config_context(memory_cache_bytes=0):  # every call encodes
        expected = [model.predict_proba(X) for model in models]
        # unpickled copies: the threads also race to reload the networks
        shared = [pickle.loads(pickle.dumps(model)) for model in models]
        start = threading.Barrier(4)

        def predict_all(_):
            start.wait(timeout=120)
            return [model.predict_proba(X) for _ in range(2) for model in shared]

        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(predict_all, range(4)))
    for result in results:
        for proba, reference in zip(result, expected * 2, strict=True):
            np.testing.assert_array_equal(proba, reference)
