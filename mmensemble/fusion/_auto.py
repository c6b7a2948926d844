"""Automatic fusion: every fusion strategy scored out of fold on one encoding.

:class:`AutoFusionClassifier` and :class:`AutoFusionRegressor` encode each
modality once, then fit early fusion, soft voting, stacking and the fusion
network on the same embedded table, score each by cross-validation and keep
the best one or a greedy ensemble selection over them (Caruana et al., 2004),
whichever scores better out of fold.
"""

import sys
import time
from numbers import Integral, Real
from typing import ClassVar

import numpy as np
import pandas as pd
from sklearn.base import ClassifierMixin, RegressorMixin, clone, is_classifier
from sklearn.metrics import accuracy_score, log_loss, mean_squared_error, r2_score
from sklearn.model_selection import PredefinedSplit
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.utils.multiclass import check_classification_targets, unique_labels
from sklearn.utils.validation import (
    check_consistent_length,
    check_is_fitted,
    column_or_1d,
    validate_data,
)
from tqdm.auto import tqdm

from .._compat import Interval, StrOptions
from .._docstrings import fill_doc
from .._parameters import estimator_parameters
from ..encoders._base import concat_errors
from ._budget import TimeBudget, run_tasks, worker_count
from ._calibration import temperature_calibration
from ._defaults import InvalidChoiceError, default_head, default_meta_learner
from ._docs import MODEL_FUSION_DOCS
from ._early import FeatureFusion
from ._folds import checked_cv
from ._fusion_net import FusionNetClassifier, FusionNetRegressor
from ._modality import BaseModalityComposition, as_frame, resolve_columns
from ._plumbing import encode, fit_encode, leading_encoder, modality_rows
from ._shared_fits import SharedFits, fit_digest, sharing_fits
from ._stacking import ModalityStackingClassifier, ModalityStackingRegressor
from ._voting import ModalityVotingClassifier, ModalityVotingRegressor

__all__ = ["AutoFusionClassifier", "AutoFusionRegressor"]

METHODS = ("early", "voting", "stacking", "net")
# The order the methods run in, by their usual cost, and those that take the
# modalities' models from the shared fits.
_CHEAPEST_FIRST = ("voting", "stacking", "early", "net")
_SHARING = frozenset({"voting", "stacking"})

_AUTO_DOCS = {
    **MODEL_FUSION_DOCS,
    # The parameters after ``modalities``, the same for both tasks.
    "parameters": """\
methods : list of {"early", "voting", "stacking", "net"}, \
default=("early", "voting", "stacking", "net")
        The fusion methods compared.
    cv : int, cross-validation generator or iterable, default=5
        The folds of the out-of-fold scores (an int gives stratified folds
        to a classifier).
    ensemble_size : int, default=25
        Rounds of greedy ensemble selection; 0 keeps the best single method.
    net_params : dict, default=None
        Parameters of the fusion network, over the defaults
        ``{"aux_weight": 0.3, "max_epochs": 200}`` (early stopping on a
        validation split sets the number of epochs).
    time_limit : float, default=None
        Seconds the scoring of the methods may take (encoding included, the
        final refit not). The methods run cheapest first (soft voting,
        stacking, early fusion, the network); a method after the first whose
        estimated cost does not fit the seconds left is skipped, and its row
        of the leaderboard says why. None: no limit.
    random_state : int, RandomState instance or None, default=None
        Seeds stacking's modality dropout and the network.
    n_jobs : int, default=None
        Workers fitting the modalities' models and the folds in parallel
        (joblib processes; ``-1``: every core). Each worker's BLAS and OpenMP
        threads are limited to its share of the cores.
    verbose : int, default=0
        Above 0, a progress bar over the methods' folds (on stderr); above
        1, the leaderboard is also printed at the end of ``fit``.""",
    # The attributes after ``leaderboard_``, the same for both tasks.
    "attributes": """\
best_method_ : str
        The method kept, or ``"ensemble"``.
    oof_output_ : ndarray of shape (n_samples, n_classes) or (n_samples,)
        The out-of-fold output of the method or blend kept: probabilities
        (calibrated as :meth:`predict_proba` calibrates them) or predictions.
        :func:`~mmensemble.conformalize` takes its conformity scores from it,
        with no refit.
    weights_ : dict of str to float
        Weight of each method in the final model.
    estimators_ : dict of str to estimator
        The kept methods, refitted on all rows of the embedded table.
    modalities_ : list of (str, encoder or None, columns)
        The fitted cell encoder of each modality (None for a model that takes
        its columns as they are).
    embedding_columns_ : dict of str to list of str
        Names of each encoded modality's columns in the embedded table.
    errors_ : DataFrame
        Cells the encoders found bad under ``on_error="missing"``.
    n_features_in_ : int
        Number of columns of ``X``.
    feature_names_in_ : ndarray of str
        Their names, when ``X`` is a DataFrame.""",
}


