"""Tests of ModalityStackingClassifier and ModalityStackingRegressor."""

import pickle

import numpy as np
import pandas as pd
import pytest
from _modality_data import (
    NoMissingAllowed,
    hide,
    on_all_columns,
    one_per_modality,
    three_modalities,
)
from sklearn.base import clone
from sklearn.datasets import make_classification, make_regression
from sklearn.ensemble import (
    RandomForestClassifier,
    StackingClassifier,
    StackingRegressor,
)
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_predict
from sklearn.naive_bayes import GaussianNB
from sklearn.pipeline import make_pipeline
from sklearn.svm import SVC, LinearSVC
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor
from sklearn.utils.estimator_checks import parametrize_with_checks

from mmensemble import (
    FeatureFusion,
    ModalityStackingClassifier,
    ModalityStackingRegressor,
)


@parametrize_with_checks(
    [
        ModalityStackingClassifier(on_all_columns(all=LogisticRegression()), cv=2),
        ModalityStackingClassifier(
            on_all_columns(
                bayes=GaussianNB(),
                tree=DecisionTreeClassifier(max_depth=3, random_state=0),
            ),
            cv=2,
        ),
        ModalityStackingRegressor(
            on_all_columns(
                linear=Ridge(), tree=DecisionTreeRegressor(max_depth=3, random_state=0)
            ),
            cv=2,
        ),
    ]
)
def test_sklearn_compatible(estimator, check):
    check(estimator)


def stack(modalities, **params):
    params.setdefault("cv", 3)
    return ModalityStackingClassifier(
        one_per_modality(LogisticRegression(), modalities), **params
    )


@pytest.mark.parametrize(
    "base",
    [
        LogisticRegression(),
        RandomForestClassifier(n_estimators=5, random_state=0),
        LinearSVC(),
    ],
    ids=["predict_proba", "forest", "decision_function"],
)
def test_single_modality_covering_all_columns_equals_sklearn(base, six_features):
    X, y = six_features
    cv = StratifiedKFold(4, shuffle=True, random_state=0)
    # the default modality_dropout does nothing with a single modality
    ours = ModalityStackingClassifier(on_all_columns(all=base), cv=cv).fit(X, y)
    theirs = StackingClassifier([("all", base)], cv=cv).fit(X, y)
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X))
    np.testing.assert_allclose(ours.transform(X), theirs.transform(X))
    assert ours.stack_method_ == theirs.stack_method_
    assert ours.missing_modalities_ == []


def test_several_full_modalities_equal_sklearn_without_dropout():
    X, y = make_classification(n_samples=150, n_features=5, random_state=1)
    estimators = [
        ("linear", LogisticRegression()),
        ("tree", DecisionTreeClassifier(max_depth=3, random_state=0)),
        ("bayes", GaussianNB()),
    ]
    final = LogisticRegression(C=0.5)
    ours = ModalityStackingClassifier(
        [(name, est, slice(None)) for name, est in estimators],
        final_estimator=final,
        modality_dropout=0.0,
    ).fit(X, y)
    theirs = StackingClassifier(estimators, final_estimator=final).fit(X, y)
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))
    np.testing.assert_allclose(ours.decision_function(X), theirs.decision_function(X))
    np.testing.assert_allclose(
        ours.final_estimator_.coef_, theirs.final_estimator_.coef_
    )


def test_regressor_equals_sklearn_without_missing_data():
    X, y = make_regression(n_samples=80, n_features=4, noise=5.0, random_state=0)
    estimators = [("ridge", Ridge()), ("tree", DecisionTreeRegressor(random_state=0))]
    ours = ModalityStackingRegressor(
        [(name, est, [0, 1, 2, 3]) for name, est in estimators], modality_dropout=0
    ).fit(X, y)
    theirs = StackingRegressor(estimators).fit(X, y)
    np.testing.assert_allclose(ours.predict(X), theirs.predict(X))
    np.testing.assert_allclose(ours.transform(X), theirs.transform(X))


