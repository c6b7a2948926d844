"""Tests of modality_importance and plot_modality_importance."""

from itertools import combinations

import matplotlib
import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline

from mmensemble import (
    FeatureFusion,
    ModalityStackingClassifier,
    ModalityStackingRegressor,
    ModalityVotingClassifier,
    modality_importance,
    plot_modality_importance,
)

matplotlib.use("Agg")


@pytest.fixture
def data():
    """Two informative modalities of different strength and a useless one."""
    rng = np.random.default_rng(0)
    n = 300
    y = rng.integers(0, 2, size=n)
    X = pd.DataFrame(
        {
            "strong_0": 2.0 * y + rng.normal(size=n),
            "strong_1": rng.normal(size=n),
            "weak": 0.7 * y + rng.normal(size=n),
            "noise": rng.normal(size=n),
        }
    )
    modalities = {
        "strong": ["strong_0", "strong_1"],
        "weak": ["weak"],
        "noise": ["noise"],
    }
    return X, y, modalities


def assert_efficient(importance):
    total = importance.attrs["full_score"] - importance.attrs["empty_score"]
    assert importance["shapley"].sum() == pytest.approx(total, abs=1e-10)


@pytest.mark.parametrize(
    "make_model",
    [
        lambda mods: ModalityVotingClassifier(
            [(name, LogisticRegression(), cols) for name, cols in mods.items()],
            voting="soft",
        ),
        lambda mods: ModalityStackingClassifier(
            [(name, LogisticRegression(), cols) for name, cols in mods.items()],
            cv=3,
            random_state=0,
        ),
        lambda mods: make_pipeline(
            FeatureFusion([(name, "passthrough", cols) for name, cols in mods.items()]),
            LogisticRegression(),
        ),
    ],
    ids=["voting", "stacking", "feature_fusion_pipeline"],
)
def test_shapley_values_are_efficient_and_rank_the_modalities(data, make_model):
    X, y, modalities = data
    model = make_model(modalities).fit(X, y)
    importance = modality_importance(model, X, y)
    assert importance.index.tolist() == ["strong", "weak", "noise"]
    assert importance.index.name == "modality"
    assert list(importance.columns) == [
        "score_alone",
        "score_without",
        "score_drop",
        "shapley",
    ]
    assert_efficient(importance)
    assert importance.attrs["full_score"] == pytest.approx(model.score(X, y))
    shapley = importance["shapley"]
    assert shapley["strong"] > shapley["weak"] > abs(shapley["noise"])
    assert abs(shapley["noise"]) < 0.02
    assert importance.loc["strong", "score_drop"] > 0.05


def test_values_match_the_definition_for_every_subset(data):
    X, y, modalities = data
    vote = ModalityVotingClassifier(
        [(name, LogisticRegression(), cols) for name, cols in modalities.items()],
        voting="soft",
    ).fit(X, y)
    names = list(modalities)

    def score(subset):
        masked = X.copy()
        for name in names:
            if name not in subset:
                masked[modalities[name]] = np.nan
        return vote.score(masked, y)

    value = {
        frozenset(subset): score(subset)
        for size in range(4)
        for subset in combinations(names, size)
    }
    importance = modality_importance(vote, X, y)
    everything = frozenset(names)
    # with no modality, the vote predicts the majority class
    assert importance.attrs["empty_score"] == pytest.approx(
        max(np.mean(y), 1 - np.mean(y))
    )
    for name in names:
        others = [m for m in names if m != name]
        # Shapley value of 3 players: weights 1/3, 1/6, 1/6, 1/3 by coalition
        expected = (
            (value[frozenset([name])] - value[frozenset()]) / 3
            + sum(
                value[frozenset([other, name])] - value[frozenset([other])]
                for other in others
            )
            / 6
            + (value[everything] - value[everything - {name}]) / 3
        )
        assert importance.loc[name, "shapley"] == pytest.approx(expected)
        assert importance.loc[name, "score_drop"] == pytest.approx(
            value[everything] - value[everything - {name}]
        )
        assert importance.loc[name, "score_alone"] == pytest.approx(
            value[frozenset([name])]
        )


def test_regression_scoring_numpy_input_and_search_wrapper():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 4))
    y = 3 * X[:, 0] + X[:, 2] + 0.1 * rng.normal(size=200)
    stack = ModalityStackingRegressor(
        [("a", Ridge(), [0, 1]), ("b", Ridge(), [2]), ("c", Ridge(), [3])],
        cv=3,
        random_state=0,
    )
    grid = GridSearchCV(stack, {"a__alpha": [0.1, 1.0]}, cv=2).fit(X, y)
    importance = modality_importance(grid, X, y, scoring="neg_mean_squared_error")
    assert importance.attrs["scoring"] == "neg_mean_squared_error"
    # the empty model predicts the mean: its MSE is the variance of y
    assert importance.attrs["empty_score"] == pytest.approx(-np.var(y), rel=0.05)
    assert_efficient(importance)
    assert importance["shapley"].idxmax() == "a"
    assert importance.loc["c", "shapley"] == pytest.approx(0.0, abs=0.05)


def test_any_estimator_with_explicit_modalities_and_parallel_jobs(data):
    X, y, modalities = data
    # a plain estimator that accepts NaN: masked modalities are NaN columns
    model = RandomForestClassifier(n_estimators=20, random_state=0).fit(X, y)
    sequential = modality_importance(model, X, y, modalities=modalities)
    parallel = modality_importance(model, X, y, modalities=modalities, n_jobs=2)
    pd.testing.assert_frame_equal(sequential, parallel)
    assert_efficient(sequential)
    assert sequential["shapley"].idxmax() == "strong"


def test_errors(data):
    X, y, modalities = data
    with pytest.raises(NotFittedError):
        modality_importance(LogisticRegression(), X, y)
    plain = LogisticRegression().fit(X, y)
    with pytest.raises(ValueError, match="could not find the modalities"):
        modality_importance(plain, X, y)
    with pytest.raises(ValueError, match="modalities must be a non-empty dict"):
        modality_importance(plain, X, y, modalities=[])
    many = {f"m{i}": ["noise"] for i in range(13)}
    with pytest.raises(ValueError, match="13 modalities are more than the 12"):
        modality_importance(plain, X, y, modalities=many)


def test_plot_draws_one_bar_per_modality_and_column():
    importance = pd.DataFrame(
        {"shapley": [0.3, 0.1, 0.0], "score_drop": [0.2, 0.05, -0.01]},
        index=pd.Index(["strong", "weak", "noise"], name="modality"),
    )
    importance.attrs.update(full_score=0.9, empty_score=0.5, scoring="accuracy")
    ax = plot_modality_importance(importance)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["strong", "weak", "noise"]
    assert len(ax.patches) == 6
    widths = sorted(round(patch.get_width(), 6) for patch in ax.patches)
    assert widths == [-0.01, 0.0, 0.05, 0.1, 0.2, 0.3]
    assert "accuracy" in ax.get_xlabel() and "0.9" in ax.get_title()
    import matplotlib.pyplot as plt

    _, given = plt.subplots()
    assert plot_modality_importance(importance, ax=given, columns=["shapley"]) is given
    assert len(given.patches) == 3
    plt.close("all")
    with pytest.raises(ValueError, match=r"columns \['gain'\] are not in"):
        plot_modality_importance(importance, columns=["gain"])
