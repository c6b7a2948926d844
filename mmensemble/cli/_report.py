"""The evaluation figures, and the page ``mmensemble evaluate --report`` writes.

The report is one self-contained HTML file: figures are PNG images and
thumbnails JPEG images, embedded as base64 data URIs, so the page loads
nothing from the network and runs no script. It is built from small templates
in which every value from the data is escaped (:func:`html.escape`).
"""

import base64
import html
import io
import os
import time
import warnings
from contextlib import contextmanager

import numpy as np
import pandas as pd

from .._atomic import atomic_write
from .._config import config_context
from .._exceptions import BadCellWarning
from ..encoders._base import concat_errors, errors_frame
from ..fusion._calibration import ECE_BINS
from ..fusion._modality import fitted_errors
from ..inspection._conformal import coverage_table
from ..inspection._explain import explain_modalities
from ..inspection._importance import find_fusion_step, plot_modality_importance
from ..inspection._plots import (
    plot_confusion_matrix,
    plot_prediction_error,
    plot_reliability_diagram,
    plot_robustness,
)
from ..inspection._robustness import modality_robustness
from ._recipes import role_columns

__all__ = [
    "evaluation_figures",
    "evaluation_metrics",
    "evaluation_scoring",
    "figure_png",
    "record_bad_cells",
    "write_report",
]

# Rows shown in each of the "slowest" and "most wrong" tables.
_SHOWN_ROWS = 5
# At most this many rows are timed one by one (a seeded sample of larger tables).
_TIMED_ROWS = 200
# Flagged rows shown in the novelty section.
_NOVEL_ROWS = 10
_THUMBNAIL_PIXELS = 96
_SEED = 0

_STYLE = """
body { font-family: "DejaVu Sans", Arial, sans-serif; margin: 2em auto;
       max-width: 72em; color: #222; line-height: 1.4; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; margin-top: 1.8em; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.92em; }
div.scroll { overflow-x: auto; max-width: 100%; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.6em; text-align: left;
         vertical-align: top; }
th { background: #f3f3f3; }
td.number { text-align: right; font-variant-numeric: tabular-nums; }
img.figure { max-width: 100%; height: auto; display: block; margin: 0.6em 0; }
img.thumbnail { display: block; border: 1px solid #ccc; }
pre { white-space: pre-wrap; margin: 0; font-size: 0.9em; }
p.note { color: #555; font-size: 0.92em; }
.positive { color: #1a7f37; } .negative { color: #b42318; }
"""

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>{style}</style>
</head>
<body>
<h1>{title}</h1>
{sections}
</body>
</html>
"""


class _Html(str):
    """Text that is already HTML: not escaped again."""


def evaluation_metrics(task, y, prediction):
    """The headline scores: accuracy and macro-F1, or R² and MAE.

    Returns
    -------
    metrics : dict of str to float
    """
    from sklearn.metrics import (
        accuracy_score,
        f1_score,
        mean_absolute_error,
        r2_score,
    )

    if task == "classification":
        return {
            "accuracy": accuracy_score(y, prediction),
            "macro-F1": f1_score(y, prediction, average="macro", zero_division=0),
        }
    return {"R2": r2_score(y, prediction), "MAE": mean_absolute_error(y, prediction)}


def evaluation_scoring(task):
    """The scorer name of the estimator's own score: accuracy, or R²."""
    return "accuracy" if task == "classification" else "r2"


