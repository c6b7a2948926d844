"""Tests of AutoFusionClassifier and AutoFusionRegressor."""

import pickle
import time

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin, clone
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


def test_probabilities_are_calibrated_out_of_fold_and_predictions_kept(
    fitted, tmp_path
):
    auto, X, y = fitted
    summary = auto.calibration_
    assert set(summary) == {
        "temperature",
        "applied",
        "log_loss_before",
        "log_loss_after",
        "ece_before",
        "ece_after",
        "ece_bins",
    }
    assert summary["applied"] == (
        summary["log_loss_after"] < summary["log_loss_before"]
    )
    forced = clone(auto).set_params(calibration=True).fit(X, y)
    assert forced.temperature_ == forced.calibration_["temperature"] != 1.0
    uncalibrated = forced._blend(X)
    proba = forced.predict_proba(X)
    assert not np.allclose(proba, uncalibrated)
    np.testing.assert_array_equal(proba.argmax(axis=1), uncalibrated.argmax(axis=1))
    np.testing.assert_array_equal(forced.predict(X), auto.predict(X))
    mmensemble.save(forced, tmp_path / "calibrated.mmen")
    loaded = mmensemble.load(tmp_path / "calibrated.mmen")
    np.testing.assert_allclose(loaded.predict_proba(X), proba, rtol=1e-5, atol=1e-6)
    assert loaded.calibration_ == forced.calibration_
    off = clone(auto).set_params(calibration=False).fit(X, y)
    assert off.temperature_ == 1.0 and off.calibrator_ is None


@pytest.mark.parametrize("calibration", ["yes", None, 1.5])
def test_calibration_must_be_auto_or_a_bool(calibration):
    X, y = make_table()
    auto = AutoFusionClassifier(modalities(), calibration=calibration, **FAST)
    with pytest.raises(ValueError, match="'calibration' parameter"):
        auto.fit(X, y)


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


# -- shared fits, parallel workers and the time budget --------------------------

FITTED_ROWS = []


class CountingLogisticRegression(LogisticRegression):
    """A logistic regression that records a digest of every training set."""

    def fit(self, X, y, sample_weight=None):
        FITTED_ROWS.append(joblib.hash((np.asarray(X), np.asarray(y))))
        return super().fit(X, y, sample_weight=sample_weight)


class SlowClassifier(ClassifierMixin, BaseEstimator):
    """Fits ``estimator`` after sleeping ``seconds``; counts its fits."""

    fits = 0

    def __init__(self, estimator, seconds=1.0):
        self.estimator = estimator
        self.seconds = seconds

    def fit(self, X, y):
        type(self).fits += 1
        time.sleep(self.seconds)
        self.estimator_ = clone(self.estimator).fit(X, y)
        self.classes_ = self.estimator_.classes_
        return self

    def predict_proba(self, X):
        return self.estimator_.predict_proba(X)


def test_no_modality_model_is_fitted_twice_on_the_same_rows():
    X, y = make_table(seed=5)
    counted = [
        (name, Pipeline([*model.steps[:-1], ("head", CountingLogisticRegression())]), c)
        for name, model, c in modalities()
    ]
    FITTED_ROWS.clear()
    auto = AutoFusionClassifier(counted, methods=["voting", "stacking"], **FAST)
    auto.fit(X, y)
    # Voting's three training folds, stacking's three inner ones (the rows
    # outside each pair of outer folds) and the refit on every row, for each
    # of the three modalities: each fitted once.
    assert len(FITTED_ROWS) == len(set(FITTED_ROWS))
    assert len(FITTED_ROWS) == 3 * (3 + 3 + 1)
    assert set(auto.leaderboard_["status"]) == {"scored"}


def test_parallel_workers_give_the_serial_results():
    X, y = make_table(seed=6)
    options = {**FAST, "net_params": {"max_epochs": 10}}
    serial = AutoFusionClassifier(modalities(), **options).fit(X, y)
    parallel = AutoFusionClassifier(modalities(), n_jobs=2, **options).fit(X, y)
    np.testing.assert_allclose(
        parallel.leaderboard_["cv_score"], serial.leaderboard_["cv_score"], atol=1e-6
    )
    assert list(parallel.leaderboard_.index) == list(serial.leaderboard_.index)
    np.testing.assert_allclose(
        parallel.predict_proba(X), serial.predict_proba(X), rtol=1e-4, atol=1e-5
    )


def test_a_slow_method_is_skipped_within_the_time_limit(monkeypatch, tmp_path):
    original = AutoFusionClassifier._candidate

    def slow_early(self, method, triples):
        candidate = original(self, method, triples)
        if method == "early":
            return SlowClassifier(candidate, seconds=5.0)
        return candidate

    net_fits = []
    net_fit = mmensemble.FusionNetClassifier.fit
    monkeypatch.setattr(AutoFusionClassifier, "_candidate", slow_early)
    monkeypatch.setattr(
        mmensemble.FusionNetClassifier,
        "fit",
        lambda self, X, y: net_fits.append(1) or net_fit(self, X, y),
    )
    SlowClassifier.fits = 0
    X, y = make_table(seed=7)
    auto = AutoFusionClassifier(
        modalities(), methods=["voting", "early", "net"], time_limit=7, **FAST
    ).fit(X, y)
    status = auto.leaderboard_["status"]
    assert status["voting"] == "scored"
    # Early fusion's first fold took 5 s: its other two would overrun.
    assert status["early"].startswith("skipped: estimated")
    assert "one fold took" in status["early"]
    # The network is skipped on early fusion's fold time, before any fold.
    assert status["net"].startswith("skipped") and "at least" in status["net"]
    assert SlowClassifier.fits == 1 and net_fits == []
    assert auto.best_method_ == "voting"
    assert np.isnan(auto.leaderboard_.loc[["early", "net"], "cv_score"]).all()
    expected = auto.predict_proba(X)
    # A budgeted model clones, pickles and saves like any other.
    assert clone(auto).get_params()["time_limit"] == 7
    copy = pickle.loads(pickle.dumps(auto))
    np.testing.assert_allclose(copy.predict_proba(X), expected, rtol=1e-5, atol=1e-6)
    path = tmp_path / "budgeted.mmen"
    mmensemble.save(auto, path)
    loaded = mmensemble.load(path)
    np.testing.assert_allclose(loaded.predict_proba(X), expected, rtol=1e-5, atol=1e-6)
    pd.testing.assert_frame_equal(loaded.leaderboard_, auto.leaderboard_)
