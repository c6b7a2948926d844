"""Automatic fusion: every fusion strategy scored out of fold on one encoding.

:class:`AutoFusionClassifier` and :class:`AutoFusionRegressor` encode each
modality once, then fit early fusion, soft voting, stacking and the fusion
network on the same embedded table, score each by cross-validation and keep
the best one or a greedy ensemble selection over them (Caruana et al., 2004),
whichever scores better out of fold.
"""

import time
from numbers import Integral
from typing import ClassVar

import numpy as np
import pandas as pd
from sklearn.base import ClassifierMixin, RegressorMixin, clone, is_classifier
from sklearn.metrics import accuracy_score, log_loss, mean_squared_error, r2_score
from sklearn.model_selection import check_cv
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.utils.multiclass import check_classification_targets, unique_labels
from sklearn.utils.validation import (
    check_consistent_length,
    check_is_fitted,
    column_or_1d,
    validate_data,
)

from .._compat import Interval
from .._docstrings import fill_doc
from .._parallel import Parallel, delayed
from .._parameters import estimator_parameters
from ..encoders._base import concat_errors
from ..encoders._cells import missing_mask
from ._defaults import InvalidChoiceError, default_head, default_meta_learner
from ._docs import MODEL_FUSION_DOCS
from ._early import FeatureFusion
from ._fusion_net import FusionNetClassifier, FusionNetRegressor
from ._modality import BaseModalityComposition, as_frame, resolve_columns
from ._plumbing import leading_encoder
from ._stacking import ModalityStackingClassifier, ModalityStackingRegressor
from ._voting import ModalityVotingClassifier, ModalityVotingRegressor

__all__ = ["AutoFusionClassifier", "AutoFusionRegressor"]

METHODS = ("early", "voting", "stacking", "net")

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
    random_state : int, RandomState instance or None, default=None
        Seeds stacking's folds and the network.
    n_jobs : int, default=None
        Folds fitted in parallel (joblib).
    verbose : int, default=0
        Print the leaderboard at the end of ``fit``.""",
    # The attributes after ``leaderboard_``, the same for both tasks.
    "attributes": """\
