"""Model-level fusion by stacking: out-of-fold per-modality predictions."""

from numbers import Integral, Real
from typing import ClassVar

import numpy as np
from sklearn.base import (
    ClassifierMixin,
    RegressorMixin,
    clone,
    is_classifier,
    is_regressor,
)
from sklearn.linear_model import LogisticRegression, RidgeCV
from sklearn.utils import check_random_state
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted, validate_data

from .._compat import (
    HasMethods,
    Interval,
    StrOptions,
    _check_response_method,
)
from .._docstrings import fill_doc
from .._parameters import estimator_parameters
from ._docs import MODEL_FUSION_DOCS
from ._modality import as_frame, resolve_columns
from ._model_fusion import _BaseModelFusion

__all__ = ["ModalityStackingClassifier", "ModalityStackingRegressor"]

_STACKING_DOCS = {
    **MODEL_FUSION_DOCS,
    "modality_dropout": """\
modality_dropout : float in [0, 1), default=0.25
        Probability with which each present modality of each training row is
        dropped in a copy of the out-of-fold predictions added to the final
        estimator's training set, so that it learns to predict from any subset
        of modalities. Copies that lose no modality or all of them are left
        out. With a single modality it has no effect; 0 turns it off.

    random_state : int, RandomState instance or None, default=None
        Seed of the modality dropout draws.""",
    "n_jobs": """\
n_jobs : int, default=None
        Number of jobs fitting the modalities' estimators (and computing their
        out-of-fold predictions) in parallel (joblib).

    verbose : int, default=0
        Verbosity of :func:`~sklearn.model_selection.cross_val_predict`.""",
    "missing_modalities": MODEL_FUSION_DOCS["missing_modality"]
    + """
    Its estimator is fitted, and its out-of-fold predictions computed, only
    on the rows where it is present (the folds are drawn once over all rows,
    then restricted). The final estimator sees, for a missing modality, the
    neutral ``fill_values_`` and, for every modality that can be missing (one
    missing in some training rows, or every modality when
    ``modality_dropout`` is on), a 0/1 ``<name>__missing`` indicator. It
    learns to use them from the training rows with missing modalities and
    from the modality dropout copies. A modality missing at prediction that
    had no indicator only gets the fill.""",
}


def _final_estimator_has(method):
    """Whether the (fitted, given or default) final estimator has ``method``."""

    def check(self):
        if hasattr(self, "final_estimator_"):
            final = self.final_estimator_
        elif self.final_estimator is not None:
            final = self.final_estimator
        else:
            final = self._default_final_estimator()
        getattr(final, method)
        return True

    return check