@estimator_parameters
class _BaseAutoFusion(BaseModalityComposition):
    """What the automatic fusion classifier and regressor share."""

    _parameter_constraints: ClassVar[dict] = {
        "modalities": [list],
        "methods": [list, tuple],
        "cv": ["cv_object"],
        "ensemble_size": [Interval(Integral, 0, None, closed="left")],
        "net_params": [dict, None],
        "time_limit": [Interval(Real, 0, None, closed="neither"), None],
        "random_state": ["random_state"],
        "n_jobs": [None, Integral],
        "verbose": ["verbose"],
    }

    methods: tuple = METHODS
    cv: object = 5
    ensemble_size: int = 25
    net_params: dict | None = None
    time_limit: float | None = None
    random_state: object = None
    n_jobs: int | None = None
    verbose: int = 0

    # -- fitting ----------------------------------------------------------------

    def fit(self, X, y):
        """Encode every modality once, score each method out of fold, keep the best.

        The methods run cheapest first (soft voting, stacking, early fusion,
        the network). Voting and stacking share each modality's model fitted
        once per training fold (see Notes); early fusion and the network fit
        their own folds. Under ``time_limit`` a method whose estimated cost
        does not fit the seconds left is skipped, and the leaderboard says so.
        The scores and times of every method, and of the greedy ensemble, are
        kept in ``leaderboard_``; the method or blend kept is refitted on all
        rows (``estimators_``).

        Parameters
        ----------
        X : DataFrame, dict of columns or 2-D array-like
            The input table.
        y : array-like of shape (n_samples,)
            The class labels (classifier) or target values (regressor) that
            the methods' out-of-fold predictions are scored against.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        self._validate_params()
        methods = self._check_methods()
        budget = TimeBudget(self.time_limit)
        frame = as_frame(X)
        validate_data(self, frame, y, reset=True, skip_check_array=True)
        classification = is_classifier(self)
        y = column_or_1d(y, dtype=None if classification else np.float64, warn=True)
        check_consistent_length(frame, y)
        if classification:
            check_classification_targets(y)
            self.classes_ = unique_labels(y)
        embedded, triples = self._fit_embedding(frame)
        folds = self._fold_ids(embedded, y)
        n_folds = folds.max() + 1
        order = [method for method in _CHEAPEST_FIRST if method in methods]
        run = _MethodRun(self, embedded, y, triples, folds, budget)
        with tqdm(
            total=len(order) * n_folds,
            desc="auto fusion",
            unit="fold",
            disable=not self.verbose,
            file=sys.stderr,
        ) as progress:
            for done, method in enumerate(order, start=1):
                progress.set_postfix_str(method)
                run.method(method, on_fold=progress.update)
                progress.n = done * n_folds
                progress.refresh()
        oof, status = run.oof, run.status
        scores = {method: self._score(y, output) for method, output in oof.items()}
        best = max(scores, key=scores.get)
        weights = {best: 1.0}
        ensemble = self._ensemble_selection(oof, y)
        fit_seconds, predict_seconds = run.fit_seconds, run.predict_seconds
        if sum(weight > 0 for weight in ensemble.values()) > 1:
            blend = sum(weight * oof[method] for method, weight in ensemble.items())
            scores["ensemble"] = self._score(y, blend)
            status["ensemble"] = "scored"
            fit_seconds["ensemble"] = sum(fit_seconds[m] for m in ensemble)
            predict_seconds["ensemble"] = sum(predict_seconds[m] for m in ensemble)
            if scores["ensemble"] > scores[best]:
                best, weights = "ensemble", ensemble
        self.best_method_ = best
        self.weights_ = weights
        self.oof_output_ = sum(
            weight * oof[method] for method, weight in weights.items()
        )
        if classification:
            self._fit_calibration(y, folds)
        self.leaderboard_ = self._leaderboard(
            scores, status, fit_seconds, predict_seconds, ensemble
        )
        self.estimators_ = run.refit(list(weights))
        if self.verbose > 1:
            print(self.leaderboard_.to_string())
        return self

    def _fold_ids(self, embedded, y):
        """The outer fold of every row: ``cv``'s test folds must cover each once."""
        cv = checked_cv(
            self.cv, y, classifier=is_classifier(self), owner=type(self).__name__
        )
        splits = cv.split(embedded, y)
        folds = np.full(len(y), -1)
        for index, (_, test) in enumerate(splits):
            if (folds[test] >= 0).any():
                raise ValueError(
                    f"the test folds of cv={self.cv!r} overlap; automatic fusion "
                    "needs folds that hold out every row exactly once"
                )
            folds[test] = index
        if (folds < 0).any() or folds.max() < 1:
            raise ValueError(
                f"the test folds of cv={self.cv!r} must hold out every row exactly "
                "once, in two folds or more"
            )
        return folds

    def _check_methods(self):
        methods = list(self.methods)
        unknown = [method for method in methods if method not in METHODS]
        if unknown or not methods or len(set(methods)) != len(methods):
            raise InvalidChoiceError(
                f"methods must be a non-empty list of distinct methods among "
                f"{METHODS!r}, got methods={self.methods!r}"
            )
        return methods

    def _fit_embedding(self, frame):
        """Fit the cell encoders and encode every row once.

        Returns the embedded table (the embedding columns of the modalities
        whose model starts with a cell encoder, NaN where the modality is
        missing or its cell could not be decoded; the original columns of the
        others) and the ``(name, downstream model, columns)`` triples over it.
        Sets ``modalities_``, ``embedding_columns_`` and ``errors_``.
        """
        self.modalities_, self.embedding_columns_ = [], {}
        parts, errors, downstream, taken = [], [], [], set()
        for name, model, columns in self._check_modalities(allow=()):
            columns = resolve_columns(columns, frame)
            encoder = leading_encoder(model)
            if encoder is None:
                block = frame[np.atleast_1d(columns).tolist()]
                self.modalities_.append((name, None, columns))
                model = clone(model)
            else:
                encoder = clone(encoder)
                cells, missing, _ = modality_rows(
                    name, frame, columns, encoder, None, fit=True
                )
                encoded, missing, encoder_errors = fit_encode(
                    name, encoder, cells, missing
                )
                block = _embedding_frame(name, encoded, missing, frame.index)
                errors.append(encoder_errors)
                self.modalities_.append((name, encoder, columns))
                model, columns = model[1:], list(block.columns)
                self.embedding_columns_[name] = columns
            used = set(np.atleast_1d(columns).tolist())
            if taken & used:
                raise ValueError(
                    f"modality {name!r} uses the columns {sorted(taken & used)!r} "
                    "of another modality or of an embedding; rename them"
                )
            taken |= used
            parts.append(block)
            downstream.append((name, model, columns))
        self.errors_ = concat_errors(errors)
        return pd.concat(parts, axis=1), downstream

    def _embed(self, frame):
        """The table the fitted methods take: each cell encoded once."""
        parts = []
        for name, encoder, columns in self.modalities_:
            if encoder is None:
                parts.append(frame[np.atleast_1d(columns).tolist()])
                continue
            cells, missing, _ = modality_rows(
                name, frame, columns, encoder, None, fit=False
            )
            width = len(self.embedding_columns_[name])
            encoded, missing = encode(name, encoder, cells, missing, width)
            parts.append(_embedding_frame(name, encoded, missing, frame.index))
        return pd.concat(parts, axis=1)

    def _candidate(self, method, triples):
        """The unfitted estimator of one fusion method over the embedded table."""
        classification = is_classifier(self)
        task = "classification" if classification else "regression"
        if method == "voting":
            if classification:
                return ModalityVotingClassifier(triples, voting="soft")
            return ModalityVotingRegressor(triples)
        if method == "stacking":
            stacking = (
                ModalityStackingClassifier
                if classification
                else ModalityStackingRegressor
            )
            return stacking(
                triples,
                final_estimator=default_meta_learner(task),
                random_state=self.random_state,
            )
        encoders = [
            (name, _encoder_part(model), columns) for name, model, columns in triples
        ]
        if method == "early":
            return make_pipeline(FeatureFusion(encoders), default_head(task))
        network = FusionNetClassifier if classification else FusionNetRegressor
        params = {"aux_weight": 0.3, "max_epochs": 200, **(self.net_params or {})}
        return network(encoders, random_state=self.random_state, **params)

    def _ensemble_selection(self, oof, y):
        """Greedy forward selection with replacement over the OOF outputs.

        Each round adds the method whose inclusion most lowers the loss of the
        averaged outputs (log loss, or squared error for regression); the
        weights are those of the best round.
        """
        methods = list(oof)
        counts = np.zeros(len(methods))
        total = np.zeros_like(oof[methods[0]])
        best_loss, best_counts = np.inf, None
        for size in range(1, self.ensemble_size + 1):
            losses = [self._loss(y, (total + oof[m]) / size) for m in methods]
            chosen = int(np.argmin(losses))
            total += oof[methods[chosen]]
            counts[chosen] += 1
            if losses[chosen] < best_loss:
                best_loss, best_counts = losses[chosen], counts.copy()
        if best_counts is None:
            return {}
        return {
            method: count / best_counts.sum()
            for method, count in zip(methods, best_counts, strict=True)
            if count > 0
        }

    def _leaderboard(self, scores, status, fit_seconds, predict_seconds, ensemble):
        rows = [
            {
                "method": method,
                "cv_score": scores.get(method, np.nan),
                "status": state,
                "fit_seconds": fit_seconds.get(method, np.nan),
                "predict_seconds": predict_seconds.get(method, np.nan),
                "weight": 1.0
                if method == self.best_method_
                else self.weights_.get(method, 0.0),
                "ensemble_weight": ensemble.get(method, 0.0),
            }
            for method, state in status.items()
        ]
        table = pd.DataFrame(rows).set_index("method")
        return table.sort_values(
            "cv_score", ascending=False, kind="stable", na_position="last"
        )

    def _output(self, estimator, X):
        """A fitted method's output on embedded rows (see :func:`method_output`)."""
        return method_output(estimator, X, getattr(self, "classes_", None))

    # -- prediction -------------------------------------------------------------

    def _blend(self, X):
        check_is_fitted(self)
        frame = as_frame(X)
        validate_data(self, frame, reset=False, skip_check_array=True)
        embedded = self._embed(frame)
        return sum(
            weight * self._output(self.estimators_[method], embedded)
            for method, weight in self.weights_.items()
        )

    def __getstate__(self):
        # skops cannot write a DataFrame attribute: keep the leaderboard as lists.
        state = dict(super().__getstate__())
        table = state.get("leaderboard_")
        if isinstance(table, pd.DataFrame):
            state["leaderboard_"] = {
                "method": table.index.tolist(),
                **{column: table[column].tolist() for column in table.columns},
            }
        return state

    def __setstate__(self, state):
        table = state.get("leaderboard_")
        if isinstance(table, dict):
            state = {**state, "leaderboard_": pd.DataFrame(table).set_index("method")}
        super().__setstate__(state)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.allow_nan = True
        return tags


