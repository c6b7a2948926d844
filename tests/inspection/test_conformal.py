"""Tests of conformalize: prediction sets and intervals from out-of-fold scores."""

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.linear_model import LinearRegression, LogisticRegression

import mmensemble
from mmensemble import (
    AutoFusionClassifier,
    AutoFusionRegressor,
    ModalityVotingClassifier,
    ModalityVotingRegressor,
    conformalize,
)
from mmensemble.inspection._importance import InspectionError

N_TRAIN, N_TEST, SEEDS = 300, 1000, 8


def _data(task, n, seed, missing=0.0):
    """Two noisy views of a 3-class label (or of a value); ``b`` missing at random.

    The rows missing ``b`` are harder (one view left), so their conformity
    scores are larger.
    """
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, size=n)
    signal = y if task == "classification" else y + rng.normal(size=n)
    X = pd.DataFrame(
        {
            "a": signal + 1.2 * rng.normal(size=n),
            "b": signal + 1.2 * rng.normal(size=n),
        }
    )
    X.loc[rng.random(n) < missing, "b"] = np.nan
    return X, (y if task == "classification" else signal.astype(float))


def _voting(task):
    if task == "classification":
        model = LogisticRegression()
        modalities = [("a", model, ["a"]), ("b", model, ["b"])]
        return ModalityVotingClassifier(modalities, voting="soft")
    model = LinearRegression()
    return ModalityVotingRegressor([("a", model, ["a"]), ("b", model, ["b"])])


def _covered(task, conformal, estimator, X, y, coverage):
    if task == "classification":
        sets = conformal.prediction_sets(estimator, X, coverage=coverage)
        return sets[np.arange(len(y)), y], sets.sum(axis=1)
    lower, upper = conformal.intervals(estimator, X, coverage=coverage)
    return (lower <= y) & (y <= upper), upper - lower


@pytest.mark.parametrize("task", ["classification", "regression"])
@pytest.mark.parametrize("coverage", [0.8, 0.9])
def test_mean_coverage_over_seeds_is_the_target(task, coverage):
    rates = []
    for seed in range(SEEDS):
        X, y = _data(task, N_TRAIN + N_TEST, seed, missing=0.2)
        train, test = slice(0, N_TRAIN), slice(N_TRAIN, None)
        estimator = clone(_voting(task)).fit(X[train], y[train])
        conformal = conformalize(estimator, X[train], y[train])
        covered, _ = _covered(task, conformal, estimator, X[test], y[test], coverage)
        rates.append(covered.mean())
    # The coverage of one calibration set of n rows varies with a standard
    # deviation of about sqrt(c (1 - c) / n), the test rows' share with
    # sqrt(c (1 - c) / n_test); three standard errors of the mean over seeds.
    tolerance = 3 * np.sqrt(
        coverage * (1 - coverage) * (1 / N_TRAIN + 1 / N_TEST) / SEEDS
    )
    assert abs(np.mean(rates) - coverage) < tolerance, rates


def test_a_row_missing_a_modality_gets_a_larger_set():
    X, y = _data("classification", N_TRAIN + N_TEST, 0, missing=0.3)
    train, test = slice(0, N_TRAIN), slice(N_TRAIN, None)
    estimator = _voting("classification").fit(X[train], y[train])
    conformal = conformalize(estimator, X[train], y[train])
    assert conformal.patterns.shape == (N_TRAIN, 2)
    row = X[test].dropna().head(1)
    without_b = row.assign(b=np.nan)
    both = conformal.thresholds(row, 0.9)
    only_a = conformal.thresholds(without_b, 0.9)
    assert only_a[0] > both[0]
    sets = conformal.prediction_sets(estimator, X[test], coverage=0.9)
    missing = X[test]["b"].isna().to_numpy()
    assert sets[missing].sum(axis=1).mean() > sets[~missing].sum(axis=1).mean()
    # Each pattern is covered on its own rows (Mondrian), not only on average.
    covered = sets[np.arange(N_TEST), y[test]]
    assert covered[missing].mean() > 0.85 and covered[~missing].mean() > 0.85


def test_a_rare_pattern_falls_back_to_every_rows_scores():
    X, y = _data("classification", N_TRAIN, 1)
    X.loc[:14, "b"] = np.nan  # 15 rows: fewer than min_pattern_rows=19
    estimator = _voting("classification").fit(X, y)
    conformal = conformalize(estimator, X, y)
    pooled = np.sort(conformal.scores)[int(np.ceil((N_TRAIN + 1) * 0.9)) - 1]
    assert conformal.thresholds(X.head(15), 0.9) == pytest.approx([pooled] * 15)
    # With a lower minimum the 15 rows have their own threshold (at 90%, from
    # 15 scores: the ceil(16 * 0.9) = 15th smallest), not at 95% (infinite).
    conformal = conformalize(estimator, X, y, min_pattern_rows=10)
    group = np.sort(conformal.scores[:15])[14]
    assert conformal.thresholds(X.head(1), 0.9)[0] == pytest.approx(group)
    pooled = np.sort(conformal.scores)[int(np.ceil((N_TRAIN + 1) * 0.95)) - 1]
    assert conformal.thresholds(X.head(1), 0.95)[0] == pytest.approx(pooled)


