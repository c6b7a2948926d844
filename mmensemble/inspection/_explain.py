"""Per-row explanations: what each modality adds to one row's prediction."""

import numpy as np
import pandas as pd
from sklearn.base import is_classifier
from sklearn.utils.validation import check_is_fitted

from ..fusion._modality import as_frame
from ._importance import (
    InspectionError,
    all_subsets,
    masked_copy,
    resolve_modalities,
    shapley_values,
)

__all__ = ["explain_modalities"]

_RESERVED = ("baseline", "prediction", "probability")


def explain_modalities(estimator, X, *, modalities=None):
    """Exact per-row Shapley contributions of each modality to the prediction.

    For every row, the fitted ``estimator`` predicts the row with every subset
    ``S`` of the modalities present and the others masked as missing (their
    columns set to NaN): ``v(S)``. For a classifier, ``v(S)`` is the
    probability of the class the full model predicts for that row; for a
    regressor, the predicted value. A modality's contribution is its exact
    Shapley value, the average over every order of adding the modalities of
    what it adds to ``v``. Contributions sum to ``v(all) - v(none)``, so
    ``baseline + contributions == prediction`` in every row (efficiency),
    where the baseline ``v(none)`` is the prediction with no modality at all.

    The ``2 ** n_modalities - 1`` masked copies of ``X`` are predicted in one
    call, after ``X`` itself: masked cells are not encoded, and the cells left
    are served from the embedding cache that predicting ``X`` filled, so an
    explanation costs one encoding of ``X`` plus the fusion models' work.

    Parameters
    ----------
    estimator : fitted estimator
        A fitted fusion estimator (voting, stacking, fusion network), or a
        pipeline or search holding one or a :class:`~mmensemble.FeatureFusion`.
        A classifier needs ``predict_proba``. Any other fitted estimator
        handling missing values works with ``modalities`` given.

    X : DataFrame, dict of columns or 2-D array-like
        The rows to explain, with the columns the estimator was fitted on.

    modalities : dict of str to columns, default=None
        The modalities by name and column spec. None takes them from the
        estimator (``modalities_``). Modalities sharing columns are masked
        together.

    Returns
    -------
    explanation : DataFrame
        Indexed as ``X``. One column per modality (its contribution), then
        ``baseline`` (``v(none)``) and ``prediction`` (the predicted class or
        value); classifiers add ``probability``, the predicted class's
        probability, which ``baseline`` plus the contributions sum to.
        ``explanation.attrs["explained"]`` names the column they sum to.

    See Also
    --------
    modality_importance : The same Shapley values of modalities for a whole
        data set's score.
    sklearn.inspection.permutation_importance : Importance of single columns.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.linear_model import LogisticRegression
    >>> from mmensemble import ModalityVotingClassifier, explain_modalities
    >>> X, y = load_iris(return_X_y=True, as_frame=True)
    >>> sepal, petal = list(X.columns[:2]), list(X.columns[2:])
    >>> vote = ModalityVotingClassifier(
    ...     [("sepal", LogisticRegression(), sepal),
    ...      ("petal", LogisticRegression(), petal)],
    ...     voting="soft",
    ... ).fit(X, y)
    >>> explanation = explain_modalities(vote, X.iloc[[0, 100]])
    >>> explanation.columns.tolist()
    ['sepal', 'petal', 'baseline', 'prediction', 'probability']
    >>> explanation["prediction"].tolist()
    [0, 2]
    >>> total = explanation[["sepal", "petal", "baseline"]].sum(axis=1)
    >>> bool(np.allclose(total, explanation["probability"]))
    True
    """
    check_is_fitted(estimator)
    frame = as_frame(X)
    columns = resolve_modalities(estimator, frame, modalities)
    names = list(columns)
    clashes = [name for name in names if name in _RESERVED]
    if clashes:
        raise InspectionError(
            f"modalities named {clashes!r} clash with the columns {_RESERVED!r} of "
            "the explanation; rename them"
        )
    classifier = is_classifier(estimator)
    if classifier and not hasattr(estimator, "predict_proba"):
        raise InspectionError(
            f"explaining a classifier needs predict_proba, which "
            f"{type(estimator).__name__} does not offer (e.g. hard voting); got "
            f"estimator={estimator!r}"
        )
    n_rows = len(frame)
    prediction = estimator.predict(frame)
    explain = _explained_output(estimator, prediction, classifier)
    everything = frozenset(names)
    masked_subsets = [subset for subset in all_subsets(names) if subset != everything]
    # A regressor's explained output on the unmasked frame is the prediction
    # already made; only a classifier needs predict_proba on it.
    value = {
        everything: explain(frame, np.arange(n_rows))
        if classifier
        else np.asarray(prediction, dtype=np.float64).reshape(n_rows)
    }
    batch = pd.concat(
        [masked_copy(frame, columns, keep=subset) for subset in masked_subsets]
    )
    outputs = explain(batch, np.tile(np.arange(n_rows), len(masked_subsets)))
    for position, subset in enumerate(masked_subsets):
        value[subset] = outputs[position * n_rows : (position + 1) * n_rows]
    shapley = shapley_values(names, value)
    explanation = pd.DataFrame(
        {name: np.asarray(shapley[name], dtype=np.float64) for name in names},
        index=frame.index,
    )
    explanation["baseline"] = value[frozenset()]
    explanation["prediction"] = prediction
    if classifier:
        explanation["probability"] = value[everything]
    explanation.attrs["explained"] = "probability" if classifier else "prediction"
    return explanation


def _explained_output(estimator, prediction, classifier):
    """``f(frame, rows)``: the explained output of each row of a (masked) frame.

    ``rows`` gives the row of ``X`` each row of the frame is a copy of; for a
    classifier, the output is the probability of the class the full model
    predicted for that row of ``X``.
    """
    if not classifier:
        return lambda frame, rows: np.asarray(
            estimator.predict(frame), dtype=np.float64
        ).reshape(len(frame))
    classes = list(estimator.classes_)
    predicted = np.array([classes.index(label) for label in prediction], dtype=int)

    def probability(frame, rows):
        proba = np.asarray(estimator.predict_proba(frame), dtype=np.float64)
        return proba[np.arange(len(frame)), predicted[rows]]

    return probability