def evaluation_figures(model, y, prediction, importance, *, dataset_name, normalize):
    """The confusion matrix (or prediction error) and modality importance figures.

    Parameters
    ----------
    model : RoleModel
        The evaluated model.
    y, prediction : ndarray
        True and predicted targets.
    importance : DataFrame
        From :func:`~mmensemble.modality_importance`.
    dataset_name : str
        Shown under every title.
    normalize : {"true"} or None
        Normalise the confusion matrix by row.

    Returns
    -------
    figures : dict of str to matplotlib Figure
        By file stem: ``confusion_matrix`` or ``prediction_error``, and
        ``modality_importance``.
    """
    import matplotlib

    matplotlib.use("Agg")
    title = f"{model.fusion} fusion"
    if model.task == "classification":
        ax = plot_confusion_matrix(
            y,
            prediction,
            model.estimator.classes_,
            normalize=normalize,
            title=f"Confusion matrix, {title}",
            dataset_name=dataset_name,
        )
        figures = {"confusion_matrix": ax.figure}
    else:
        ax = plot_prediction_error(
            y,
            prediction,
            title=f"Predicted against actual, {title}",
            dataset_name=dataset_name,
        )
        figures = {"prediction_error": ax.figure}
    ax = plot_modality_importance(importance, dataset_name=dataset_name)
    figures["modality_importance"] = ax.figure
    return figures


@contextmanager
def record_bad_cells():
    """Collect the bad cells met in the block (from ``BadCellWarning``).

    Yields a list, filled with the ``CellDecodeError`` of every bad cell when
    the block ends; the warnings are shown as usual afterwards.
    """
    found = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", BadCellWarning)
        yield found
    for warning in caught:
        if issubclass(warning.category, BadCellWarning):
            found.extend(getattr(warning.message, "errors", []))
        warnings.showwarning(
            warning.message, warning.category, warning.filename, warning.lineno
        )


def write_report(
    path,
    *,
    model,
    model_path,
    data_path,
    frame,
    y,
    prediction,
    importance,
    figures,
    predict_errors,
):
    """Write the evaluation report of ``model`` on ``frame`` to ``path``.

    Parameters
    ----------
    path : str
        The HTML file to write.
    model : RoleModel
        The evaluated model.
    model_path, data_path : str
        The model file and the CSV file, as named on the command line.
    frame : DataFrame
        The table read from ``data_path`` (media paths resolved).
    y, prediction : ndarray
        True and predicted targets.
    importance : DataFrame
        From :func:`~mmensemble.modality_importance`.
    figures : dict of str to bytes
        The figures of :func:`evaluation_figures` as PNG (:func:`figure_png`).
    predict_errors : list of CellDecodeError
        The bad cells met while predicting ``frame``.
    """
    from .. import __version__

    estimator = model.estimator
    X = frame[model.columns]
    dataset = os.path.basename(data_path)
    classification = model.task == "classification"
    with record_bad_cells() as more_errors:
        curve = modality_robustness(
            estimator,
            X,
            y,
            scoring=evaluation_scoring(model.task),
            random_state=_SEED,
        )
        proba = estimator.predict_proba(X) if classification else None
    times = _row_times(estimator, X)
    sections = [
        _summary(model, model_path, data_path, len(frame), __version__),
        _metrics_section(model.task, y, prediction),
        _figure_section(figures, dataset),
    ]
    if classification:
        sections.append(_per_class_section(estimator.classes_, y, prediction))
    sections.append(_importance_section(importance, figures["modality_importance"]))
    sections.append(_robustness_section(curve, dataset))
    if classification:
        sections.append(_calibration_section(estimator, y, proba, dataset))
    sections.append(
        _coverage_section(
            model.conformal,
            X,
            y,
            proba if classification else prediction,
        )
    )
    sections.extend(
        _rows_sections(model, frame, y, prediction, proba, times, len(frame))
    )
    sections.append(_novelty_section(model, frame, y, prediction))
    sections.append(_encoders_section(estimator))
    sections.append(
        _bad_cells_section(
            fitted_errors(estimator),
            errors_frame([*predict_errors, *more_errors]),
            dataset,
        )
    )
    title = f"{model.fusion} fusion {model.task} model on {dataset}"
    page = _PAGE.format(
        title=html.escape(title), style=_STYLE, sections="\n".join(sections)
    )
    with atomic_write(path, "w", encoding="utf-8") as file:
        file.write(page)


