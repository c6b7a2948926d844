"""Fitted modality models shared by the fusion methods of one fit.

Automatic fusion scores soft voting and stacking on the same folds: both fit
each modality's model on the present rows of every training fold, stacking
again on the training rows of its inner folds, and both once more on all rows.
A :class:`SharedFits` store holds each fitted model under a digest of what it
was fitted on (the unfitted model's parameters, the training rows' values and
targets); inside :func:`sharing_fits`, :func:`fit_shared` returns a copy of the
stored model instead of fitting the same model on the same rows again. Outside
it, :func:`fit_shared` is a plain ``fit``.
"""

import contextvars
import copy
from contextlib import contextmanager

import joblib
import numpy as np
import pandas as pd

__all__ = ["SharedFits", "fit_digest", "fit_shared", "sharing_fits"]

_ACTIVE = contextvars.ContextVar("mmensemble_shared_fits", default=None)


def fit_digest(estimator, X, y):
    """A digest of an unfitted estimator and the rows it is fitted on.

    Parameters
    ----------
    estimator : estimator
        Unfitted; its parameters enter the digest.
    X : ndarray, sparse matrix or DataFrame
        The training rows (a DataFrame by its column names and values, not
        its index).
    y : ndarray of shape (n_samples,)
        Their targets.

    Returns
    -------
    digest : str
    """
    if isinstance(X, pd.DataFrame):
        X = (list(X.columns), X.to_numpy())
    return joblib.hash((estimator, X, np.asarray(y)))


class SharedFits:
    """Fitted models by :func:`fit_digest`, and how often each was fitted.

    Attributes
    ----------
    fit_counts : dict of str to int
        Times a model was fitted on the rows of each digest (1 for every
        digest when nothing was fitted twice).
    """

    def __init__(self):
        self._fitted = {}
        self.fit_counts = {}

    def __contains__(self, digest):
        return digest in self._fitted

    def add(self, digest, fitted):
        """Store a model fitted on the rows of ``digest``."""
        self._fitted[digest] = fitted
        self.fit_counts[digest] = self.fit_counts.get(digest, 0) + 1

    def fit(self, estimator, X, y):
        """A copy of the stored fit of ``estimator`` on ``X``, fitting it once."""
        digest = fit_digest(estimator, X, y)
        if digest not in self._fitted:
            self.add(digest, estimator.fit(X, y))
        return copy.deepcopy(self._fitted[digest])


@contextmanager
def sharing_fits(shared):
    """Make :func:`fit_shared` use ``shared`` in this thread and context."""
    token = _ACTIVE.set(shared)
    try:
        yield shared
    finally:
        _ACTIVE.reset(token)


def fit_shared(estimator, X, y):
    """Fit ``estimator``, or take its fit on the same rows from the active store.

    Parameters
    ----------
    estimator : estimator
        Unfitted (a clone).
    X : ndarray, sparse matrix or DataFrame
        The training rows.
    y : ndarray of shape (n_samples,)
        Their targets.

    Returns
    -------
    fitted : estimator
        ``estimator`` fitted, or a copy of the stored fit.
    """
    shared = _ACTIVE.get()
    if shared is None:
        return estimator.fit(X, y)
    return shared.fit(estimator, X, y)
