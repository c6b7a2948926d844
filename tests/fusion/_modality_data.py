"""Data and helpers shared by the late-fusion tests (voting and stacking)."""

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.compose import make_column_selector
from sklearn.linear_model import LogisticRegression

ALL_COLUMNS = make_column_selector()


def on_all_columns(**estimators):
    """One modality per named estimator, each seeing every column of ``X``."""
    return [(name, estimator, ALL_COLUMNS) for name, estimator in estimators.items()]


def one_per_modality(estimator, modalities):
    """A clone of ``estimator`` on each modality of a ``{name: columns}`` dict."""
    return [(name, clone(estimator), cols) for name, cols in modalities.items()]


def three_modalities(n, *, n_classes, seed, separation=1.2):
    """Three independent 3-column modalities of equal strength.

    Class ``k`` is centred at ``separation`` times the ``k``-th unit vector in
    every modality, with independent unit noise: each modality carries part of
    the signal, and together they carry more.
    """
    rng = np.random.default_rng(seed)
    y = rng.integers(0, n_classes, size=n)
    columns, modalities = {}, {}
    for m in range(3):
        block = separation * np.eye(3)[y] + rng.normal(size=(n, 3))
        names = [f"m{m}_{j}" for j in range(3)]
        columns.update(zip(names, block.T, strict=True))
        modalities[f"m{m}"] = names
    return pd.DataFrame(columns), y, modalities


def hide(X, columns, fraction, seed):
    """A copy of X with ``columns`` missing (NaN) in ``fraction`` of the rows."""
    rng = np.random.default_rng(seed)
    X = X.copy()
    X.loc[rng.random(len(X)) < fraction, columns] = np.nan
    return X


class NoMissingAllowed(ClassifierMixin, BaseEstimator):
    """A classifier that fails loudly if it is ever shown a missing cell."""

    def fit(self, X, y):
        assert not pd.isna(X).to_numpy().any()
        self.n_seen_ = len(X)
        self.inner_ = LogisticRegression().fit(X, y)
        self.classes_ = self.inner_.classes_
        return self

    def predict(self, X):
        assert not pd.isna(X).to_numpy().any()
        return self.inner_.predict(X)

    def predict_proba(self, X):
        assert not pd.isna(X).to_numpy().any()
        return self.inner_.predict_proba(X)
