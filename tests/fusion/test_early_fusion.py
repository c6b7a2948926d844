"""Tests of FeatureFusion, the feature-level (early) fusion transformer."""

import pickle

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.compose import make_column_selector
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from mmensemble import FeatureFusion

ALL_COLUMNS = make_column_selector()


@parametrize_with_checks(
    [
        FeatureFusion([("scaled", StandardScaler(), ALL_COLUMNS)]),
        FeatureFusion(
            [
                ("scaled", StandardScaler(), ALL_COLUMNS),
                ("raw", "passthrough", ALL_COLUMNS),
            ],
            weights={"raw": 0.5},
        ),
    ]
)
def test_sklearn_compatible(estimator, check):
    check(estimator)


class NoMissingAllowed(TransformerMixin, BaseEstimator):
    """A text encoder that fails loudly if it is ever shown a missing cell."""

    def fit(self, X, y=None):
        self._check(X)
        self.n_seen_ = len(X)
        return self

    def transform(self, X):
        self._check(X)
        return np.array([[len(text), text.count(" ")] for text in X], dtype=float)

    def get_feature_names_out(self, input_features=None):
        return np.array(["length", "spaces"], dtype=object)

    @staticmethod
    def _check(X):
        assert all(isinstance(text, str) for text in X), list(X)


@pytest.fixture
def table():
    rng = np.random.default_rng(0)
    n = 40
    texts = [" ".join(rng.choice(["red", "blue", "cat", "dog"], 3)) for _ in range(n)]
    texts[3] = None
    texts[7] = np.nan
    return pd.DataFrame(
        {
            "text": pd.Series(texts, dtype=object),
            "wide": list(rng.normal(size=(n, 50)) * 10),
            "a": rng.normal(size=n),
            "b": rng.normal(size=n) * 100,
        }
    ).drop(columns="wide")


def test_missing_rows_are_zero_filled_flagged_and_never_encoded(table):
    fusion = FeatureFusion(
        [("text", NoMissingAllowed(), "text"), ("num", "passthrough", ["a", "b"])]
    )
    out = fusion.fit_transform(table)
    assert fusion.named_modalities_["text"].n_seen_ == len(table) - 2
    names = list(fusion.get_feature_names_out())
    assert names == [
        "text__length",
        "text__spaces",
        "num__a",
        "num__b",
        "text__missing",
    ]
    assert out.shape == (len(table), 5)
    np.testing.assert_array_equal(out[[3, 7], :2], 0.0)
    indicator = out[:, names.index("text__missing")]
    np.testing.assert_array_equal(np.flatnonzero(indicator), [3, 7])
    # At transform time, a new missing row is handled the same way.
    new = table.copy()
    new.loc[0, "text"] = None
    out_new = fusion.transform(new)
    assert out_new[0, 4] == 1.0 and np.all(out_new[0, :2] == 0.0)


def test_block_scaling_balances_blocks_of_different_widths():
    rng = np.random.default_rng(0)
    wide = rng.normal(size=(200, 1280)) * 5 + 3
    narrow = rng.normal(size=(200, 4))
    X = np.hstack([wide, narrow])
    fusion = FeatureFusion(
        [
            ("wide", "passthrough", slice(0, 1280)),
            ("narrow", "passthrough", [1280, 1281, 1282, 1283]),
        ]
    )
    out = fusion.fit_transform(X)
    for name in ("wide", "narrow"):
        block = out[:, fusion.output_indices_[name]]
        total_variance = ((block - block.mean(axis=0)) ** 2).sum(axis=1).mean()
        assert total_variance == pytest.approx(1.0, rel=1e-6)
    unscaled = FeatureFusion(
        [
            ("wide", "passthrough", slice(0, 1280)),
            ("narrow", "passthrough", slice(1280, None)),
        ],
        block_scaling=None,
    ).fit_transform(X)
    np.testing.assert_allclose(unscaled, X)


def test_weights_multiply_blocks_and_are_validated(table):
    modalities = [("a", "passthrough", ["a"]), ("b", "passthrough", ["b"])]
    base = FeatureFusion(modalities).fit_transform(table)
    weighted = FeatureFusion(modalities, weights={"b": 3.0}).fit_transform(table)
    np.testing.assert_allclose(weighted[:, 0], base[:, 0])
    np.testing.assert_allclose(weighted[:, 1], 3.0 * base[:, 1])
    with pytest.raises(ValueError, match=r"weights has keys \['c'\]"):
        FeatureFusion(modalities, weights={"c": 1.0}).fit(table)
    with pytest.raises(ValueError, match=r"weights\['a'\] must be a non-negative"):
        FeatureFusion(modalities, weights={"a": -1.0}).fit(table)


def test_sparse_text_stays_sparse_unless_dense_blocks_dominate(table):
    sparse_fusion = FeatureFusion(
        [("text", TfidfVectorizer(), "text"), ("a", "passthrough", ["a"])],
        sparse_threshold=0.9,
    )
    out = sparse_fusion.fit_transform(table)
    assert sp.issparse(out) and out.format == "csr"
    dense = FeatureFusion(
        [("text", TfidfVectorizer(), "text"), ("a", "passthrough", ["a"])],
        sparse_threshold=0.0,
    ).fit_transform(table)
    assert isinstance(dense, np.ndarray)
    np.testing.assert_allclose(out.toarray(), dense)
    # Missing texts are zero rows in the sparse block too.
    n_words = len(sparse_fusion.named_modalities_["text"].vocabulary_)
    assert out[3, :n_words].nnz == 0
    assert dense[3, -1] == 1.0


