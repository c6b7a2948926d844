"""How a fitted fusion estimator's score degrades as rows lose a modality."""

import numpy as np
import pandas as pd
from sklearn.metrics import check_scoring
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from ..fusion._modality import as_frame
from ._importance import InspectionError, masked_copy, resolve_modalities

__all__ = ["modality_robustness"]


def modality_robustness(
    estimator,
    X,
    y,
    *,
    fractions=(0.0, 0.25, 0.5, 0.75, 1.0),
    scoring=None,
    modalities=None,
    random_state=None,
):
    """Score as a growing share of the rows lose one modality, for each modality.

    For each modality and each fraction ``p``, the modality is masked as
    missing (NaN) in ``p`` of the rows of ``X``, drawn at random, and the
    fitted ``estimator`` is scored on the result, as in MultiBench's
    robustness curves. The rows masked at a fraction are among those masked
    at every larger one, so each curve degrades one row at a time.

    Parameters
    ----------
    estimator : fitted estimator
        A fusion estimator, or a pipeline or search holding one.

    X : DataFrame, dict of columns or 2-D array-like
        Evaluation data.

    y : array-like of shape (n_samples,)
        Evaluation target.

    fractions : sequence of float in [0, 1], default=(0, 0.25, 0.5, 0.75, 1)
        Shares of the rows that lose the modality.

    scoring : str or callable, default=None
        Scorer; None uses the estimator's ``score``. Higher must be better.

    modalities : dict of str to columns, default=None
        The modalities by name and column spec; None takes them from the
        estimator.

    random_state : int, RandomState instance or None, default=None
        Draws the rows that lose each modality.

    Returns
    -------
    curve : DataFrame
        Indexed by fraction (``missing``), one column of scores per modality;
        ``curve.attrs["scoring"]`` names the score.

    See Also
    --------
    modality_importance : Score with whole modalities masked.

    Examples
    --------
    >>> from sklearn.datasets import load_diabetes
    >>> from sklearn.linear_model import Ridge
    >>> from mmensemble import ModalityVotingRegressor
    >>> from mmensemble.inspection._robustness import modality_robustness
    >>> X, y = load_diabetes(return_X_y=True, as_frame=True)
    >>> vote = ModalityVotingRegressor(
    ...     [("body", Ridge(), ["age", "sex", "bmi", "bp"]),
    ...      ("blood", Ridge(), ["s1", "s2", "s3", "s4", "s5", "s6"])]).fit(X, y)
    >>> curve = modality_robustness(vote, X, y, fractions=[0, 0.5, 1], random_state=0)
    >>> curve.index.tolist()
    [0.0, 0.5, 1.0]
    >>> bool(curve["body"].is_monotonic_decreasing)
    True
    """
    check_is_fitted(estimator)
    fractions = np.asarray(fractions, dtype=float)
    if (
        fractions.ndim != 1
        or not len(fractions)
        or not ((fractions >= 0) & (fractions <= 1)).all()
    ):
        raise InspectionError(
            "fractions must be a non-empty sequence of shares in [0, 1], got "
            f"fractions={fractions.tolist()!r}"
        )
    frame = as_frame(X)
    columns = resolve_modalities(estimator, frame, modalities)
    scorer = check_scoring(estimator, scoring=scoring)
    rng = check_random_state(random_state)
    n_rows = len(frame)
    full = float(scorer(estimator, frame, y))
    curve = {}
    for name in columns:
        keep = set(columns) - {name}
        order = rng.permutation(n_rows)
        scores = []
        for fraction in fractions:
            n_masked = int(round(fraction * n_rows))
            if n_masked == 0:
                scores.append(full)
                continue
            rows = np.zeros(n_rows, dtype=bool)
            rows[order[:n_masked]] = True
            masked = masked_copy(frame, columns, keep=keep, rows=rows)
            scores.append(float(scorer(estimator, masked, y)))
        curve[name] = scores
    result = pd.DataFrame(curve, index=pd.Index(fractions, name="missing"))
    result.attrs["scoring"] = scoring if isinstance(scoring, str) else None
    return result
