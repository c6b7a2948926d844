"""What model-level fusion (voting, stacking) shares.

One base model per modality, fitted only on the rows where its modality is
present; per-modality predictions (in-sample or out-of-fold) laid out over all
rows, with the rows where the modality is missing flagged rather than filled
with made-up numbers.

A modality whose estimator is a pipeline starting with a cell encoder
(``make_pipeline(ImageEncoder(), LogisticRegression())``) is encoded once per
call, by that encoder alone; the rest of the pipeline is fitted, cross-validated
and applied on the encoded rows. A cell the encoder could not decode (an
all-NaN output row under ``on_error="missing"``) is then a missing modality for
that row, exactly like a missing cell, instead of a NaN row that the model
after the encoder could not take.
"""

from numbers import Integral
from typing import ClassVar

import numpy as np
from sklearn.base import TransformerMixin, clone, is_classifier
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import Bunch, get_tags
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import (
    check_array,
    check_consistent_length,
    check_is_fitted,
    column_or_1d,
)

from .._compat import StrOptions, _check_feature_names_in, _enforce_prediction_order
from .._parallel import Parallel, delayed
from ..encoders._base import concat_errors
from ._folds import checked_cv
from ._modality import BaseModalityComposition, fitted_errors
from ._plumbing import encode, fit_encode, leading_encoder, modality_rows
from ._shared_fits import fit_shared

__all__ = []

_CLASS_SCORES = ("predict_proba", "decision_function")


