"""Evaluation figures that stay readable with long, many or unicode class names.

Every figure has a title naming the data set, and labelled axes. Figures are
sized from their content (the number of classes, the longest class name), so
that tick labels never overlap.
"""

import textwrap

import numpy as np

from .._docstrings import fill_doc
from ..fusion._calibration import (
    ECE_BINS,
    expected_calibration_error,
    reliability_bins,
)
from ._docs import FIGURE_DOCS

__all__ = [
    "plot_confusion_matrix",
    "plot_prediction_error",
    "plot_reliability_diagram",
    "plot_robustness",
]

# Class names are wrapped at this many characters, on at most this many lines.
_WRAP_WIDTH = 18
_MAX_LINES = 3
_POINTS_PER_INCH = 72.0
# Height of a line of text, and the mean width of a character, in font sizes.
_LINE_HEIGHT = 1.3
_CHAR_WIDTH = 0.62


def figure_title(title, dataset_name):
    """The title of a figure: ``title``, then ``on <dataset_name>`` below it."""
    if dataset_name:
        return f"{title}\non {dataset_name}"
    return title


@fill_doc(FIGURE_DOCS)
def plot_confusion_matrix(
    y_true,
    y_pred,
    labels,
    *,
    normalize=None,
    title="Confusion matrix",
    dataset_name=None,
    ax=None,
):
    """Draw a confusion matrix whose class names stay readable.

    Long class names are wrapped (at most three lines, the rest elided), the
    predicted-class names are turned vertical when they would not fit under
    their column, and the figure grows with the number of classes, so that no
    two tick labels overlap. Cell values shrink with the cells.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True classes. A row whose true or predicted class is not in
        ``labels`` is left out of the matrix.

    y_pred : array-like of shape (n_samples,)
        Predicted classes.

    labels : array-like of shape (n_classes,)
        The classes, in the order of the rows and columns.

    normalize : {"true", "pred", "all"}, default=None
        Normalise the counts over the true classes (each row sums to 1: the
        diagonal is the recall), the predicted classes, or everything, as
        :func:`sklearn.metrics.confusion_matrix` does. None shows counts.

    title : str, default="Confusion matrix"
        The figure's title; with ``normalize``, followed by what is normalised
        (``", rows normalised"``).

    %(figure)s

    See Also
    --------
    sklearn.metrics.ConfusionMatrixDisplay : What draws the matrix.
    sklearn.metrics.confusion_matrix : The counts, normalised as here.

    Examples
    --------
    >>> from mmensemble.inspection import plot_confusion_matrix
    >>> ax = plot_confusion_matrix(
    ...     ["cat", "dog", "dog"], ["cat", "cat", "dog"], ["cat", "dog"],
    ...     normalize="true", dataset_name="pets.csv")
    >>> ax.get_title()
    'Confusion matrix, rows normalised\\non pets.csv'
    >>> ax.get_xlabel(), ax.get_ylabel()
    ('Predicted class', 'True class')
    """
    import matplotlib.pyplot as plt
    from sklearn.metrics import ConfusionMatrixDisplay

    names = [_wrapped(label) for label in labels]
    n_classes = len(names)
    font_size = 10.0 if n_classes <= 15 else 8.0
    line = _LINE_HEIGHT * font_size / _POINTS_PER_INCH
    n_lines = max(name.count("\n") + 1 for name in names)
    longest = max(len(part) for name in names for part in name.split("\n"))
    text_width = _CHAR_WIDTH * font_size * longest / _POINTS_PER_INCH
    # cells fit the wrapped names, and small matrices still fill 4 inches
    cell = max(0.45, 1.25 * n_lines * line, 4.0 / n_classes)
    vertical = text_width > 0.9 * cell
    if ax is None:
        side = n_classes * cell
        under = text_width if vertical else n_lines * line
        width = side + text_width + 1.0
        height = side + under + 1.4
        _, ax = plt.subplots(figsize=(width, height), layout="constrained")
    value_size = min(font_size, 0.3 * cell * _POINTS_PER_INCH)
    display = ConfusionMatrixDisplay.from_predictions(
        y_true,
        y_pred,
        labels=labels,
        display_labels=names,
        normalize=normalize,
        ax=ax,
        colorbar=False,
        values_format=".2f" if normalize else "d",
        text_kw={"fontsize": value_size},
        xticks_rotation="vertical" if vertical else "horizontal",
    )
    ax = display.ax_
    ax.tick_params(labelsize=font_size)
    ax.set_xlabel("Predicted class")
    ax.set_ylabel("True class")
    what = {None: "", "true": ", rows normalised", "pred": ", columns normalised"}
    suffix = what.get(normalize, ", normalised over all rows")
    ax.set_title(figure_title(f"{title}{suffix}", dataset_name))
    return ax


