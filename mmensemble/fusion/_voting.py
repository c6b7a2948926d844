"""Model-level fusion by voting: one model per modality, weighted votes."""

from typing import ClassVar

import numpy as np
from scipy.optimize import minimize
from sklearn.base import ClassifierMixin, RegressorMixin, is_classifier
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted, validate_data

from .._compat import StrOptions
from .._docstrings import fill_doc
from .._parameters import estimator_parameters
from ._docs import MODEL_FUSION_DOCS
from ._modality import as_frame
from ._model_fusion import _BaseModelFusion
from ._plumbing import check_weights

__all__ = ["ModalityVotingClassifier", "ModalityVotingRegressor"]

_VOTING_DOCS = {
    **MODEL_FUSION_DOCS,
    "n_jobs": """\
n_jobs : int, default=None
        Number of jobs fitting the modalities' estimators in parallel (joblib).""",
    "missing_modalities": MODEL_FUSION_DOCS["missing_modality"]
    + """
    Each estimator is fitted only on the rows where its modality is present.
    At prediction, every row combines the modalities present in it, their
    weights renormalised to sum to one over those modalities. A row where no
    modality with a non-zero weight is present gets the prior prediction.""",
}


@estimator_parameters
class _BaseModalityVoting(_BaseModelFusion):
    """Voting over per-modality models, with per-row renormalised weights."""

    _parameter_constraints: ClassVar[dict] = {
        **_BaseModelFusion._parameter_constraints,
        "weights": ["array-like", dict, StrOptions({"auto"}), None],
        "cv": ["cv_object"],
    }

    weights: object = None
    cv: object = None
    on_error: str | None = None
    n_jobs: int | None = None

    @fill_doc(MODEL_FUSION_DOCS)
    def fit(self, X, y):
        """Fit each modality's estimator on the rows where it is present.

        With ``weights="auto"``, the weights are then learnt from the
        modalities' out-of-fold outputs (``weights_``).

        %(parameters_X)s
        y : array-like of shape (n_samples,)
            Class labels (classifier) or target values (regressor).

        Returns
        -------
        self : object
            The fitted estimator.
        """
        self._validate_params()
        for name, estimator, _ in self._check_modalities(allow=("drop",)):
            if not isinstance(estimator, str) and not hasattr(
                estimator, self._vote_method
            ):
                raise ValueError(
                    f"the estimator of modality {name!r} has no {self._vote_method}, "
                    f"which {type(self).__name__} needs"
                    + (f" with voting={self.voting!r}" if is_classifier(self) else "")
                    + f": {estimator!r}"
                )
        frame = as_frame(X)
        validate_data(self, frame, y, reset=True, skip_check_array=True)
        y = self._check_target(frame, y)
        active, data, present = self._fit_modalities(frame, y)
        if isinstance(self.weights, str) and self.weights == "auto":
            methods = [self._vote_method] * len(active)
            oof = self._cross_val_predict(active, data, y, present, methods)
            weights = self._learn_weights(oof, present, y)
            if not weights.sum() > 0:
                weights = np.ones(len(weights))
            self.weights_ = weights / weights.sum()
        else:
            weights = check_weights(
                self.weights,
                [name for name, _, _ in self.modalities],
                [name for name, _, _ in self.modalities_],
            )
            self.weights_ = np.array(list(weights.values()))
        return self

    def _outputs(self, X):
        """Per-modality outputs of the vote (NaN where missing) and presence."""
        check_is_fitted(self, "modalities_")
        frame = as_frame(X)
        validate_data(self, frame, reset=False, skip_check_array=True)
        tails = [self._vote_tail] * len(self.modalities_)
        return self._modality_outputs(
            frame, [self._vote_method] * len(self.modalities_), tails
        )

    def _weighted_average(self, outputs, present, prior):
        """Average of the present outputs with renormalised weights, else prior."""
        votes = self.weights_[:, np.newaxis] * present.T
        total = votes.sum(axis=0)
        stacked = np.stack([np.nan_to_num(output) for output in outputs])
        summed = np.einsum("mn,mn...->n...", votes, stacked)
        informed = total > 0
        average = np.empty_like(summed)
        average[informed] = summed[informed] / total[informed].reshape(
            (-1,) + (1,) * (summed.ndim - 1)
        )
        average[~informed] = prior
        return average

    def _output_widths(self):
        """One column per kept modality, or one per class under soft voting."""
        soft = bool(self._vote_tail)
        if soft and not self.flatten_transform:
            raise ValueError(
                "get_feature_names_out is not supported when voting='soft' and "
                "flatten_transform=False"
            )
        return [len(self.classes_) if soft else 1] * len(self.modalities_)


