"""A head chosen among candidates by cross-validated score: linear or trees.

The tabular and categorical modalities' default head
(:func:`~mmensemble.default_head` with ``trees=True``) is
:class:`HeadSelectionClassifier` or :class:`HeadSelectionRegressor` over the
linear head and sklearn's histogram gradient boosting: each candidate is
scored on the same folds of the training rows by its own criterion (log loss,
R²), and the better one is refitted on all of them. A candidate that takes
no sparse input (the trees) gets sparse rows (one-hot columns) as a dense
array. It is an ordinary head,
so voting, stacking and automatic fusion fit it once per training row set
through their shared fits, like any other modality model.

The candidates fit and predict with the OpenMP thread pool limited to one
thread, as :class:`~mmensemble.fusion.TunedLogisticRegression` limits BLAS:
the blocks it serves are a few columns wide, too small for the trees'
threads to pay (the fusion estimators run their folds in parallel instead),
and on a busy 2-core machine (load average 5) those threads made the trees'
search and refit 5 to 20 times slower in most runs, 1.7 times faster at best
(``benchmarks/fold_fits.py``).
"""

import dataclasses
from numbers import Integral
from typing import ClassVar

import numpy as np
import scipy.sparse as sp
from sklearn.base import (
    BaseEstimator,
    ClassifierMixin,
    MetaEstimatorMixin,
    RegressorMixin,
    clone,
)
from sklearn.metrics import log_loss, r2_score
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.utils import get_tags
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits

from .._compat import Interval
from .._parameters import estimator_parameters

__all__ = ["HeadSelectionClassifier", "HeadSelectionRegressor"]


def _chosen_has(attribute):
    """Whether the chosen estimator (before ``fit``, every candidate) has it."""

    def check(self):
        if hasattr(self, "chosen_estimator_"):
            return hasattr(self.chosen_estimator_, attribute)
        return all(hasattr(estimator, attribute) for _, estimator in self.estimators)

    return check


@estimator_parameters
class _BaseHeadSelection(MetaEstimatorMixin, BaseEstimator):
    _required_parameters: ClassVar[list] = ["estimators"]
    _parameter_constraints: ClassVar[dict] = {
        "estimators": [list],
        "cv": [Interval(Integral, 2, None, closed="left")],
        "random_state": ["random_state"],
    }

    estimators: list = dataclasses.field(kw_only=False)
    cv: int = 3
    random_state: object = 0

    def fit(self, X, y):
        """Score every candidate on the same folds; refit the best on all rows.

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)
            Training rows.
        y : array-like of shape (n_samples,)
            Targets.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        self._validate_params()
        names = [name for name, _ in self.estimators]
        if not names or len(set(names)) != len(names):
            raise ValueError(
                "estimators must be a non-empty list of (name, estimator) pairs "
                f"with distinct names, got {self.estimators!r}"
            )
        if not (hasattr(X, "iloc") or sp.issparse(X)):
            X = np.asarray(X)
        y = np.asarray(y)
        labels = np.unique(y)
        folds = self._folds(y)
        with _one_thread():
            if folds is None or len(self.estimators) == 1:
                self.cv_scores_ = {}
                self.chosen_ = names[0]
            else:
                self.cv_scores_ = {
                    name: self._cv_score(estimator, X, y, folds, labels)
                    for name, estimator in self.estimators
                }
                self.chosen_ = max(names, key=self.cv_scores_.get)
            chosen = dict(self.estimators)[self.chosen_]
            self.chosen_estimator_ = clone(chosen).fit(_taken_by(chosen, X), y)
        if hasattr(self.chosen_estimator_, "n_features_in_"):
            self.n_features_in_ = self.chosen_estimator_.n_features_in_
        return self

    def _cv_score(self, estimator, X, y, folds, labels):
        """Mean held-out score of ``estimator`` over ``folds``.

        ``-inf`` when it cannot be fitted on a fold's rows (a
        ``ValueError``: e.g. early stopping that needs more rows than a fold
        holds), so that another candidate is kept, as ``GridSearchCV`` does
        with ``error_score``.
        """
        scores = []
        for train, test in folds:
            try:
                model = clone(estimator).fit(
                    _taken_by(estimator, _rows(X, train)), y[train]
                )
            except ValueError:
                return -np.inf
            scores.append(
                self._score(
                    model, _taken_by(estimator, _rows(X, test)), y[test], labels
                )
            )
        return float(np.mean(scores))

    @available_if(_chosen_has("predict"))
    def predict(self, X):
        """The chosen estimator's predictions."""
        check_is_fitted(self)
        with _one_thread():
            return self.chosen_estimator_.predict(_taken_by(self.chosen_estimator_, X))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.input_tags.allow_nan = True
        return tags


