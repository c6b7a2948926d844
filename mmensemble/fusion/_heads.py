"""A logistic regression that tunes its regularisation along a stopped path.

:class:`TunedLogisticRegression` is the classification head of the defaults
(:func:`~mmensemble.default_head`). Like
:class:`~sklearn.linear_model.LogisticRegressionCV` it picks ``C`` by the
cross-validated log loss, but it walks the grid from the strongest
regularisation to the weakest, warm-starting each fold's model from the
previous ``C``, and stops as soon as the score stops improving. On
standardised embeddings the best ``C`` sits at the strong end of the grid, so
the weakly regularised fits, which take the most solver iterations, are never
made: on the bundled spoken digits' image embeddings it costs a fifth of
``LogisticRegressionCV``'s CPU time for the same ``C`` and the same test
accuracy (``benchmarks/head_tuning.py``).

Its solver runs with the BLAS thread pool limited to one thread, as
scikit-learn's ``KMeans`` does for its BLAS calls: the products of lbfgs on a
few thousand rows are too small for threads to pay, and on a busy 2-core
machine (load average 4-7) BLAS threads made the same fit 14-38 times slower
(``benchmarks/head_tuning.py --blas-threads``).
"""

from numbers import Integral, Real
from typing import ClassVar

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.model_selection import StratifiedKFold
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data
from threadpoolctl import threadpool_limits

from .._compat import Interval
from .._parameters import estimator_parameters

__all__ = ["C_GRID", "TunedLogisticRegression"]

# Inverse regularisation strengths searched, strongest first: wide enough for
# standardised embeddings (which need strong regularisation, C near
# 0.001-0.1), TF-IDF rows of unit norm and the unit-variance blocks of early
# fusion (which need little, C near 10).
C_GRID = (0.001, 0.01, 0.1, 1.0, 10.0)