@estimator_parameters
@fill_doc(_VOTING_DOCS)
class ModalityVotingClassifier(ClassifierMixin, _BaseModalityVoting):
    """Soft or hard voting over one classifier per modality (model-level fusion).

    Each modality is a ``(name, estimator, columns)`` triple, as in
    :class:`~sklearn.compose.ColumnTransformer`: the estimator is fitted on its
    columns only, and its parameters are addressed as ``<name>__<param>``
    (``image__C``). Unlike :class:`~sklearn.ensemble.VotingClassifier`, a row
    may lack some modalities; the vote then uses those it has (see Notes).

    Parameters
    ----------
    %(modalities)s

    voting : {"hard", "soft"}, default="hard"
        ``"hard"`` takes the weighted majority of the predicted labels;
        ``"soft"`` takes the argmax of the weighted average of the predicted
        probabilities, and requires every estimator to have ``predict_proba``.

    weights : array-like of shape (n_modalities,), dict, "auto" or None, \
            default=None
        Weight of each modality's vote, in the order of ``modalities`` (or as a
        dict by modality name, unlisted ones weighing 1); None weighs them
        equally. ``"auto"`` learns them from out-of-fold predictions (see
        ``cv``): the weight of a modality is the log-odds of its out-of-fold
        accuracy ``acc`` (of its labels, or of the argmax of its probabilities
        under soft voting), ``log(acc (K - 1) / (1 - acc))`` for ``K``
        classes: the optimal weights of a majority vote of independent
        classifiers, zero for a modality no better than chance. (Minimising
        the log-loss of the weighted average instead would put nearly all the
        weight on the best modality, which votes worse.)
        Learnt weights are normalised to sum to one.

    cv : int, cross-validation generator or iterable, default=None
        Folds of the out-of-fold predictions when ``weights="auto"``, as in
        :func:`~sklearn.model_selection.cross_val_predict`: None means 5-fold
        (stratified). Unused otherwise.

    flatten_transform : bool, default=True
        Under soft voting, whether :meth:`transform` returns an array of shape
        (n_samples, n_modalities * n_classes) rather than (n_modalities,
        n_samples, n_classes).

    %(on_error)s
        See Notes for pipelines that start with an encoder.

    %(n_jobs)s

    Attributes
    ----------
    %(modalities_)s

    %(estimators_)s

    %(named_estimators_)s

    weights_ : ndarray of shape (n_kept_modalities,)
        The weights used, in the order of ``estimators_``.

    %(errors_)s

    %(classes_)s

    %(n_features_in_)s

    See Also
    --------
    sklearn.ensemble.VotingClassifier : Voting over estimators that all see
        every column, without missing-modality handling.
    ModalityVotingRegressor : The regression counterpart.
    ModalityStackingClassifier : Learns how to combine the modalities.

    Notes
    -----
    %(missing_modalities)s
    The prior prediction is the class prior (``class_prior_``) as
    probabilities, the most frequent training class as label.

    With a single modality, or with no missing data, the predictions are those
    of :class:`~sklearn.ensemble.VotingClassifier` over the same estimators and
    weights.

    %(bad_cells)s

    Examples
    --------
    >>> import numpy as np
    >>> import pandas as pd
    >>> from sklearn.feature_extraction.text import TfidfVectorizer
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.pipeline import make_pipeline
    >>> from mmensemble import ModalityVotingClassifier
    >>> X = pd.DataFrame({
    ...     "review": ["great value", "awful", None, "great fun", "awful noise",
    ...                "great", None, "awful value"],
    ...     "stars": [5.0, 1.0, 4.0, np.nan, 2.0, 5.0, 1.0, 2.0]})
    >>> y = [1, 0, 1, 1, 0, 1, 0, 0]
    >>> vote = ModalityVotingClassifier(
    ...     [("text", make_pipeline(TfidfVectorizer(), LogisticRegression()),
    ...       "review"),
    ...      ("stars", LogisticRegression(), ["stars"])],
    ...     voting="soft")
    >>> vote.fit(X, y).predict(X).tolist()
    [1, 0, 1, 1, 0, 1, 0, 0]
    >>> vote.named_estimators_["stars"].n_features_in_
    1
    """

    _parameter_constraints: ClassVar[dict] = {
        **_BaseModalityVoting._parameter_constraints,
        "voting": [StrOptions({"hard", "soft"})],
        "flatten_transform": ["boolean"],
    }

    voting: str = "hard"
    flatten_transform: bool = True

    @property
    def _vote_method(self):
        return "predict_proba" if self.voting == "soft" else "predict"

    @property
    def _vote_tail(self):
        return (len(self.classes_),) if self.voting == "soft" else ()

    def _learn_weights(self, oof, present, y):
        accuracies = []
        for output, mask in zip(oof, present.T, strict=True):
            labels = np.argmax(output, axis=1) if output.ndim == 2 else output
            accuracies.append(np.mean(labels[mask] == y[mask]))
        accuracies = np.clip(accuracies, 1e-3, 1 - 1e-3)
        n_classes = len(self.classes_)
        return np.maximum(np.log(accuracies * (n_classes - 1) / (1 - accuracies)), 0.0)

    @fill_doc(MODEL_FUSION_DOCS)
    def predict(self, X):
        """Predict class labels by the weighted vote of the present modalities.

        Under hard voting a row takes the class with the largest total weight
        of its present modalities' labels; under soft voting, the most
        probable class under :meth:`predict_proba`.

        %(parameters_X)s

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            Predicted class labels.
        """
        if self.voting == "soft":
            proba = self.predict_proba(X)
            return self.classes_[np.argmax(proba, axis=1)]
        outputs, present = self._outputs(X)
        n_classes = len(self.classes_)
        votes = np.zeros((len(present), n_classes))
        for weight, output, mask in zip(self.weights_, outputs, present.T, strict=True):
            np.add.at(votes, (np.flatnonzero(mask), output[mask].astype(int)), weight)
        votes[votes.sum(axis=1) == 0] = self.class_prior_
        return self.classes_[np.argmax(votes, axis=1)]

    def _check_voting(self):
        if self.voting == "hard":
            raise AttributeError(
                f"predict_proba is not available when voting={self.voting!r}"
            )
        return True

    @available_if(_check_voting)
    @fill_doc(MODEL_FUSION_DOCS)
    def predict_proba(self, X):
        """Weighted average of the present modalities' class probabilities.

        The weights ``weights_`` are renormalised over the modalities present
        in each row.

        %(parameters_X)s

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Class probabilities, in the order of ``classes_``; the class prior
            for a row with no modality.
        """
        outputs, present = self._outputs(X)
        return self._weighted_average(outputs, present, self.class_prior_)

    @fill_doc(MODEL_FUSION_DOCS)
    def transform(self, X):
        """Return each modality's probabilities (soft) or labels (hard).

        These are the votes that :meth:`predict` weighs, one block per kept
        modality.

        %(parameters_X)s

        Returns
        -------
        outputs : ndarray
            Under soft voting with ``flatten_transform=True``, of shape
            (n_samples, n_modalities * n_classes); with
            ``flatten_transform=False``, (n_modalities, n_samples, n_classes).
            Under hard voting, (n_samples, n_modalities) class indices into
            ``classes_`` (as floats). NaN where a modality is missing.
        """
        outputs, _ = self._outputs(X)
        if self.voting == "hard":
            return np.column_stack(outputs)
        if not self.flatten_transform:
            return np.stack(outputs)
        return np.hstack(outputs)