best_method_ : str
        The method kept, or ``"ensemble"``.
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
        "random_state": ["random_state"],
        "n_jobs": [None, Integral],
        "verbose": ["verbose"],
    }

    methods: tuple = METHODS
    cv: object = 5
    ensemble_size: int = 25
    net_params: dict | None = None
    random_state: object = None
    n_jobs: int | None = None
    verbose: int = 0

    # -- fitting ----------------------------------------------------------------

    def fit(self, X, y):
        """Encode every modality once, score each method out of fold, keep the best.

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
        frame = as_frame(X)
        validate_data(self, frame, y, reset=True, skip_check_array=True)
        classification = is_classifier(self)
        y = column_or_1d(y, dtype=None if classification else np.float64, warn=True)
        check_consistent_length(frame, y)
        if classification:
            check_classification_targets(y)
            self.classes_ = unique_labels(y)
        embedded, triples = self._fit_embedding(frame)
        candidates = {method: self._candidate(method, triples) for method in methods}
        oof, fit_seconds, predict_seconds = self._out_of_fold(candidates, embedded, y)
        scores = {method: self._score(y, output) for method, output in oof.items()}
        best = max(scores, key=scores.get)
        weights = {best: 1.0}
        ensemble = self._ensemble_selection(oof, y)
        if sum(weight > 0 for weight in ensemble.values()) > 1:
            blend = sum(weight * oof[method] for method, weight in ensemble.items())
            scores["ensemble"] = self._score(y, blend)
            fit_seconds["ensemble"] = sum(fit_seconds[m] for m in ensemble)
            predict_seconds["ensemble"] = sum(predict_seconds[m] for m in ensemble)
            if scores["ensemble"] > scores[best]:
                best, weights = "ensemble", ensemble
        self.best_method_ = best
        self.weights_ = weights
        self.leaderboard_ = self._leaderboard(
            scores, fit_seconds, predict_seconds, ensemble
        )
        self.estimators_ = {
            method: clone(candidates[method]).fit(embedded, y) for method in weights
        }
        if self.verbose:
            print(self.leaderboard_.to_string())
        return self

    def _out_of_fold(self, candidates, embedded, y):
        """Each candidate's out-of-fold outputs over the same folds, and times.

        Returns dicts by method: the outputs, and the mean seconds per fold
        of fitting and of predicting the held-out rows.
        """
        splits = list(
            check_cv(self.cv, y, classifier=is_classifier(self)).split(embedded, y)
        )
        folds = Parallel(n_jobs=self.n_jobs)(
            delayed(self._fit_fold)(clone(candidate), embedded, y, train, test)
            for candidate in candidates.values()
            for train, test in splits
        )
        oof, fit_seconds, predict_seconds = {}, {}, {}
        for position, method in enumerate(candidates):
            results = folds[position * len(splits) : (position + 1) * len(splits)]
            oof[method] = np.empty((len(y), *results[0][0].shape[1:]))
            for (_, test), (output, _, _) in zip(splits, results, strict=True):
                oof[method][test] = output
            fit_seconds[method] = np.mean([result[1] for result in results])
            predict_seconds[method] = np.mean([result[2] for result in results])
        return oof, fit_seconds, predict_seconds

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
        whose model starts with a cell encoder, the original columns of the
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
                block = _encoded_block(name, encoder, frame[columns], fit=True)
                errors.append(encoder.errors_)
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
            else:
                parts.append(_encoded_block(name, encoder, frame[columns], fit=False))
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

    def _fit_fold(self, candidate, embedded, y, train, test):
        """Fit on the training rows; return the test rows' output and the times."""
        start = time.perf_counter()
        candidate.fit(embedded.iloc[train], y[train])
        fit_seconds = time.perf_counter() - start
        start = time.perf_counter()
        output = self._output(candidate, embedded.iloc[test])
        return output, fit_seconds, time.perf_counter() - start

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

    def _leaderboard(self, scores, fit_seconds, predict_seconds, ensemble):
        rows = [
            {
                "method": method,
                "cv_score": score,
                "fit_seconds": fit_seconds[method],
                "predict_seconds": predict_seconds[method],
                "weight": 1.0
                if method == self.best_method_
                else self.weights_.get(method, 0.0),
                "ensemble_weight": ensemble.get(method, 0.0),
            }
            for method, score in scores.items()
        ]
        table = pd.DataFrame(rows).set_index("method")
        return table.sort_values("cv_score", ascending=False, kind="stable")

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

    Parameters
    ----------
    modalities : list of (str, estimator, columns)
        The modalities' models and their columns (a column name, or a list for
        tabular modalities). A model that is not a pipeline starting with a
        cell encoder gets the modality's columns as they are, refitted within
        each fold (TF-IDF vocabularies are learnt from training rows only).
    %(parameters)s

    Attributes
    ----------
    classes_ : ndarray
        The class labels.
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
            order of ``classes_``.
        """
        return self._blend(X)

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

    def _output(self, estimator, X):
        """Probabilities with a column for every class, in ``classes_`` order."""
        proba = estimator.predict_proba(X)
        aligned = np.zeros((len(proba), len(self.classes_)))
        aligned[:, np.searchsorted(self.classes_, estimator.classes_)] = proba
        return aligned

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
    def _output(estimator, X):
        return np.asarray(estimator.predict(X), dtype=np.float64)

    @staticmethod
    def _score(y, prediction):
        return r2_score(y, prediction)

    @staticmethod
    def _loss(y, prediction):
        return mean_squared_error(y, prediction)


def _encoded_block(name, encoder, cells, *, fit):
    """Encode the present cells of one column; NaN rows where it is missing."""
    present = ~missing_mask(cells)
    if fit and not present.any():
        raise ValueError(
            f"modality {name!r} is missing in every row of X; it cannot be fitted"
        )
    rows = cells[present]
    if fit:
        encoded = encoder.fit_transform(rows)
    elif present.any():
        encoded = encoder.transform(rows)
    width = encoder.n_features_out_
    block = np.full((len(cells), width), np.nan, dtype=np.float32)
    if present.any():
        block[present] = np.asarray(encoded)
    names = [f"{name}__{index}" for index in range(width)]
    return pd.DataFrame(block, index=cells.index, columns=names)


def _encoder_part(model):
    """A modality model's steps before its head, or ``"passthrough"``."""
    if isinstance(model, Pipeline) and len(model.steps) > 1:
        return model[:-1]
    return "passthrough"
