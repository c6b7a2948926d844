"""Cells: the contents of one modality column, and what counts as missing.

A *cell* is one entry of a modality column: an image path, raw bytes, an array,
a ``(waveform, sr)`` tuple, a string... A cell is *missing* when it is ``None``,
a float NaN, ``pd.NA`` or ``pd.NaT``. Nothing else is missing: an empty string is
a real (empty) text, an all-zero array a real (silent or black) signal.
"""

import os

import numpy as np
import pandas as pd

__all__ = ["as_cell_series", "check_file", "missing_mask"]


def as_cell_series(X, *, default_name="column 0"):
    """Turn one column of cells into a ``pd.Series`` of Python objects.

    Parameters
    ----------
    X : Series, single-column DataFrame, list, tuple or ndarray
        The cells. A 1-D array or list holds one cell per entry. A numeric array
        with two or more dimensions is a stack of cells, one per row (``N x H x W``
        images, ``N x T`` waveforms); an ``(n, 1)`` object array is a column.
    default_name : str, default="column 0"
        The column name used in messages when ``X`` has none.

    Returns
    -------
    cells : pd.Series of dtype object
        The cells, with ``X``'s index (or a range index) and name.
    """
    if isinstance(X, pd.DataFrame):
        if X.shape[1] != 1:
            raise ValueError(
                f"expected a single column of cells, got a DataFrame with "
                f"{X.shape[1]} columns {list(X.columns)!r}; give the encoder one "
                "column (a str in the fusion estimator's column spec)"
            )
        X = X.iloc[:, 0]
    if isinstance(X, pd.Series):
        name = default_name if X.name is None else X.name
        return pd.Series(
            _object_array(X.tolist()), index=X.index, name=name, dtype=object
        )
    if isinstance(X, np.ndarray) and X.ndim == 2 and X.shape[1] == 1:
        if X.dtype == object:
            X = X[:, 0]
    if isinstance(X, np.ndarray) and X.ndim == 0:
        raise ValueError(f"expected a column of cells, got a scalar {X!r}")
    if isinstance(X, str) or not hasattr(X, "__len__"):
        raise ValueError(
            f"expected a column of cells (Series, list or array), got {X!r}"
        )
    return pd.Series(_object_array(list(X)), name=default_name, dtype=object)


def _object_array(items):
    """Return a 1-D object array holding ``items`` without broadcasting them."""
    values = np.empty(len(items), dtype=object)
    for position, item in enumerate(items):
        values[position] = item
    return values


def missing_mask(X):
    """Return a boolean mask of the rows whose cells are all missing.

    Parameters
    ----------
    X : Series, DataFrame or ndarray
        One column of cells, or several columns of one modality (a row is
        missing when every one of its cells is).

    Returns
    -------
    mask : ndarray of bool of shape (n_samples,)
    """
    if isinstance(X, pd.Series):
        return pd.isna(X).to_numpy(dtype=bool)
    if isinstance(X, pd.DataFrame):
        if X.shape[1] == 0:
            return np.zeros(X.shape[0], dtype=bool)
        return X.isna().all(axis=1).to_numpy(dtype=bool)
    values = np.asarray(X, dtype=object) if not isinstance(X, np.ndarray) else X
    if values.ndim == 1:
        return np.asarray(pd.isna(pd.Series(values, dtype=object)), dtype=bool)
    return missing_mask(pd.DataFrame(values.reshape(values.shape[0], -1)))


def check_file(path, kind):
    """Return ``path`` if it names an existing file, or say what it names.

    Parameters
    ----------
    path : str
        A path cell.
    kind : str
        What the file should hold, for messages (``"audio"``, ``"video"``).

    Returns
    -------
    path : str
        The path, unchanged.

    Raises
    ------
    IsADirectoryError
        The path is a directory.
    FileNotFoundError
        Nothing exists at the path.
    """
    if os.path.isdir(path):
        raise IsADirectoryError(f"{path!r} is a directory, not a file")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no such {kind} file: {path!r}")
    return path
