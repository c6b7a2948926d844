"""Modalities: ``(name, estimator, columns)`` triples and the input table.

Every fusion estimator takes its modalities the way ``ColumnTransformer`` takes
its transformers. This module holds what they share: nested parameters
(``image__C``), validation of the triples, turning ``X`` into a table and
selecting a modality's columns from it.
"""

import numbers
import warnings
from dataclasses import field

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.utils import Bunch

from .._compat import _BaseComposition
from .._exceptions import BadCellWarning, CellDecodeError, ColumnNotFoundError
from .._parameters import estimator_parameters
from ..encoders._base import (
    ErrorsTableMixin,
    _bad_cells_message,
    concat_errors,
    errors_frame,
)
from ..encoders._cells import missing_mask

__all__ = ["BaseModalityComposition", "as_frame", "select_columns"]


@estimator_parameters
class BaseModalityComposition(ErrorsTableMixin, _BaseComposition):
    """Nested ``get_params``/``set_params`` over a ``modalities`` list of triples.

    Parameters of a modality's estimator are addressed as ``<name>__<param>``,
    and a whole estimator can be replaced with ``set_params(<name>=...)``.
    Fitted fusion estimators keep the cells they found bad in ``errors_``.
    The ``modalities`` parameter, first and positional, is declared here for
    every fusion estimator.
    """

    _required_parameters = ["modalities"]

    modalities: list = field(kw_only=False)

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

    def _kept_modalities(self, frame, *, allow=("passthrough", "drop")):
        """Validate the triples; return those not ``"drop"``, ready to fit.

        Each estimator is a clone with the ``on_error`` policy applied, and
        each column spec is resolved against ``frame``.
        """
        kept = [
            (
                name,
                apply_on_error(_clone_estimator(estimator), self.on_error),
                resolve_columns(columns, frame),
            )
            for name, estimator, columns in self._check_modalities(allow=allow)
            if not (isinstance(estimator, str) and estimator == "drop")
        ]
        if not kept:
            raise ValueError(
                "every modality is 'drop'; at least one modality needs an "
                f"estimator, got modalities={self.modalities!r}"
            )
        return kept

    def _set_fitted_modalities(self, fitted):
        """Set ``modalities_`` and ``named_modalities_`` from fitted triples."""
        self.modalities_ = list(fitted)
        self.named_modalities_ = Bunch(
            **{name: estimator for name, estimator, _ in self.modalities_}
        )


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
        With unique column names (a ``ValueError`` otherwise).
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
    duplicated = frame.columns[frame.columns.duplicated()].unique().tolist()
    if duplicated:
        raise ValueError(
            f"X has several columns named {duplicated!r}; every column of X must "
            "have its own name, so that a column spec selects one column"
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
            raise ColumnNotFoundError(
                f"column {columns!r} is not in X; its columns are "
                f"{list(frame.columns)!r}"
            )
        return columns
    columns = list(columns)
    if columns and all(isinstance(c, bool | np.bool_) for c in columns):
        return list(frame.columns[np.asarray(columns, dtype=bool)])
    unknown = [c for c in columns if c not in frame.columns]
    if unknown:
        raise ColumnNotFoundError(
            f"columns {unknown!r} are not in X; its columns are {list(frame.columns)!r}"
        )
    return columns


def select_columns(frame, columns):
    """Select resolved ``columns`` from ``frame`` (a Series for a scalar spec)."""
    return frame[columns]


def modality_missing(frame, columns):
    """Mask of the rows where every cell of the modality's columns is missing."""
    return missing_mask(select_columns(frame, columns))


def checked_modality(frame, columns, estimator, on_error):
    """Select a modality's data and find its missing rows, checking text cells.

    When the modality's estimator is (or starts with) a text vectorizer such
    as ``TfidfVectorizer``, every present cell must be a str, or bytes in the
    vectorizer's encoding. A cell that is not raises a
    :class:`~mmensemble.CellDecodeError` naming its row and column, or, with
    ``on_error="missing"``, is treated as missing (one warning per call).

    Parameters
    ----------
    frame : DataFrame
    columns : scalar or list
        Resolved column spec.
    estimator : estimator or str
    on_error : {"raise", "missing"} or None
        None means "raise".

    Returns
    -------
    data : Series or DataFrame
        The modality's cells, with bad cells replaced by None.
    missing : ndarray of bool of shape (n_samples,)
    errors : DataFrame
        The bad cells treated as missing (``row``, ``column``, ``reason``).
    """
    data = select_columns(frame, columns)
    missing = missing_mask(data)
    vectorizer = _text_vectorizer(estimator)
    if vectorizer is None or not isinstance(data, pd.Series):
        return data, missing, errors_frame([])
    errors = []
    for position in np.flatnonzero(~missing):
        reason = _text_cell_problem(data.iat[position], vectorizer)
        if reason is not None:
            error = CellDecodeError(
                data.index[position], data.name, data.iat[position], reason
            )
            if on_error != "missing":
                raise error
            errors.append((position, error))
    if errors:
        data = data.copy()
        data.iloc[[position for position, _ in errors]] = None
        missing = missing.copy()
        missing[[position for position, _ in errors]] = True
        bad = [error for _, error in errors]
        warnings.warn(BadCellWarning(_bad_cells_message(bad), errors=bad), stacklevel=3)
    return data, missing, errors_frame(error for _, error in errors)


def _text_vectorizer(estimator):
    """The text vectorizer an estimator starts with, or None."""
    if hasattr(estimator, "steps"):
        return _text_vectorizer(estimator.steps[0][1])
    return estimator if hasattr(estimator, "build_analyzer") else None


def _text_cell_problem(cell, vectorizer):
    if isinstance(cell, str):
        return None
    if isinstance(cell, bytes):
        if vectorizer.decode_error != "strict":
            return None
        try:
            cell.decode(vectorizer.encoding)
        except UnicodeDecodeError as exc:
            return f"bytes that are not valid {vectorizer.encoding}: {exc}"
        return None
    return f"expected a text (str), got {type(cell).__name__}"


def apply_on_error(estimator, on_error):
    """Set ``on_error`` on an estimator and every nested estimator that has it."""
    if on_error is None or isinstance(estimator, str):
        return estimator
    names = [
        name
        for name in estimator.get_params(deep=True)
        if name == "on_error" or name.endswith("__on_error")
    ]
    return estimator.set_params(**dict.fromkeys(names, on_error))


def fitted_errors(estimator):
    """The ``errors_`` tables of a fitted estimator and of its nested estimators.

    A fusion estimator's own table already holds those of the encoders it
    fitted (clones, not its parameters), so nested tables are not counted
    twice.

    Parameters
    ----------
    estimator : estimator or str

    Returns
    -------
    errors : DataFrame
        Columns ``row``, ``column``, ``reason``.
    """
    if isinstance(estimator, str):
        return errors_frame([])
    candidates = [estimator]
    if hasattr(estimator, "get_params"):
        candidates.extend(
            value
            for value in estimator.get_params(deep=True).values()
            if hasattr(value, "get_params")
        )
    tables = {
        id(candidate): candidate.errors_
        for candidate in candidates
        if isinstance(getattr(candidate, "errors_", None), pd.DataFrame)
    }
    return concat_errors(tables.values())