def test_missing_rows_are_never_shown_and_oof_predictions_are_kept():
    X, y, modalities = three_modalities(120, n_classes=3, seed=0)
    X = hide(X, modalities["m1"], 0.3, seed=1)
    present = X[modalities["m1"]].notna().all(axis=1).to_numpy()
    model = ModalityStackingClassifier(
        one_per_modality(NoMissingAllowed(), modalities),
        modality_dropout=0.0,
        cv=3,
    ).fit(X, y)
    assert model.named_estimators_["m1"].n_seen_ == present.sum()
    oof = model.oof_predictions_
    assert set(oof) == {"m0", "m1", "m2"}
    assert np.isnan(oof["m1"][~present]).all()
    assert not np.isnan(oof["m1"][present]).any()
    # A complete modality's OOF predictions are cross_val_predict's, same folds.
    expected = cross_val_predict(
        LogisticRegression(), X[modalities["m0"]], y, cv=3, method="predict_proba"
    )
    np.testing.assert_allclose(oof["m0"], expected)
    # only the modality seen missing gets an indicator (no dropout here)
    assert model.missing_modalities_ == ["m1"]
    np.testing.assert_allclose(model.fill_values_["m1"], np.nanmean(oof["m1"], axis=0))
    meta = model.transform(X)
    names = model.get_feature_names_out().tolist()
    assert names[-1] == "m1__missing" and meta.shape == (len(X), 10)
    np.testing.assert_array_equal(meta[:, -1], ~present)
    np.testing.assert_allclose(
        meta[~present, 3:6], np.tile(model.fill_values_["m1"], ((~present).sum(), 1))
    )


def test_half_of_test_rows_missing_a_modality_degrades_gracefully(split):
    model = stack(split.modalities, random_state=0).fit(*split.train)
    complete = model.score(*split.test)
    with_missing = model.score(*split.missing)
    # 2 classes: singles ~0.79, fused 0.91, with missing ~0.91;
    # 3 classes: singles ~0.66, fused 0.83, with missing ~0.80
    assert with_missing > split.best_alone + 0.03, (split.single, with_missing)
    assert complete > split.best_alone + 0.05, (split.single, complete)
    assert model.missing_modalities_ == ["m0", "m1", "m2"]


def test_modality_dropout_teaches_the_final_estimator_missing_modalities():
    # Nothing is missing at fit; at predict one modality is. With dropout, the
    # final estimator learnt to lean on the others; without, it only gets
    # the neutral fill.
    X, y, modalities = three_modalities(900, n_classes=2, seed=5, separation=0.9)
    X_train, y_train, X_test, y_test = X[:600], y[:600], X[600:], y[600:]
    X_missing = hide(X_test, modalities["m0"] + modalities["m1"], 1.0, seed=0)
    with_dropout = stack(modalities, modality_dropout=0.5, random_state=0)
    without = stack(modalities, modality_dropout=0.0)
    with_dropout.fit(X_train, y_train)
    without.fit(X_train, y_train)
    assert without.missing_modalities_ == []
    assert with_dropout.missing_modalities_ == ["m0", "m1", "m2"]
    # the dropout copies were added to the final estimator's training set
    assert with_dropout.final_estimator_.n_features_in_ == 6
    proba_dropout = with_dropout.predict_proba(X_missing)[:, 1]
    proba_without = without.predict_proba(X_missing)[:, 1]
    only_m2 = LogisticRegression().fit(X_train[modalities["m2"]], y_train)
    expected = only_m2.predict_proba(X_test[modalities["m2"]])[:, 1]

    def log_loss(proba):
        return -np.mean(np.log(np.where(y_test == 1, proba, 1 - proba)))

    # the fill-only model is under-confident with one modality left
    assert log_loss(proba_dropout) < log_loss(proba_without)
    assert np.corrcoef(proba_dropout, expected)[0, 1] > 0.95
    # same seed, same fit
    again = stack(modalities, modality_dropout=0.5, random_state=0).fit(
        X_train, y_train
    )
    np.testing.assert_array_equal(
        again.final_estimator_.coef_, with_dropout.final_estimator_.coef_
    )


