"""Feature-level (early) fusion of modality blocks."""

from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from joblib import Parallel, delayed
from sklearn.base import TransformerMixin
from sklearn.utils import Bunch
from sklearn.utils.validation import (
    check_consistent_length,
    check_is_fitted,
    validate_data,
)

from .._compat import Interval, StrOptions
from ..encoders._base import concat_errors
from ._modality import (
    BaseModalityComposition,
    apply_on_error,
    as_frame,
    checked_modality,
    fitted_errors,
    resolve_columns,
)

__all__ = ["FeatureFusion"]


class FeatureFusion(TransformerMixin, BaseModalityComposition):
    """Concatenate per-modality feature blocks into one matrix (early fusion).

    Each modality is a ``(name, encoder, columns)`` triple, as in
    :class:`~sklearn.compose.ColumnTransformer`. Beyond concatenating the
    encoders' outputs, ``FeatureFusion``

    - scales each block so that it carries the same total variance, so a
      1280-d CNN block does not drown a 40-d MFCC block (``block_scaling``);
    - multiplies each block by a weight that grid search can tune (``weights``);
    - handles rows where a modality is missing: the encoder never sees those
      cells, the block is filled with zeros (the block mean once scaled), and a
      0/1 indicator column flags the row (``add_indicator``);
    - keeps sparse output (TF-IDF) sparse when the overall density allows it.

    Parameters
    ----------
    modalities : list of (str, estimator or {"passthrough", "drop"}, columns)
        The modality blocks. ``columns`` is a column name (the encoder receives a
        1-D Series, as ``TfidfVectorizer`` expects), a list of names, a slice, a
        boolean mask or a callable such as
        :func:`~sklearn.compose.make_column_selector`. ``"passthrough"`` takes
        numeric columns as they are; ``"drop"`` leaves the modality out.
        A row is missing for a modality when all of the modality's cells are
        missing (None, NaN, ``pd.NA``); an encoder output row that is all NaN
        (a cell the encoder could not decode under ``on_error="missing"``)
        counts as missing too.

    block_scaling : {"variance"} or None, default="variance"
        ``"variance"`` centres each dense block and divides it by the square
        root of its total variance (the mean squared distance of the rows to
        their mean), both learnt on the rows where the modality is present. A
        sparse block is not centred (that would densify it); it is divided by the
        root mean squared norm of its rows. ``None`` leaves the blocks as the
        encoders return them.

    weights : dict of str to float, default=None
        Multiplier of each block after scaling, by modality name; modalities not
        listed get 1. Tunable by grid search, e.g.
        ``{"weights": [{"image": 1, "audio": 2}, {"image": 2, "audio": 1}]}``.

    add_indicator : bool, default=True
        Append a 0/1 column ``<name>__missing`` for every modality that had
        missing rows during ``fit`` (as :class:`~sklearn.impute.SimpleImputer`
        does for features). Rows missing at ``transform`` in a modality that was
        complete during ``fit`` are still zero-filled.

    sparse_threshold : float, default=0.3
        If some block is sparse and the overall density of the output is below
        this value, the output is a sparse CSR matrix; otherwise it is dense.

    on_error : {"raise", "missing"}, default=None
        Policy for cells that cannot be decoded, applied to every encoder that
        has an ``on_error`` parameter (overriding its own) and to the cells of
        text modalities (a text vectorizer, alone or first in a pipeline,
        needs str cells or bytes in its encoding): ``"raise"`` raises a
        :class:`~mmensemble.CellDecodeError` naming the row and column,
        ``"missing"`` treats the cell as a missing modality (with one warning
        listing the rows). None keeps each encoder's own setting and raises on
        bad text cells.

    n_jobs : int, default=None
        Number of jobs fitting the modalities' encoders in parallel (joblib).

    Attributes
    ----------
    modalities_ : list of (str, estimator or "passthrough", columns)
        The fitted encoders and their resolved columns (dropped ones excluded).

    named_modalities_ : Bunch
        The fitted encoders by name.

    output_indices_ : dict of str to slice
        The output columns of each modality's block.

    block_means_ : dict of str to ndarray or None
        The mean subtracted from each block (None for sparse or unscaled ones).

    block_scales_ : dict of str to float
        The factor each block is multiplied by (scaling times weight).

    missing_modalities_ : list of str
        Modalities that get a missing-indicator column.

    errors_ : DataFrame
        The cells found bad during ``fit`` and treated as missing, one line
        each: ``row`` (index label), ``column``, ``reason``. Empty when every
        cell could be decoded.

    n_features_in_ : int
        Number of columns seen during fit.

    feature_names_in_ : ndarray of shape (n_features_in_,)
        Column names seen during fit, when they are all strings.

    See Also
    --------
    sklearn.compose.ColumnTransformer : Concatenates per-column transformers,
        without scaling, weights or missing-modality handling.
    ModalityVotingClassifier : Fuses the modalities at the model level.

    Examples
    --------
    >>> import pandas as pd
    >>> from sklearn.feature_extraction.text import TfidfVectorizer
    >>> from mmensemble import FeatureFusion
    >>> X = pd.DataFrame({"text": ["a red cat", None, "a blue dog"],
    ...                   "size": [1.0, 2.0, 3.0]})
    >>> fusion = FeatureFusion([("text", TfidfVectorizer(), "text"),
    ...                         ("size", "passthrough", ["size"])])
    >>> fusion.fit_transform(X).shape
    (3, 6)
    >>> fusion.get_feature_names_out()[-2:].tolist()
    ['size__size', 'text__missing']
    """

    _parameter_constraints: dict = {
        "modalities": [list],
        "block_scaling": [StrOptions({"variance"}), None],
        "weights": [dict, None],
        "add_indicator": ["boolean"],
        "sparse_threshold": [Interval(Real, 0, 1, closed="both")],
        "on_error": [StrOptions({"raise", "missing"}), None],
        "n_jobs": [Integral, None],
    }

    def __init__(
        self,
        modalities,
        *,
        block_scaling="variance",
        weights=None,
        add_indicator=True,
        sparse_threshold=0.3,
        on_error=None,
        n_jobs=None,
    ):
        self.modalities = modalities
        self.block_scaling = block_scaling
        self.weights = weights
        self.add_indicator = add_indicator
        self.sparse_threshold = sparse_threshold
        self.on_error = on_error
        self.n_jobs = n_jobs

    def fit(self, X, y=None):
        """Fit every modality's encoder on the rows where it is present.

        Parameters
        ----------
        X : DataFrame, dict of columns or 2-D array-like
            The input table.
        y : array-like of shape (n_samples,), default=None
            Passed to encoders that use it (on the rows they see).

        Returns
        -------
        self : object
            The fitted transformer.
        """
        self.fit_transform(X, y)
        return self

    def fit_transform(self, X, y=None):
        """Fit the encoders and return the fused matrix, encoding each row once.

        Parameters
        ----------
        X : DataFrame, dict of columns or 2-D array-like
            The input table.
        y : array-like of shape (n_samples,), default=None
            Passed to encoders that use it (on the rows they see).

        Returns
        -------
        X_out : ndarray or sparse matrix of shape (n_samples, n_features_out)
            The scaled, weighted blocks followed by the missing indicators.
        """
        self._validate_params()
        triples = self._check_modalities()
        frame = as_frame(X)
        validate_data(self, frame, reset=True, skip_check_array=True)
        weights = self._check_weights(triples)
        if y is not None:
            y = np.asarray(y)
            check_consistent_length(frame, y)
        active = [
            (
                name,
                apply_on_error(self._clone_estimator(est), self.on_error),
                resolve_columns(cols, frame),
            )
            for name, est, cols in triples
            if not (isinstance(est, str) and est == "drop")
        ]
        fitted_blocks = Parallel(n_jobs=self.n_jobs)(
            delayed(_fit_encode_block)(name, est, frame, cols, y, self.on_error)
            for name, est, cols in active
        )
        self.errors_ = concat_errors(errors for *_, errors in fitted_blocks)
        results = [result for *result, _ in fitted_blocks]
        self.modalities_ = [
            (name, fitted, cols)
            for (name, _, cols), (fitted, _, _) in zip(active, results, strict=True)
        ]
        self.named_modalities_ = Bunch(
            **{name: est for name, est, _ in self.modalities_}
        )
        self.block_means_, self.block_scales_ = {}, {}
        self.missing_modalities_ = []
        for (name, _, _), (_, block, missing) in zip(active, results, strict=True):
            mean, scale = _block_statistics(block[~missing], self.block_scaling)
            self.block_means_[name] = mean
            self.block_scales_[name] = scale * weights.get(name, 1.0)
            if self.add_indicator and missing.any():
                self.missing_modalities_.append(name)
        self._block_widths = {
            name: block.shape[1]
            for (name, _, _), (_, block, _) in zip(active, results, strict=True)
        }
        self.output_indices_ = self._output_indices()
        return self._assemble([(block, missing) for _, block, missing in results])

    def transform(self, X):
        """Encode every modality and return the fused matrix.

        Parameters
        ----------
        X : DataFrame, dict of columns or 2-D array-like
            The input table, with the columns seen during ``fit``.

        Returns
        -------
        X_out : ndarray or sparse matrix of shape (n_samples, n_features_out)
            The scaled, weighted blocks followed by the missing indicators.
        """
        check_is_fitted(self, "modalities_")
        frame = as_frame(X)
        validate_data(self, frame, reset=False, skip_check_array=True)
        blocks = Parallel(n_jobs=self.n_jobs)(
            delayed(_encode_block)(name, est, frame, cols, self.on_error)
            for name, est, cols in self.modalities_
        )
        return self._assemble(blocks)

    def get_feature_names_out(self, input_features=None):
        """Get the output feature names, ``<modality>__<feature>``.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Ignored; the names come from each modality's encoder.

        Returns
        -------
        feature_names_out : ndarray of str objects
        """
        check_is_fitted(self, "modalities_")
        names = []
        for name, est, cols in self.modalities_:
            if isinstance(est, str):
                inner = [cols] if np.isscalar(cols) else list(cols)
            elif hasattr(est, "get_feature_names_out"):
                inner = list(est.get_feature_names_out())
            else:
                inner = [f"x{i}" for i in range(self._block_widths[name])]
            names.extend(f"{name}__{feature}" for feature in inner)
        names.extend(f"{name}__missing" for name in self.missing_modalities_)
        return np.asarray(names, dtype=object)

    def _check_weights(self, triples):
        weights = dict(self.weights or {})
        names = {name for name, _, _ in triples}
        unknown = sorted(set(weights) - names, key=str)
        if unknown:
            raise ValueError(
                f"weights has keys {unknown!r} that are not modality names; the "
                f"modalities are {sorted(names, key=str)!r}"
            )
        for name, weight in weights.items():
            if not isinstance(weight, Real) or weight < 0:
                raise ValueError(
                    f"weights[{name!r}] must be a non-negative number, got {weight!r}"
                )
        return weights

    def _output_indices(self):
        indices, start = {}, 0
        for name, _, _ in self.modalities_:
            width = self._block_widths[name]
            indices[name] = slice(start, start + width)
            start += width
        for name in self.missing_modalities_:
            indices[f"{name}__missing"] = slice(start, start + 1)
            start += 1
        return indices

    def _assemble(self, blocks):
        """Scale, weight and stack the blocks, then append the indicators."""
        parts, indicators = [], []
        for (name, _, _), (block, missing) in zip(
            self.modalities_, blocks, strict=True
        ):
            if block.shape[1] != self._block_widths[name]:
                raise ValueError(
                    f"the encoder of modality {name!r} returned {block.shape[1]} "
                    f"features, but {self._block_widths[name]} during fit"
                )
            parts.append(
                _scale_block(
                    block, missing, self.block_means_[name], self.block_scales_[name]
                )
            )
            if name in self.missing_modalities_:
                indicators.append(missing.astype(np.float64)[:, np.newaxis])
        parts.extend(indicators)
        if any(sp.issparse(part) for part in parts):
            total = sum(part.shape[1] for part in parts) * parts[0].shape[0]
            nonzero = sum(
                part.nnz if sp.issparse(part) else np.count_nonzero(part)
                for part in parts
            )
            if total and nonzero / total < self.sparse_threshold:
                return sp.hstack(parts, format="csr")
            parts = [part.toarray() if sp.issparse(part) else part for part in parts]
        return np.hstack(parts)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.allow_nan = True
        return tags


