"""Tests of ModalityVotingClassifier and ModalityVotingRegressor."""

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
from sklearn.ensemble import VotingClassifier, VotingRegressor
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.model_selection import GridSearchCV
from sklearn.naive_bayes import GaussianNB
from sklearn.pipeline import make_pipeline
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor
from sklearn.utils.estimator_checks import parametrize_with_checks

from mmensemble import (
    CellDecodeError,
    ModalityVotingClassifier,
    ModalityVotingRegressor,
)


@parametrize_with_checks(
    [
        ModalityVotingClassifier(on_all_columns(all=LogisticRegression())),
        ModalityVotingClassifier(
            on_all_columns(
                linear=LogisticRegression(),
                tree=DecisionTreeClassifier(max_depth=3, random_state=0),
            ),
            voting="soft",
            weights="auto",
            cv=2,
        ),
        ModalityVotingRegressor(on_all_columns(all=Ridge())),
        ModalityVotingRegressor(
            on_all_columns(
                linear=Ridge(), tree=DecisionTreeRegressor(max_depth=3, random_state=0)
            ),
            weights="auto",
            cv=2,
        ),
    ]
)
def test_sklearn_compatible(estimator, check):
    check(estimator)


@pytest.mark.parametrize("voting", ["hard", "soft"])
def test_single_modality_covering_all_columns_equals_sklearn(voting, six_features):
    X, y = six_features
    ours = ModalityVotingClassifier(
        on_all_columns(all=LogisticRegression()), voting=voting
    ).fit(X, y)
    theirs = VotingClassifier([("all", LogisticRegression())], voting=voting).fit(X, y)
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))
    if voting == "soft":
        np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X))
    np.testing.assert_array_equal(ours.classes_, theirs.classes_)


@pytest.mark.parametrize("voting", ["hard", "soft"])
def test_several_full_modalities_equal_sklearn_with_weights(voting):
    X, y = make_classification(
        n_samples=150, n_features=5, n_classes=3, n_informative=3, random_state=1
    )
    estimators = [
        ("linear", LogisticRegression()),
        ("tree", DecisionTreeClassifier(max_depth=3, random_state=0)),
        ("bayes", GaussianNB()),
    ]
    weights = [2.0, 1.0, 0.5]
    ours = ModalityVotingClassifier(
        [(name, est, slice(None)) for name, est in estimators],
        voting=voting,
        weights=weights,
    ).fit(X, y)
    theirs = VotingClassifier(estimators, voting=voting, weights=weights).fit(X, y)
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))
    np.testing.assert_allclose(ours.transform(X), theirs.transform(X))


def test_regressor_equals_sklearn_without_missing_data():
    X, y = make_regression(n_samples=80, n_features=4, noise=5.0, random_state=0)
    estimators = [("ridge", Ridge()), ("tree", DecisionTreeRegressor(random_state=0))]
    ours = ModalityVotingRegressor(
        [(name, est, [0, 1, 2, 3]) for name, est in estimators], weights=[3, 1]
    ).fit(X, y)
    theirs = VotingRegressor(estimators, weights=[3, 1]).fit(X, y)
    np.testing.assert_allclose(ours.predict(X), theirs.predict(X))
    np.testing.assert_allclose(ours.transform(X), theirs.transform(X))


def test_each_estimator_sees_only_its_columns_and_present_rows():
    X, y, modalities = three_modalities(90, n_classes=2, seed=0)
    X = hide(X, modalities["m1"], 0.3, seed=1)
    n_present = int(X[modalities["m1"]].notna().all(axis=1).sum())
    vote = ModalityVotingClassifier(
        one_per_modality(NoMissingAllowed(), modalities),
        voting="soft",
    ).fit(X, y)
    assert vote.named_estimators_["m1"].n_seen_ == n_present < len(X)
    assert vote.named_estimators_["m0"].n_seen_ == len(X)
    assert (
        list(vote.named_estimators_["m2"].inner_.feature_names_in_)
        == (modalities["m2"])
    )
    # Prediction never shows an estimator a missing row either.
    assert vote.predict(X).shape == (len(X),)


def test_present_modalities_vote_with_renormalised_weights():
    X, y, modalities = three_modalities(120, n_classes=3, seed=2)
    vote = ModalityVotingClassifier(
        one_per_modality(LogisticRegression(), modalities),
        voting="soft",
        weights={"m0": 3.0, "m1": 1.0, "m2": 0.0},
    ).fit(X, y)
    probas = {
        name: vote.named_estimators_[name].predict_proba(X[cols])
        for name, cols in modalities.items()
    }
    masked = X.copy()
    masked.loc[:9, modalities["m0"]] = np.nan  # rows 0-9: m1 (and m2) only
    masked.loc[10:19, modalities["m0"] + modalities["m1"]] = np.nan  # only m2
    masked.loc[20:29, :] = np.nan  # no modality at all
    proba = vote.predict_proba(masked)
    np.testing.assert_allclose(proba[:10], probas["m1"][:10])
    # m2 has weight 0: a row with only m2 gets the prior, as a row with nothing
    np.testing.assert_allclose(proba[10:30], np.tile(vote.class_prior_, (20, 1)))
    np.testing.assert_allclose(
        proba[30:], (3 * probas["m0"][30:] + probas["m1"][30:]) / 4
    )
    assert vote.class_prior_ == pytest.approx(np.bincount(y) / len(y))
    majority = vote.classes_[np.argmax(vote.class_prior_)]
    assert (vote.predict(masked)[20:30] == majority).all()
    transformed = vote.transform(masked)
    assert transformed.shape == (len(X), 9)
    assert (
        np.isnan(transformed[:10, :3]).all()
        and not np.isnan(transformed[:10, 3:]).any()
    )