def test_a_row_with_no_modality_gets_the_prior():
    X, y, modalities = three_modalities(150, n_classes=3, seed=3)
    y_text = np.array(["a", "b", "c"])[y]
    model = stack(modalities, final_estimator=LogisticRegression(), random_state=0)
    model.fit(X, y_text)
    nothing = X.iloc[:4].copy()
    nothing.loc[:, :] = np.nan
    prior = np.unique(y_text, return_counts=True)[1] / len(y_text)
    np.testing.assert_allclose(model.predict_proba(nothing), np.tile(prior, (4, 1)))
    assert (model.predict(nothing) == model.classes_[np.argmax(prior)]).all()
    decision = model.decision_function(nothing)
    assert (np.argmax(decision, axis=1) == np.argmax(prior)).all()
    # mixed rows: the others are untouched
    mixed = pd.concat([nothing, X.iloc[4:8]])
    np.testing.assert_allclose(
        model.predict_proba(mixed)[4:], model.predict_proba(X.iloc[4:8])
    )
    regressor = ModalityStackingRegressor(one_per_modality(Ridge(), modalities))
    regressor.fit(X, y.astype(float))
    np.testing.assert_allclose(regressor.predict(nothing), y.mean())


def test_binary_decision_function_prior_is_the_log_odds():
    X, y, modalities = three_modalities(100, n_classes=2, seed=4)
    y[:70] = 1  # unbalanced classes
    model = stack(modalities, random_state=0).fit(X, y)
    nothing = pd.DataFrame(np.nan, index=[0], columns=X.columns)
    p = np.mean(y == 1)
    assert model.decision_function(nothing)[0] == pytest.approx(np.log(p / (1 - p)))
    assert model.predict(nothing)[0] == 1


def test_passthrough_columns_reach_the_final_estimator():
    X, y, modalities = three_modalities(100, n_classes=2, seed=6)
    X["age"] = np.arange(len(X), dtype=float)
    model = ModalityStackingClassifier(
        [("m0", LogisticRegression(), modalities["m0"])],
        passthrough=["age"],
        final_estimator=make_pipeline(
            FeatureFusion([("all", "passthrough", [0, 1])]), LogisticRegression()
        ),
    ).fit(X, y)
    assert model.passthrough_columns_ == ["age"]
    assert model.get_feature_names_out().tolist() == [
        "modalitystackingclassifier_m0",
        "age",
    ]
    np.testing.assert_array_equal(model.transform(X)[:, 1], X["age"])
    everything = ModalityStackingRegressor(
        [("m0", Ridge(), modalities["m0"])], passthrough=True
    ).fit(X, y.astype(float))
    assert everything.transform(X).shape == (len(X), 1 + X.shape[1])
    with pytest.raises(ValueError, match=r"passthrough columns \['text'\] must be"):
        ModalityStackingClassifier(
            [("m0", LogisticRegression(), modalities["m0"])], passthrough="text"
        ).fit(X.assign(text="words"), y)


def test_hybrid_fusion_with_an_early_fused_group_of_columns():
    rng = np.random.default_rng(7)
    n = 120
    y = rng.integers(0, 2, size=n)
    words = np.array([["sunny", "bright"], ["rainy", "grey"]])
    text = [
        None if rng.random() < 0.2 else f"{words[label, rng.integers(2)]} day"
        for label in y
    ]
    X = pd.DataFrame(
        {
            "text": text,
            "temperature": y + rng.normal(scale=1.5, size=n),
            "image_0": y + rng.normal(scale=1.0, size=n),
            "image_1": rng.normal(size=n),
        }
    )
    early = make_pipeline(
        FeatureFusion(
            [
                ("text", TfidfVectorizer(), "text"),
                ("temperature", "passthrough", ["temperature"]),
            ],
            sparse_threshold=0.0,
        ),
        LogisticRegression(),
    )
    model = ModalityStackingClassifier(
        [
            ("weather", early, ["text", "temperature"]),
            ("image", LogisticRegression(), ["image_0", "image_1"]),
        ],
        cv=3,
        random_state=0,
    ).fit(X, y)
    assert model.score(X, y) > 0.9
    fusion = model.named_estimators_["weather"][0]
    assert fusion.missing_modalities_ == ["text"]
    assert model.get_params()["weather__featurefusion__text__lowercase"] is True