def test_a_model_more_accurate_than_the_coverage_leaves_some_sets_empty():
    rng = np.random.default_rng(7)
    y = rng.integers(0, 3, size=N_TRAIN + N_TEST)
    X = pd.DataFrame({"a": y + 0.3 * rng.normal(size=len(y)), "b": y * 0.0})
    train, test = slice(0, N_TRAIN), slice(N_TRAIN, None)
    estimator = _voting("classification").fit(X[train], y[train])
    assert estimator.score(X[test], y[test]) > 0.9
    conformal = conformalize(estimator, X[train], y[train])
    sets = conformal.prediction_sets(estimator, X[test], coverage=0.8)
    # Sets of one class at least would cover as often as the model is right.
    assert (sets.sum(axis=1) == 0).mean() > 0.05
    assert sets[np.arange(N_TEST), y[test]].mean() == pytest.approx(0.8, abs=0.05)


def test_higher_coverage_gives_larger_sets_and_wider_intervals():
    for task in ["classification", "regression"]:
        X, y = _data(task, N_TRAIN, 2)
        estimator = _voting(task).fit(X, y)
        conformal = conformalize(estimator, X, y)
        sizes = [
            _covered(task, conformal, estimator, X, y, coverage)[1].mean()
            for coverage in [0.5, 0.8, 0.95]
        ]
        assert sizes[0] < sizes[1] < sizes[2]


def test_automatic_fusion_gives_its_out_of_fold_output_without_refitting(
    monkeypatch,
):
    X, y = _data("classification", 120, 3)
    auto = AutoFusionClassifier(
        [("a", LogisticRegression(), ["a"]), ("b", LogisticRegression(), ["b"])],
        methods=["voting"],
        cv=3,
    ).fit(X, y)

    def refused(self, X, y):
        raise AssertionError("conformalize refitted the automatic fusion")

    monkeypatch.setattr(AutoFusionClassifier, "fit", refused)
    conformal = conformalize(auto, X, y)
    np.testing.assert_allclose(
        conformal.scores, 1 - auto.oof_output_[np.arange(len(y)), y]
    )
    sets = conformal.prediction_sets(auto, X, coverage=0.9)
    assert sets.shape == (len(y), 3)
    with pytest.raises(InspectionError, match="oof_output_ has 120 rows and y 60"):
        conformalize(auto, X.head(60), y[:60])


def test_automatic_fusion_regressor_intervals_come_from_its_residuals():
    X, y = _data("regression", 150, 8)
    auto = AutoFusionRegressor(
        [("a", LinearRegression(), ["a"]), ("b", LinearRegression(), ["b"])],
        methods=["voting"],
        cv=3,
    ).fit(X, y)
    conformal = conformalize(auto, X, y)
    np.testing.assert_allclose(conformal.scores, np.abs(y - auto.oof_output_))
    lower, upper = conformal.intervals(auto, X, coverage=0.9)
    np.testing.assert_allclose((lower + upper) / 2, auto.predict(X))
    with pytest.raises(InspectionError, match="a regressor's; use intervals"):
        conformal.prediction_sets(auto, X)


def test_scores_go_through_a_model_file(tmp_path):
    X, y = _data("regression", N_TRAIN, 4, missing=0.2)
    estimator = _voting("regression").fit(X, y)
    conformal = conformalize(estimator, X, y)
    mmensemble.save(conformal, tmp_path / "scores.mmen")
    loaded = mmensemble.load(tmp_path / "scores.mmen")
    np.testing.assert_array_equal(loaded.thresholds(X), conformal.thresholds(X))
    np.testing.assert_array_equal(
        loaded.intervals(estimator, X, coverage=0.8)[1],
        conformal.intervals(estimator, X, coverage=0.8)[1],
    )


@pytest.mark.parametrize("coverage", [0, 1, 1.5, -0.1, np.nan, "0.9", True])
def test_coverage_must_be_strictly_between_0_and_1(coverage):
    X, y = _data("classification", 60, 5)
    estimator = _voting("classification").fit(X, y)
    conformal = conformalize(estimator, X, y, cv=3)
    with pytest.raises(InspectionError, match="coverage must be a number strictly"):
        conformal.prediction_sets(estimator, X, coverage=coverage)


def test_wrong_task_and_estimators_without_probabilities_are_refused():
    X, y = _data("regression", 60, 6)
    regressor = _voting("regression").fit(X, y)
    with pytest.raises(InspectionError, match="a regressor's; use intervals"):
        conformalize(regressor, X, y).prediction_sets(regressor, X)
    X, y = _data("classification", 60, 6)
    hard = _voting("classification").set_params(voting="hard").fit(X, y)
    with pytest.raises(InspectionError, match="has no predict_proba"):
        conformalize(hard, X, y)
    with pytest.raises(InspectionError, match="could not find the modalities"):
        conformalize(LogisticRegression().fit(X, y), X, y)
    with pytest.raises(ValueError, match="'min_pattern_rows' parameter"):
        conformalize(hard.set_params(voting="soft"), X, y, min_pattern_rows=0)