def test_hard_vote_uses_present_modalities_and_prior_without_any():
    X, y, modalities = three_modalities(120, n_classes=3, seed=3)
    y_text = np.array(["cat", "dog", "eel"])[y]
    vote = ModalityVotingClassifier(
        one_per_modality(LogisticRegression(), modalities),
        weights=[1.0, 1.0, 1.5],
    ).fit(X, y_text)
    labels = {
        name: vote.named_estimators_[name].predict(X[cols])
        for name, cols in modalities.items()
    }
    masked = X.copy()
    masked.loc[:19, modalities["m2"]] = np.nan
    masked.loc[20:29, :] = np.nan
    predicted = vote.predict(masked)
    # with m2 gone, m0 and m1 weigh the same: agreement wins, ties go to the
    # first class in label order, as in sklearn's VotingClassifier
    for row in range(20):
        pair = sorted([labels["m0"][row], labels["m1"][row]])
        assert predicted[row] == vote.classes_[pair[0]]
    assert set(predicted[20:30]) == {vote.classes_[np.argmax(vote.class_prior_)]}
    assert set(predicted) <= {"cat", "dog", "eel"}
    hard = vote.transform(masked)
    assert hard.shape == (len(X), 3) and np.isnan(hard[:20, 2]).all()
    assert not hasattr(vote, "predict_proba")


def test_half_of_test_rows_missing_a_modality_degrades_gracefully(split):
    for weights in (None, "auto"):
        vote = ModalityVotingClassifier(
            one_per_modality(LogisticRegression(), split.modalities),
            voting="soft",
            weights=weights,
        ).fit(*split.train)
        complete = vote.score(*split.test)
        with_missing = vote.score(*split.missing)
        # 2 classes: singles ~0.79, fused 0.91, with missing ~0.91;
        # 3 classes: singles ~0.66, fused 0.83, with missing ~0.80
        assert with_missing > split.best_alone + 0.03, (
            weights,
            split.single,
            with_missing,
        )
        assert complete > split.best_alone + 0.05, (weights, split.single, complete)


@pytest.mark.parametrize("voting", ["hard", "soft"])
def test_auto_weights_give_a_useless_modality_a_small_weight(voting):
    X, y, modalities = three_modalities(300, n_classes=2, seed=4)
    X["noise"] = np.random.default_rng(0).normal(size=len(X))
    vote = ModalityVotingClassifier(
        one_per_modality(LogisticRegression(), modalities)
        + [("noise", LogisticRegression(), ["noise"])],
        voting=voting,
        weights="auto",
    ).fit(X, y)
    assert vote.weights_.sum() == pytest.approx(1.0)
    assert vote.weights_[3] < 0.05
    assert vote.weights_[:3].min() > 0.15


def test_auto_weights_regression_favour_the_informative_modality():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    y = 2 * X[:, 0] + X[:, 1] + 0.1 * rng.normal(size=200)
    X[rng.random(200) < 0.3, 1] = np.nan
    vote = ModalityVotingRegressor(
        [
            ("strong", LinearRegression(), [0]),
            ("weak", LinearRegression(), [1]),
            ("noise", LinearRegression(), [2]),
        ],
        weights="auto",
        cv=4,
    ).fit(X, y)
    strong, weak, noise = vote.weights_
    assert strong > weak > noise
    assert noise < 0.05
    assert vote.score(X, y) > ModalityVotingRegressor(vote.modalities).fit(X, y).score(
        X, y
    )
    # a row with no modality gets the training mean
    assert vote.predict(np.full((1, 3), np.nan))[0] == pytest.approx(y.mean())


def test_text_modality_with_missing_cells():
    texts = ["good fine", "bad awful", None, "good", "awful", np.nan] * 6
    y = np.array([1, 0, 1, 1, 0, 0] * 6)
    X = pd.DataFrame({"text": texts, "score": y + np.linspace(-0.4, 0.4, 36)})
    vote = ModalityVotingClassifier(
        [
            ("text", make_pipeline(TfidfVectorizer(), LogisticRegression()), "text"),
            ("score", LogisticRegression(), ["score"]),
        ],
        voting="soft",
    ).fit(X, y)
    assert vote.score(X, y) == 1.0
    assert len(vote.named_estimators_["text"][0].vocabulary_) == 4
    only_text = X.assign(score=np.nan)
    assert vote.predict(only_text)[:2].tolist() == [1, 0]
    with pytest.raises(CellDecodeError, match="row 0, column 'text'"):
        vote.predict(X.assign(text=[3.5] + texts[1:]))