def test_grid_search_over_modality_and_final_estimator_params_clone_pickle():
    X, y, modalities = three_modalities(90, n_classes=3, seed=8)
    model = ModalityStackingClassifier(
        [
            ("image", LogisticRegression(), modalities["m0"]),
            ("audio", GaussianNB(), modalities["m1"]),
        ],
        final_estimator=LogisticRegression(),
        cv=2,
        random_state=0,
    )
    grid = GridSearchCV(
        model, {"image__C": [0.1, 1.0], "final_estimator__C": [0.1, 10.0]}, cv=2
    ).fit(X, y)
    assert len(grid.cv_results_["params"]) == 4
    best = grid.best_estimator_
    assert best.final_estimator_.C == grid.best_params_["final_estimator__C"]
    assert best.named_estimators_["image"].C == grid.best_params_["image__C"]
    cloned = clone(model)
    assert cloned.final_estimator is not model.final_estimator
    assert cloned.get_params()["audio__var_smoothing"] == 1e-9
    model.fit(X, y)
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_allclose(restored.predict_proba(X), model.predict_proba(X))
    assert not hasattr(model.final_estimator, "coef_")
    assert not hasattr(model.modalities[0][1], "coef_")


def test_parallel_fits_match_sequential():
    X, y, modalities = three_modalities(90, n_classes=2, seed=9)
    X = hide(X, modalities["m2"], 0.3, seed=0)
    sequential = stack(modalities, random_state=0, cv=3).fit(X, y)
    parallel = stack(modalities, random_state=0, cv=3, n_jobs=2).fit(X, y)
    np.testing.assert_allclose(parallel.predict_proba(X), sequential.predict_proba(X))


def test_regressor_with_missing_modalities():
    rng = np.random.default_rng(10)
    X = rng.normal(size=(300, 3))
    y = X.sum(axis=1) + 0.1 * rng.normal(size=300)
    X_train, y_train, X_test, y_test = X[:200], y[:200], X[200:].copy(), y[200:]
    X_train[rng.random(200) < 0.2, 0] = np.nan
    model = ModalityStackingRegressor(
        [(f"x{i}", LinearRegression(), [i]) for i in range(3)], random_state=0
    ).fit(X_train, y_train)
    X_test[::2, 1] = np.nan
    assert model.score(X_test, y_test) > 0.6
    assert model.oof_predictions_["x0"].shape == (200,)
    assert np.isnan(model.oof_predictions_["x0"]).sum() == np.isnan(X_train[:, 0]).sum()


def test_errors_name_the_parameter_and_value():
    X, y, modalities = three_modalities(60, n_classes=2, seed=11)
    m0 = modalities["m0"]
    with pytest.raises(ValueError, match="final_estimator must be a classifier"):
        ModalityStackingClassifier(
            [("a", LogisticRegression(), m0)], final_estimator=Ridge()
        ).fit(X, y)
    with pytest.raises(ValueError, match="final_estimator must be a regressor"):
        ModalityStackingRegressor(
            [("a", Ridge(), m0)], final_estimator=LogisticRegression()
        ).fit(X, y)
    with pytest.raises(ValueError, match="modality 'svm' does not implement"):
        ModalityStackingClassifier(
            [("svm", SVC(), m0)], stack_method="predict_proba"
        ).fit(X, y)
    with pytest.raises(ValueError, match="modality_dropout"):
        ModalityStackingClassifier(
            [("a", LogisticRegression(), m0)], modality_dropout=1.0
        ).fit(X, y)
    with pytest.raises(ValueError, match="modality 'a' is missing in every row"):
        ModalityStackingClassifier([("a", LogisticRegression(), m0)]).fit(
            X.assign(**dict.fromkeys(m0, np.nan)), y
        )
    assert not hasattr(
        ModalityStackingClassifier(
            [("a", LogisticRegression(), m0)], final_estimator=LinearSVC()
        ),
        "predict_proba",
    )
