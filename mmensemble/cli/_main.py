"""The ``mmensemble`` command line: ``demo``, ``fit``, ``predict``, ``evaluate``.

``fit`` reads a CSV file whose columns hold image and audio file paths
(relative to the CSV file's folder), texts and numbers, builds the estimator
of a fusion strategy for them (:mod:`mmensemble.cli._recipes`) and saves it with
:func:`mmensemble.save`, together with the column roles; ``predict`` and
``evaluate`` read that file back with :func:`mmensemble.load`, which runs no
code from it. Errors the user can fix end the command with exit status 2 and
one line on stderr starting ``mmensemble: error:``.
"""

import argparse
import os
import sys
from contextlib import contextmanager

from .._atomic import atomic_write, check_writable
from .._exceptions import CellDecodeError, MMEnsembleError
from ..roles import REGISTRY
from ._recipes import FUSIONS, ROLES, TASKS, role_columns
from ._tables import format_table

__all__ = ["main"]

_PROG = "mmensemble"


class CommandError(MMEnsembleError):
    """A command cannot run with the given arguments, files or columns."""


def main(argv=None):
    """Run the ``mmensemble`` command line.

    Parameters
    ----------
    argv : list of str, default=None
        The arguments after the program name; None reads ``sys.argv``.

    Returns
    -------
    status : int
        0 on success, 2 on an error the user can fix (reported on stderr).
    """
    args = _parser().parse_args(argv)
    try:
        return args.command(args)
    except MMEnsembleError as exc:
        message = " ".join(str(exc).split())
        print(f"{_PROG}: error: {message}", file=sys.stderr)
        return 2