class _BaseModelFusion(TransformerMixin, BaseModalityComposition):
    """One estimator per modality, each fitted on the rows where it is present.

    Fitting sets ``modalities_`` (name, fitted estimator, resolved columns) of
    the modalities that are not ``"drop"``, ``estimators_`` and
    ``named_estimators_`` (with ``"drop"`` placeholders, as in sklearn), and
    ``errors_``, the cells found bad under ``on_error="missing"``.

    ``transform`` gives the modalities' outputs (voting) or the meta-features
    (stacking); subclasses say how many columns each kept modality has there
    (``_output_widths``) and which columns follow (``_extra_feature_names``).
    """

    _parameter_constraints: ClassVar[dict] = {
        "modalities": [list],
        "on_error": [StrOptions({"raise", "missing"}), None],
        "n_jobs": [None, Integral],
    }

    def _fit_modalities(self, frame, y):
        """Fit a clone of every kept modality's estimator on its present rows.

        Returns the kept triples (their estimators are the clones), each
        modality's data (Series or DataFrame of cells, or the encoded rows of
        a pipeline that starts with a cell encoder) and the (n_samples,
        n_modalities) boolean matrix of present cells. Sets ``errors_``.
        """
        kept = self._kept_modalities(frame, allow=("drop",))
        data, present, errors = self._modality_data(frame, kept, fit=True)
        if is_classifier(self):
            self._seen_classes = [np.unique(y[column]) for column in present.T]
        fitted = Parallel(n_jobs=self.n_jobs)(
            delayed(_fit_present)(_downstream(estimator), cells, y, column)
            for (_, estimator, _), cells, column in zip(
                kept, data, present.T, strict=True
            )
        )
        self.errors_ = concat_errors(
            [errors, *(fitted_errors(estimator) for estimator in fitted)]
        )
        self._set_fitted_modalities(
            (name, _rejoin(estimator, downstream), columns)
            for (name, estimator, columns), downstream in zip(kept, fitted, strict=True)
        )
        self.estimators_ = [estimator for _, estimator, _ in self.modalities_]
        self.named_estimators_ = Bunch(
            **{
                name: self.named_modalities_.get(name, "drop")
                for name, _, _ in self.modalities
            }
        )
        return kept, data, present

    def _cross_val_predict(self, active, data, y, present, methods):
        """Out-of-fold outputs of every modality, NaN in its missing rows.

        The folds are drawn once over all rows, as ``cross_val_predict`` would
        draw them; each modality then uses the present rows of every fold.
        """
        cv = checked_cv(
            self.cv,
            y,
            classifier=is_classifier(self),
            owner=type(self).__name__,
            classes=getattr(self, "classes_", None),
        )
        splits = list(cv.split(np.zeros((len(y), 1)), y))
        outputs = Parallel(n_jobs=self.n_jobs)(
            delayed(_cross_val_predict_present)(
                clone(_downstream(estimator)),
                cells,
                y,
                column,
                splits,
                method,
                n_jobs=self.n_jobs,
                verbose=getattr(self, "verbose", 0),
            )
            for (_, estimator, _), cells, column, method in zip(
                active, data, present.T, methods, strict=True
            )
        )
        return [
            self._all_class_columns(index, output, method)
            for index, (output, method) in enumerate(zip(outputs, methods, strict=True))
        ]

    def _modality_outputs(self, frame, methods, tails):
        """In-sample outputs of every fitted modality on ``frame``.

        ``tails`` gives the shape of one row of each modality's output, used
        when no row of ``frame`` has the modality. Returns the outputs (float
        arrays, NaN in missing rows) and the (n_samples, n_modalities) boolean
        matrix of present cells.
        """
        data, present, _ = self._modality_data(frame, self.modalities_, fit=False)
        outputs = []
        for index, ((_, estimator, _), cells, column, method, tail) in enumerate(
            zip(self.modalities_, data, present.T, methods, tails, strict=True)
        ):
            if not column.any():
                outputs.append(np.full((len(column), *tail), np.nan))
                continue
            output = _predict_present(_downstream(estimator), cells, column, method)
            outputs.append(self._all_class_columns(index, output, method))
        return outputs, present

    def _modality_data(self, frame, triples, *, fit):
        """Each modality's model input and the matrix of rows where it is present.

        Text cells of a text-vectorizer modality are checked, and the leading
        cell encoder of a pipeline encodes its present cells (fitted first
        when ``fit``); cells found bad under ``on_error="missing"`` become
        missing. Returns the inputs, the (n_samples, n_modalities) boolean
        matrix of present cells and the table of bad cells.
        """
        data, present, errors = [], [], []
        for name, estimator, columns in triples:
            cells, missing, bad_cells = modality_rows(
                name, frame, columns, estimator, self.on_error, fit=fit
            )
            errors.append(bad_cells)
            encoder = leading_encoder(estimator)
            if encoder is not None and fit:
                cells, missing, encoder_errors = fit_encode(
                    name, encoder, cells, missing
                )
                errors.append(encoder_errors)
            elif encoder is not None:
                cells, missing = encode(
                    name, encoder, cells, missing, encoder.n_features_out_
                )
            data.append(cells)
            present.append(~missing)
        return data, np.column_stack(present), concat_errors(errors)

    def _all_class_columns(self, index, output, method):
        """Give class scores a column for every class, not only those seen.

        A modality present only in rows of some classes is fitted on those
        classes; its probability for the others is zero.
        """
        if not is_classifier(self) or method not in _CLASS_SCORES:
            return output
        seen = self._seen_classes[index]
        if len(seen) == len(self.classes_):
            return output
        name = self.modalities_[index][0]
        if method != "predict_proba":
            unseen = np.setdiff1d(np.arange(len(self.classes_)), seen)
            raise ValueError(
                f"modality {name!r} is present only in rows of the classes "
                f"{self.classes_[seen].tolist()!r}, so its {method} has no column "
                f"for the classes {self.classes_[unseen].tolist()!r}; use "
                "predict_proba for this modality"
            )
        aligned = np.zeros((output.shape[0], len(self.classes_)))
        aligned[:, seen] = output
        aligned[np.isnan(output[:, 0])] = np.nan
        return aligned

    def _encode_classes(self, y):
        """Check a binary or multiclass target and encode it as 0..n_classes-1."""
        y_type = type_of_target(y, input_name="y")
        if y_type in ("unknown", "continuous"):
            raise ValueError(
                f"Unknown label type: {y_type!r}. {type(self).__name__} is a "
                "classifier and expects discrete classes, not a regression target "
                "with continuous values."
            )
        if y_type not in ("binary", "multiclass"):
            raise ValueError(
                f"{type(self).__name__} supports binary or multiclass targets, got "
                f"a {y_type!r} target"
            )
        self.le_ = LabelEncoder().fit(y)
        self.classes_ = self.le_.classes_
        encoded = self.le_.transform(y)
        self.class_prior_ = np.bincount(encoded) / len(encoded)
        return encoded

    def _check_regression_target(self, y):
        y = check_array(
            column_or_1d(y, warn=True),
            ensure_2d=False,
            dtype="numeric",
            input_name="y",
            estimator=self,
        )
        self.target_mean_ = float(np.mean(y))
        return y

    def _check_target(self, frame, y):
        check_consistent_length(frame, y)
        if is_classifier(self):
            return self._encode_classes(y)
        return self._check_regression_target(y)

    def get_feature_names_out(self, input_features=None):
        """Get the output feature names of :meth:`transform`.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Only checked against the columns seen during ``fit``.

        Returns
        -------
        feature_names_out : ndarray of str objects
            ``<classname>_<modality>`` for a kept modality with one output
            column (a prediction, a label, a stacked binary probability), or
            ``<classname>_<modality><i>`` for each column ``i`` of one with
            several (a probability per class); stacking then names each
            missing indicator ``<modality>__missing``, then the passthrough
            columns.
        """
        check_is_fitted(self, "modalities_")
        _check_feature_names_in(self, input_features, generate_names=False)
        prefix = type(self).__name__.lower()
        names = []
        for (name, _, _), width in zip(
            self.modalities_, self._output_widths(), strict=True
        ):
            if width == 1:
                names.append(f"{prefix}_{name}")
            else:
                names.extend(f"{prefix}_{name}{i}" for i in range(width))
        names.extend(self._extra_feature_names())
        return np.asarray(names, dtype=object)

    def _output_widths(self):
        """Each kept modality's number of columns in ``transform``."""
        raise NotImplementedError

    def _extra_feature_names(self):
        """Names of the columns of ``transform`` after the modalities' outputs."""
        return []

    def __sklearn_tags__(self):
        # X may hold what the modalities' estimators accept (strings for a
        # text pipeline); a missing modality is always fine, but a NaN cell
        # next to present ones goes to the modality's estimator. The outputs
        # are float64 whatever X holds.
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = []
        try:
            estimators = [
                est for _, est, _ in self.modalities if not isinstance(est, str)
            ]
        except (TypeError, ValueError):
            estimators = []
        input_tags = [get_tags(estimator).input_tags for estimator in estimators]
        tags.input_tags.string = any(tag.string for tag in input_tags)
        tags.input_tags.allow_nan = bool(input_tags) and all(
            tag.allow_nan for tag in input_tags
        )
        return tags


