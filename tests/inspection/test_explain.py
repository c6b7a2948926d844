"""Tests of explain_modalities: exact per-row Shapley values of modalities."""

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline

from mmensemble import (
    FeatureFusion,
    FusionNetClassifier,
    FusionNetRegressor,
    MFCCEncoder,
    ModalityStackingClassifier,
    ModalityStackingRegressor,
    ModalityVotingClassifier,
    ModalityVotingRegressor,
    cache_info,
    clear_cache,
    explain_modalities,
)

MODALITIES = {"a": ["a0", "a1"], "b": ["b"], "c": ["c"]}
NET = {"branch_size": 8, "hidden_sizes": (8,), "lr": 0.01, "random_state": 0}


def _data(task, n=150, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, size=n)
    X = pd.DataFrame(
        {
            "a0": y + 0.5 * rng.normal(size=n),
            "a1": rng.normal(size=n),
            "b": 0.5 * y + rng.normal(size=n),
            "c": rng.normal(size=n),
        },
        index=pd.RangeIndex(100, 100 + n),
    )
    if task == "regression":
        y = 2.0 * X["a0"].to_numpy() + X["b"].to_numpy() + 0.1 * rng.normal(size=n)
    return X, y


def _triples(estimator):
    return [(name, estimator, columns) for name, columns in MODALITIES.items()]


MODELS = {
    "feature_fusion_logistic": (
        "classification",
        lambda: make_pipeline(
            FeatureFusion(_triples("passthrough")), LogisticRegression()
        ),
    ),
    "voting_soft": (
        "classification",
        lambda: ModalityVotingClassifier(_triples(LogisticRegression()), voting="soft"),
    ),
    "stacking": (
        "classification",
        lambda: ModalityStackingClassifier(
            _triples(LogisticRegression()), cv=3, random_state=0
        ),
    ),
    "fusion_net": (
        "classification",
        lambda: FusionNetClassifier(_triples("passthrough"), max_epochs=15, **NET),
    ),
    "feature_fusion_ridge": (
        "regression",
        lambda: make_pipeline(FeatureFusion(_triples("passthrough")), Ridge()),
    ),
    "voting_regressor": (
        "regression",
        lambda: ModalityVotingRegressor(_triples(Ridge()), weights="auto"),
    ),
    "stacking_regressor": (
        "regression",
        lambda: ModalityStackingRegressor(_triples(Ridge()), cv=3, random_state=0),
    ),
    "fusion_net_regressor": (
        "regression",
        lambda: FusionNetRegressor(_triples("passthrough"), max_epochs=15, **NET),
    ),
}


@pytest.fixture(scope="module")
def fitted():
    models = {}
    for name, (task, make) in MODELS.items():
        X, y = _data(task)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # short training
            models[name] = make().fit(X, y)
    return models


@pytest.mark.parametrize("name", list(MODELS))
def test_baseline_plus_contributions_is_the_prediction(fitted, name):
    task, _ = MODELS[name]
    model = fitted[name]
    X, _ = _data(task, n=40, seed=1)
    explanation = explain_modalities(model, X)
    pd.testing.assert_index_equal(explanation.index, X.index)
    total = explanation[[*MODALITIES, "baseline"]].sum(axis=1).to_numpy()
    np.testing.assert_array_equal(explanation["prediction"], model.predict(X))
    if task == "classification":
        assert list(explanation.columns) == [
            *MODALITIES,
            "baseline",
            "prediction",
            "probability",
        ]
        assert explanation.attrs["explained"] == "probability"
        classes = list(model.classes_)
        column = [classes.index(label) for label in explanation["prediction"]]
        proba = model.predict_proba(X)[np.arange(len(X)), column]
        np.testing.assert_allclose(explanation["probability"], proba, atol=1e-9)
        np.testing.assert_allclose(total, explanation["probability"], atol=1e-9)
    else:
        assert list(explanation.columns) == [*MODALITIES, "baseline", "prediction"]
        np.testing.assert_allclose(total, explanation["prediction"], atol=1e-9)
    # the informative modality explains more than the pure-noise one
    assert explanation["a"].abs().mean() > explanation["c"].abs().mean()


