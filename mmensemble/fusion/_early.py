"""Feature-level (early) fusion of modality blocks."""

from numbers import Integral, Real
from typing import ClassVar

import numpy as np
import scipy.sparse as sp
from sklearn.base import TransformerMixin
from sklearn.utils.validation import (
    check_consistent_length,
    check_is_fitted,
    validate_data,
)

from .._compat import Interval, StrOptions
from .._docstrings import fill_doc
from .._parallel import Parallel, delayed
from .._parameters import estimator_parameters
from ..encoders._base import concat_errors
from ._docs import MODEL_FUSION_DOCS
from ._modality import BaseModalityComposition, as_frame
from ._plumbing import (
    block_statistics,
    check_weights,
    encode,
    fit_encode,
    modality_rows,
    scale_block,
)

__all__ = ["FeatureFusion"]

_EARLY_DOCS = {
    **MODEL_FUSION_DOCS,
    # The Parameters section of fit and fit_transform.
    "fit_parameters": MODEL_FUSION_DOCS["parameters_X"]
    + """
        y : array-like of shape (n_samples,), default=None
            Passed to encoders that use it (on the rows they see).""",
}


@estimator_parameters
@fill_doc(MODEL_FUSION_DOCS)
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

    %(on_error)s

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

    _parameter_constraints: ClassVar[dict] = {
        "modalities": [list],
        "block_scaling": [StrOptions({"variance"}), None],
        "weights": [dict, None],
        "add_indicator": ["boolean"],
        "sparse_threshold": [Interval(Real, 0, 1, closed="both")],
        "on_error": [StrOptions({"raise", "missing"}), None],
        "n_jobs": [Integral, None],
    }

    block_scaling: str | None = "variance"
    weights: object = None
    add_indicator: bool = True
    sparse_threshold: float = 0.3
    on_error: str | None = None
    n_jobs: int | None = None

    @fill_doc(_EARLY_DOCS)
    def fit(self, X, y=None):
        """Fit every modality's encoder on the rows where it is present.

        %(fit_parameters)s

        Returns
        -------
        self : object
            The fitted transformer.
        """
        self.fit_transform(X, y)
        return self

    @fill_doc(_EARLY_DOCS)
    def fit_transform(self, X, y=None):
        """Fit the encoders and return the fused matrix, encoding each row once.

        %(fit_parameters)s

        Returns
        -------
        X_out : ndarray or sparse matrix of shape (n_samples, n_features_out)
            The scaled, weighted blocks followed by the missing indicators.
        """
        self._validate_params()
        frame = as_frame(X)
        validate_data(self, frame, reset=True, skip_check_array=True)
        if y is not None:
            y = np.asarray(y)
            check_consistent_length(frame, y)
        kept = self._kept_modalities(frame)
        weights = check_weights(
            self.weights,
            [name for name, _, _ in self.modalities],
            [name for name, _, _ in kept],
        )
        fitted_blocks = Parallel(n_jobs=self.n_jobs)(
            delayed(_fit_encode_block)(name, est, frame, cols, y, self.on_error)
            for name, est, cols in kept
        )
        self._set_fitted_modalities(
            (name, fitted, cols)
            for (name, _, cols), (fitted, *_) in zip(kept, fitted_blocks, strict=True)
        )
        self.errors_ = concat_errors(errors for *_, errors in fitted_blocks)
        self.block_means_, self.block_scales_ = {}, {}
        self.missing_modalities_ = []
        self._block_widths = {}
        blocks = []
        for (name, _, _), (_, block, missing, _) in zip(
            kept, fitted_blocks, strict=True
        ):
            mean, scale = block_statistics(block[~missing], self.block_scaling)
            self.block_means_[name] = mean
            self.block_scales_[name] = scale * weights[name]
            self._block_widths[name] = block.shape[1]
            if self.add_indicator and missing.any():
                self.missing_modalities_.append(name)
            blocks.append((block, missing))
        self.output_indices_ = self._output_indices()
        return self._assemble(blocks)

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
            delayed(_encode_block)(
                name, est, frame, cols, self.on_error, self._block_widths[name]
            )
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
            parts.append(
                scale_block(
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


def _fit_encode_block(name, estimator, frame, columns, y, on_error):
    """Fit one modality's encoder on its present rows and encode all rows.

    Returns the fitted encoder, the block, the rows where the modality is
    missing (missing cells, and cells found bad under ``on_error="missing"``)
    and the table of those bad cells.
    """
    data, missing, bad_cells = modality_rows(
        name, frame, columns, estimator, on_error, fit=True
    )
    block, missing, errors = fit_encode(name, estimator, data, missing, y)
    return estimator, block, missing, concat_errors([bad_cells, errors])


def _encode_block(name, estimator, frame, columns, on_error, width):
    """Encode all present rows of one modality with its fitted encoder."""
    data, missing, _ = modality_rows(
        name, frame, columns, estimator, on_error, fit=False
    )
    return encode(name, estimator, data, missing, width)