@fill_doc(_AUTO_DOCS)
@estimator_parameters
class AutoFusionClassifier(ClassifierMixin, _BaseAutoFusion):
    """Pick the best fusion of modalities by out-of-fold score, or blend them.

    Each modality is a ``(name, model, columns)`` triple whose model is a
    single-modality classifier such as :func:`~mmensemble.default_modality_model`
    builds: a pipeline that starts with the modality's encoder and ends with
    its head. ``fit`` encodes each cell of a modality whose model starts with
    a cell encoder (:class:`~mmensemble.ImageEncoder`, ...) exactly once, then
    fits every method of ``methods`` on the same embedded table:

    - ``"early"``: :class:`~mmensemble.FeatureFusion` of the models' encoding
      steps and a self-tuning head (:func:`~mmensemble.default_head`);
    - ``"voting"``: soft :class:`~mmensemble.ModalityVotingClassifier` of the
      models;
    - ``"stacking"``: :class:`~mmensemble.ModalityStackingClassifier` of the
      models with the tuned meta-learner
      (:func:`~mmensemble.default_meta_learner`);
    - ``"net"``: :class:`~mmensemble.FusionNetClassifier` over the encoding
      steps, with auxiliary heads (``aux_weight=0.3``), its epochs set by
      early stopping.

    Each method is scored by accuracy on out-of-fold predictions over the same
    ``cv`` folds (no row is scored by a model that saw it). Greedy ensemble
    selection with replacement (Caruana et al., 2004) then averages the
    methods' out-of-fold probabilities, adding in each round the method that
    most lowers the log loss; the blend is kept when its out-of-fold accuracy
    beats the best single method's. The kept methods are refitted on all rows.

    The probabilities of the method or blend kept are then calibrated by
    temperature scaling fitted on its out-of-fold probabilities
    (``calibration``): ``softmax(log(p) / T)`` for one temperature ``T``,
    which keeps every row's most probable class, so the predictions do not
    change.

    Parameters
    ----------
    modalities : list of (str, estimator, columns)
        The modalities' models and their columns (a column name, or a list for
        tabular modalities). A model that is not a pipeline starting with a
        cell encoder gets the modality's columns as they are, refitted within
        each fold (TF-IDF vocabularies are learnt from training rows only).
    %(parameters)s
    calibration : "auto" or bool, default="auto"
        Temperature scaling of the probabilities, fitted on the out-of-fold
        probabilities of the method or blend kept. ``"auto"``: applied when
        it lowers their log loss, judged on rows it was not fitted on (the
        temperature of each ``cv`` fold fitted on the other folds' rows);
        True: always applied; False: never.

    Attributes
    ----------
    classes_ : ndarray
        The class labels.
    temperature_ : float
        The temperature the log-probabilities are divided by (1.0 when the
        calibration is not applied).
    calibration_ : dict
        The out-of-fold calibration: ``temperature`` (fitted, applied or
        not), ``applied``, ``log_loss_before`` and ``log_loss_after``,
        ``ece_before`` and ``ece_after`` (expected calibration error over
        equal-width bins of the top probability), "after" being
        cross-fitted over the ``cv`` folds, and ``ece_bins`` (how many
        bins).
    calibrator_ : object or None
        The fitted temperature scaling applied in :meth:`predict_proba`
        (None when it is not applied).
    leaderboard_ : DataFrame
        One row per method and one for the ensemble (when it mixes two methods
        or more), best first: ``cv_score`` (out-of-fold accuracy),
        ``fit_seconds`` and ``predict_seconds`` (mean per fold, on embedded
        rows), ``weight`` (in the final model: 1 for the row kept, the blend's
        weights for its methods when the ensemble is kept) and
        ``ensemble_weight`` (in the greedy ensemble, kept or not).
    %(attributes)s

    See Also
    --------
    sklearn.ensemble.StackingClassifier : Stacking over estimators on one table.

    References
    ----------
    R. Caruana, A. Niculescu-Mizil, G. Crew and A. Ksikes, "Ensemble selection
    from libraries of models", ICML 2004.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from mmensemble import AutoFusionClassifier, default_modality_model
    >>> rng = np.random.default_rng(0)
    >>> y = np.arange(60) % 2
    >>> X = pd.DataFrame({"a": y + rng.normal(size=60),
    ...                   "b": y + rng.normal(size=60)})
    >>> auto = AutoFusionClassifier(
    ...     [("a", default_modality_model("tabular"), ["a"]),
    ...      ("b", default_modality_model("tabular"), ["b"])],
    ...     methods=["early", "voting"], cv=3, random_state=0).fit(X, y)
    >>> auto.leaderboard_.index.isin(["early", "voting", "ensemble"]).all()
    np.True_
    >>> auto.predict_proba(X).shape
    (60, 2)
    """

    _parameter_constraints: ClassVar[dict] = {
        **_BaseAutoFusion._parameter_constraints,
        "calibration": [StrOptions({"auto"}), "boolean"],
    }

    calibration: str | bool = "auto"

    @fill_doc(MODEL_FUSION_DOCS)
    def predict_proba(self, X):
        """Class probabilities of the kept method or blend.

        Each kept method's probabilities get a column for every class of
        ``classes_`` (zero for a class it never saw) before they are averaged.

        %(parameters_X)s

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            The weighted average of the kept methods' probabilities, in the
            order of ``classes_``, calibrated by ``temperature_``.
        """
        proba = self._blend(X)
        if self.calibrator_ is None:
            return proba
        return self.calibrator_.predict(proba)

    @fill_doc(MODEL_FUSION_DOCS)
    def predict(self, X):
        """Class labels of the kept method or blend.

        The label of each row is the most probable class under
        :meth:`predict_proba`.

        %(parameters_X)s

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            The predicted class labels.
        """
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def _fit_calibration(self, y, folds):
        """Temperature scaling of ``oof_output_``, which it then calibrates."""
        self.calibrator_, self.calibration_ = temperature_calibration(
            self.oof_output_,
            np.searchsorted(self.classes_, y),
            folds,
            calibration=self.calibration,
        )
        self.temperature_ = 1.0
        if self.calibrator_ is not None:
            self.temperature_ = self.calibration_["temperature"]
            self.oof_output_ = self.calibrator_.predict(self.oof_output_)

    def _score(self, y, proba):
        return accuracy_score(y, self.classes_[np.argmax(proba, axis=1)])

    def _loss(self, y, proba):
        return log_loss(y, np.clip(proba, 1e-15, 1), labels=self.classes_)


