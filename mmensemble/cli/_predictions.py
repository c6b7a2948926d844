"""The table that ``mmensemble predict`` writes for a block of rows."""

import numpy as np
import pandas as pd

from .._exceptions import MMEnsembleError

__all__ = ["prediction_table"]


def prediction_table(model, frame, *, explain=False, novelty=False):
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
    novelty : bool, default=False
        Whether to add each encoded modality's ``<modality>_novelty`` and
        ``<modality>_unlike_training`` columns (see
        :meth:`~mmensemble.ModalityNovelty.score_rows`).

    Returns
    -------
    table : DataFrame
        One row per row of ``frame``, with its index: ``id`` (when ``frame``
        has that column), ``prediction``, ``proba_<class>`` for a classifier,
        then the explanations and the novelty columns.
    """
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
    else:
        out["prediction"] = estimator.predict(X)
    if explain:
        from ..inspection._explain import explain_modalities

        explanation = explain_modalities(estimator, X)
        contributions = explanation.columns.drop(
            ["prediction", "probability"], errors="ignore"
        )
        for name in contributions:
            out[f"explain_{name}"] = explanation[name]
    if novelty:
        if model.novelty is None:
            raise MMEnsembleError(
                "the model file holds no novelty summaries (it was written by an "
                "older mmensemble); fit it again to use --novelty"
            )
        out = out.join(model.novelty.score_rows(X))
    return out
