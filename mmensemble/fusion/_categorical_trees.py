"""Gradient-boosted trees that split the categories of a one-hot block natively.

The categorical modality's encoder one-hot encodes its columns, which is what
its linear head and early fusion need. Gradient-boosted trees split better on
the categories themselves: sklearn's native categorical support partitions a
column's categories into two sets, where a split of a one-hot column only
separates one category from the others. :class:`CategoricalTrees` recovers,
from the one-hot block it is given, each source column's group of indicator
columns (a contiguous run of 0/1 columns with exactly one 1 in every training
row, the layout :class:`~sklearn.preprocessing.OneHotEncoder` writes), and
fits its trees on one category code per group with ``categorical_features``
marking them all. A block that is not one-hot goes to the trees as it is.
"""

import dataclasses
from typing import ClassVar

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, MetaEstimatorMixin, clone
from sklearn.utils import get_tags
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from .._compat import HasMethods
from .._parameters import estimator_parameters

__all__ = ["CategoricalTrees"]

# Native categorical splits take at most this many categories per column (the
# trees' default ``max_bins``).
MAX_CATEGORIES = 255


def _estimator_has(attribute):
    def check(self):
        return hasattr(self.estimator, attribute)

    return check


@estimator_parameters
class CategoricalTrees(MetaEstimatorMixin, BaseEstimator):
    """Trees fitted on the category codes of a one-hot block.

    Parameters
    ----------
    estimator : estimator
        A :class:`~sklearn.ensemble.HistGradientBoostingClassifier` or
        regressor (anything with a ``categorical_features`` parameter); its
        ``categorical_features`` is set to the recovered groups.

    Attributes
    ----------
    groups_ : list of (int, int) or None
        The ``[start, stop)`` column ranges of the one-hot groups; None when
        the block is not one-hot (the trees then take it as it is).
    estimator_ : estimator
        The fitted trees.
    classes_ : ndarray
        The class labels (classifiers only).
    n_features_in_ : int
        Number of columns of the block.

    See Also
    --------
    sklearn.ensemble.HistGradientBoostingClassifier : The trees, whose
        ``categorical_features`` this sets.

    Examples
    --------
    >>> from sklearn.ensemble import HistGradientBoostingClassifier
    >>> from sklearn.preprocessing import OneHotEncoder
    >>> from mmensemble.fusion._categorical_trees import CategoricalTrees
    >>> colours = [["red"], ["green"], ["blue"], ["grey"]] * 25
    >>> y = [1, 0, 1, 0] * 25
    >>> one_hot = OneHotEncoder().fit_transform(colours)
    >>> trees = CategoricalTrees(HistGradientBoostingClassifier()).fit(one_hot, y)
    >>> trees.groups_, trees.estimator_.is_categorical_.tolist()
    ([(0, 4)], [True])
    """

    _required_parameters: ClassVar[list] = ["estimator"]
    _parameter_constraints: ClassVar[dict] = {
        "estimator": [HasMethods(["fit", "predict"])],
    }

    estimator: object = dataclasses.field(kw_only=False)

    def fit(self, X, y):
        """Find the one-hot groups and fit the trees on their codes.

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)
            The one-hot block.
        y : array-like of shape (n_samples,)
            Targets.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        self._validate_params()
        X = _dense(X)
        self.n_features_in_ = X.shape[1]
        self.groups_ = _one_hot_groups(X)
        self.estimator_ = clone(self.estimator)
        if self.groups_ is not None:
            self.estimator_.set_params(
                categorical_features=np.ones(len(self.groups_), dtype=bool)
            )
        self.estimator_.fit(self._codes(X), y)
        if hasattr(self.estimator_, "classes_"):
            self.classes_ = self.estimator_.classes_
        return self

    def predict(self, X):
        """The trees' predictions for the rows' codes."""
        check_is_fitted(self)
        return self.estimator_.predict(self._codes(_dense(X)))

    @available_if(_estimator_has("predict_proba"))
    def predict_proba(self, X):
        """The trees' class probabilities for the rows' codes."""
        check_is_fitted(self)
        return self.estimator_.predict_proba(self._codes(_dense(X)))

    @available_if(_estimator_has("score"))
    def score(self, X, y):
        """The trees' score (accuracy, R²...) on the rows' codes."""
        check_is_fitted(self)
        return self.estimator_.score(self._codes(_dense(X)), y)

    def _codes(self, X):
        """One code per group (NaN, missing, where no indicator is set)."""
        if X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {X.shape[1]} columns, but {type(self).__name__} was "
                f"fitted on {self.n_features_in_}"
            )
        if self.groups_ is None:
            return X
        codes = np.empty((len(X), len(self.groups_)))
        for position, (start, stop) in enumerate(self.groups_):
            block = X[:, start:stop]
            codes[:, position] = np.where(
                block.max(axis=1) > 0, block.argmax(axis=1), np.nan
            )
        return codes

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        inner = get_tags(self.estimator)
        tags.estimator_type = inner.estimator_type
        tags.classifier_tags = inner.classifier_tags
        tags.regressor_tags = inner.regressor_tags
        tags.input_tags.sparse = True
        tags.input_tags.allow_nan = True
        return tags


def _dense(X):
    return X.toarray() if sp.issparse(X) else np.asarray(X, dtype=np.float64)


def _one_hot_groups(X):
    """The contiguous column groups of a one-hot block, or None if it is not one.

    A group ends at the first column where every row's indicators sum to
    one; a value other than 0 or 1, a row with two indicators set, a group
    wider than :data:`MAX_CATEGORIES` or trailing columns that complete no
    group mean the block is not one-hot.
    """
    n_rows, n_columns = X.shape
    if n_rows == 0 or n_columns == 0 or not np.isin(X, (0, 1)).all():
        return None
    groups, start, total = [], 0, np.zeros(n_rows)
    for column in range(n_columns):
        total += X[:, column]
        if (total > 1).any() or column + 1 - start > MAX_CATEGORIES:
            return None
        if (total == 1).all():
            groups.append((start, column + 1))
            start, total = column + 1, np.zeros(n_rows)
    return groups if start == n_columns else None