def _row_times(estimator, X):
    """Seconds to predict each row alone, caches off; a sample of large tables."""
    positions = np.arange(len(X))
    if len(positions) > _TIMED_ROWS:
        rng = np.random.default_rng(_SEED)
        positions = np.sort(rng.choice(positions, _TIMED_ROWS, replace=False))
    times = {}
    with (
        config_context(memory_cache_bytes=0, cache_dir=False),
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("ignore", BadCellWarning)  # already recorded
        estimator.predict(X.iloc[[positions[0]]])  # warm-up, not timed
        for position in positions:
            start = time.perf_counter()
            estimator.predict(X.iloc[[position]])
            times[int(position)] = time.perf_counter() - start
    return pd.Series(times, dtype=float)


def _summary(model, model_path, data_path, n_rows, version):
    items = [
        ("model file", model_path),
        ("estimator", type(model.estimator).__name__),
        ("fusion", model.fusion),
        ("task", model.task),
        ("target column", model.target),
        ("data", data_path),
        ("rows", n_rows),
        ("written by", f"mmensemble {version}"),
    ]
    return _section("summary", "Summary", _key_values(items))


def _metrics_section(task, y, prediction):
    metrics = evaluation_metrics(task, y, prediction)
    return _section(
        "metrics",
        "Metrics",
        _key_values([(name, f"{value:.4f}") for name, value in metrics.items()]),
    )


def _figure_section(figures, dataset):
    if "confusion_matrix" in figures:
        name, heading = "confusion_matrix", "Confusion matrix"
        note = "Rows are the true classes, columns the predicted ones."
    else:
        name, heading = "prediction_error", "Predicted against actual"
        note = "Points on the diagonal are predicted exactly."
    body = _figure(figures[name], f"{heading} on {dataset}") + _note(note)
    return _section(name.replace("_", "-"), heading, body)


def _per_class_section(classes, y, prediction):
    from sklearn.metrics import precision_recall_fscore_support

    precision, recall, f1, support = precision_recall_fscore_support(
        y, prediction, labels=classes, zero_division=0
    )
    table = pd.DataFrame(
        {
            "class": [str(label) for label in classes],
            "precision": precision,
            "recall": recall,
            "F1": f1,
            "support": support,
        }
    )
    return _section("per-class", "Per-class precision and recall", _table(table))


def _importance_section(importance, figure):
    table = importance.reset_index()
    body = (
        _table(table)
        + _figure(figure, "modality importance")
        + _note(
            "score_drop: the score with every modality minus the score without "
            "this one; shapley: its exact Shapley value over every subset of "
            "modalities (they sum to the full score minus the score with none)."
        )
    )
    return _section("importance", "Modality importance", body)


def _robustness_section(curve, dataset):
    ax = plot_robustness(curve, dataset_name=dataset)
    table = curve.copy()
    table.index = [f"{100 * fraction:.0f}%" for fraction in curve.index]
    table.index.name = "rows that lose the modality"
    body = (
        _figure(figure_png(ax.figure), "robustness curve")
        + _table(table.reset_index())
        + _note(
            "Each modality is removed (set missing) in a growing, seeded random "
            "share of the rows, the others kept."
        )
    )
    return _section("robustness", "Robustness to a missing modality", body)


def _calibration_section(estimator, y, proba, dataset):
    ax = plot_reliability_diagram(y, proba, estimator.classes_, dataset_name=dataset)
    body = _figure(figure_png(ax.figure), "reliability diagram")
    summary = getattr(estimator, "calibration_", None)
    if summary is not None:
        state = "applied" if summary["applied"] else "not applied"
        body += _key_values(
            [
                ("temperature", f"{summary['temperature']:.3f} ({state})"),
                (
                    "out-of-fold log loss",
                    f"{summary['log_loss_before']:.4f} before, "
                    f"{summary['log_loss_after']:.4f} after",
                ),
                (
                    "out-of-fold ECE",
                    f"{summary['ece_before']:.4f} before, "
                    f"{summary['ece_after']:.4f} after",
                ),
            ]
        )
    body += _note(
        f"Rows binned by the probability of their predicted class ({ECE_BINS} "
        "equal-width bins); a calibrated model's bars lie on the diagonal. "
        "ECE: the rows' mean gap between their bin's accuracy and confidence."
    )
    return _section("calibration", "Calibration", body)


def _coverage_section(conformal, X, y, output):
    heading = "Conformal prediction sets"
    if conformal is None:
        body = _note(
            "This model file holds no conformity scores (it was written before "
            "they existed, or fitted with a class of a single row); fit it "
            "again for prediction sets."
        )
        return _section("coverage", heading, body)
    table = coverage_table(conformal, X, y, output).reset_index()
    if conformal.classes is None:
        heading = "Conformal prediction intervals"
        note = (
            "coverage: the share of rows whose interval holds the true value, "
            "against the target; mean_width: the intervals' mean width."
        )
    else:
        note = (
            "coverage: the share of rows whose set holds the true class, "
            "against the target; size_k: the share of sets of k classes "
            "(size_0: empty sets, rows where no class is likely enough)."
        )
    note += (
        " From the out-of-fold conformity scores of the training rows, taken "
        "among those with the same modalities present when they are enough."
    )
    return _section("coverage", heading, _table(table) + _note(note))


def _rows_sections(model, frame, y, prediction, proba, times, n_rows):
    """The "slowest" and "most wrong" tables, with explanations and thumbnails."""
    if proba is None:
        wrongness = np.abs(np.asarray(y, dtype=float) - prediction)
        fit_name, fit_format = "error", ".4g"
        fit_value = prediction - np.asarray(y, dtype=float)
    else:
        classes = list(model.estimator.classes_)
        true_position = np.array(
            [classes.index(label) if label in classes else -1 for label in y]
        )
        fit_value = np.where(
            true_position >= 0,
            proba[np.arange(len(y)), np.maximum(true_position, 0)],
            0.0,
        )
        wrongness = -fit_value
        fit_name, fit_format = "P(true class)", ".3f"
    slowest = times.sort_values(ascending=False).index[:_SHOWN_ROWS].to_numpy()
    wrong = np.argsort(-wrongness, kind="stable")[:_SHOWN_ROWS]
    shown = np.unique(np.concatenate([slowest, wrong])).astype(int)
    explanation = explain_modalities(model.estimator, frame[model.columns].iloc[shown])
    explanation.index = shown
    context = {
        "model": model,
        "frame": frame,
        "y": y,
        "prediction": prediction,
        "times": times,
        "explanation": explanation,
        "fit": (fit_name, fit_format, fit_value),
    }
    timed = (
        f"all {n_rows} rows"
        if len(times) == n_rows
        else f"a seeded sample of {len(times)} of the {n_rows} rows"
    )
    explained = explanation.attrs["explained"]
    what = (
        "the predicted class's probability"
        if explained == "probability"
        else "the predicted value"
    )
    note = _note(
        "explain_<modality>: the modality's exact Shapley contribution to "
        f"{what}; explain_baseline: {what} with every modality missing; the "
        "baseline plus the contributions is the explained prediction."
    )
    return [
        _section(
            "slowest-rows",
            "Slowest rows",
            _rows_table(slowest, context)
            + _note(
                f"Seconds to predict each row alone, caches off, timed over {timed}."
            )
            + note,
        ),
        _section(
            "most-wrong-rows",
            "Most wrong rows",
            _rows_table(wrong, context)
            + _note(
                "Lowest probability of the true class."
                if proba is not None
                else "Largest absolute error."
            )
            + note,
        ),
    ]


def _rows_table(positions, context):
    frame, explanation = context["frame"], context["explanation"]
    fit_name, fit_format, fit_value = context["fit"]
    modalities = [
        name
        for name in explanation.columns
        if name not in ("baseline", "prediction", "probability")
    ]
    rows = []
    for position in positions:
        row = {
            "row": _row_label(frame, position),
            "true": context["y"][position],
            "predicted": context["prediction"][position],
            fit_name: format(fit_value[position], fit_format),
        }
        seconds = context["times"].get(position)
        row["seconds"] = "not timed" if seconds is None else f"{seconds:.3f}"
        for name in modalities:
            row[f"explain_{name}"] = _signed(explanation.loc[position, name])
        row["explain_baseline"] = f"{explanation.loc[position, 'baseline']:.3f}"
        row.update(_input_cells(context["model"], frame, position))
        rows.append(row)
    return _table(pd.DataFrame(rows, dtype=object))


def _row_label(frame, position):
    """A row's ``id`` cell, or its index label when there is no such column."""
    return (
        frame["id"].iloc[position] if "id" in frame.columns else frame.index[position]
    )


def _input_cells(model, frame, position):
    """The input cells of a row, by column, as a row table shows them."""
    return {
        column: _cell(role, frame[column].iloc[position])
        for role, column in role_columns(model.roles)
    }


def _novelty_section(model, frame, y, prediction):
    """How many rows each modality flags unlike training, and the flagged rows."""
    if model.novelty is None:
        return _section(
            "novelty",
            "Rows unlike the training data",
            _note(
                "The model file holds no novelty summaries (it was written by an "
                "older mmensemble); fit it again to see them."
            ),
        )
    scores = model.novelty.score_rows(frame[model.columns])
    names = [name for name, _, _ in model.novelty.modalities_]
    counts = pd.DataFrame(
        [
            {
                "modality": name,
                "rows with it": int(scores[f"{name}_novelty"].notna().sum()),
                "flagged unlike training": int(scores[f"{name}_unlike_training"].sum()),
            }
            for name in names
        ]
    )
    novelty = scores[[f"{name}_novelty" for name in names]].to_numpy()
    flagged = scores[[f"{name}_unlike_training" for name in names]].to_numpy()
    # the flagged rows, the most unlike training first
    largest = np.where(flagged, novelty, -np.inf).max(axis=1, initial=-np.inf)
    order = np.argsort(-largest, kind="stable")[: np.isfinite(largest).sum()]
    shown = order[:_NOVEL_ROWS]
    rows = []
    for position in shown:
        row = {
            "row": _row_label(frame, position),
            "true": y[position],
            "predicted": prediction[position],
        }
        for name, value, flag in zip(
            names, novelty[position], flagged[position], strict=True
        ):
            row[f"{name}_novelty"] = (
                "(missing)" if np.isnan(value) else f"{value:.2f}" + " ⚑" * int(flag)
            )
        row.update(_input_cells(model, frame, position))
        rows.append(row)
    body = _table(counts) if names else ""
    if rows:
        body += _table(pd.DataFrame(rows, dtype=object))
    body += _note(
        f"Rows with a modality unlike the training rows: {len(order)}"
        + (f", the {len(shown)} most unlike shown above. " if rows else ". ")
        + "<modality>_novelty: the distance of the row's embedding to the "
        "training rows' embeddings over their 99th percentile (measured on "
        "held-out training rows); above 1 (⚑) is flagged. Modalities without a "
        "cell encoder (numeric, categorical, TF-IDF text) are not scored."
    )
    return _section("novelty", "Rows unlike the training data", body)


def _encoders_section(estimator):
    fusion = find_fusion_step(estimator)
    steps = getattr(estimator, "steps", [("estimator", estimator)])
    parts = [
        _key_values(
            [
                (
                    name,
                    type(step).__name__ if step is fusion else _Html(_pre(repr(step))),
                )
                for name, step in steps
            ]
        )
    ]
    if fusion is not None:
        changed = _changed_params(fusion)
        parts.append(
            _note(
                f"{type(fusion).__name__} settings other than the defaults: "
                + (
                    ", ".join(f"{name}={value!r}" for name, value in changed.items())
                    or "none"
                )
            )
        )
        table = pd.DataFrame(
            [
                {
                    "modality": name,
                    "columns": columns,
                    "encoder and model (settings other than the defaults)": _Html(
                        _pre(repr(modality))
                    ),
                }
                for name, modality, columns in fusion.modalities_
            ]
        )
        parts.append(_table(table))
    return _section("encoders", "Encoders and settings", "".join(parts))


def _bad_cells_section(fit_errors, predict_errors, dataset):
    parts = []
    for what, errors in [
        ("met while fitting (the model's errors_)", fit_errors),
        (f"met while predicting {dataset}", predict_errors),
    ]:
        errors = concat_errors([errors])
        parts.append(f"<h3>{html.escape(f'{len(errors)} bad cells {what}')}</h3>")
        if len(errors):
            parts.append(_table(errors))
    parts.append(
        _note("Bad cells are treated as missing when the model's on_error allows it.")
    )
    return _section("bad-cells", "Bad cells", "".join(parts))


def _changed_params(estimator):
    """The parameters of ``estimator`` (not nested) that differ from the defaults."""
    import inspect

    defaults = {
        name: parameter.default
        for name, parameter in inspect.signature(type(estimator)).parameters.items()
    }
    changed = {}
    for name, value in estimator.get_params(deep=False).items():
        default = defaults.get(name, inspect.Parameter.empty)
        if name == "modalities" or default is inspect.Parameter.empty:
            continue
        if repr(value) != repr(default):
            changed[name] = value
    return changed


def _cell(role, value):
    """An input cell as shown in a row table: a thumbnail, a file name, a text."""
    if value is None or (np.isscalar(value) and pd.isna(value)):
        return "(missing)"
    if role == "image":
        return _thumbnail(value)
    if role == "audio":
        return os.path.basename(str(value))
    text = str(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _thumbnail(path):
    from PIL import Image, ImageOps

    try:
        with Image.open(path) as image:
            image = ImageOps.exif_transpose(image).convert("RGB")
            image.thumbnail((_THUMBNAIL_PIXELS, _THUMBNAIL_PIXELS))
            if max(image.size) < 64:  # tiny images, scaled up to be seen
                scale = 64 // max(image.size)
                image = image.resize(
                    (image.width * scale, image.height * scale),
                    Image.Resampling.NEAREST,
                )
            buffer = io.BytesIO()
            image.save(buffer, format="JPEG", quality=85)
    except (OSError, ValueError) as exc:
        return f"(unreadable image: {exc})"
    uri = _data_uri(buffer.getvalue(), "image/jpeg")
    alt = html.escape(os.path.basename(str(path)), quote=True)
    return _Html(f'<img class="thumbnail" src="{uri}" alt="{alt}">')


def figure_png(figure):
    """A matplotlib figure as PNG bytes (100 dpi, cropped); the figure is closed."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


def _figure(png, alt):
    uri = _data_uri(png, "image/png")
    return f'<img class="figure" src="{uri}" alt="{html.escape(alt, quote=True)}">'


def _data_uri(data, media_type):
    return f"data:{media_type};base64,{base64.b64encode(data).decode('ascii')}"


def _section(identifier, heading, body):
    return (
        f'<section id="{identifier}">\n<h2>{html.escape(heading)}</h2>\n'
        f"{body}\n</section>"
    )


def _note(text):
    return f'<p class="note">{html.escape(text)}</p>'


def _pre(text):
    return f"<pre>{html.escape(text)}</pre>"


def _signed(value):
    css = "positive" if value > 0 else "negative" if value < 0 else ""
    return _Html(f'<span class="{css}">{value:+.3f}</span>')


def _key_values(items):
    rows = "".join(
        f"<tr><th>{html.escape(str(key))}</th><td>{_escaped(value)}</td></tr>"
        for key, value in items
    )
    return f"<table>{rows}</table>"


def _table(frame):
    """An HTML table of a DataFrame: numbers right-aligned and rounded."""
    head = "".join(f"<th>{html.escape(str(column))}</th>" for column in frame.columns)
    body = []
    for row in frame.itertuples(index=False):
        cells = []
        for value in row:
            if isinstance(value, float | np.floating):
                cells.append(f'<td class="number">{value:.4f}</td>')
            elif isinstance(value, int | np.integer) and not isinstance(value, bool):
                cells.append(f'<td class="number">{value}</td>')
            else:
                cells.append(f"<td>{_escaped(value)}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    return f'<div class="scroll"><table><tr>{head}</tr>{"".join(body)}</table></div>'


def _escaped(value):
    return value if isinstance(value, _Html) else html.escape(str(value))
