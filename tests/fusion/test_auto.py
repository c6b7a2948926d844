"""Tests of AutoFusionClassifier and AutoFusionRegressor."""

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline

import mmensemble
from mmensemble import (
    AutoFusionClassifier,
    AutoFusionRegressor,
    ImageEncoder,
    default_modality_model,
)

N_ROWS = 48
FAST = {"cv": 3, "net_params": {"max_epochs": 30}, "random_state": 0}


# The tests' short epoch budgets are deliberate.
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def make_table(n_rows=N_ROWS, seed=0):
    """Images with a bright square for class 1, a note, a noisy number."""
    rng = np.random.default_rng(seed)
    y = np.arange(n_rows) % 2
    images = []
    for label in y:
        image = rng.integers(0, 60, size=(12, 12, 3), dtype=np.uint8)
        if label:
            image[3:9, 3:9] = 230
        images.append(image)
    images[4] = None
    notes = [
        None if row % 6 == 1 else ("bright tall" if label else "dark short")
        for row, label in enumerate(y)
    ]
    X = pd.DataFrame(
        {
            "photo": pd.Series(images, dtype=object),
            "note": notes,
            "size": y + rng.normal(size=n_rows),
        }
    )
    return X, y


def modalities(task="classification"):
    """The default models of the table's modalities, with untuned heads.

    A plain logistic or ridge regression replaces each self-tuning head (tested
    in test_defaults.py) to keep the tests fast; the early-fusion head and
    stacking's meta-learner are the self-tuning ones.
    """
    text = default_modality_model("text", task=task, text_encoder="tfidf")
    models = [
        ("photo", default_modality_model("image", task=task, image_size=32), "photo"),
        ("note", text, "note"),
        ("size", default_modality_model("tabular", task=task), ["size"]),
    ]
    head = LogisticRegression() if task == "classification" else Ridge()
    return [
        (name, Pipeline([*model.steps[:-1], ("head", head)]), columns)
        for name, model, columns in models
    ]


@pytest.fixture(scope="module")
def fitted():
    X, y = make_table()
    return AutoFusionClassifier(modalities(), **FAST).fit(X, y), X, y


def test_leaderboard_scores_every_method_out_of_fold(fitted):
    auto, X, y = fitted
    board = auto.leaderboard_
    assert {"early", "voting", "stacking", "net"} <= set(board.index)
    assert set(board.index) <= {"early", "voting", "stacking", "net", "ensemble"}
    assert list(board.columns) == [
        "cv_score",
        "status",
        "fit_seconds",
        "predict_seconds",
        "weight",
        "ensemble_weight",
    ]
    assert board["cv_score"].is_monotonic_decreasing
    assert (board[["fit_seconds", "predict_seconds"]] > 0).all().all()
    assert auto.best_method_ in board.index
    assert sum(auto.weights_.values()) == pytest.approx(1.0)
    assert board.loc[auto.best_method_, "cv_score"] == board["cv_score"].max()
    proba = auto.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert (auto.predict(X) == y).mean() > 0.9


def test_ensemble_size_zero_keeps_the_best_single_method():
    X, y = make_table()
    auto = AutoFusionClassifier(
        modalities(), methods=["early", "voting"], ensemble_size=0, **FAST
    ).fit(X, y)
    assert "ensemble" not in auto.leaderboard_.index
    assert list(auto.weights_.values()) == [1.0]
    assert auto.best_method_ == auto.leaderboard_.index[0]
    assert set(auto.estimators_) == {auto.best_method_}


def test_scores_are_out_of_fold_not_in_sample():
    # Random labels on noise features: a model that saw the scored rows would
    # fit them; out-of-fold scores stay near chance.
    rng = np.random.default_rng(3)
    X = pd.DataFrame(rng.normal(size=(60, 40)), columns=[f"f{i}" for i in range(40)])
    y = rng.integers(0, 2, size=60)
    auto = AutoFusionClassifier(
        [
            ("left", default_modality_model("tabular"), list(X.columns[:20])),
            ("right", default_modality_model("tabular"), list(X.columns[20:])),
        ],
        methods=["early", "voting"],
        **FAST,
    ).fit(X, y)
    assert (auto.leaderboard_["cv_score"] < 0.75).all()


def test_no_row_is_encoded_twice(monkeypatch):
    embedded = []
    original = ImageEncoder._embed

    def counting(self, decoded):
        embedded.append(len(decoded))
        return original(self, decoded)

    monkeypatch.setattr(ImageEncoder, "_embed", counting)
    X, y = make_table(seed=1)
    # Without the embedding cache, so only encoding once can pass.
    with mmensemble.config_context(memory_cache_bytes=0):
        options = {**FAST, "cv": 2, "net_params": {"max_epochs": 5}}
        auto = AutoFusionClassifier(modalities(), **options).fit(X, y)
        assert sum(embedded) == X["photo"].notna().sum()
        auto.predict(X.head(10))
    assert sum(embedded) == X["photo"].notna().sum() + X["photo"].head(10).notna().sum()


def test_clone_pickle_and_model_file(fitted, tmp_path):
    auto, X, y = fitted
    params = clone(auto).get_params(deep=False)
    assert params["cv"] == 3 and params["methods"] == auto.methods
    expected = auto.predict_proba(X)
    copy = pickle.loads(pickle.dumps(auto))
    np.testing.assert_allclose(copy.predict_proba(X), expected, rtol=1e-5, atol=1e-6)
    path = tmp_path / "auto.mmen"
    mmensemble.save(auto, path)
    loaded = mmensemble.load(path)
    np.testing.assert_allclose(loaded.predict_proba(X), expected, rtol=1e-5, atol=1e-6)
    pd.testing.assert_frame_equal(loaded.leaderboard_, auto.leaderboard_)


def test_grid_search_and_nested_parameters():
    X, y = make_table(seed=2)
    auto = AutoFusionClassifier(modalities(), methods=["early", "voting"], **FAST)
    assert "note__tfidfvectorizer__ngram_range" in auto.get_params()
    assert auto.set_params(size__head__C=0.5).modalities[2][1][-1].C == 0.5
    grid = GridSearchCV(auto, {"ensemble_size": [0, 5]}, cv=2).fit(X, y)
    assert grid.best_estimator_.predict(X).shape == (len(y),)


def test_regressor_blends_and_scores_r2():
    X, y = make_table(seed=4)
    target = 3.0 * y + X["size"].to_numpy()
    auto = AutoFusionRegressor(
        modalities("regression"), methods=["early", "stacking"], **FAST
    ).fit(X, target)
    assert auto.leaderboard_["cv_score"].max() > 0.5
    assert auto.predict(X).shape == (len(y),)
    assert auto.score(X, target) > 0.5


def test_unknown_method_is_refused():
    X, y = make_table()
    with pytest.raises(ValueError, match="methods"):
        AutoFusionClassifier(modalities(), methods=["early", "magic"]).fit(X, y)


def test_modality_importance_masks_the_auto_models_modalities(fitted):
    auto, X, y = fitted
    importance = mmensemble.modality_importance(auto, X, y)
    assert list(importance.index) == ["photo", "note", "size"]
    full = importance.attrs["full_score"]
    assert full == pytest.approx(auto.score(X, y))
    # Shapley values add up to the score of all modalities over none.
    total = importance["shapley"].sum()
    assert total == pytest.approx(full - importance.attrs["empty_score"])