@fill_doc(FIGURE_DOCS)
def plot_prediction_error(
    y_true, y_pred, *, title="Predicted against actual", dataset_name=None, ax=None
):
    """Scatter the predicted values of a regressor against the actual ones.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Actual values.

    y_pred : array-like of shape (n_samples,)
        Predicted values.

    title : str, default="Predicted against actual"
        The figure's title.

    %(figure)s

    See Also
    --------
    sklearn.metrics.PredictionErrorDisplay : What draws the scatter.

    Examples
    --------
    >>> from mmensemble.inspection import plot_prediction_error
    >>> ax = plot_prediction_error([1.0, 2.0, 3.0], [1.1, 1.9, 3.2])
    >>> ax.get_xlabel()
    'Predicted value'
    """
    import matplotlib.pyplot as plt
    from sklearn.metrics import PredictionErrorDisplay

    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 5.0), layout="constrained")
    display = PredictionErrorDisplay.from_predictions(
        y_true, y_pred, kind="actual_vs_predicted", ax=ax
    )
    ax = display.ax_
    ax.set_xlabel("Predicted value")
    ax.set_ylabel("Actual value")
    ax.set_title(figure_title(title, dataset_name))
    return ax


@fill_doc(FIGURE_DOCS)
def plot_robustness(
    curve,
    *,
    title="Robustness to missing modalities",
    dataset_name=None,
    ax=None,
):
    """Draw the score as more and more rows lose one modality, one line each.

    Parameters
    ----------
    curve : DataFrame
        Indexed by the share of rows that lose the modality (0 to 1), one
        column per modality, as
        :func:`~mmensemble.inspection._robustness.modality_robustness` returns;
        ``curve.attrs["scoring"]`` names the score.

    title : str, default="Robustness to missing modalities"
        The figure's title.

    %(figure)s

    Examples
    --------
    >>> import pandas as pd
    >>> from mmensemble.inspection import plot_robustness
    >>> curve = pd.DataFrame({"image": [0.9, 0.7], "text": [0.9, 0.85]},
    ...                      index=[0.0, 1.0])
    >>> [line.get_label() for line in plot_robustness(curve).get_lines()]
    ['image', 'text']
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6.0, 4.0), layout="constrained")
    percent = 100 * np.asarray(curve.index, dtype=float)
    markers = "osD^vP*X"
    for position, name in enumerate(curve.columns):
        ax.plot(
            percent,
            curve[name],
            marker=markers[position % len(markers)],
            label=str(name),
        )
    ax.set_xticks(percent)
    ax.set_xlabel("Rows that lose the modality (%)")
    ax.set_ylabel(curve.attrs.get("scoring") or "score")
    ax.set_title(figure_title(title, dataset_name))
    ax.grid(alpha=0.3)
    ax.legend(title="modality lost")
    return ax


@fill_doc(FIGURE_DOCS)
def plot_reliability_diagram(
    y_true,
    proba,
    classes,
    *,
    n_bins=ECE_BINS,
    title="Reliability diagram",
    dataset_name=None,
    ax=None,
):
    """Draw the accuracy of a classifier against its confidence, bin by bin.

    The rows are binned by the probability of their most probable class
    (``n_bins`` equal-width bins); each bar is a bin's accuracy, with its
    number of rows above it, a dot the bin's mean top probability, and the
    diagonal perfect calibration. The legend gives the expected calibration
    error (ECE), the rows' mean gap between a bin's accuracy and its mean top
    probability.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True classes, among ``classes``.

    proba : ndarray of shape (n_samples, n_classes)
        Predicted probabilities, columns in the order of ``classes``.

    classes : array-like of shape (n_classes,)
        The classifier's ``classes_``, sorted.

    n_bins : int, default=15
        Number of confidence bins.

    title : str, default="Reliability diagram"
        The figure's title.

    %(figure)s

    See Also
    --------
    sklearn.calibration.CalibrationDisplay : The binary counterpart, per class.

    Examples
    --------
    >>> import numpy as np
    >>> from mmensemble.inspection import plot_reliability_diagram
    >>> proba = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.4, 0.6]])
    >>> ax = plot_reliability_diagram(["a", "a", "b", "a"], proba, ["a", "b"])
    >>> ax.get_xlabel()
    'Probability of the predicted class (confidence)'
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 5.0), layout="constrained")
    codes = np.searchsorted(np.asarray(classes), np.asarray(y_true))
    bins = reliability_bins(codes, np.asarray(proba), n_bins=n_bins)
    ece = expected_calibration_error(codes, np.asarray(proba), n_bins=n_bins)
    ax.plot([0, 1], [0, 1], linestyle="--", color="0.5", label="calibrated")
    centres = bins["lower"] + 0.5 / n_bins
    ax.bar(
        centres,
        bins["accuracy"],
        width=1 / n_bins,
        alpha=0.8,
        edgecolor="white",
        label=f"accuracy per bin (ECE {ece:.3f})",
    )
    ax.plot(
        centres,
        bins["confidence"],
        linestyle="none",
        marker="o",
        color="black",
        markersize=4,
        label="mean confidence per bin",
    )
    for x, y, rows in zip(centres, bins["accuracy"], bins["rows"], strict=True):
        ax.annotate(f"{rows}", (x, y), ha="center", va="bottom", fontsize=7)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.08)
    ax.set_xlabel("Probability of the predicted class (confidence)")
    ax.set_ylabel("Accuracy (rows above each bar)")
    ax.set_title(figure_title(title, dataset_name))
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left")
    return ax


def _wrapped(label):
    """``label`` as text wrapped at word boundaries, long words split."""
    text = str(label)
    lines = textwrap.wrap(
        text, width=_WRAP_WIDTH, max_lines=_MAX_LINES, placeholder=" …"
    )
    return "\n".join(lines) if lines else text