def _parser():
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog=_PROG,
        description=(
            "Multimodal learning with scikit-learn estimators: fit, apply and "
            "evaluate fusion models on tables of image, audio, text and numeric "
            "columns."
        ),
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__}"
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    commands.required = True

    demo = commands.add_parser(
        "demo",
        help="compare unimodal and fused models on the bundled spoken digits",
        description=(
            "Fit unimodal models (image, audio, text) and fused models (early "
            "fusion, soft voting, stacking, fusion network) on the bundled "
            "spoken-digits dataset, test them on speakers unseen in training, "
            "and print their scores and the importance of each modality."
        ),
    )
    demo.add_argument(
        "--quick",
        action="store_true",
        help="use a small subsample (a smoke test, in well under a minute)",
    )
    demo.add_argument(
        "--n-jobs", type=int, default=None, metavar="N", help="parallel jobs (threads)"
    )
    demo.set_defaults(command=_run_demo)

    fit = commands.add_parser(
        "fit",
        help="fit a fusion model on a CSV file and save it",
        description=(
            "Fit a fusion model on DATA, a CSV file, and save it to MODEL. Image "
            "and audio columns hold file paths, relative to DATA's folder; an "
            "empty cell means the modality is missing in that row. With no role "
            f"flag ({', '.join('--' + role for role in ROLES)}), the role "
            "of every column but the target is inferred from the data and the "
            "role table is printed; with role flags, only the named columns are "
            "used."
        ),
    )
    fit.add_argument("data", metavar="DATA.csv", help="training table")
    fit.add_argument("--target", required=True, metavar="COL", help="target column")
    for role in REGISTRY.values():
        if role.grouped:
            fit.add_argument(
                f"--{role.name}",
                nargs="+",
                default=[],
                metavar="COL",
                help=role.flag_help,
            )
        else:
            fit.add_argument(f"--{role.name}", metavar="COL", help=role.flag_help)
    fit.add_argument(
        "--fusion",
        default="auto",
        choices=FUSIONS,
        help=(
            "auto (default): every strategy below scored by cross-validation on "
            "one encoding, the best kept or a greedy ensemble of them; early: "
            "features concatenated (FeatureFusion); voting: soft vote of one "
            "model per modality; stacking: meta-learner on out-of-fold "
            "predictions; net: shared-layer network with auxiliary heads"
        ),
    )
    for role in REGISTRY.values():
        if role.encoder_option is not None:
            fit.add_argument(
                f"--{role.name}-encoder",
                choices=tuple(role.encoders),
                default=role.default_encoder,
                help="; ".join(
                    f"{name}: {encoder.doc}" for name, encoder in role.encoders.items()
                )
                + f" (default: {role.default_encoder})",
            )
    fit.add_argument(
        "-o", "--output", required=True, metavar="MODEL", help="model file to write"
    )
    fit.add_argument(
        "--task",
        choices=("auto", *TASKS),
        default="auto",
        help="auto: regression for a continuous target, else classification",
    )
    fit.add_argument(
        "--sr",
        type=int,
        default=16000,
        help="sample rate the audio is analysed at (default: 16000)",
    )
    fit.add_argument(
        "--image-size",
        type=int,
        default=None,
        metavar="PIXELS",
        help="input size of the image network (default: 224; smaller is faster)",
    )
    fit.add_argument(
        "--random-state",
        type=int,
        default=0,
        metavar="SEED",
        help="seed of the stacking folds and of the network (default: 0)",
    )
    fit.add_argument(
        "--n-jobs",
        type=int,
        default=-1,
        metavar="N",
        help=(
            "worker processes fitting models and folds in parallel (default: -1, "
            "every core)"
        ),
    )
    fit.add_argument(
        "--time-limit",
        type=_positive_seconds,
        default=None,
        metavar="SECONDS",
        help=(
            "auto fusion only: seconds the methods may take to score (encoding "
            "included, the final refit not); methods that would not fit are "
            "skipped and the leaderboard says so"
        ),
    )
    fit.set_defaults(command=_run_fit)

    predict = _model_command(
        commands,
        "predict",
        help="apply a saved model to a CSV file",
        description=(
            "Write the predictions of MODEL for the rows of DATA: the 'id' "
            "column (or the row number), 'prediction' and, for classifiers "
            "with probabilities, one 'proba_<class>' column per class."
        ),
        data_help="table to predict",
    )
    predict.add_argument(
        "-o", "--output", required=True, metavar="PRED.csv", help="CSV file to write"
    )
    predict.add_argument(
        "--explain",
        action="store_true",
        help=(
            "add an 'explain_<modality>' column per modality, its exact Shapley "
            "contribution to the predicted class's probability (or the predicted "
            "value), and 'explain_baseline', the prediction with every modality "
            "missing; the baseline plus the contributions is the prediction"
        ),
    )
    predict.add_argument(
        "--coverage",
        type=_coverage,
        default=None,
        metavar="LEVEL",
        help=(
            "add conformal prediction sets at this coverage (0.9: the true value "
            "is in 90%% of them): 'prediction_set', the classes joined by '|' "
            "(empty when none is likely enough), for a classifier; 'lower' and "
            "'upper' for a regressor"
        ),
    )
    predict.set_defaults(command=_run_predict)

    evaluate = _model_command(
        commands,
        "evaluate",
        help="score a saved model on a labelled CSV file",
        description=(
            "Print accuracy and macro-F1 (classification) or R2 and MAE "
            "(regression) of MODEL on DATA and the importance of each modality, "
            "and draw them: confusion_matrix.png (or prediction_error.png) and "
            "modality_importance.png in DIR."
        ),
        data_help="labelled table",
    )
    evaluate.add_argument(
        "--target",
        default=None,
        metavar="COL",
        help="target column (default: the one the model was fitted on)",
    )
    evaluate.add_argument(
        "--out-dir",
        default=".",
        metavar="DIR",
        help="folder of the figures (default: the current folder)",
    )
    evaluate.add_argument(
        "--normalize",
        action="store_true",
        help="normalise the confusion matrix by row (each true class sums to 1)",
    )
    evaluate.add_argument(
        "--report",
        default=None,
        metavar="REPORT.html",
        help=(
            "also write one self-contained HTML page: metrics, confusion matrix, "
            "per-class precision and recall, modality importance, robustness to "
            "missing modalities, the slowest and most wrong rows explained, the "
            "encoders' settings and the bad cells met"
        ),
    )
    evaluate.set_defaults(command=_run_evaluate)
    return parser


def _model_command(commands, name, *, help, description, data_help):
    """Add the subcommand ``name``, which applies a saved MODEL to DATA.csv."""
    command = commands.add_parser(name, help=help, description=description)
    command.add_argument("model", metavar="MODEL", help="file written by fit")
    command.add_argument("data", metavar="DATA.csv", help=data_help)
    return command


def _run_demo(args):
    from ._demo import run_demo

    run_demo(quick=args.quick, n_jobs=args.n_jobs)
    return 0