@pytest.mark.parametrize("name", ["voting_soft", "stacking_regressor"])
def test_values_match_the_definition_row_by_row(fitted, name):
    """Shapley values of 3 players from masked predictions of single rows."""
    task, _ = MODELS[name]
    model = fitted[name]
    X, _ = _data(task, n=5, seed=2)
    explanation = explain_modalities(model, X)
    names = list(MODALITIES)
    for row in range(len(X)):
        one = X.iloc[[row]]

        def v(subset, one=one, row=row):
            masked = one.copy()
            for modality in names:
                if modality not in subset:
                    masked[MODALITIES[modality]] = np.nan
            if task == "regression":
                return float(model.predict(masked)[0])
            label = explanation["prediction"].iloc[row]
            position = list(model.classes_).index(label)
            return float(model.predict_proba(masked)[0, position])

        for modality in names:
            others = [m for m in names if m != modality]
            expected = (
                (v({modality}) - v(set())) / 3
                + sum(v({other, modality}) - v({other}) for other in others) / 6
                + (v(set(names)) - v(set(others))) / 3
            )
            assert explanation[modality].iloc[row] == pytest.approx(expected, abs=1e-9)
        assert explanation["baseline"].iloc[row] == pytest.approx(v(set()), abs=1e-9)


def test_masked_copies_reuse_the_encodings():
    rng = np.random.default_rng(0)
    n = 12
    y = np.arange(n) % 2
    clips = [rng.normal(scale=0.1 + 0.2 * label, size=1600) for label in y]
    X = pd.DataFrame({"clip": pd.Series(clips, dtype=object), "x": rng.normal(size=n)})
    model = make_pipeline(
        FeatureFusion(
            [
                ("audio", MFCCEncoder(sr=8000, n_mfcc=8, n_fft=256), "clip"),
                ("tabular", "passthrough", ["x"]),
            ]
        ),
        LogisticRegression(),
    ).fit(X, y)
    clear_cache()
    explanation = explain_modalities(model, X)
    info = cache_info()
    # each clip is encoded once; every other lookup (the second prediction of
    # X and the copy keeping the audio) is served from the cache
    assert info["memory_misses"] == n
    assert info["memory_hits"] == 2 * n
    total = explanation[["audio", "tabular", "baseline"]].sum(axis=1)
    np.testing.assert_allclose(total, explanation["probability"], atol=1e-9)


def test_search_wrapper_and_explicit_modalities(fitted):
    X, y = _data("regression")
    grid = GridSearchCV(
        ModalityStackingRegressor(_triples(Ridge()), cv=3, random_state=0),
        {"a__alpha": [0.1, 1.0]},
        cv=2,
    ).fit(X, y)
    explanation = explain_modalities(grid, X.iloc[:10])
    assert list(explanation.columns[:3]) == list(MODALITIES)
    # a plain estimator that accepts NaN, with modalities named by hand
    from sklearn.ensemble import HistGradientBoostingRegressor

    plain = HistGradientBoostingRegressor(max_iter=20).fit(X, y)
    explanation = explain_modalities(
        plain, X.iloc[:10], modalities={"first": ["a0", "a1"], "rest": ["b", "c"]}
    )
    total = explanation[["first", "rest", "baseline"]].sum(axis=1)
    np.testing.assert_allclose(total, explanation["prediction"], atol=1e-9)
    np.testing.assert_allclose(explanation["prediction"], plain.predict(X.iloc[:10]))


def test_errors(fitted):
    X, y = _data("classification")
    with pytest.raises(NotFittedError):
        explain_modalities(ModalityVotingClassifier(_triples(LogisticRegression())), X)
    hard = ModalityVotingClassifier(_triples(LogisticRegression())).fit(X, y)
    with pytest.raises(ValueError, match="needs predict_proba"):
        explain_modalities(hard, X)
    plain = LogisticRegression().fit(X, y)
    with pytest.raises(ValueError, match="could not find the modalities"):
        explain_modalities(plain, X)
    with pytest.raises(ValueError, match=r"named \['baseline'\] clash"):
        explain_modalities(plain, X, modalities={"baseline": ["a0"]})