@fill_doc(_AUTO_DOCS)
class AutoFusionRegressor(RegressorMixin, _BaseAutoFusion):
    """Pick the best fusion of modalities by out-of-fold R², or blend them.

    The regression counterpart of :class:`AutoFusionClassifier`: the same
    methods (averaging instead of soft voting, ``RidgeCV`` heads and
    meta-learner), scored by R² on out-of-fold predictions; greedy ensemble
    selection lowers the squared error of the averaged predictions.

    Parameters
    ----------
    modalities : list of (str, estimator, columns)
        The modalities' single-modality regressors and their columns.
    %(parameters)s

    Attributes
    ----------
    leaderboard_ : DataFrame
        As :class:`AutoFusionClassifier`'s, ``cv_score`` being the R².
    %(attributes)s

    See Also
    --------
    sklearn.ensemble.StackingRegressor : Stacking over estimators on one table.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from mmensemble import AutoFusionRegressor, default_modality_model
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"a": rng.normal(size=50), "b": rng.normal(size=50)})
    >>> y = X["a"] - X["b"]
    >>> auto = AutoFusionRegressor(
    ...     [("a", default_modality_model("tabular", task="regression"), ["a"]),
    ...      ("b", default_modality_model("tabular", task="regression"), ["b"])],
    ...     methods=["early", "stacking"], cv=3).fit(X, y)
    >>> auto.best_method_ in {"early", "stacking", "ensemble"}
    True
    """

    @fill_doc(MODEL_FUSION_DOCS)
    def predict(self, X):
        """Predictions of the kept method or blend.

        The kept methods' predictions are averaged with the weights
        ``weights_`` (a single method kept: its own predictions).

        %(parameters_X)s

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            The predicted values.
        """
        return self._blend(X)

    @staticmethod
    def _score(y, prediction):
        return r2_score(y, prediction)

    @staticmethod
    def _loss(y, prediction):
        return mean_squared_error(y, prediction)


