"""The per-modality plumbing every fusion family shares.

Early fusion, voting/stacking and the fusion network all take a modality's
cells, find the rows where it is present, fit its encoder on those rows and
encode them into a *block*: one row per input row, the encoded present rows in
place, zeros elsewhere, and a mask of the rows where the modality is missing
(missing cells, and cells the encoder could not decode). This module holds
those steps, once, and the block statistics the feature-level families scale
with.

- :func:`modality_rows` selects and checks a modality's cells;
- :func:`fit_encode` fits an encoder on the present rows and encodes them;
- :func:`encode` encodes with a fitted encoder, checking the block's width;
- :func:`check_weights` validates per-modality weights;
- :func:`block_statistics` and :func:`scale_block` centre and scale blocks.
"""

from numbers import Real

import numpy as np
import scipy.sparse as sp
from sklearn.pipeline import Pipeline

from ..encoders._base import BaseCellEncoder
from ._modality import checked_modality, fitted_errors

__all__ = [
    "block_statistics",
    "check_weights",
    "encode",
    "fit_encode",
    "leading_encoder",
    "modality_encoder",
    "modality_rows",
    "scale_block",
]


def modality_rows(name, frame, columns, estimator, on_error, *, fit):
    """Select a modality's cells and find the rows where it is missing.

    Parameters
    ----------
    name : str
        The modality's name, for messages.
    frame : DataFrame
        The input table.
    columns : scalar or list
        The modality's resolved column spec.
    estimator : estimator or str
        The modality's estimator (text cells are checked for text vectorizers).
    on_error : {"raise", "missing"} or None
        The fusion estimator's bad-cell policy.
    fit : bool
        Whether this is for fitting: a modality missing in every row is then
        an error.

    Returns
    -------
    data : Series or DataFrame
        The cells, bad text cells replaced by None.
    missing : ndarray of bool of shape (n_samples,)
    errors : DataFrame
        The bad cells treated as missing.
    """
    data, missing, errors = checked_modality(frame, columns, estimator, on_error)
    if fit:
        _check_present(name, missing)
    return data, missing, errors


def fit_encode(name, encoder, data, missing, y=None):
    """Fit ``encoder`` on the present rows and encode them into a block.

    Parameters
    ----------
    name : str
        The modality's name, for messages.
    encoder : estimator with fit_transform, or "passthrough"
        Fitted in place (pass a clone).
    data : Series or DataFrame
        The modality's cells, as returned by :func:`modality_rows`.
    missing : ndarray of bool of shape (n_samples,)
    y : ndarray of shape (n_samples,), default=None
        Passed to the encoder on the present rows.

    Returns
    -------
    block : ndarray or sparse matrix of shape (n_samples, width)
        The encoded present rows in place; zeros in the missing rows.
    missing : ndarray of bool of shape (n_samples,)
        ``missing``, plus the rows the encoder could not decode (all-NaN).
    errors : DataFrame
        The bad cells the encoder met (its ``errors_`` and its steps').
    """
    if isinstance(encoder, str):
        block = _passthrough(name, data)
        return block, missing | _all_nan_rows(block), fitted_errors(encoder)
    present = ~missing
    encoded = encoder.fit_transform(data[present], None if y is None else y[present])
    block = _place_rows(_as_matrix(encoded), present)
    missing = missing | _all_nan_rows(block)
    _check_present(name, missing)
    return block, missing, fitted_errors(encoder)


def encode(name, encoder, data, missing, width):
    """Encode a modality's present rows with its fitted encoder.

    Parameters
    ----------
    name : str
        The modality's name, for messages.
    encoder : fitted estimator with transform, or "passthrough"
    data : Series or DataFrame
        The modality's cells, as returned by :func:`modality_rows`.
    missing : ndarray of bool of shape (n_samples,)
    width : int
        The block's width during fit; another width is an error.

    Returns
    -------
    block, missing : ndarray or sparse matrix, ndarray of bool
        As :func:`fit_encode` returns them.
    """
    if isinstance(encoder, str):
        block = _passthrough(name, data)
    elif missing.all():
        block = np.zeros((len(missing), width))
    else:
        present = ~missing
        block = _place_rows(_as_matrix(encoder.transform(data[present])), present)
    if block.shape[1] != width:
        raise ValueError(
            f"the encoder of modality {name!r} returned {block.shape[1]} features, "
            f"but {width} during fit"
        )
    return block, missing | _all_nan_rows(block)


def leading_encoder(estimator):
    """The cell encoder a modality's pipeline starts with, or None.

    Parameters
    ----------
    estimator : estimator or str
        A modality's estimator.

    Returns
    -------
    encoder : BaseCellEncoder or None
        The first step of a pipeline of two or more steps, when it is a cell
        encoder.
    """
    if isinstance(estimator, Pipeline) and len(estimator.steps) > 1:
        first = estimator.steps[0][1]
        if isinstance(first, BaseCellEncoder):
            return first
    return None


