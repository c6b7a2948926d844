"""Trees splitting the categories of a one-hot block natively."""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
)
from sklearn.preprocessing import OneHotEncoder
from sklearn.utils import get_tags

from mmensemble import default_modality_model
from mmensemble.fusion._categorical_trees import CategoricalTrees


def _categories(n_rows=300, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "colour": rng.choice(["red", "green", "blue", "grey"], n_rows),
            "flag": rng.choice([True, False], n_rows),
            "size": rng.choice(["S", "M", "L"], n_rows),
        }
    )


def _trees():
    return CategoricalTrees(HistGradientBoostingClassifier(max_iter=30))


@pytest.mark.parametrize("sparse", [True, False])
def test_groups_and_codes_match_the_one_hot_encoder(sparse):
    frame = _categories()
    encoder = OneHotEncoder(sparse_output=sparse).fit(frame)
    y = frame["size"].to_numpy()
    trees = _trees().fit(encoder.transform(frame), y)
    assert trees.groups_ == [(0, 4), (4, 6), (6, 9)]
    assert trees.estimator_.is_categorical_.tolist() == [True, True, True]
    codes = trees._codes(
        encoder.transform(frame).toarray() if sparse else encoder.transform(frame)
    )
    for position, column in enumerate(frame.columns):
        categories = encoder.categories_[position]
        assert (categories[codes[:, position].astype(int)] == frame[column]).all()
    assert (trees.predict(encoder.transform(frame)) == y).all()
    assert trees.score(encoder.transform(frame), y) == 1.0
    assert trees.predict_proba(encoder.transform(frame)).shape == (300, 3)


def test_an_unknown_category_is_a_missing_code():
    frame = _categories()
    encoder = OneHotEncoder(handle_unknown="ignore").fit(frame)
    trees = _trees().fit(encoder.transform(frame), frame["flag"])
    unseen = pd.DataFrame({"colour": ["purple"], "flag": [True], "size": ["M"]})
    codes = trees._codes(encoder.transform(unseen).toarray())
    assert np.isnan(codes[0, 0]) and codes[0, 1:].tolist() == [1.0, 1.0]
    assert trees.predict(encoder.transform(unseen)).tolist() == [True]


@pytest.mark.parametrize(
    "block",
    [
        np.array([[0.5, 1.0], [2.0, 3.0]] * 10),  # numbers
        np.array([[1, 1], [1, 0]] * 10),  # two indicators set in a row
        np.array([[1, 0, 0], [0, 1, 0]] * 10),  # a last column in no group
    ],
    ids=["numbers", "two-set", "trailing"],
)
def test_a_block_that_is_not_one_hot_goes_to_the_trees_as_it_is(block):
    y = np.array([0, 1] * 10)
    trees = _trees().fit(sp.csr_matrix(block), y)
    assert trees.groups_ is None
    assert not trees.estimator_.is_categorical_
    np.testing.assert_array_equal(trees._codes(block), block)


def test_native_splits_separate_a_pair_of_categories():
    # The class is whether the colour is one of two of eight: one native split
    # separates them, where a one-hot split separates one colour from the rest.
    rng = np.random.default_rng(1)
    colours = rng.choice(list("abcdefgh"), 400)
    y = np.isin(colours, ["b", "f"]).astype(int)
    one_hot = OneHotEncoder().fit_transform(colours.reshape(-1, 1))
    stump = HistGradientBoostingClassifier(max_iter=1, max_depth=1, learning_rate=1)
    native = CategoricalTrees(stump).fit(one_hot, y)
    assert (native.predict(one_hot) == y).all()
    dense = one_hot.toarray()
    assert (clone(stump).fit(dense, y).predict(dense) != y).any()


def test_tags_and_regression_follow_the_trees():
    assert get_tags(_trees()).estimator_type == "classifier"
    regressor = CategoricalTrees(HistGradientBoostingRegressor(max_iter=30))
    assert get_tags(regressor).estimator_type == "regressor"
    assert not hasattr(regressor, "predict_proba")
    frame = _categories()
    one_hot = OneHotEncoder().fit_transform(frame)
    target = (frame["colour"] == "red") * 2.0 + (frame["size"] == "L")
    fitted = regressor.fit(one_hot, target)
    assert np.abs(fitted.predict(one_hot) - target).max() < 0.1
    with pytest.raises(ValueError, match="fitted on 9"):
        fitted.predict(one_hot[:, :5])


def test_the_categorical_role_trees_split_categories_natively():
    frame = _categories(seed=2)
    y = np.where(frame["colour"].isin(["red", "blue"]) ^ frame["flag"], "a", "b")
    model = default_modality_model("categorical").fit(frame, y)
    assert isinstance(dict(model[-1].estimators)["trees"], CategoricalTrees)
    assert model[-1].chosen_ == "trees"
    assert (model.predict(frame) == y).mean() > 0.95
    # The tabular role's trees take its numbers as they are.
    tabular = default_modality_model("tabular")[-1]
    assert isinstance(dict(tabular.estimators)["trees"], HistGradientBoostingClassifier)