def _encoder_part(model):
    """A modality model's steps before its head, or ``"passthrough"``."""
    if isinstance(model, Pipeline) and len(model.steps) > 1:
        return model[:-1]
    return "passthrough"


class _MethodRun:
    """The fusion methods of one automatic fusion fit, scored over shared folds.

    Soft voting and stacking take each modality's model fitted once per
    training row set from one :class:`SharedFits` store (``shared``, dropped
    with the run so that the fitted estimator does not carry its copies):
    voting the outer training folds; stacking those too, and for its inner
    folds (the other outer folds) the rows outside each pair of outer folds,
    so that the stacking of outer fold ``k`` learns its meta-learner only on
    predictions of models that never saw fold ``k`` (with only two outer
    folds, stacking draws inner folds of its own). The row sets are fitted
    in parallel before the method's folds, which then only predict. Early
    fusion and the network fit each of their folds in parallel. Every method
    after the first is skipped when its estimated cost does not fit the time
    budget.

    Parameters
    ----------
    auto : AutoFusionClassifier or AutoFusionRegressor
        The estimator being fitted (its ``_candidate`` and output functions).
    embedded : DataFrame
        The embedded table.
    y : ndarray of shape (n_samples,)
        The target.
    triples : list of (str, estimator, columns)
        The downstream modality models over ``embedded``.
    folds : ndarray of int of shape (n_samples,)
        The outer fold of every row.
    budget : TimeBudget
        The seconds left.
    """

    def __init__(self, auto, embedded, y, triples, folds, budget):
        self.auto, self.embedded, self.y = auto, embedded, y
        self.triples, self.folds, self.budget = triples, folds, budget
        self.n_folds = int(folds.max()) + 1
        self.classes = getattr(auto, "classes_", None)
        # The models' targets as voting and stacking encode them.
        self.target = y if self.classes is None else np.searchsorted(self.classes, y)
        self.candidates, self.oof, self.status = {}, {}, {}
        self.fit_seconds, self.predict_seconds = {}, {}
        self.fit_seconds_per_model = {}
        # Seconds of one fold's fit of every method that fitted one, skipped
        # or not: the time budget's prior for the methods after it.
        self.fold_seconds = {}
        self.shared = SharedFits()
        # Stacking's inner folds are the other outer folds when there are two
        # or more of them; with two outer folds it draws its own.
        self._nested_stacking = self.n_folds >= 3

    # -- one method ----------------------------------------------------------

    def method(self, method, *, on_fold):
        """Score ``method`` out of fold, unless the budget skips it.

        The first method run is never skipped, so the fit always ends with a
        model.
        """
        first = not self.oof
        candidate = self.auto._candidate(method, self.triples)
        self.candidates[method] = candidate
        reason = None if first else self.budget.skip_reason(self._estimate(method))
        if reason is not None:
            self.status[method] = reason
            return
        if method in _SHARING:
            self._fit_shared(self._row_sets(method))
            results = [self._shared_fold(method, fold) for fold in range(self.n_folds)]
            fit_seconds = self._shared_seconds(method)
        else:
            results = self._own_folds(method, first=first, on_fold=on_fold)
            if results is None:
                return
            fit_seconds = np.mean([result[1] for result in results])
        outputs = [result[0] for result in results]
        oof = np.empty((len(self.y), *outputs[0].shape[1:]))
        for fold, output in enumerate(outputs):
            oof[self.folds == fold] = output
        self.oof[method] = oof
        self.status[method] = "scored"
        self.fit_seconds[method] = self.fold_seconds[method] = fit_seconds
        self.predict_seconds[method] = np.mean([result[2] for result in results])

    def _estimate(self, method):
        """Estimated seconds of ``method``'s folds, or None when unknown.

        Stacking fits one model per modality and pair of outer folds, each
        as costly as a training fold's (timed when voting ran); early fusion
        fits one model per fold over every modality's columns at once.
        """
        if not self.fit_seconds_per_model:
            return None
        per_fold = sum(self.fit_seconds_per_model.values())
        workers = worker_count(self.auto.n_jobs, self.n_folds)
        if method == "stacking":
            missing_sets = len(self._row_sets(method)) - len(self._row_sets("voting"))
            return per_fold * missing_sets / workers
        if method == "early":
            return per_fold * self.n_folds / workers
        return None

    def _row_sets(self, method):
        """The training row sets whose shared fits ``method`` takes."""
        everything = np.arange(self.n_folds)
        outer = [everything[everything != fold] for fold in everything]
        if method == "voting" or not self._nested_stacking:
            return outer
        pairs = [
            everything[(everything != j) & (everything != k)]
            for j in everything
            for k in everything
            if j < k
        ]
        return outer + pairs

    def _fit_shared(self, row_sets):
        """Fit every modality's model on the rows of each set of folds, once.

        ``row_sets`` are lists of outer folds (None: every row). Fits already
        in the store are not repeated. The first call times one fit of each
        modality's model (``fit_seconds_per_model``).
        """
        requests = {}
        for name, model, columns in self.triples:
            for fold_set in row_sets:
                rows = (
                    np.arange(len(self.y))
                    if fold_set is None
                    else np.flatnonzero(np.isin(self.folds, fold_set))
                )
                X, y = self._present_rows(name, model, columns, rows)
                digest = fit_digest(model, X, y)
                if digest not in self.shared and digest not in requests:
                    requests[digest] = (name, clone(model), X, y)
        fitted = run_tasks(
            _timed_fit,
            [(model, X, y) for _, model, X, y in requests.values()],
            n_jobs=self.auto.n_jobs,
        )
        seconds = {}
        for (digest, (name, _, _, _)), (model, fit_time) in zip(
            requests.items(), fitted, strict=True
        ):
            self.shared.add(digest, model)
            seconds.setdefault(name, []).append(fit_time)
        for name, times in seconds.items():
            self.fit_seconds_per_model.setdefault(name, float(np.mean(times)))

    def _present_rows(self, name, model, columns, rows):
        """The rows of ``rows`` a voting or stacking model of ``name`` fits on."""
        data, missing, _ = modality_rows(
            name, self.embedded.iloc[rows], columns, model, None, fit=False
        )
        return data[~missing], self.target[rows][~missing]

    def _shared_fold(self, method, fold):
        """Fit ``method`` on the other folds through the store; score ``fold``."""
        train, test = self.folds != fold, self.folds == fold
        candidate = clone(self.candidates[method])
        if method == "stacking" and self._nested_stacking:
            candidate.set_params(cv=PredefinedSplit(self.folds[train]))
        with sharing_fits(self.shared):
            return _fold_output(
                candidate,
                self.embedded[train],
                self.y[train],
                self.embedded[test],
                self.classes,
            )

    def _shared_seconds(self, method):
        """Seconds per fold of a shared method: its modality models' fits."""
        per_model = sum(self.fit_seconds_per_model.values())
        sets_per_fold = len(self._row_sets(method)) / self.n_folds
        return per_model * sets_per_fold

    def _own_folds(self, method, *, first, on_fold):
        """Fit and score ``method``'s folds; None when the budget stops it.

        Under a time limit, a method after the first is skipped at once when
        one of its folds, estimated at a fold of the costliest method so far
        (the methods run cheapest first), does not fit the budget; otherwise
        it fits one fold alone, and the rest only when their cost estimated
        from that fold fits.
        """
        candidate = self.candidates[method]
        arguments = [
            (
                clone(candidate),
                self.embedded[self.folds != fold],
                self.y[self.folds != fold],
                self.embedded[self.folds == fold],
                self.classes,
            )
            for fold in range(self.n_folds)
        ]
        results = []
        if not first and self.auto.time_limit is not None:
            reason = self.budget.skip_reason(max(self.fold_seconds.values()))
            if reason is not None:
                self.status[method] = f"{reason} (one fold, at least)"
                return None
            results = run_tasks(_fold_output, arguments[:1], n_jobs=1, on_done=on_fold)
            self.fold_seconds[method] = results[0][1]
            workers = worker_count(self.auto.n_jobs, self.n_folds - 1)
            estimate = results[0][1] * (self.n_folds - 1) / workers
            reason = self.budget.skip_reason(estimate)
            if reason is not None:
                self.status[method] = f"{reason} (one fold took {results[0][1]:.1f} s)"
                return None
            arguments = arguments[1:]
        return results + run_tasks(
            _fold_output, arguments, n_jobs=self.auto.n_jobs, on_done=on_fold
        )

    # -- the final refit -----------------------------------------------------

    def refit(self, methods):
        """The kept methods refitted on all rows, by method."""
        fitted = {}
        own = [method for method in methods if method not in _SHARING]
        if len(own) < len(methods):
            self._fit_shared([None])
        for method in methods:
            if method in _SHARING:
                candidate = clone(self.candidates[method])
                if method == "stacking":
                    candidate.set_params(cv=PredefinedSplit(self.folds))
                with sharing_fits(self.shared):
                    fitted[method] = candidate.fit(self.embedded, self.y)
        refitted = run_tasks(
            _timed_fit,
            [(clone(self.candidates[m]), self.embedded, self.y) for m in own],
            n_jobs=self.auto.n_jobs,
        )
        fitted.update(
            (method, model) for method, (model, _) in zip(own, refitted, strict=True)
        )
        return {method: fitted[method] for method in methods}


