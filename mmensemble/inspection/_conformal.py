"""Conformal prediction sets and intervals from out-of-fold conformity scores.

:func:`conformalize` computes one conformity score per training row from a
prediction of a model that did not see the row: automatic fusion's own
out-of-fold output (``oof_output_``, no refit), or for any other fusion
estimator the out-of-fold predictions of clones fitted on ``cv`` folds. The
:class:`ConformalScores` it returns turns a coverage ``1 - alpha`` into a
threshold on the scores: a prediction set (classifier) holds the classes whose
score is below it, an interval (regressor) the values within it of the
prediction.

Scores are ``1 - p(true class)`` for sets (LAC, Sadinle et al., 2019) and the
absolute residual for intervals (MAPIE's ``"lac"`` and ``"absolute"``
conformity scores). The threshold of ``n`` scores is their
``ceil((n + 1)(1 - alpha))``-th smallest, infinite when that rank is above
``n``. A row's modalities matter: the threshold is taken among the training
rows with the same modalities present (Mondrian conformal prediction, by
pattern of present modalities) when there are at least ``min_pattern_rows``
of them (19 by default: the fewest with a finite threshold at 95% coverage,
``n >= 1 / alpha - 1``) and their threshold is finite, and among all rows
otherwise. The minimum does not depend on the coverage asked, so that a row's
set only grows with the coverage (a pattern with 9 to 18 rows would otherwise
have its own 90% threshold, from its largest score, but the pooled 95% one).
A row missing a modality therefore gets the larger sets that the training
rows missing it needed.

The scores come from the fold models, the sets and intervals from the model
refitted on every row: the plain cross-validation method of Barber et al.
(2021, "Predictive inference with the jackknife+"). It has no finite-sample
guarantee in the worst case (CV+, which predicts with every fold model, has
``1 - 2 alpha``), but a model fitted on 4/5 of the rows differs little from
one fitted on all of them, and its coverage is close to the target: the tests
measure it over seeds, ``benchmarks/calibration_coverage.py`` on voices unseen
in training.
"""

from math import ceil, isfinite
from numbers import Integral, Real

import numpy as np
import pandas as pd
from sklearn.base import clone, is_classifier
from sklearn.model_selection import cross_val_predict
from sklearn.utils.validation import check_is_fitted, column_or_1d

from .._compat import HasMethods, Interval, validate_params
from ..fusion._folds import checked_cv
from ..fusion._modality import as_frame, modality_missing, resolve_columns
from ._importance import InspectionError, as_list, find_modalities

__all__ = [
    "ConformalScores",
    "check_coverage",
    "class_sets",
    "conformalize",
    "coverage_table",
]


def check_coverage(coverage):
    """``coverage`` as a float strictly between 0 and 1, or an error naming it.

    Examples
    --------
    >>> from mmensemble.inspection._conformal import check_coverage
    >>> check_coverage(0.9)
    0.9
    """
    valid = isinstance(coverage, Real) and not isinstance(coverage, bool)
    if not (valid and isfinite(coverage) and 0 < coverage < 1):
        raise InspectionError(
            "coverage must be a number strictly between 0 and 1 (0.9: the set "
            f"or interval holds the true value in 90% of rows), got {coverage!r}"
        )
    return float(coverage)


@validate_params(
    {
        "estimator": [HasMethods(["fit", "predict"])],
        "X": [dict, "array-like"],
        "y": ["array-like"],
        "cv": ["cv_object"],
        "min_pattern_rows": [Interval(Integral, 1, None, closed="left")],
        "n_jobs": [Integral, None],
    },
    prefer_skip_nested_validation=True,
)
def conformalize(estimator, X, y, *, cv=5, min_pattern_rows=19, n_jobs=None):
    """Out-of-fold conformity scores of a fitted fusion estimator.

    Parameters
    ----------
    estimator : fitted estimator
        A fitted fusion estimator of this package (or a pipeline or search
        holding one), fitted on ``X`` and ``y``. Automatic fusion gives its
        out-of-fold output ``oof_output_`` and nothing is refitted; for any
        other estimator, clones are fitted on the ``cv`` folds of ``X`` and
        predict the rows held out (:func:`~sklearn.model_selection.cross_val_predict`).
        A classifier needs ``predict_proba``.
    X : DataFrame or dict of columns
        The rows ``estimator`` was fitted on.
    y : array-like of shape (n_samples,)
        Their target.
    cv : int, cross-validation generator or iterable, default=5
        The folds of the clones (an int gives stratified folds to a
        classifier); not used for automatic fusion.
    min_pattern_rows : int, default=19
        The fewest training rows with a pattern of present modalities for
        that pattern's own threshold; rows of rarer patterns take the
        threshold of all rows.
    n_jobs : int, default=None
        Folds fitted in parallel (joblib).

    Returns
    -------
    conformal : ConformalScores
        The scores, with what the prediction sets or intervals need.

    See Also
    --------
    sklearn.calibration.CalibratedClassifierCV : Calibrated probabilities
        from cross-fitted models.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from sklearn.linear_model import LinearRegression
    >>> from mmensemble import ModalityVotingRegressor, conformalize
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"a": rng.normal(size=200), "b": rng.normal(size=200)})
    >>> y = X["a"] + X["b"] + rng.normal(scale=0.5, size=200)
    >>> vote = ModalityVotingRegressor([("a", LinearRegression(), ["a"]),
    ...                                 ("b", LinearRegression(), ["b"])]).fit(X, y)
    >>> lower, upper = conformalize(vote, X, y).intervals(vote, X, coverage=0.9)
    >>> bool(0.85 < np.mean((lower <= y) & (y <= upper)) < 0.95)
    True
    """
    check_is_fitted(estimator)
    frame = as_frame(X)
    classifier = is_classifier(estimator)
    y = column_or_1d(y, dtype=None if classifier else np.float64)
    if classifier and not hasattr(estimator, "predict_proba"):
        raise InspectionError(
            f"conformal prediction sets need class probabilities; "
            f"{type(estimator).__name__} has no predict_proba (hard voting?)"
        )
    output = getattr(estimator, "oof_output_", None)
    if output is None:
        folds = checked_cv(
            cv,
            y,
            classifier=classifier,
            owner=f"conformalize({type(estimator).__name__})",
        )
        output = cross_val_predict(
            clone(estimator),
            frame,
            y,
            cv=folds,
            n_jobs=n_jobs,
            method="predict_proba" if classifier else "predict",
        )
    elif len(output) != len(y):
        raise InspectionError(
            f"{type(estimator).__name__}.oof_output_ has {len(output)} rows and y "
            f"{len(y)}: pass the rows the estimator was fitted on"
        )
    if classifier:
        classes = estimator.classes_
        positions = np.searchsorted(classes, y)
        scores = 1 - output[np.arange(len(y)), positions]
    else:
        classes = None
        scores = np.abs(y - output)
    modalities = find_modalities(estimator)
    if modalities is None:
        raise InspectionError(
            f"could not find the modalities of {type(estimator).__name__}: pass a "
            "fitted fusion estimator of mmensemble, or a pipeline or search "
            "holding one"
        )
    columns = {
        name: as_list(resolve_columns(spec, frame)) for name, spec in modalities.items()
    }
    return ConformalScores(
        scores=np.asarray(scores, dtype=np.float64),
        patterns=_present(frame, columns),
        modality_columns=columns,
        classes=classes,
        min_pattern_rows=min_pattern_rows,
    )


class ConformalScores:
    """Out-of-fold conformity scores and the modalities present in their rows.

    Built by :func:`conformalize`; holds plain arrays, so it goes into a model
    file (``mmensemble fit`` saves one with every model).

    Parameters
    ----------
    scores : ndarray of shape (n_samples,)
        ``1 - p(true class)`` (classifier) or ``|y - prediction|`` (regressor)
        of every training row, from a model that did not see it.
    patterns : ndarray of bool of shape (n_samples, n_modalities)
        Which modalities are present in each of those rows.
    modality_columns : dict of str to list
        The columns of each modality, in the order of ``patterns``' columns.
    classes : ndarray or None
        The classifier's classes (None for a regressor).
    min_pattern_rows : int, default=19
        The fewest rows of a pattern of present modalities for its own
        threshold.
    """

    def __init__(
        self, *, scores, patterns, modality_columns, classes, min_pattern_rows=19
    ):
        self.scores = scores
        self.patterns = patterns
        self.modality_columns = modality_columns
        self.classes = classes
        self.min_pattern_rows = min_pattern_rows

    def thresholds(self, X, coverage=0.9):
        """The score threshold of every row of ``X`` at ``coverage``.

        Each row's threshold is the conformal quantile of the scores of the
        training rows with the same modalities present, when there are
        ``min_pattern_rows`` of them or more and it is finite, else of all
        the scores.

        Parameters
        ----------
        X : DataFrame or dict of columns
            The rows, with the modalities' columns.
        coverage : float, default=0.9
            The share ``1 - alpha`` of rows whose set or interval should hold
            the true value, strictly between 0 and 1.

        Returns
        -------
        thresholds : ndarray of shape (n_samples,)
            Possibly ``inf`` (too few scores for that coverage).
        """
        coverage = check_coverage(coverage)
        rows = _present(as_frame(X), self.modality_columns)
        pooled = _conformal_quantile(self.scores, coverage)
        thresholds = np.full(len(rows), pooled)
        for pattern in np.unique(rows, axis=0):
            group = (self.patterns == pattern).all(axis=1)
            if group.sum() < self.min_pattern_rows:
                continue
            quantile = _conformal_quantile(self.scores[group], coverage)
            if isfinite(quantile):
                thresholds[(rows == pattern).all(axis=1)] = quantile
        return thresholds

    def prediction_sets(self, estimator, X, *, coverage=0.9):
        """Conformal prediction sets of a fitted classifier.

        A class is in a row's set when its conformity score ``1 - p`` is at
        most the row's threshold. A set may be empty: no class is likely
        enough at that coverage (a model more accurate than the coverage
        asked must leave some rows without a class to cover only that
        share); a set that is not empty holds the most probable class.

        Parameters
        ----------
        estimator : fitted classifier
            The estimator the scores were computed for.
        X : DataFrame or dict of columns
            The rows.
        coverage : float, default=0.9
            Strictly between 0 and 1.

        Returns
        -------
        sets : ndarray of bool of shape (n_samples, n_classes)
            Whether each class of ``classes`` is in each row's set.
        """
        self._check_task(classifier=True)
        frame = as_frame(X)
        proba = estimator.predict_proba(frame)
        return class_sets(proba, self.thresholds(frame, coverage))

    def intervals(self, estimator, X, *, coverage=0.9):
        """Conformal prediction intervals of a fitted regressor.

        Parameters
        ----------
        estimator : fitted regressor
            The estimator the scores were computed for.
        X : DataFrame or dict of columns
            The rows.
        coverage : float, default=0.9
            Strictly between 0 and 1.

        Returns
        -------
        lower, upper : ndarray of shape (n_samples,)
            The prediction minus and plus the row's threshold.
        """
        self._check_task(classifier=False)
        frame = as_frame(X)
        prediction = np.asarray(estimator.predict(frame), dtype=np.float64)
        threshold = self.thresholds(frame, coverage)
        return prediction - threshold, prediction + threshold

    def _check_task(self, *, classifier):
        if (self.classes is not None) == classifier:
            return
        kind = "regressor" if classifier else "classifier"
        method = "intervals" if classifier else "prediction_sets"
        raise InspectionError(f"these conformity scores are a {kind}'s; use {method}")


def coverage_table(conformal, X, y, output, *, coverages=(0.8, 0.9, 0.95)):
    """Empirical coverage and size of the sets or intervals of labelled rows.

    Parameters
    ----------
    conformal : ConformalScores
        The scores of the estimator whose output is given.
    X : DataFrame or dict of columns
        The rows.
    y : array-like of shape (n_samples,)
        Their true classes or values.
    output : ndarray
        The estimator's probabilities on ``X`` (in the order of
        ``conformal.classes``) or its predictions.
    coverages : sequence of float, default=(0.8, 0.9, 0.95)
        The target coverages.

    Returns
    -------
    table : DataFrame
        One row per target coverage (the index, ``target``): ``coverage``,
        the share of rows whose set or interval holds the truth, then
        ``mean_size`` and the share of sets of each size (``size_0``, the
        empty sets, ``size_1``, ...)
        for a classifier, or ``mean_width`` for a regressor.
    """
    frame = as_frame(X)
    rows = []
    for coverage in coverages:
        thresholds = conformal.thresholds(frame, coverage)
        if conformal.classes is None:
            error = np.abs(np.asarray(y, dtype=np.float64) - output)
            rows.append(
                {
                    "coverage": float(np.mean(error <= thresholds)),
                    "mean_width": float(np.mean(2 * thresholds)),
                }
            )
            continue
        sets = class_sets(output, thresholds)
        truth = np.searchsorted(conformal.classes, np.asarray(y))
        sizes = sets.sum(axis=1)
        row = {
            "coverage": float(sets[np.arange(len(truth)), truth].mean()),
            "mean_size": float(sizes.mean()),
        }
        for size in range(len(conformal.classes) + 1):
            row[f"size_{size}"] = float(np.mean(sizes == size))
        rows.append(row)
    return pd.DataFrame(rows, index=pd.Index(list(coverages), name="target"))


def class_sets(proba, thresholds):
    """Which classes are in each row's set: those with ``1 - p <= threshold``.

    Parameters
    ----------
    proba : ndarray of shape (n_samples, n_classes)
    thresholds : ndarray of shape (n_samples,)

    Returns
    -------
    sets : ndarray of bool of shape (n_samples, n_classes)
    """
    return 1 - proba <= thresholds[:, None]


def _conformal_quantile(scores, coverage):
    """The ``ceil((n + 1) coverage)``-th smallest score, or inf past ``n``."""
    rank = ceil((len(scores) + 1) * coverage)
    if rank > len(scores):
        return np.inf
    return float(np.partition(scores, rank - 1)[rank - 1])


def _present(frame, columns):
    """Whether each modality of ``columns`` is present in each row of ``frame``."""
    return np.column_stack(
        [~np.asarray(modality_missing(frame, cols)) for cols in columns.values()]
    )
