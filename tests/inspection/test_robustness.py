"""Tests of modality_robustness: scores as more rows lose one modality."""

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from mmensemble import ModalityVotingClassifier
from mmensemble.inspection._robustness import modality_robustness


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(0)
    n = 300
    y = rng.integers(0, 2, size=n)
    X = pd.DataFrame(
        {
            "strong": 3.0 * y + rng.normal(size=n),
            "count": rng.integers(0, 5, size=n),  # an integer column, masked too
            "noise": rng.normal(size=n),
        }
    )
    vote = ModalityVotingClassifier(
        [
            ("strong", LogisticRegression(), ["strong", "count"]),
            ("noise", LogisticRegression(), ["noise"]),
        ],
        voting="soft",
    ).fit(X, y)
    return vote, X, y


def test_curve_starts_at_the_full_score_and_ends_with_the_modality_gone(fitted):
    vote, X, y = fitted
    curve = modality_robustness(vote, X, y, random_state=0, scoring="accuracy")
    assert curve.index.name == "missing"
    assert curve.index.tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert list(curve.columns) == ["strong", "noise"]
    assert curve.attrs["scoring"] == "accuracy"
    full = vote.score(X, y)
    assert (curve.loc[0.0] == full).all()
    without_strong = X.assign(strong=np.nan, count=np.nan)
    assert curve.loc[1.0, "strong"] == pytest.approx(vote.score(without_strong, y))
    assert curve["strong"].is_monotonic_decreasing
    assert curve.loc[1.0, "strong"] < full - 0.2
    assert (curve["noise"] - full).abs().max() < 0.05


def test_seeded_rows_and_partial_masks(fitted):
    vote, X, y = fitted
    first = modality_robustness(vote, X, y, fractions=[0.5], random_state=3)
    again = modality_robustness(vote, X, y, fractions=[0.5], random_state=3)
    pd.testing.assert_frame_equal(first, again)
    score = first.loc[0.5, "strong"]
    assert vote.score(X.assign(strong=np.nan, count=np.nan), y) < score
    assert score < vote.score(X, y)


def test_bad_fractions(fitted):
    vote, X, y = fitted
    with pytest.raises(ValueError, match=r"fractions must be .* \[0, 1\]"):
        modality_robustness(vote, X, y, fractions=[0.5, 1.5])
