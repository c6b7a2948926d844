"""Modalities: ``(name, estimator, columns)`` triples and the input table.

Every fusion estimator takes its modalities the way ``ColumnTransformer`` takes
its transformers. This module holds what they share: nested parameters
(``image__C``), validation of the triples, turning ``X`` into a table and
selecting a modality's columns from it.
"""

import numbers

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.utils.metaestimators import _BaseComposition

from ._cells import missing_mask

__all__ = ["BaseModalityComposition", "as_frame", "select_columns"]


class BaseModalityComposition(_BaseComposition):
    """Nested ``get_params``/``set_params`` over a ``modalities`` list of triples.

    Parameters of a modality's estimator are addressed as ``<name>__<param>``,
    and a whole estimator can be replaced with ``set_params(<name>=...)``.
    """

    _required_parameters = ["modalities"]

    @property
    def _transformers(self):
        try:
            return [(name, estimator) for name, estimator, _ in self.modalities]
        except (TypeError, ValueError):
            return self.modalities

    @_transformers.setter
    def _transformers(self, value):
        try:
            self.modalities = [
                (name, estimator, columns)
                for ((name, estimator), (_, _, columns)) in zip(
                    value, self.modalities, strict=True
                )
            ]
        except (TypeError, ValueError):
            self.modalities = value

    def get_params(self, deep=True):
        """Get the parameters of this estimator and of its modalities' estimators.

        Parameters
        ----------
        deep : bool, default=True
            If True, also return the parameters of the modalities' estimators,
            as ``<name>__<param>``.

        Returns
        -------
        params : dict
            Parameter names mapped to their values.
        """
        return self._get_params("_transformers", deep=deep)

    def set_params(self, **params):
        """Set the parameters of this estimator and of its modalities' estimators.

        Parameters
        ----------
        **params : dict
            Parameters of this estimator, ``<name>`` to replace a modality's
            estimator, or ``<name>__<param>`` for one of its parameters.

        Returns
        -------
        self : object
            This estimator.
        """
        self._set_params("_transformers", **params)
        return self

    def _check_modalities(self, *, allow=("passthrough", "drop")):
        """Validate the triples and return them as a list of tuples."""
        if not self.modalities:
            raise ValueError(
                f"modalities must be a non-empty list of (name, estimator, columns) "
                f"triples, got {self.modalities!r}"
            )
        triples = []
        for entry in self.modalities:
            if not isinstance(entry, tuple | list) or len(entry) != 3:
                raise ValueError(
                    "each modality must be a (name, estimator, columns) triple, "
                    f"got {entry!r}"
                )
            name, estimator, columns = entry
            if isinstance(estimator, str):
                if estimator not in allow:
                    raise ValueError(
                        f"the estimator of modality {name!r} must be an estimator "
                        f"or one of {allow!r}, got {estimator!r}"
                    )
            elif not hasattr(estimator, "fit"):
                raise TypeError(
                    f"the estimator of modality {name!r} must implement fit, got "
                    f"{estimator!r}"
                )
            triples.append((name, estimator, columns))
        self._validate_names([name for name, _, _ in triples])
        return triples

    @staticmethod
    def _clone_estimator(estimator):
        return estimator if isinstance(estimator, str) else clone(estimator)


def as_frame(X):
    """Return ``X`` as a non-empty DataFrame, the form fusion estimators work on.

    Parameters
    ----------
    X : DataFrame, dict of equal-length columns, or 2-D array-like
        The input table. Array columns are named by position (0, 1, ...).

    Returns
    -------
    frame : DataFrame
    """
    frame = _to_frame(X)
    n_samples, n_columns = frame.shape
    if n_samples == 0:
        raise ValueError(
            f"Found array with 0 sample(s) (shape={frame.shape}) while a minimum of "
            "1 is required."
        )
    if n_columns == 0:
        raise ValueError(
            f"Found array with 0 feature(s) (shape={frame.shape}) while a minimum of "
            "1 is required."
        )
    return frame


def _to_frame(X):
    if isinstance(X, pd.DataFrame):
        return X
    if sp.issparse(X):
        raise TypeError(
            "Sparse data was passed for X, but dense data is required: pass a "
            "DataFrame, a dict of columns or a dense 2-D array (X.toarray())."
        )
    if isinstance(X, dict):
        lengths = {name: len(column) for name, column in X.items()}
        if len(set(lengths.values())) > 1:
            raise ValueError(f"the columns of X have different lengths: {lengths!r}")
        return pd.DataFrame(
            {name: _column_values(column) for name, column in X.items()}
        )
    array = np.asarray(X) if not isinstance(X, np.ndarray) else X
    if array.ndim != 2:
        raise ValueError(
            "X must be a DataFrame, a dict of columns or a 2-D array; got an array "
            f"of shape {array.shape!r}. Reshape your data either using "
            "array.reshape(-1, 1) if your data has a single feature or "
            "array.reshape(1, -1) if it contains a single sample."
        )
    return pd.DataFrame(array)


def _column_values(column):
    """Keep list-like cells (arrays, tuples) intact when building a DataFrame."""
    if isinstance(column, pd.Series | np.ndarray) and np.ndim(column) == 1:
        return column
    items = list(column)
    if all(item is None or isinstance(item, numbers.Number | str) for item in items):
        return items
    values = np.empty(len(items), dtype=object)
    for position, item in enumerate(items):
        values[position] = item
    return values


def resolve_columns(columns, frame):
    """Resolve a column spec against ``frame``.

    Parameters
    ----------
    columns : str, int, list, slice, boolean mask or callable
        A scalar selects one column (the estimator receives a 1-D Series); the
        other forms select a list of columns (a DataFrame). A callable is called
        with the frame, like ``make_column_selector``.
    frame : DataFrame

    Returns
    -------
    columns : scalar or list
    """
    if callable(columns):
        columns = columns(frame)
    if isinstance(columns, slice):
        return list(frame.columns[columns])
    if np.isscalar(columns):
        if columns not in frame.columns:
            raise KeyError(
                f"column {columns!r} is not in X; its columns are "
                f"{list(frame.columns)!r}"
            )
        return columns
    columns = list(columns)
    if columns and all(isinstance(c, bool | np.bool_) for c in columns):
        return list(frame.columns[np.asarray(columns, dtype=bool)])
    unknown = [c for c in columns if c not in frame.columns]
    if unknown:
        raise KeyError(
            f"columns {unknown!r} are not in X; its columns are {list(frame.columns)!r}"
        )
    return columns


def select_columns(frame, columns):
    """Select resolved ``columns`` from ``frame`` (a Series for a scalar spec)."""
    return frame[columns]


def modality_missing(frame, columns):
    """Mask of the rows where every cell of the modality's columns is missing."""
    return missing_mask(select_columns(frame, columns))