def _downstream(estimator):
    """The part of a modality's estimator that takes its model input.

    The pipeline after its leading cell encoder (sharing its steps), or the
    estimator itself.
    """
    return estimator[1:] if leading_encoder(estimator) is not None else estimator


def _rejoin(estimator, downstream):
    """The modality's estimator with its fitted downstream part in place.

    ``downstream`` may be a copy (fitted in another process).
    """
    if leading_encoder(estimator) is None:
        return downstream
    estimator.steps = [estimator.steps[0], *downstream.steps]
    return estimator


def _present_rows(values, present):
    """The rows of ``values`` where the modality is present (all: as is)."""
    return values if present.all() else values[present]


def _spread(predicted, present):
    """Lay out predictions for the present rows over all rows, NaN elsewhere."""
    predicted = np.asarray(predicted, dtype=np.float64)
    if present.all():
        return predicted
    output = np.full((len(present), *predicted.shape[1:]), np.nan)
    output[present] = predicted
    return output


def _fit_present(estimator, data, y, present):
    """Fit ``estimator`` on the rows where its modality is present.

    Inside :func:`~mmensemble.fusion._shared_fits.sharing_fits` a fit of the
    same model on the same rows is taken from the store instead.
    """
    return fit_shared(
        estimator, _present_rows(data, present), _present_rows(y, present)
    )


def _predict_present(estimator, data, present, method):
    """``estimator.<method>`` on the present rows (at least one), NaN elsewhere."""
    return _spread(getattr(estimator, method)(_present_rows(data, present)), present)


def _cross_val_predict_present(
    estimator, data, y, present, splits, method, *, n_jobs, verbose
):
    """Out-of-fold ``method`` outputs on the present rows, NaN elsewhere.

    As :func:`~sklearn.model_selection.cross_val_predict` over ``splits``, each
    fold restricted to the present rows; every fold's model is fitted through
    :func:`_fit_present` (shared fits apply).
    """
    subset_splits = [
        (train[present[train]], test[present[test]])
        for train, test in splits
        if present[test].any()
    ]
    labels = np.unique(y[present]) if method in _CLASS_SCORES else None
    folds = Parallel(n_jobs=n_jobs, verbose=verbose)(
        delayed(_fit_predict_fold)(
            clone(estimator), data, y, train, test, method, labels
        )
        for train, test in subset_splits
    )
    output = np.full((len(present), *folds[0].shape[1:]), np.nan)
    for (_, test), predicted in zip(subset_splits, folds, strict=True):
        output[test] = predicted
    return output


def _fit_predict_fold(estimator, data, y, train, test, method, labels):
    """Fit on the ``train`` rows, return ``method``'s output on the ``test`` rows.

    Class scores get a column for every class of ``labels`` (the modality's
    present rows' classes; None for other outputs), as ``cross_val_predict``
    gives them.
    """
    train_mask, test_mask = np.zeros((2, len(y)), dtype=bool)
    train_mask[train] = test_mask[test] = True
    fitted = _fit_present(estimator, data, y, train_mask)
    predicted = getattr(fitted, method)(_present_rows(data, test_mask))
    if labels is None:
        return np.asarray(predicted, dtype=np.float64)
    encoded = np.searchsorted(labels, fitted.classes_)
    ordered = _enforce_prediction_order(encoded, predicted, len(labels), method)
    return np.asarray(ordered, dtype=np.float64)
