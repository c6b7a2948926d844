"""Tests of the temperature scaling of out-of-fold probabilities."""

import numpy as np
import pandas as pd
import pytest
from scipy.special import softmax
from sklearn.base import clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.linear_model import LogisticRegression

import mmensemble
from mmensemble import ModalityVotingClassifier
from mmensemble.fusion._calibration import (
    expected_calibration_error,
    temperature_calibration,
)


def overconfident(n=600, temperature=3.0, seed=0):
    """Probabilities three times too sure: the true ones are softmax(z / 3)."""
    rng = np.random.default_rng(seed)
    logits = 2 * rng.normal(size=(n, 4))
    truth = softmax(logits / temperature, axis=1)
    y = np.array([rng.choice(4, p=row) for row in truth])
    return softmax(logits, axis=1), y, np.arange(n) % 5


def test_temperature_scaling_finds_the_temperature_and_keeps_the_argmax():
    proba, y, folds = overconfident()
    scaling, summary = temperature_calibration(proba, y, folds, calibration="auto")
    assert summary["applied"] and scaling is not None
    assert summary["temperature"] == pytest.approx(3.0, rel=0.25)
    assert summary["log_loss_after"] < summary["log_loss_before"]
    assert summary["ece_after"] < summary["ece_before"]
    assert summary["ece_bins"] == 15
    calibrated = scaling.predict(proba)
    np.testing.assert_array_equal(calibrated.argmax(axis=1), proba.argmax(axis=1))
    np.testing.assert_allclose(calibrated.sum(axis=1), 1.0)
    assert expected_calibration_error(y, calibrated) < summary["ece_before"]


def test_auto_leaves_calibrated_probabilities_alone_and_false_never_applies():
    rng = np.random.default_rng(1)
    proba = rng.dirichlet(np.ones(3), size=800)
    y = np.array([rng.choice(3, p=row) for row in proba])
    folds = np.arange(800) % 5
    scaling, summary = temperature_calibration(proba, y, folds, calibration="auto")
    assert summary["temperature"] == pytest.approx(1.0, abs=0.15)
    assert (scaling is not None) == summary["applied"]
    proba, y, folds = overconfident()
    scaling, summary = temperature_calibration(proba, y, folds, calibration=False)
    assert scaling is None and not summary["applied"]
    assert summary["log_loss_after"] < summary["log_loss_before"]


def test_other_fusion_classifiers_calibrate_through_calibrated_classifier_cv(
    tmp_path,
):
    rng = np.random.default_rng(2)
    y = rng.integers(0, 3, size=240)
    X = pd.DataFrame({"a": y + rng.normal(size=240), "b": y + rng.normal(size=240)})
    X.loc[::7, "b"] = np.nan
    vote = ModalityVotingClassifier(
        [("a", LogisticRegression(), ["a"]), ("b", LogisticRegression(), ["b"])],
        voting="soft",
    )
    calibrated = clone(CalibratedClassifierCV(vote, method="temperature", cv=3))
    calibrated.fit(X, y)
    proba = calibrated.predict_proba(X)
    assert proba.shape == (240, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    mmensemble.save(calibrated, tmp_path / "calibrated.mmen")
    loaded = mmensemble.load(tmp_path / "calibrated.mmen")
    np.testing.assert_allclose(loaded.predict_proba(X), proba)