class HeadSelectionClassifier(ClassifierMixin, _BaseHeadSelection):
    """The classifier, among candidates, with the best cross-validated log loss.

    Parameters
    ----------
    estimators : list of (str, estimator)
        The candidates, by name; the first is kept when the classes are too
        small for ``cv`` folds.
    cv : int, default=3
        Stratified folds scoring every candidate (lowered to the smallest
        class's size).
    random_state : int, RandomState instance or None, default=0
        Seeds the shuffling of the folds.

    Attributes
    ----------
    chosen_ : str
        Name of the candidate kept.
    chosen_estimator_ : estimator
        That candidate refitted on all rows.
    cv_scores_ : dict of str to float
        Mean held-out negative log loss of each candidate (empty when
        nothing was scored; ``-inf`` for a candidate that could not be fitted
        on the folds' rows).
    classes_ : ndarray
        The class labels.

    See Also
    --------
    sklearn.model_selection.GridSearchCV : The general search over
        candidates.

    Examples
    --------
    >>> from sklearn.ensemble import HistGradientBoostingClassifier
    >>> from sklearn.linear_model import LogisticRegression
    >>> from mmensemble.fusion import HeadSelectionClassifier
    >>> X = [[value] for value in range(300)]
    >>> y = [int(value % 100 < 50) for value in range(300)]
    >>> head = HeadSelectionClassifier(
    ...     [("linear", LogisticRegression()),
    ...      ("trees", HistGradientBoostingClassifier(max_iter=20))]).fit(X, y)
    >>> head.chosen_
    'trees'
    """

    def fit(self, X, y):
        check_classification_targets(y)
        super().fit(X, y)
        self.classes_ = self.chosen_estimator_.classes_
        return self

    fit.__doc__ = _BaseHeadSelection.fit.__doc__

    @available_if(_chosen_has("predict_proba"))
    def predict_proba(self, X):
        """The chosen estimator's class probabilities."""
        check_is_fitted(self)
        with _one_thread():
            return self.chosen_estimator_.predict_proba(
                _taken_by(self.chosen_estimator_, X)
            )

    def _folds(self, y):
        n_splits = min(self.cv, np.unique(y, return_counts=True)[1].min())
        if n_splits < 2:
            return None
        splitter = StratifiedKFold(
            n_splits, shuffle=True, random_state=self.random_state
        )
        return list(splitter.split(np.zeros(len(y)), y))

    @staticmethod
    def _score(model, X, y, labels):
        """Negative log loss over every class.

        The folds are stratified with at most as many as the smallest class
        has rows, so every fold's model has seen every class.
        """
        return -log_loss(y, model.predict_proba(X), labels=labels)


class HeadSelectionRegressor(RegressorMixin, _BaseHeadSelection):
    """The regressor, among candidates, with the best cross-validated R².

    Parameters
    ----------
    estimators : list of (str, estimator)
        The candidates, by name; the first is kept with fewer rows than
        ``cv``.
    cv : int, default=3
        Folds scoring every candidate.
    random_state : int, RandomState instance or None, default=0
        Seeds the shuffling of the folds.

    Attributes
    ----------
    chosen_ : str
        Name of the candidate kept.
    chosen_estimator_ : estimator
        That candidate refitted on all rows.
    cv_scores_ : dict of str to float
        Mean held-out R² of each candidate (``-inf`` for a candidate that
        could not be fitted on the folds' rows).

    See Also
    --------
    sklearn.model_selection.GridSearchCV : The general search over
        candidates.

    Examples
    --------
    >>> from sklearn.ensemble import HistGradientBoostingRegressor
    >>> from sklearn.linear_model import Ridge
    >>> from mmensemble.fusion import HeadSelectionRegressor
    >>> X = [[value] for value in range(300)]
    >>> y = [float(value % 100 < 50) for value in range(300)]
    >>> head = HeadSelectionRegressor(
    ...     [("linear", Ridge()),
    ...      ("trees", HistGradientBoostingRegressor(max_iter=20))]).fit(X, y)
    >>> head.chosen_
    'trees'
    """

    def _folds(self, y):
        if len(y) < 2 * self.cv:
            return None
        splitter = KFold(self.cv, shuffle=True, random_state=self.random_state)
        return list(splitter.split(np.zeros(len(y))))

    @staticmethod
    def _score(model, X, y, labels):
        return r2_score(y, model.predict(X))


def _one_thread():
    """Limit the OpenMP thread pool (the trees') to one thread (see the module)."""
    return threadpool_limits(limits=1, user_api="openmp")


def _taken_by(estimator, X):
    """``X``, made dense for an estimator that takes no sparse input (trees)."""
    if sp.issparse(X) and not get_tags(estimator).input_tags.sparse:
        return X.toarray()
    return X


def _rows(X, rows):
    return X.iloc[rows] if hasattr(X, "iloc") else X[rows]