def _positive_seconds(text):
    """``--time-limit``'s argument: a positive number of seconds."""
    message = f"expected a positive number of seconds, got {text!r}"
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(message) from None
    if not seconds > 0:
        raise argparse.ArgumentTypeError(message)
    return seconds


def _coverage(text):
    """``--coverage``'s argument: a number strictly between 0 and 1."""
    from ..inspection._conformal import check_coverage

    try:
        return check_coverage(float(text))
    except (ValueError, MMEnsembleError):
        raise argparse.ArgumentTypeError(
            f"expected a number strictly between 0 and 1 (0.9 for 90%), got {text!r}"
        ) from None


def _run_fit(args):
    from sklearn.utils.multiclass import type_of_target

    from .._persistence import save
    from ._recipes import RoleModel, build_estimator

    _check_output(args.output, "the model")
    roles = {role: getattr(args, role) for role in ROLES if getattr(args, role)}
    inferred = not roles
    if inferred:
        roles = _inferred_roles(args.data, args.target, _encoder_choices(args))
    frame = read_table(args.data, roles, target=args.target)
    if inferred:
        _absent_files_as_missing(frame, roles)
    y = _target(frame, args.target, args.data)
    task = args.task
    if task == "auto":
        continuous = type_of_target(y) == "continuous"
        task = "regression" if continuous else "classification"
    estimator = build_estimator(
        args.fusion,
        roles,
        task=task,
        text_encoder=args.text_encoder,
        audio_encoder=args.audio_encoder,
        sr=args.sr,
        image_size=args.image_size,
        random_state=args.random_state,
        n_jobs=args.n_jobs,
        time_limit=args.time_limit,
        verbose=1,
    )
    model = RoleModel(
        estimator, roles=roles, target=args.target, task=task, fusion=args.fusion
    )
    with _reading(args.data):
        try:
            estimator.fit(frame[model.columns], y)
            model.conformal = _conformity_scores(estimator, frame[model.columns], y)
        except ValueError as exc:
            if isinstance(exc, MMEnsembleError):
                raise
            raise CommandError(
                f"could not fit the {args.fusion!r} model on {args.data}: {exc}"
            ) from exc
    save(model, args.output)
    if args.fusion == "auto":
        _print_leaderboard(estimator)
    print(
        f"fitted {type(estimator).__name__} ({args.fusion} fusion, {task}) on "
        f"{len(frame)} rows of {args.data}; saved to {args.output}"
    )
    return 0


def _conformity_scores(estimator, X, y):
    """The out-of-fold conformity scores ``predict --coverage`` needs, or None.

    Automatic fusion gives its own out-of-fold output; another model is
    fitted on 5 folds (fewer when a class has fewer rows; None, said, when
    one has a single row).
    """
    import numpy as np
    from sklearn.base import is_classifier

    from ..inspection._conformal import conformalize

    if hasattr(estimator, "oof_output_"):
        return conformalize(estimator, X, y)
    n_rows = (
        np.unique(y, return_counts=True)[1].min()
        if is_classifier(estimator)
        else len(y)
    )
    n_folds = min(5, n_rows)
    if n_folds < 2:
        print(
            "no conformal scores for 'predict --coverage': a class has a single "
            "row, too few to hold out"
        )
        return None
    print(
        f"fitting the model on {n_folds} folds for the conformal scores of "
        "'predict --coverage'"
    )
    return conformalize(estimator, X, y, cv=n_folds)


def _check_output(path, what):
    """Fail before any work when ``path`` cannot be written."""
    try:
        check_writable(path)
    except OSError as exc:
        raise CommandError(
            f"cannot write {what} to {path}: {exc}; nothing was done"
        ) from exc


def _encoder_choices(args):
    """The encoder chosen on the command line for each role that has a choice."""
    return {
        role.name: getattr(args, role.encoder_option)
        for role in REGISTRY.values()
        if role.encoder_option is not None
    }


def _encoder_doc(role, encoder_choices):
    """What a column of ``role`` is encoded with ("" for an ignored column)."""
    if role not in REGISTRY:
        return ""
    return REGISTRY[role].encoder(encoder_choices.get(role)).doc


