"""Tests of the evaluation figures: readable tick labels, titles, axis labels."""

import itertools

import matplotlib
import numpy as np
import pandas as pd
import pytest

from mmensemble import plot_modality_importance
from mmensemble.inspection import (
    plot_confusion_matrix,
    plot_prediction_error,
    plot_reliability_diagram,
    plot_robustness,
)

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

LONG = [
    "agricultural machinery",
    "household appliances",
    "musical instruments",
    "sporting equipment",
    "laboratory glassware",
    "construction materials",
    "photographic supplies",
    "veterinary medicines",
    "stationery and paper",
]
UNICODE = [
    "Ünïcödé naïve café",
    "Ελληνικά γράμματα",
    "кириллица и текст",
    "Հայերեն այբուբեն",
    "émigré façade",
    "Ørsted Ålesund",
]
MANY = [f"class number {i:02d} of many" for i in range(30)]


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _predictions(labels, n=400, seed=0):
    rng = np.random.default_rng(seed)
    y_true = rng.choice(labels, size=n)
    y_pred = np.where(rng.random(n) < 0.7, y_true, rng.choice(labels, size=n))
    return y_true, y_pred


def _tick_boxes(fig, labels):
    renderer = fig.canvas.get_renderer()
    return [
        label.get_window_extent(renderer)
        for label in labels
        if label.get_visible() and label.get_text()
    ]


def assert_readable(ax, n_classes):
    fig = ax.figure
    fig.canvas.draw()
    x_boxes = _tick_boxes(fig, ax.get_xticklabels())
    y_boxes = _tick_boxes(fig, ax.get_yticklabels())
    assert len(x_boxes) == len(y_boxes) == n_classes
    for first, second in itertools.combinations(x_boxes + y_boxes, 2):
        assert not first.overlaps(second), (first, second)
    # every label lies inside the figure, not cut off at its edge
    figure_box = fig.bbox
    for box in x_boxes + y_boxes:
        assert figure_box.x0 <= box.x0 and box.x1 <= figure_box.x1
        assert figure_box.y0 <= box.y0 and box.y1 <= figure_box.y1
    assert all(label.get_fontsize() >= 8 for label in ax.get_xticklabels())


@pytest.mark.parametrize("labels", [LONG, UNICODE, MANY], ids=["long", "uni", "many"])
def test_confusion_matrix_tick_labels_do_not_overlap(labels):
    y_true, y_pred = _predictions(labels)
    ax = plot_confusion_matrix(
        y_true, y_pred, labels, title="stacking fusion", dataset_name="shop.csv"
    )
    assert_readable(ax, len(labels))
    assert ax.get_title() == "stacking fusion\non shop.csv"
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("Predicted class", "True class")
    shown = [label.get_text().replace("\n", " ") for label in ax.get_yticklabels()]
    assert shown == [str(label) for label in labels]


def test_the_figure_grows_with_the_number_of_classes():
    few = plot_confusion_matrix(*_predictions(LONG[:3]), LONG[:3])
    many = plot_confusion_matrix(*_predictions(MANY), MANY)
    few_size, many_size = few.figure.get_size_inches(), many.figure.get_size_inches()
    assert (many_size > 2 * few_size).all()


def test_very_long_names_are_elided_and_short_ones_stay_horizontal():
    huge = ["a very long class name " * 4, "short"]
    ax = plot_confusion_matrix(*_predictions(huge), huge)
    texts = [label.get_text() for label in ax.get_yticklabels()]
    assert texts[0].count("\n") == 2 and texts[0].endswith("…")
    assert texts[1] == "short"
    short = plot_confusion_matrix(*_predictions(["0", "1", "2"]), ["0", "1", "2"])
    assert {label.get_rotation() for label in short.get_xticklabels()} == {0.0}
    assert_readable(short, 3)


def test_row_normalisation_on_request():
    labels = ["cat", "dog", "bird"]
    y_true, y_pred = _predictions(labels)
    ax = plot_confusion_matrix(y_true, y_pred, labels, normalize="true")
    matrix = np.asarray(ax.images[0].get_array())
    np.testing.assert_allclose(matrix.sum(axis=1), 1.0)
    assert "rows normalised" in ax.get_title()
    counts = plot_confusion_matrix(y_true, y_pred, labels)
    assert np.asarray(counts.images[0].get_array()).sum() == len(y_true)


def test_every_figure_has_a_title_axis_labels_and_the_data_set():
    importance = pd.DataFrame(
        {"shapley": [0.3, 0.1], "score_drop": [0.2, 0.05]},
        index=pd.Index(["image", "text"], name="modality"),
    )
    importance.attrs.update(full_score=0.9, empty_score=0.5, scoring="accuracy")
    curve = pd.DataFrame(
        {"image": [0.9, 0.8, 0.7, 0.6, 0.5], "text": [0.9, 0.88, 0.86, 0.84, 0.8]},
        index=[0.0, 0.25, 0.5, 0.75, 1.0],
    )
    curve.attrs["scoring"] = "accuracy"
    axes = [
        plot_modality_importance(importance, dataset_name="test.csv"),
        plot_robustness(curve, dataset_name="test.csv"),
        plot_prediction_error([1.0, 2.0], [1.2, 1.8], dataset_name="test.csv"),
        plot_reliability_diagram(
            ["a", "b"], np.eye(2), ["a", "b"], dataset_name="test.csv"
        ),
    ]
    for ax in axes:
        assert ax.get_title().endswith("\non test.csv")
        assert ax.get_xlabel() and ax.get_ylabel()
    assert axes[0].get_title().startswith("accuracy: 0.9 with every modality")
    assert axes[1].get_ylabel() == "accuracy"
    assert [line.get_label() for line in axes[1].get_lines()] == ["image", "text"]
    np.testing.assert_allclose(axes[1].get_xticks(), [0, 25, 50, 75, 100])


def test_reliability_diagram_bars_are_the_bins_accuracy_at_their_confidence():
    # Four rows sure at 0.9 (half right), four at 0.6 (all right): ECE 0.2 + 0.2.
    proba = np.array([[0.9, 0.1]] * 4 + [[0.4, 0.6]] * 4)
    y_true = ["a", "b", "a", "b", "b", "b", "b", "b"]
    ax = plot_reliability_diagram(y_true, proba, ["a", "b"], n_bins=10)
    bars = sorted(
        (bar.get_x() + bar.get_width() / 2, bar.get_height()) for bar in ax.patches
    )
    np.testing.assert_allclose(bars, [(0.65, 1.0), (0.95, 0.5)])
    np.testing.assert_allclose(ax.get_lines()[1].get_ydata(), [0.6, 0.9])
    assert [text.get_text() for text in ax.texts] == ["4", "4"]
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert labels == [
        "calibrated",
        "mean confidence per bin",
        "accuracy per bin (ECE 0.400)",
    ]
    plt.close("all")