@estimator_parameters
class TunedLogisticRegression(ClassifierMixin, BaseEstimator):
    """Logistic regression choosing ``C`` on a warm-started, early-stopped path.

    The values of ``Cs`` are tried in increasing order (strongest
    regularisation first). For each, one model per stratified fold is fitted,
    warm-started from its fit at the previous ``C``, and scored by log loss on
    its held-out rows; the walk stops once the mean score has not improved for
    ``patience`` consecutive values. The best ``C`` is then refitted on all
    rows.

    Parameters
    ----------
    Cs : sequence of float, default=(0.001, 0.01, 0.1, 1.0, 10.0)
        The inverse regularisation strengths searched (sorted ascending
        before the walk).
    cv : int, default=3
        Number of stratified folds scoring each ``C``; lowered to the size of
        the smallest class when that is smaller. With fewer than two rows in
        some class nothing is searched and ``C=1`` is used.
    patience : int, default=1
        Consecutive values of ``C`` without a better score after which the
        walk stops.
    tol : float, default=1e-3
        Tolerance of the solver (lbfgs), for the search and the final fit.
    max_iter : int, default=1000
        Maximum iterations of the solver per fit.

    Attributes
    ----------
    C_ : float
        The chosen inverse regularisation strength.
    cv_scores_ : dict of float to float
        Mean held-out negative log loss of every ``C`` tried, in the order
        tried (the values not reached are absent).
    estimator_ : LogisticRegression
        The model refitted on all rows with ``C_``.
    classes_ : ndarray of shape (n_classes,)
        The class labels.
    coef_ : ndarray of shape (1, n_features) or (n_classes, n_features)
        The coefficients of ``estimator_``.
    intercept_ : ndarray of shape (1,) or (n_classes,)
        Its intercepts.
    n_iter_ : ndarray of shape (1,)
        Solver iterations of the final fit (of ``estimator_``).
    n_features_in_ : int
        Number of features seen during ``fit``.

    See Also
    --------
    sklearn.linear_model.LogisticRegressionCV : The full grid, every fold.

    Examples
    --------
    >>> import numpy as np
    >>> from mmensemble.fusion import TunedLogisticRegression
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(90, 20))
    >>> y = (X[:, 0] > 0).astype(int)
    >>> head = TunedLogisticRegression().fit(X, y)
    >>> head.C_ in head.cv_scores_
    True
    >>> head.predict_proba(X[:2]).shape
    (2, 2)
    """

    _parameter_constraints: ClassVar[dict] = {
        "Cs": ["array-like"],
        "cv": [Interval(Integral, 2, None, closed="left")],
        "patience": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="neither")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
    }

    Cs: tuple = C_GRID
    cv: int = 3
    patience: int = 1
    tol: float = 1e-3
    max_iter: int = 1000

    def fit(self, X, y):
        """Walk the path of ``Cs``, then refit the best one on all rows.

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)
            Training rows.
        y : array-like of shape (n_samples,)
            Class labels.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        self._validate_params()
        X, y = validate_data(self, X, y, accept_sparse="csr")
        check_classification_targets(y)
        Cs = np.sort(np.asarray(self.Cs, dtype=np.float64).ravel())
        if Cs.size == 0 or not np.all(Cs > 0):
            raise ValueError(f"Cs must be positive numbers, got Cs={self.Cs!r}")
        n_splits = min(self.cv, np.unique(y, return_counts=True)[1].min())
        with threadpool_limits(limits=1, user_api="blas"):
            if n_splits < 2:
                self.cv_scores_ = {}
                self.C_ = 1.0
            else:
                self.cv_scores_ = self._walk(X, y, Cs, n_splits)
                self.C_ = max(self.cv_scores_, key=self.cv_scores_.get)
            self.estimator_ = self._model(self.C_).fit(X, y)
        self.classes_ = self.estimator_.classes_
        self.coef_ = self.estimator_.coef_
        self.intercept_ = self.estimator_.intercept_
        self.n_iter_ = self.estimator_.n_iter_
        return self

    def _model(self, C, *, warm_start=False):
        return LogisticRegression(
            C=C, tol=self.tol, max_iter=self.max_iter, warm_start=warm_start
        )

    def _walk(self, X, y, Cs, n_splits):
        """Mean held-out negative log loss of each ``C`` reached, by ``C``.

        Every class has at least ``n_splits`` rows, so every training fold
        holds every class.
        """
        folds = list(StratifiedKFold(n_splits).split(X, y))
        labels = np.unique(y)
        models = [self._model(Cs[0], warm_start=True) for _ in folds]
        scores, best, stale = {}, -np.inf, 0
        for C in Cs:
            fold_scores = []
            for model, (train, test) in zip(models, folds, strict=True):
                model.set_params(C=C).fit(X[train], y[train])
                proba = model.predict_proba(X[test])
                fold_scores.append(-log_loss(y[test], proba, labels=labels))
            scores[float(C)] = float(np.mean(fold_scores))
            if scores[float(C)] > best:
                best, stale = scores[float(C)], 0
            else:
                stale += 1
                if stale >= self.patience:
                    break
        return scores

    def decision_function(self, X):
        """Confidence scores of ``estimator_``.

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)
            The rows to score.

        Returns
        -------
        scores : ndarray of shape (n_samples,) or (n_samples, n_classes)
            As :meth:`sklearn.linear_model.LogisticRegression.decision_function`.
        """
        check_is_fitted(self)
        return self.estimator_.decision_function(X)

    def predict_proba(self, X):
        """Class probabilities of ``estimator_``.

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)
            The rows to score.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            In the order of ``classes_``.
        """
        check_is_fitted(self)
        return self.estimator_.predict_proba(X)

    def predict(self, X):
        """Class labels of ``estimator_``.

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)
            The rows to label.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            The most probable class of each row.
        """
        check_is_fitted(self)
        return self.estimator_.predict(X)

    def score(self, X, y):
        """Negative log loss on ``X`` and ``y``, the criterion ``C`` is tuned by.

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)
            Test rows.
        y : array-like of shape (n_samples,)
            Their class labels.

        Returns
        -------
        score : float
            Minus the log loss of :meth:`predict_proba` (higher is better).
        """
        return -log_loss(y, self.predict_proba(X), labels=self.classes_)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags
