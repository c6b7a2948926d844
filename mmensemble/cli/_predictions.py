"""The table that ``mmensemble predict`` writes for a block of rows."""

import numpy as np
import pandas as pd

from .._persistence import ModelFileError
from ..encoders._cache import memory_cache_scope
from ..inspection._conformal import class_sets

__all__ = ["prediction_table"]


def prediction_table(model, frame, *, explain=False, coverage=None, novelty=False):
    """The predictions of a model written by ``mmensemble fit`` for some rows.

    Parameters
    ----------
    model : RoleModel
        The fitted model with its column roles.
    frame : DataFrame
        The rows, as :func:`~mmensemble.cli._main.read_table` reads them.
    explain : bool, default=False
        Whether to add each modality's contribution (``explain_<modality>``
        columns, see :func:`~mmensemble.explain_modalities`).
    coverage : float, default=None
        Add conformal prediction sets at this coverage, from the model's
        out-of-fold conformity scores (``model.conformal``): a
        ``prediction_set`` column (the classes in the set, in class order,
        joined by ``|``; empty when no class is likely enough at that
        coverage) for a classifier, ``lower`` and ``upper`` for a
        regressor.
    novelty : bool, default=False
        Whether to add each encoded modality's ``<modality>_novelty`` and
        ``<modality>_unlike_training`` columns (see
        :meth:`~mmensemble.ModalityNovelty.score_rows`).

    Returns
    -------
    table : DataFrame
        One row per row of ``frame``, with its index: ``id`` (when ``frame``
        has that column), ``prediction``, ``proba_<class>`` for a classifier,
        the prediction set or interval, then the explanations and the novelty
        columns.
    """
    conformal = model.conformal
    if coverage is not None and conformal is None:
        raise ModelFileError(
            "this model file has no conformity scores (it was written before "
            "'predict --coverage' existed, or fitted with a class of a single "
            "row); fit it again"
        )
    if novelty and model.novelty is None:
        raise ModelFileError(
            "the model file holds no novelty summaries (it was written by an "
            "older mmensemble); fit it again to use --novelty"
        )
    # Within the block the in-process cache spares encoding a cell twice
    # (explanations, novelty scores); the next block holds other rows.
    with memory_cache_scope():
        X = frame[model.columns]
        estimator = model.estimator
        out = pd.DataFrame(index=frame.index)
        if "id" in frame.columns:
            out["id"] = frame["id"]
        # A classifier's label is its most probable class (every fusion model of
        # fit predicts so); deriving it spares a second pass of the fusion work.
        if hasattr(estimator, "predict_proba"):
            probabilities = estimator.predict_proba(X)
            out["prediction"] = estimator.classes_[np.argmax(probabilities, axis=1)]
            for position, label in enumerate(estimator.classes_):
                out[f"proba_{label}"] = probabilities[:, position]
            if coverage is not None:
                sets = class_sets(probabilities, conformal.thresholds(X, coverage))
                labels = np.array([str(label) for label in estimator.classes_])
                out["prediction_set"] = ["|".join(labels[row]) for row in sets]
        else:
            out["prediction"] = estimator.predict(X)
            if coverage is not None:
                threshold = conformal.thresholds(X, coverage)
                out["lower"] = out["prediction"] - threshold
                out["upper"] = out["prediction"] + threshold
        if explain:
            from ..inspection._explain import explain_modalities

            explanation = explain_modalities(estimator, X)
            contributions = explanation.columns.drop(
                ["prediction", "probability"], errors="ignore"
            )
            for name in contributions:
                out[f"explain_{name}"] = explanation[name]
        if novelty:
            out = out.join(model.novelty.score_rows(X))
        return out