def modality_encoder(model):
    """The cell encoder a modality's model is, or starts with, or None.

    Parameters
    ----------
    model : estimator, str or None
        A modality's model (a fitted automatic fusion's ``modalities_`` hold
        the encoder itself, or None).

    Returns
    -------
    encoder : BaseCellEncoder or None
    """
    if isinstance(model, BaseCellEncoder):
        return model
    return leading_encoder(model)


def check_weights(weights, names, kept):
    """Validate per-modality weights and return those of the kept modalities.

    Parameters
    ----------
    weights : dict of str to float, sequence of float, or None
        By modality name (unlisted ones get 1), or one per modality in the
        order of ``names``; None weighs every modality 1.
    names : list of str
        Every modality's name, in the order of the ``modalities`` parameter.
    kept : list of str
        The modalities that are not ``"drop"``.

    Returns
    -------
    weights : dict of str to float
        The weight of each kept modality.
    """
    if weights is None:
        return dict.fromkeys(kept, 1.0)
    if isinstance(weights, dict):
        unknown = sorted(set(weights) - set(names), key=str)
        if unknown:
            raise ValueError(
                f"weights has keys {unknown!r} that are not modality names; the "
                f"modalities are {names!r}"
            )
        given = {name: weights.get(name, 1.0) for name in kept}
    else:
        values = list(weights)
        if len(values) != len(names):
            raise ValueError(
                f"weights must have one entry per modality ({len(names)}), got "
                f"{len(values)}: weights={weights!r}"
            )
        given = {name: dict(zip(names, values, strict=True))[name] for name in kept}
    for name, weight in given.items():
        if not isinstance(weight, Real) or not weight >= 0:
            raise ValueError(
                f"weights[{name!r}] must be a non-negative number, got {weight!r}"
            )
    return {name: float(weight) for name, weight in given.items()}


def block_statistics(present_rows, block_scaling):
    """Mean (dense only) and scale making a block's total variance one.

    Parameters
    ----------
    present_rows : ndarray or sparse matrix
        The block's rows where the modality is present.
    block_scaling : {"variance"} or None
        None returns no mean and a scale of one.

    Returns
    -------
    mean : ndarray or None
    scale : float
    """
    if block_scaling is None or present_rows.shape[0] == 0:
        return None, 1.0
    if sp.issparse(present_rows):
        mean_squared_norm = (
            present_rows.multiply(present_rows).sum() / present_rows.shape[0]
        )
        return None, _inverse_root(mean_squared_norm)
    mean = np.nanmean(present_rows, axis=0) if present_rows.size else None
    mean = np.nan_to_num(mean)
    total_variance = np.nansum((present_rows - mean) ** 2) / present_rows.shape[0]
    return mean, _inverse_root(total_variance)


def scale_block(block, missing, mean, scale):
    """Centre and scale a block; missing rows become zeros (sparse: scaled only).

    Parameters
    ----------
    block : ndarray or sparse matrix
    missing : ndarray of bool of shape (n_samples,)
    mean : ndarray or None
    scale : float or ndarray

    Returns
    -------
    scaled : ndarray of float or CSR matrix
    """
    if sp.issparse(block):
        return (block * scale).tocsr()
    block = block.astype(np.float64) if block.dtype.kind != "f" else block
    out = (block - mean) * scale if mean is not None else block * scale
    out[missing] = 0.0
    return out


def _check_present(name, missing):
    if missing.all():
        raise ValueError(
            f"modality {name!r} is missing in every row of X (or none of its "
            "cells could be decoded); it cannot be fitted"
        )


def _inverse_root(value):
    return 1.0 / np.sqrt(value) if value > 0 and np.isfinite(value) else 1.0


def _passthrough(name, data):
    values = data.to_frame() if data.ndim == 1 else data
    try:
        return values.to_numpy(dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"modality {name!r} is 'passthrough' but its columns "
            f"{list(values.columns)!r} are not all numeric ({exc}); give it an "
            "encoder"
        ) from exc


def _as_matrix(encoded):
    if sp.issparse(encoded):
        return encoded.tocsr()
    return np.asarray(encoded)


def _place_rows(encoded, present):
    """Put the encoded present rows at their positions; missing rows are zero."""
    n_rows = len(present)
    if sp.issparse(encoded):
        positions = np.flatnonzero(present)
        spread = sp.csr_matrix(
            (np.ones(len(positions)), (positions, np.arange(len(positions)))),
            shape=(n_rows, len(positions)),
        )
        return (spread @ encoded).tocsr()
    block = np.zeros((n_rows, encoded.shape[1]), dtype=encoded.dtype)
    block[present] = encoded
    return block


def _all_nan_rows(block):
    if sp.issparse(block) or block.shape[1] == 0 or block.dtype.kind != "f":
        return np.zeros(block.shape[0], dtype=bool)
    return np.isnan(block).all(axis=1)