def test_a_class_absent_from_a_modalitys_rows_gets_zero_probability():
    X, y, modalities = three_modalities(150, n_classes=3, seed=5)
    X.loc[y == 2, modalities["m0"]] = np.nan  # m0 never seen with class 2
    vote = ModalityVotingClassifier(
        one_per_modality(LogisticRegression(), modalities),
        voting="soft",
        weights="auto",
    ).fit(X, y)
    per_modality = vote.transform(X.iloc[:5])
    assert (per_modality[~np.isnan(per_modality[:, 0]), 2] == 0.0).all()
    np.testing.assert_allclose(vote.predict_proba(X).sum(axis=1), 1.0)


def test_grid_search_clone_and_pickle():
    X, y, modalities = three_modalities(120, n_classes=2, seed=6)
    vote = ModalityVotingClassifier(
        [
            ("image", LogisticRegression(), modalities["m0"]),
            ("audio", LogisticRegression(), modalities["m1"]),
        ],
        voting="soft",
        cv=2,
    )
    assert vote.get_params()["image__C"] == 1.0
    grid = GridSearchCV(
        vote, {"image__C": [0.01, 1.0], "weights": [None, [1, 2], "auto"]}, cv=2
    ).fit(X, y)
    assert len(grid.cv_results_["params"]) == 6
    assert grid.best_estimator_.named_estimators_["image"].C in (0.01, 1.0)
    cloned = clone(vote).set_params(audio__C=0.5)
    assert cloned.modalities[1][1].C == 0.5 and vote.modalities[1][1].C == 1.0
    fitted = vote.fit(X, y)
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_allclose(restored.predict_proba(X), fitted.predict_proba(X))
    # fit never touched the parameter objects
    assert not hasattr(vote.modalities[0][1], "coef_")


def test_feature_names_and_dropped_modality():
    X, y, modalities = three_modalities(60, n_classes=3, seed=7)
    vote = ModalityVotingClassifier(
        [
            ("a", LogisticRegression(), modalities["m0"]),
            ("b", "drop", modalities["m1"]),
            ("c", LogisticRegression(), modalities["m2"]),
        ],
        voting="soft",
        weights=[1, 5, 2],
    ).fit(X, y)
    assert vote.named_estimators_["b"] == "drop"
    assert vote.weights_.tolist() == [1.0, 2.0]
    names = vote.get_feature_names_out()
    assert names.tolist() == [
        f"modalityvotingclassifier_{m}{i}" for m in "ac" for i in range(3)
    ]
    assert vote.transform(X).shape == (60, len(names))
    assert vote.set_params(voting="hard").fit(
        X, y
    ).get_feature_names_out().tolist() == [
        "modalityvotingclassifier_a",
        "modalityvotingclassifier_c",
    ]
    assert ModalityVotingRegressor([("a", Ridge(), modalities["m0"])]).fit(
        X, y
    ).get_feature_names_out().tolist() == ["modalityvotingregressor_a"]


def test_errors_name_the_parameter_and_value():
    X, y, modalities = three_modalities(40, n_classes=2, seed=8)
    m0 = modalities["m0"]
    with pytest.raises(ValueError, match=r"one entry per modality \(1\), got 2"):
        ModalityVotingClassifier([("a", LogisticRegression(), m0)], weights=[1, 2]).fit(
            X, y
        )
    with pytest.raises(ValueError, match=r"weights has keys \['z'\]"):
        ModalityVotingClassifier(
            [("a", LogisticRegression(), m0)], weights={"z": 1}
        ).fit(X, y)
    with pytest.raises(ValueError, match=r"weights\['a'\] must be a non-neg"):
        ModalityVotingClassifier([("a", LogisticRegression(), m0)], weights=[-1.0]).fit(
            X, y
        )
    with pytest.raises(
        ValueError, match="modality 'svm' has no predict_proba.*voting='soft'"
    ):
        ModalityVotingClassifier([("svm", SVC(), m0)], voting="soft").fit(X, y)
    with pytest.raises(ValueError, match="modality 'a' is missing in every row"):
        ModalityVotingClassifier([("a", LogisticRegression(), m0)]).fit(
            X.assign(**dict.fromkeys(m0, np.nan)), y
        )
    with pytest.raises(ValueError, match="every modality is 'drop'"):
        ModalityVotingRegressor([("a", "drop", m0)]).fit(X, y)
    with pytest.raises(ValueError, match="Unknown label type"):
        ModalityVotingClassifier([("a", LogisticRegression(), m0)]).fit(
            X, np.linspace(0, 1, len(X))
        )
    with pytest.raises(KeyError, match="'nope' is not in X"):
        ModalityVotingClassifier([("a", LogisticRegression(), "nope")]).fit(X, y)