def _inferred_roles(path, target, encoder_choices):
    """Infer the role of every column of ``path`` but ``target``; print them.

    The printed table gives each column's role, the encoder it gets (the
    role's default, or the choice in ``encoder_choices``) and the reason.
    """
    from ..roles import infer_column_roles, roles_from_table
    from ._recipes import check_roles

    frame = read_table(path, {}, target=target)
    table = infer_column_roles(
        frame.drop(columns=target), base_dir=os.path.dirname(os.path.abspath(path))
    )
    table["encoder"] = [_encoder_doc(role, encoder_choices) for role in table["role"]]
    print(f"column roles inferred from {path} (name them with role flags instead):")
    print(
        format_table(
            table.set_index("column"),
            {"role": ("role", "s"), "encoder": ("encoder", "s"), "reason": ("", "s")},
        )
    )
    roles = roles_from_table(table)
    if not roles:
        raise CommandError(
            f"no column of {path} but the target {target!r} can be used (see the "
            "reasons above); name the input columns with --image, --audio, "
            "--text, --video, --signal, --categorical or --tabular"
        )
    return check_roles(roles)


def _absent_files_as_missing(frame, roles):
    """Make the cells of inferred media columns naming no file missing; say so."""
    from ..roles._detectors import missing_files

    for role, column in role_columns(roles):
        if not REGISTRY[role].media:
            continue
        rows = missing_files(frame[column], "")
        if rows:
            frame.loc[rows, column] = None
            shown = ", ".join(map(str, rows[:10])) + (" ..." if len(rows) > 10 else "")
            print(
                f"column {column!r}: {len(rows)} files do not exist, taken as "
                f"missing cells (rows {shown})"
            )


def _print_leaderboard(estimator):
    """Print the out-of-fold leaderboard of an automatic fusion model."""
    scoring = "accuracy" if hasattr(estimator, "classes_") else "R2"
    print(
        f"fusion methods by cross-validated {scoring} (mean seconds per fold; "
        f"kept: {estimator.best_method_}):"
    )
    formats = {
        "cv_score": (f"cv {scoring}", ".4f"),
        "fit_seconds": ("fit s", ".2f"),
        "predict_seconds": ("predict s", ".2f"),
        "weight": ("weight", ".2f"),
        "status": ("status", "s"),
    }
    print(format_table(estimator.leaderboard_, formats))
    calibration = getattr(estimator, "calibration_", None)
    if calibration is not None:
        print(
            f"temperature scaling, T={calibration['temperature']:.3f} "
            f"({'applied' if calibration['applied'] else 'not applied'}): "
            f"out-of-fold log loss {calibration['log_loss_before']:.4f} -> "
            f"{calibration['log_loss_after']:.4f}, expected calibration error "
            f"{calibration['ece_before']:.4f} -> {calibration['ece_after']:.4f}"
        )


def _run_predict(args):
    from ._predictions import prediction_table

    _check_output(args.output, "the predictions")
    model = read_model(args.model)
    frame = read_table(args.data, model.roles)
    with _reading(args.data):
        out = prediction_table(
            model, frame, explain=args.explain, coverage=args.coverage
        )
    try:
        with atomic_write(args.output, "w", encoding="utf-8", newline="") as file:
            out.to_csv(file, index="id" not in out.columns, index_label="row")
    except OSError as exc:
        raise CommandError(f"could not write {args.output}: {exc}") from exc
    print(f"wrote {len(out)} predictions to {args.output}")
    return 0


def _run_evaluate(args):
    from ..inspection._importance import modality_importance
    from ._report import (
        evaluation_figures,
        evaluation_metrics,
        evaluation_scoring,
        figure_png,
        record_bad_cells,
    )

    if args.report is not None:
        _check_output(args.report, "the report")
    model = read_model(args.model)
    target = args.target or model.target
    frame = read_table(args.data, model.roles, target=target)
    y = _target(frame, target, args.data)
    X = frame[model.columns]
    with _reading(args.data), record_bad_cells() as bad_cells:
        prediction = model.estimator.predict(X)
    print(f"{model.fusion} fusion {model.task} model, {len(frame)} rows of {args.data}")
    for name, value in evaluation_metrics(model.task, y, prediction).items():
        print(f"{name}: {value:{'.4g' if name == 'MAE' else '.4f'}}")
    importance = modality_importance(
        model.estimator, X, y, scoring=evaluation_scoring(model.task)
    )
    print("modality importance (score of all modalities minus score without it;")
    print("Shapley value over every subset of modalities):")
    print(
        format_table(
            importance,
            {"score_drop": ("score_drop", ".4f"), "shapley": ("shapley", ".4f")},
        )
    )
    figures = {
        stem: figure_png(figure)
        for stem, figure in evaluation_figures(
            model,
            y,
            prediction,
            importance,
            dataset_name=os.path.basename(args.data),
            normalize="true" if args.normalize else None,
        ).items()
    }
    for path in _draw(figures, args.out_dir):
        print(f"wrote {path}")
    if args.report is not None:
        from ._report import write_report

        with _reading(args.data):
            try:
                write_report(
                    args.report,
                    model=model,
                    model_path=args.model,
                    data_path=args.data,
                    frame=frame,
                    y=y,
                    prediction=prediction,
                    importance=importance,
                    figures=figures,
                    predict_errors=bad_cells,
                )
            except OSError as exc:
                raise CommandError(f"could not write {args.report}: {exc}") from exc
        print(f"wrote {args.report}")
    return 0