def _timed_fit(estimator, X, y):
    """``estimator.fit(X, y)`` and the seconds it took."""
    start = time.perf_counter()
    estimator.fit(X, y)
    return estimator, time.perf_counter() - start


def _fold_output(candidate, X_train, y_train, X_test, classes):
    """Fit on a fold's training rows; its test rows' output and the times."""
    candidate, fit_seconds = _timed_fit(candidate, X_train, y_train)
    start = time.perf_counter()
    output = method_output(candidate, X_test, classes)
    return output, fit_seconds, time.perf_counter() - start


def method_output(estimator, X, classes):
    """A fitted method's output: probabilities over ``classes``, or predictions.

    Parameters
    ----------
    estimator : fitted estimator
    X : DataFrame
        Embedded rows.
    classes : ndarray or None
        The classes of the automatic fusion classifier (its probabilities get
        a column for every one, zero for a class ``estimator`` never saw);
        None for a regressor.

    Returns
    -------
    output : ndarray of shape (n_samples, n_classes) or (n_samples,)
        Float64 probabilities, each row summing to one, or predictions.
    """
    if classes is None:
        return np.asarray(estimator.predict(X), dtype=np.float64)
    proba = estimator.predict_proba(X)
    aligned = np.zeros((len(proba), len(classes)))
    aligned[:, np.searchsorted(classes, estimator.classes_)] = proba
    # Single-precision probabilities (the network's) sum to one only to
    # float32 precision; the log loss of the blends checks float64 sums.
    return aligned / aligned.sum(axis=1, keepdims=True)


def _embedding_frame(name, block, missing, index):
    """A modality's encoded block as named columns, NaN in its missing rows."""
    values = np.asarray(block, dtype=np.float32)
    values[missing] = np.nan
    names = [f"{name}__{position}" for position in range(values.shape[1])]
    return pd.DataFrame(values, index=index, columns=names)