def _fit_encode_block(name, estimator, frame, columns, y, on_error=None):
    """Fit one modality's encoder on its present rows and encode all rows.

    Returns the fitted encoder, the block, the rows where the modality is
    missing (missing cells, and cells found bad under ``on_error="missing"``)
    and the table of those bad cells.
    """
    data, missing, errors = checked_modality(frame, columns, estimator, on_error)
    present = ~missing
    if not present.any():
        raise ValueError(
            f"modality {name!r} is missing in every row of X; it cannot be fitted"
        )
    if isinstance(estimator, str):
        block = _passthrough(name, data)
    else:
        encoded = estimator.fit_transform(
            data[present], None if y is None else y[present]
        )
        block = _place_rows(_as_matrix(encoded), present)
        errors = concat_errors([errors, fitted_errors(estimator)])
    return estimator, block, missing | _all_nan_rows(block), errors


def _encode_block(name, estimator, frame, columns, on_error=None):
    """Encode all present rows of one modality with its fitted encoder."""
    data, missing, _ = checked_modality(frame, columns, estimator, on_error)
    if isinstance(estimator, str):
        block = _passthrough(name, data)
    elif missing.all():
        block = np.zeros((len(missing), len(estimator.get_feature_names_out())))
    else:
        present = ~missing
        block = _place_rows(_as_matrix(estimator.transform(data[present])), present)
    return block, missing | _all_nan_rows(block)


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


def _block_statistics(present_rows, block_scaling):
    """Mean (dense only) and scale making the block's total variance one."""
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


def _inverse_root(value):
    return 1.0 / np.sqrt(value) if value > 0 and np.isfinite(value) else 1.0


def _scale_block(block, missing, mean, scale):
    if sp.issparse(block):
        return (block * scale).tocsr()
    block = block.astype(np.float64) if block.dtype.kind != "f" else block
    out = (block - mean) * scale if mean is not None else block * scale
    out[missing] = 0.0
    return out
