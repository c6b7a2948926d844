"""Temperature scaling of out-of-fold probabilities, and the calibration error.

Automatic fusion already holds out-of-fold probabilities of the method or
blend it keeps; temperature scaling (Guo et al., 2017) fits one number ``T``
on them, the probabilities becoming ``softmax(log(p) / T)``. Dividing every
log-probability of a row by the same positive ``T`` keeps their order, so the
most probable class (the prediction) never changes: only how sure the model
says it is. The fit itself is scikit-learn's (the temperature scaling of
:class:`~sklearn.calibration.CalibratedClassifierCV`).
"""

import numpy as np
from sklearn.metrics import log_loss

from .._compat import _TemperatureScaling

__all__ = [
    "ECE_BINS",
    "expected_calibration_error",
    "reliability_bins",
    "temperature_calibration",
]

# Equal-width bins of the top-class probability (Guo et al., 2017).
ECE_BINS = 15


def reliability_bins(y_codes, proba, *, n_bins=ECE_BINS):
    """Accuracy and mean top probability of rows binned by their top probability.

    Parameters
    ----------
    y_codes : ndarray of int of shape (n_samples,)
        The true classes, as column positions of ``proba``.
    proba : ndarray of shape (n_samples, n_classes)
        Probabilities, each row summing to one.
    n_bins : int, default=15
        Number of equal-width bins of ``[0, 1]``.

    Returns
    -------
    bins : dict of str to ndarray
        For the bins holding rows: ``lower`` (edge), ``rows``, ``accuracy``
        and ``confidence`` (mean top probability).
    """
    confidence = proba.max(axis=1)
    correct = proba.argmax(axis=1) == y_codes
    positions = np.minimum((confidence * n_bins).astype(int), n_bins - 1)
    used = np.unique(positions)
    return {
        "lower": used / n_bins,
        "rows": np.array([(positions == b).sum() for b in used]),
        "accuracy": np.array([correct[positions == b].mean() for b in used]),
        "confidence": np.array([confidence[positions == b].mean() for b in used]),
    }


def expected_calibration_error(y_codes, proba, *, n_bins=ECE_BINS):
    """Expected calibration error of the most probable class's probability.

    The rows are binned by their top probability into ``n_bins`` equal-width
    bins of ``[0, 1]`` (:func:`reliability_bins`); the error is the mean over
    rows of the gap between the accuracy and the mean top probability of the
    row's bin.

    Parameters
    ----------
    y_codes : ndarray of int of shape (n_samples,)
        The true classes, as column positions of ``proba``.
    proba : ndarray of shape (n_samples, n_classes)
        Probabilities, each row summing to one.
    n_bins : int, default=15
        Number of equal-width confidence bins.

    Returns
    -------
    ece : float
        Between 0 (calibrated) and 1.

    Examples
    --------
    >>> import numpy as np
    >>> from mmensemble.fusion._calibration import expected_calibration_error
    >>> proba = np.array([[0.9, 0.1], [0.9, 0.1], [0.4, 0.6], [0.4, 0.6]])
    >>> round(expected_calibration_error(np.array([0, 1, 1, 1]), proba), 3)
    0.4
    """
    bins = reliability_bins(y_codes, proba, n_bins=n_bins)
    gaps = np.abs(bins["accuracy"] - bins["confidence"])
    return float((bins["rows"] * gaps).sum() / len(y_codes))


def temperature_calibration(proba, y_codes, folds, *, calibration):
    """Fit temperature scaling on out-of-fold probabilities; say if it helps.

    Whether it helps is decided on rows it was not fitted on: the temperature
    of fold ``k`` is fitted on the other folds' rows and scores the rows of
    ``k``, giving the cross-fitted log loss and calibration error "after";
    those "before" are the probabilities' own. The temperature kept is fitted
    on every row.

    Parameters
    ----------
    proba : ndarray of shape (n_samples, n_classes)
        Out-of-fold probabilities.
    y_codes : ndarray of int of shape (n_samples,)
        The true classes, as column positions of ``proba``.
    folds : ndarray of int of shape (n_samples,)
        The fold of every row.
    calibration : {"auto", True, False}
        ``"auto"``: the temperature is applied when the cross-fitted log loss
        is lower than the uncalibrated one; True: always; False: never.

    Returns
    -------
    scaling : fitted temperature scaling or None
        None when not applied. ``scaling.predict(proba)`` calibrates.
    summary : dict
        ``temperature``, ``applied``, ``log_loss_before``, ``log_loss_after``,
        ``ece_before`` and ``ece_after`` (cross-fitted "after"), ``ece_bins``.
    """
    labels = np.arange(proba.shape[1])
    crossfitted = np.empty_like(proba)
    for fold in np.unique(folds):
        test = folds == fold
        scaling = _TemperatureScaling().fit(proba[~test], y_codes[~test])
        crossfitted[test] = scaling.predict(proba[test])
    scaling = _TemperatureScaling().fit(proba, y_codes)
    before = log_loss(y_codes, np.clip(proba, 1e-15, 1), labels=labels)
    after = log_loss(y_codes, np.clip(crossfitted, 1e-15, 1), labels=labels)
    applied = bool(after < before) if calibration == "auto" else bool(calibration)
    summary = {
        "temperature": float(1 / scaling.beta_),
        "applied": applied,
        "log_loss_before": float(before),
        "log_loss_after": float(after),
        "ece_before": expected_calibration_error(y_codes, proba),
        "ece_after": expected_calibration_error(y_codes, crossfitted),
        "ece_bins": ECE_BINS,
    }
    return (scaling if applied else None), summary
