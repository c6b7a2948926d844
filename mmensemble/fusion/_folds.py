"""Cross-validation folds whose failure says how many rows they need."""

import numpy as np
from sklearn.model_selection import StratifiedKFold, check_cv

__all__ = ["checked_cv"]


def checked_cv(cv, y, *, classifier, owner, classes=None):
    """``check_cv``, refusing folds that the rows of ``y`` cannot fill.

    scikit-learn's own error ("n_splits=5 cannot be greater than the number
    of members in each class") says neither which cross-validation failed
    nor what to change; this one names the estimator, the number of rows per
    class that ``cv`` needs, the smallest class, and the parameter to lower.

    Parameters
    ----------
    cv : int, cross-validation generator or iterable
        The estimator's ``cv`` parameter.
    y : array-like of shape (n_samples,)
        The target.
    classifier : bool
        Whether the estimator is a classifier (integer ``cv`` is stratified).
    owner : str
        The estimator's class name, for the message.
    classes : array-like, default=None
        The class labels when ``y`` holds their indices (a label-encoded
        target), so that the message names the user's label.

    Returns
    -------
    cv : cross-validation generator
        As :func:`sklearn.model_selection.check_cv` returns it.

    Raises
    ------
    ValueError
        No class has as many rows as there are stratified folds, or there are
        fewer rows than folds.
    """
    splitter = check_cv(cv, y, classifier=classifier)
    n_splits = getattr(splitter, "n_splits", None)
    if n_splits is None:  # an iterable of splits, a group splitter...
        return splitter
    if len(y) < n_splits:
        raise ValueError(
            f"{owner} cross-validates in {n_splits} folds (cv={cv!r}), which "
            f"need at least {n_splits} rows; there are n_samples={len(y)}. "
            f"{_remedy(owner, len(y))}"
        )
    if isinstance(splitter, StratifiedKFold):
        # as scikit-learn: an error when no class fills every fold (a
        # warning when some class does not)
        labels, counts = np.unique(y, return_counts=True)
        largest = int(counts.argmax())
        if counts[largest] < n_splits:
            label = labels[largest] if classes is None else classes[labels[largest]]
            label = label.item() if isinstance(label, np.generic) else label
            raise ValueError(
                f"{owner} cross-validates in {n_splits} stratified folds "
                f"(cv={cv!r}), which need {n_splits} rows of a class at least; "
                f"the largest class, {label!r}, has {counts[largest]} (of "
                f"{len(y)} rows). {_remedy(owner, int(counts[largest]))}"
            )
    return splitter


def _remedy(owner, rows):
    lower = (
        f"set cv= to {rows} at most ({owner}(cv={rows})), or give more rows"
        if rows >= 2
        else "give more rows (cross-validation needs 2 at least)"
    )
    return (
        f"To fit: {lower}, or use a fusion that needs no folds (FeatureFusion, "
        "voting; --fusion early or voting on the command line)."
    )