def test_dict_input_pandas_output_and_feature_names(table):
    fusion = FeatureFusion(
        [("text", TfidfVectorizer(), "text"), ("num", StandardScaler(), ["a", "b"])],
        sparse_threshold=0.0,
    ).set_output(transform="pandas")
    frame = fusion.fit_transform(table.to_dict(orient="list"))
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.columns) == list(fusion.get_feature_names_out())
    assert frame.shape[1] == len(fusion.get_feature_names_out())


def test_clone_pickle_and_nested_params(table):
    fusion = FeatureFusion(
        [("text", TfidfVectorizer(), "text"), ("num", "passthrough", ["a", "b"])],
        sparse_threshold=0.0,
    )
    fusion.set_params(text__ngram_range=(1, 2))
    assert fusion.get_params()["text__ngram_range"] == (1, 2)
    cloned = clone(fusion)
    assert cloned.get_params()["text__ngram_range"] == (1, 2)
    assert cloned.modalities[0][1] is not fusion.modalities[0][1]
    out = fusion.fit_transform(table)
    restored = pickle.loads(pickle.dumps(fusion))
    np.testing.assert_allclose(restored.transform(table), out)
    # fit never touched the parameter objects
    assert not hasattr(fusion.modalities[0][1], "vocabulary_")


def test_grid_search_over_encoder_parameter_and_fusion_weight():
    rng = np.random.default_rng(0)
    n = 120
    y = rng.integers(0, 2, size=n)
    words = np.array([["alpha", "beta"], ["gamma", "delta"]])
    text = [
        " ".join([words[label, rng.integers(2)], "noise", "filler"])
        if rng.random() > 0.2
        else "noise filler"
        for label in y
    ]
    X = pd.DataFrame({"text": text, "num": y + rng.normal(scale=2.0, size=n)})
    pipe = make_pipeline(
        FeatureFusion(
            [("text", TfidfVectorizer(), "text"), ("num", "passthrough", ["num"])]
        ),
        LogisticRegression(),
    )
    grid = GridSearchCV(
        pipe,
        {
            "featurefusion__text__ngram_range": [(1, 1), (1, 2)],
            "featurefusion__weights": [{"num": 0.0}, {"num": 1.0}],
        },
        cv=3,
        n_jobs=2,
    )
    grid.fit(X, y)
    assert grid.best_score_ > 0.8
    assert len(grid.cv_results_["params"]) == 4
    assert grid.predict(X).shape == (n,)


def test_data_errors_name_modality_and_columns(table):
    with pytest.raises(ValueError, match="modality 'text' is 'passthrough'"):
        FeatureFusion([("text", "passthrough", "text")]).fit(table)
    all_missing = table.assign(text=None)
    with pytest.raises(ValueError, match="modality 'text' is missing in every row"):
        FeatureFusion([("text", TfidfVectorizer(), "text")]).fit(all_missing)
    with pytest.raises(KeyError, match="column 'nope' is not in X"):
        FeatureFusion([("text", TfidfVectorizer(), "nope")]).fit(table)
    with pytest.raises(ValueError, match="must be an estimator or one of"):
        FeatureFusion([("text", "bogus", "text")]).fit(table)
    with pytest.raises(ValueError, match="every modality is 'drop'"):
        FeatureFusion([("text", "drop", "text")]).fit(table)
    with pytest.raises(ValueError, match="Estimator names must not contain __"):
        FeatureFusion([("te__xt", TfidfVectorizer(), "text")]).fit(table)


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (3.5, "got float"),
        (["a", "list"], "got list"),
        (b"caf\xe9", "not valid utf-8"),
        (np.array([1, 2]), "got ndarray"),
    ],
)
def test_bad_text_cells_raise_or_become_missing(table, bad, reason):
    from mmensemble import BadCellWarning, CellDecodeError

    X = table.copy()
    X["text"] = X["text"].astype(object)
    X.at[5, "text"] = bad
    modalities = [("text", TfidfVectorizer(), "text"), ("a", "passthrough", ["a"])]
    with pytest.raises(CellDecodeError, match=f"row 5, column 'text'.*{reason}"):
        FeatureFusion(modalities).fit(X)
    lenient = FeatureFusion(modalities, on_error="missing", sparse_threshold=0.0)
    with pytest.warns(BadCellWarning, match="row 5"):
        out = lenient.fit_transform(X)
    assert out[5, -1] == 1.0  # flagged as a missing text
    assert out[[3, 7], -1].tolist() == [1.0, 1.0]


def test_utf8_bytes_are_valid_text(table):
    X = table.copy()
    X["text"] = X["text"].astype(object)
    X.at[5, "text"] = "café".encode()
    out = FeatureFusion(
        [("text", TfidfVectorizer(), "text")], sparse_threshold=0.0
    ).fit_transform(X)
    assert out[5, -1] == 0.0


def test_on_error_reaches_nested_encoders():
    from mmensemble import ImageEncoder

    images = pd.Series(
        [np.zeros((8, 8), np.uint8), "no-such-file.png", np.ones((8, 8), np.uint8)],
        name="photo",
    )
    fusion = FeatureFusion(
        [("image", make_pipeline(ImageEncoder(image_size=32)), "photo")],
        on_error="missing",
    )
    with pytest.warns(UserWarning, match="no-such-file|row 1"):
        out = fusion.fit_transform(pd.DataFrame({"photo": images}))
    assert out[1, -1] == 1.0 and np.all(out[1, :-1] == 0.0)
    assert fusion.modalities[0][1].steps[0][1].on_error == "raise"  # untouched