def _draw(figures, out_dir):
    """Write the evaluation figures (PNG bytes by file stem) into ``out_dir``."""
    try:
        os.makedirs(out_dir, exist_ok=True)
    except OSError as exc:
        raise CommandError(f"could not create the folder {out_dir}: {exc}") from exc
    paths = []
    for stem, png in figures.items():
        paths.append(os.path.join(out_dir, f"{stem}.png"))
        try:
            with atomic_write(paths[-1]) as file:
                file.write(png)
        except OSError as exc:
            raise CommandError(f"could not write {paths[-1]}: {exc}") from exc
    return paths


def read_table(path, roles, *, target=None):
    """Read a CSV file for a model with the given column roles.

    Only empty cells are missing (a text such as ``"NA"`` stays a text). Image
    and audio cells are file paths; relative ones are taken relative to the
    CSV file's folder and made absolute.

    Parameters
    ----------
    path : str
        The CSV file.
    roles : dict of str to str or list of str
        Column(s) of each role; they must all be in the file.
    target : str, default=None
        The target column, which must be in the file too when given.

    Returns
    -------
    frame : DataFrame
        The whole table, media paths resolved and text cells as str.
    """
    import pandas as pd

    if not os.path.isfile(path):
        what = "a folder, not a file" if os.path.isdir(path) else "no such file"
        raise CommandError(f"cannot read {path}: {what}")
    options = {"keep_default_na": False, "na_values": [""]}
    try:
        header = list(pd.read_csv(path, nrows=0, **options).columns)
        wanted = list(role_columns(roles))
        if target is not None:
            wanted.append(("target", target))
        missing = [(role, column) for role, column in wanted if column not in header]
        if missing:
            named = ", ".join(f"{column!r} (--{role})" for role, column in missing)
            raise CommandError(
                f"{path} has no column {named}; its columns are {header!r}"
            )
        strings = {
            column: object
            for role, column in role_columns(roles)
            if REGISTRY[role].string_cells
        }
        frame = pd.read_csv(path, dtype=strings, **options)
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        raise CommandError(f"cannot read {path} as a CSV file: {exc}") from exc
    folder = os.path.dirname(os.path.abspath(path))
    for role, column in role_columns(roles):
        if REGISTRY[role].media:
            frame[column] = frame[column].map(
                lambda cell: cell if pd.isna(cell) else os.path.join(folder, cell)
            )
    return frame


def read_model(path):
    """Load a model file written by ``mmensemble fit``.

    Parameters
    ----------
    path : str
        The model file.

    Returns
    -------
    model : RoleModel
        The fitted estimator with its column roles.
    """
    from .._persistence import load
    from ._recipes import RoleModel

    model = load(path)  # says what is wrong with a missing or damaged file
    if not isinstance(model, RoleModel):
        raise CommandError(
            f"{path} holds a {type(model).__name__}, not a model written by "
            "'mmensemble fit' (which records the column of each modality)"
        )
    return model


def _target(frame, column, path):
    y = frame[column]
    empty = y.index[y.isna()].tolist()
    if empty:
        raise CommandError(
            f"the target column {column!r} of {path} is empty in rows "
            f"{empty[:10]!r}{' ...' if len(empty) > 10 else ''}; fill or remove them"
        )
    return y.to_numpy()


@contextmanager
def _reading(path):
    """Name the CSV file in the message of a cell that cannot be decoded."""
    try:
        yield
    except CellDecodeError as exc:
        raise CommandError(
            f"{path}: {exc} (rows are numbered from 0, the first line after the header)"
        ) from exc