@fill_doc(_VOTING_DOCS)
class ModalityVotingRegressor(RegressorMixin, _BaseModalityVoting):
    """Weighted average of one regressor per modality (model-level fusion).

    Each modality is a ``(name, estimator, columns)`` triple, as in
    :class:`~sklearn.compose.ColumnTransformer`: the estimator is fitted on its
    columns only, and its parameters are addressed as ``<name>__<param>``.
    Unlike :class:`~sklearn.ensemble.VotingRegressor`, a row may lack some
    modalities; the average then uses those it has (see Notes).

    Parameters
    ----------
    %(modalities)s

    weights : array-like of shape (n_modalities,), dict, "auto" or None, \
            default=None
        Weight of each modality, in the order of ``modalities`` (or as a dict
        by modality name, unlisted ones weighing 1); None weighs them equally.
        ``"auto"`` learns the non-negative weights that minimise the squared
        error of the weighted average of the out-of-fold predictions (see
        ``cv``; averaged, as at prediction, over the modalities present in
        each row), normalised to sum to one.

    cv : int, cross-validation generator or iterable, default=None
        Folds of the out-of-fold predictions when ``weights="auto"``, as in
        :func:`~sklearn.model_selection.cross_val_predict`: None means 5-fold.
        Unused otherwise.

    %(on_error)s
        See Notes for pipelines that start with an encoder.

    %(n_jobs)s

    Attributes
    ----------
    %(modalities_)s

    %(estimators_)s

    %(named_estimators_)s

    weights_ : ndarray of shape (n_kept_modalities,)
        The weights used, in the order of ``estimators_``.

    %(errors_)s

    %(target_mean_)s

    %(n_features_in_)s

    See Also
    --------
    sklearn.ensemble.VotingRegressor : Averages estimators that all see every
        column, without missing-modality handling.
    ModalityVotingClassifier : The classification counterpart.
    ModalityStackingRegressor : Learns how to combine the modalities.

    Notes
    -----
    %(missing_modalities)s
    The prior prediction is the training mean of the target (``target_mean_``).

    With no missing data, the predictions are those of
    :class:`~sklearn.ensemble.VotingRegressor` over the same estimators and
    weights.

    %(bad_cells)s

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LinearRegression
    >>> from mmensemble import ModalityVotingRegressor
    >>> X = {"a": [1.0, 2.0, 3.0, 4.0, np.nan], "b": [2.0, 4.0, np.nan, 8.0, 10.0]}
    >>> y = [1.0, 2.0, 3.0, 4.0, 5.0]
    >>> vote = ModalityVotingRegressor([("a", LinearRegression(), ["a"]),
    ...                                 ("b", LinearRegression(), ["b"])])
    >>> vote.fit(X, y).predict(X).round(6).tolist()
    [1.0, 2.0, 3.0, 4.0, 5.0]
    """

    _vote_method = "predict"
    _vote_tail = ()

    def _learn_weights(self, oof, present, y):
        predictions = np.nan_to_num(np.column_stack(oof))

        def squared_error(weights):
            votes = present * weights
            total = votes.sum(axis=1)
            informed = total > 0
            average = np.where(
                informed,
                (votes * predictions).sum(axis=1) / np.where(informed, total, 1.0),
                self.target_mean_,
            )
            return np.mean((average - y) ** 2)

        n_modalities = len(oof)
        start = np.full(n_modalities, 1.0 / n_modalities)
        result = minimize(
            squared_error, start, method="L-BFGS-B", bounds=[(0.0, 1.0)] * n_modalities
        )
        return result.x if squared_error(result.x) <= squared_error(start) else start

    @fill_doc(MODEL_FUSION_DOCS)
    def predict(self, X):
        """Predict the weighted average of the present modalities' predictions.

        Each row averages the predictions of the modalities present in it, with
        the weights ``weights_`` renormalised over them.

        %(parameters_X)s

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            Predicted values; the training mean for a row with no modality.
        """
        outputs, present = self._outputs(X)
        return self._weighted_average(outputs, present, self.target_mean_)

    @fill_doc(MODEL_FUSION_DOCS)
    def transform(self, X):
        """Return each modality's predictions.

        :meth:`predict` averages them row by row.

        %(parameters_X)s

        Returns
        -------
        predictions : ndarray of shape (n_samples, n_modalities)
            The prediction of each kept modality, NaN where it is missing.
        """
        outputs, _ = self._outputs(X)
        return np.column_stack(outputs)