@estimator_parameters
class _BaseModalityStacking(_BaseModelFusion):
    """Stacking of per-modality models, aware of missing modalities."""

    _parameter_constraints: ClassVar[dict] = {
        **_BaseModelFusion._parameter_constraints,
        "final_estimator": [None, HasMethods("fit")],
        "cv": ["cv_object"],
        "passthrough": ["boolean", str, Integral, list, slice, callable],
        "modality_dropout": [Interval(Real, 0, 1, closed="left")],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    final_estimator: object = None
    cv: object = None
    passthrough: bool | str | list = False
    modality_dropout: float = 0.25
    random_state: object = None
    on_error: str | None = None
    n_jobs: int | None = None
    verbose: int = 0

    @fill_doc(MODEL_FUSION_DOCS)
    def fit(self, X, y):
        """Fit the modalities' estimators and the final estimator.

        Each modality's estimator is fitted on the rows where the modality is
        present (``estimators_``); the final estimator is fitted on their
        out-of-fold predictions (``oof_predictions_``), completed by missing
        indicators, dropout copies and passthrough columns.

        %(parameters_X)s
        y : array-like of shape (n_samples,)
            Target values.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        self._validate_params()
        frame = as_frame(X)
        validate_data(self, frame, y, reset=True, skip_check_array=True)
        final = self.final_estimator
        self.final_estimator_ = clone(
            self._default_final_estimator() if final is None else final
        )
        kind, check = (
            ("classifier", is_classifier)
            if is_classifier(self)
            else ("regressor", is_regressor)
        )
        if not check(self.final_estimator_):
            raise ValueError(
                f"final_estimator must be a {kind}, got "
                f"final_estimator={self.final_estimator!r}"
            )
        y = self._check_target(frame, y)
        active, data, present = self._fit_modalities(frame, y)
        self.stack_method_ = [
            self._resolve_method(name, estimator) for name, estimator, _ in active
        ]
        oof = self._cross_val_predict(active, data, y, present, self.stack_method_)
        names = [name for name, _, _ in self.modalities_]
        self.oof_predictions_ = dict(zip(names, oof, strict=True))
        self._output_tails = [output.shape[1:] for output in oof]
        blocks = [
            self._meta_block(output, method)
            for output, method in zip(oof, self.stack_method_, strict=True)
        ]
        self._meta_widths = [block.shape[1] for block in blocks]
        self.fill_values_ = {
            name: block[mask].mean(axis=0)
            for name, block, mask in zip(names, blocks, present.T, strict=True)
        }
        dropout = self.modality_dropout > 0 and len(names) > 1
        self.missing_modalities_ = [
            name
            for name, mask in zip(names, present.T, strict=True)
            if dropout or not mask.all()
        ]
        self.passthrough_columns_ = self._passthrough_columns(frame)
        extra = self._passthrough_values(frame)
        X_meta = self._assemble(blocks, present, extra)
        y_meta = y
        if dropout:
            random_state = check_random_state(self.random_state)
            dropped = present & (
                random_state.uniform(size=present.shape) < self.modality_dropout
            )
            remaining = present & ~dropped
            copied = dropped.any(axis=1) & remaining.any(axis=1)
            X_copies = self._assemble(
                [block[copied] for block in blocks], remaining[copied], extra[copied]
            )
            X_meta = np.vstack([X_meta, X_copies])
            y_meta = np.concatenate([y, y[copied]])
        self.final_estimator_.fit(X_meta, y_meta)
        return self

    def _resolve_method(self, name, estimator):
        requested = getattr(self, "stack_method", "predict")
        methods = (
            ["predict_proba", "decision_function", "predict"]
            if requested == "auto"
            else requested
        )
        try:
            return _check_response_method(estimator, methods).__name__
        except AttributeError as exc:
            raise ValueError(
                f"the estimator of modality {name!r} does not implement "
                f"{methods!r}, which {type(self).__name__} needs"
                + (f" with stack_method={requested!r}" if is_classifier(self) else "")
                + f": {estimator!r}"
            ) from exc

    def _meta_block(self, output, method):
        """A modality's outputs as meta-features, as sklearn's stacking does."""
        if output.ndim == 1:
            return output.reshape(-1, 1)
        if method == "predict_proba" and len(self.classes_) == 2:
            # the two probabilities are perfectly collinear: keep the second
            return output[:, 1:]
        return output

    def _passthrough_columns(self, frame):
        if isinstance(self.passthrough, bool | np.bool_):
            return list(frame.columns) if self.passthrough else []
        columns = resolve_columns(self.passthrough, frame)
        return [columns] if np.isscalar(columns) else list(columns)

    def _passthrough_values(self, frame):
        columns = self.passthrough_columns_
        if not columns:
            return np.empty((len(frame), 0))
        try:
            return frame[columns].to_numpy(dtype=np.float64, na_value=np.nan)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"the passthrough columns {columns!r} must be numeric ({exc}); got "
                f"passthrough={self.passthrough!r}. Give other columns a modality "
                "with an encoder instead"
            ) from exc

    def _assemble(self, blocks, present, extra):
        """Meta-features: predictions (neutral fill where missing), indicators."""
        names = [name for name, _, _ in self.modalities_]
        parts = [
            np.where(mask[:, np.newaxis], block, self.fill_values_[name])
            for name, block, mask in zip(names, blocks, present.T, strict=True)
        ]
        parts.extend(
            (~mask).astype(np.float64)[:, np.newaxis]
            for name, mask in zip(names, present.T, strict=True)
            if name in self.missing_modalities_
        )
        parts.append(extra)
        return np.hstack(parts)

    def _meta_features(self, X):
        check_is_fitted(self, "modalities_")
        frame = as_frame(X)
        validate_data(self, frame, reset=False, skip_check_array=True)
        outputs, present = self._modality_outputs(
            frame, self.stack_method_, self._output_tails
        )
        blocks = [
            self._meta_block(output, method)
            for output, method in zip(outputs, self.stack_method_, strict=True)
        ]
        return self._assemble(blocks, present, self._passthrough_values(frame)), (
            ~present.any(axis=1)
        )

    def _final_output(self, X, method):
        """The final estimator's output, and the mask of rows with no modality."""
        X_meta, empty = self._meta_features(X)
        return getattr(self.final_estimator_, method)(X_meta), empty

    @fill_doc(MODEL_FUSION_DOCS)
    def transform(self, X):
        """Return the meta-features the final estimator sees.

        The modalities' outputs are those of the estimators fitted on all the
        training rows, where ``fit`` gave the final estimator out-of-fold ones.

        %(parameters_X)s

        Returns
        -------
        X_meta : ndarray of shape (n_samples, n_meta_features)
            Each modality's predictions (its neutral fill where it is missing),
            the missing indicators, then the passthrough columns.
        """
        return self._meta_features(X)[0]

    def _output_widths(self):
        """Each kept modality's number of meta-feature columns."""
        return self._meta_widths

    def _extra_feature_names(self):
        """The missing indicators, then the passthrough columns."""
        return [
            *(f"{name}__missing" for name in self.missing_modalities_),
            *(str(column) for column in self.passthrough_columns_),
        ]


@estimator_parameters
@fill_doc(_STACKING_DOCS)
class ModalityStackingClassifier(ClassifierMixin, _BaseModalityStacking):
    """Stacking of one classifier per modality (model-level fusion).

    Each modality is a ``(name, estimator, columns)`` triple, as in
    :class:`~sklearn.compose.ColumnTransformer`: the estimator is fitted on its
    columns only, and its parameters are addressed as ``<name>__<param>``
    (``image__C``). As in :class:`~sklearn.ensemble.StackingClassifier`, the
    final estimator is trained on the modalities' out-of-fold predictions; it
    also learns to cope with missing modalities (see Notes). A modality can be
    an early-fused group of columns (a :class:`~mmensemble.FeatureFusion`
    pipeline over several columns), which gives hybrid fusion.

    Parameters
    ----------
    %(modalities)s

    final_estimator : estimator, default=None
        The classifier combining the modalities' predictions; None means
        :class:`~sklearn.linear_model.LogisticRegression`.

    cv : int, cross-validation generator or iterable, default=None
        Folds of the out-of-fold predictions, as in
        :func:`~sklearn.model_selection.cross_val_predict`: None means 5-fold,
        stratified for binary or multiclass targets.

    stack_method : {"auto", "predict_proba", "decision_function", "predict"}, \
            default="auto"
        Method of each modality's estimator whose output is stacked; "auto"
        takes the first of ``predict_proba``, ``decision_function`` and
        ``predict`` that the estimator has.

    passthrough : bool, column name or list of column names, default=False
        Numeric tabular columns given to the final estimator as they are,
        after the predictions: a column spec as in ``modalities`` (a name, a
        list, a slice, a callable), ``True`` for every column (as in
        sklearn), ``False`` for none.

    %(modality_dropout)s

    %(on_error)s
        See Notes for pipelines that start with an encoder.

    %(n_jobs)s

    Attributes
    ----------
    %(modalities_)s

    %(estimators_)s

    %(named_estimators_)s

    final_estimator_ : estimator
        The fitted final classifier.

    stack_method_ : list of str
        The method used for each kept modality.

    oof_predictions_ : dict of str to ndarray
        Each modality's out-of-fold ``stack_method_`` output over the training
        rows, of shape (n_samples,) or (n_samples, n_outputs); NaN in the rows
        where the modality is missing.

    fill_values_ : dict of str to ndarray
        The neutral meta-features of a missing modality: the mean of its
        out-of-fold predictions (for probabilities, the average predicted
        class distribution, close to the class prior).

    missing_modalities_ : list of str
        Modalities that get a ``<name>__missing`` indicator meta-feature.

    %(errors_)s

    passthrough_columns_ : list
        The passthrough columns.

    %(classes_)s

    %(n_features_in_)s

    See Also
    --------
    sklearn.ensemble.StackingClassifier : Stacking of estimators that all see
        every column, without missing-modality handling.
    ModalityStackingRegressor : The regression counterpart.
    ModalityVotingClassifier : Combines the modalities with fixed weights.

    Notes
    -----
    %(missing_modalities)s
    A row with no modality at all gets the prior prediction: the class prior
    (``class_prior_``) as probabilities, the most frequent class as label, and
    the log-odds of the prior as decision function.

    With no missing data and ``modality_dropout=0`` (or a single modality),
    the predictions are those of :class:`~sklearn.ensemble.StackingClassifier`
    over the same estimators, ``cv`` and final estimator.

    %(bad_cells)s

    Examples
    --------
    >>> import numpy as np
    >>> import pandas as pd
    >>> from sklearn.linear_model import LogisticRegression
    >>> from mmensemble import ModalityStackingClassifier
    >>> rng = np.random.default_rng(0)
    >>> y = np.repeat([0, 1], 20)
    >>> X = pd.DataFrame({"a": y + rng.normal(size=40),
    ...                   "b": y + rng.normal(size=40)})
    >>> X.loc[::4, "b"] = np.nan  # modality "b" is missing in a quarter of rows
    >>> stack = ModalityStackingClassifier(
    ...     [("a", LogisticRegression(), ["a"]), ("b", LogisticRegression(), ["b"])],
    ...     cv=3, random_state=0)
    >>> stack.fit(X, y).predict_proba(X).shape
    (40, 2)
    >>> stack.get_feature_names_out().tolist()
    ['modalitystackingclassifier_a', 'modalitystackingclassifier_b', \
'a__missing', 'b__missing']
    """

    _parameter_constraints: ClassVar[dict] = {
        **_BaseModalityStacking._parameter_constraints,
        "stack_method": [
            StrOptions({"auto", "predict_proba", "decision_function", "predict"})
        ],
    }

    stack_method: str = "auto"

    _default_final_estimator = LogisticRegression

    @available_if(_final_estimator_has("predict"))
    @fill_doc(MODEL_FUSION_DOCS)
    def predict(self, X):
        """Predict class labels with the final estimator.

        The final estimator predicts from the meta-features of
        :meth:`transform`; its encoded labels are decoded to ``classes_``.

        %(parameters_X)s

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            Predicted class labels; the most frequent training class for a row
            with no modality.
        """
        encoded, empty = self._final_output(X, "predict")
        encoded = np.asarray(encoded).copy()
        encoded[empty] = np.argmax(self.class_prior_)
        return self.le_.inverse_transform(encoded)

    @available_if(_final_estimator_has("predict_proba"))
    @fill_doc(MODEL_FUSION_DOCS)
    def predict_proba(self, X):
        """Predict class probabilities with the final estimator.

        The final estimator's ``predict_proba`` of the meta-features of
        :meth:`transform`.

        %(parameters_X)s

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Class probabilities in the order of ``classes_``; the class prior
            for a row with no modality.
        """
        proba, empty = self._final_output(X, "predict_proba")
        proba[empty] = self.class_prior_
        return proba

    @available_if(_final_estimator_has("decision_function"))
    @fill_doc(MODEL_FUSION_DOCS)
    def decision_function(self, X):
        """Decision function of the final estimator.

        Available when the final estimator has one; it is applied to the
        meta-features of :meth:`transform`.

        %(parameters_X)s

        Returns
        -------
        decision : ndarray of shape (n_samples,) or (n_samples, n_classes)
            The final estimator's decision function; for a row with no
            modality, the log-odds of the class prior (binary) or its
            centred logarithm (multiclass).
        """
        decision, empty = self._final_output(X, "decision_function")
        log_prior = np.log(self.class_prior_)
        if decision.ndim == 1:
            decision[empty] = log_prior[1] - log_prior[0]
        else:
            decision[empty] = log_prior - log_prior.mean()
        return decision


@fill_doc(_STACKING_DOCS)
class ModalityStackingRegressor(RegressorMixin, _BaseModalityStacking):
    """Stacking of one regressor per modality (model-level fusion).

    Each modality is a ``(name, estimator, columns)`` triple, as in
    :class:`~sklearn.compose.ColumnTransformer`: the estimator is fitted on its
    columns only, and its parameters are addressed as ``<name>__<param>``.
    As in :class:`~sklearn.ensemble.StackingRegressor`, the final estimator is
    trained on the modalities' out-of-fold predictions; it also learns to
    cope with missing modalities (see Notes). A modality can be an early-fused
    group of columns (a :class:`~mmensemble.FeatureFusion` pipeline), which
    gives hybrid fusion.

    Parameters
    ----------
    %(modalities)s

    final_estimator : estimator, default=None
        The regressor combining the modalities' predictions; None means
        ridge regression with a cross-validated penalty,
        :class:`~sklearn.linear_model.RidgeCV`.

    cv : int, cross-validation generator or iterable, default=None
        Folds of the out-of-fold predictions, as in
        :func:`~sklearn.model_selection.cross_val_predict`: None means 5-fold.

    passthrough : bool, column name or list of column names, default=False
        Numeric tabular columns given to the final estimator as they are,
        after the predictions: a column spec as in ``modalities``, ``True``
        for every column (as in sklearn), ``False`` for none.

    %(modality_dropout)s

    %(on_error)s
        See Notes for pipelines that start with an encoder.

    %(n_jobs)s

    Attributes
    ----------
    %(modalities_)s

    %(estimators_)s

    %(named_estimators_)s

    final_estimator_ : estimator
        The fitted final regressor.

    stack_method_ : list of str
        The method used for each kept modality (``"predict"``).

    oof_predictions_ : dict of str to ndarray
        Each modality's out-of-fold predictions over the training rows; NaN in
        the rows where the modality is missing.

    fill_values_ : dict of str to ndarray
        The neutral meta-feature of a missing modality: the mean of its
        out-of-fold predictions.

    missing_modalities_ : list of str
        Modalities that get a ``<name>__missing`` indicator meta-feature.

    %(errors_)s

    passthrough_columns_ : list
        The passthrough columns.

    %(target_mean_)s

    %(n_features_in_)s

    See Also
    --------
    sklearn.ensemble.StackingRegressor : Stacking of estimators that all see
        every column, without missing-modality handling.
    ModalityStackingClassifier : The classification counterpart.
    ModalityVotingRegressor : Combines the modalities with fixed weights.

    Notes
    -----
    %(missing_modalities)s
    A row with no modality at all gets the prior prediction, the training
    mean of the target (``target_mean_``).

    With no missing data and ``modality_dropout=0`` (or a single modality),
    the predictions are those of :class:`~sklearn.ensemble.StackingRegressor`
    over the same estimators, ``cv`` and final estimator.

    %(bad_cells)s

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LinearRegression
    >>> from mmensemble import ModalityStackingRegressor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(60, 4))
    >>> y = X.sum(axis=1)
    >>> X[:10, :2] = np.nan  # modality "left" is missing in the first 10 rows
    >>> stack = ModalityStackingRegressor(
    ...     [("left", LinearRegression(), [0, 1]),
    ...      ("right", LinearRegression(), [2, 3])], random_state=0)
    >>> stack.fit(X, y).named_estimators_["left"].n_features_in_
    2
    >>> bool(stack.score(X, y) > 0.8)
    True
    >>> stack.missing_modalities_
    ['left', 'right']
    """

    _default_final_estimator = RidgeCV

    @available_if(_final_estimator_has("predict"))
    @fill_doc(MODEL_FUSION_DOCS)
    def predict(self, X):
        """Predict target values with the final estimator.

        Each row's prediction is the final estimator's, from the meta-features
        of :meth:`transform` (every modality stacks its ``predict``).

        %(parameters_X)s

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            Predicted values; the training mean for a row with no modality.
        """
        prediction, empty = self._final_output(X, "predict")
        prediction = np.asarray(prediction, dtype=np.float64).copy()
        prediction[empty] = self.target_mean_
        return prediction
