"""The ``mmensemble`` command line: demo, fit, predict, embed, evaluate.

``fit`` reads a CSV file whose columns hold image and audio file paths
(relative to the CSV file's folder), texts and numbers, builds the estimator
of a fusion strategy for them (:mod:`mmensemble.cli._recipes`) and saves it with
:func:`mmensemble.save`, together with the column roles; ``predict`` and
``evaluate`` read that file back with :func:`mmensemble.load`, which runs no
code from it. ``predict`` and ``embed`` stream their rows in chunks
(:mod:`mmensemble.cli._streams`), in this process or on a Dask cluster
(:mod:`mmensemble.cli._distributed`). Errors the user can fix end the
command with exit status 2 and one line on stderr starting
``mmensemble: error:``.
"""

import argparse
import os
import sys
from contextlib import contextmanager

from .._atomic import atomic_write, check_writable
from .._exceptions import CellDecodeError, MMEnsembleError
from ..roles import REGISTRY
from ._errors import CommandError
from ._fit_summary import encoder_doc, print_leaderboard, print_modalities
from ._recipes import FUSIONS, ROLES, TASKS, read_model, role_columns
from ._streams import DEFAULT_CHUNK_ROWS, table_chunks
from ._tables import format_table

__all__ = ["CommandError", "main", "read_model", "read_table"]

_PROG = "mmensemble"


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
    _add_role_options(fit)
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
    _add_encoder_options(fit)
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
        help="apply a saved model to a CSV or Parquet file",
        description=(
            "Write the predictions of MODEL for the rows of DATA: the 'id' "
            "column (or the row number), 'prediction' and, for classifiers "
            "with probabilities, one 'proba_<class>' column per class. The rows "
            "are read, predicted and written a chunk at a time."
        ),
        data_help="table to predict (.csv or .parquet)",
    )
    predict.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="PRED.csv",
        help="file to write (.csv or .parquet)",
    )
    _add_stream_options(predict)
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
        "--novelty",
        action="store_true",
        help=(
            "add, per image, audio, text, video or signal modality, "
            "'<modality>_novelty' (the row's distance to the training rows' "
            "embeddings over their 99th percentile; empty where the cell is "
            "missing) and '<modality>_unlike_training' (True above 1)"
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

    embed = commands.add_parser(
        "embed",
        help="write each row's per-modality embeddings",
        description=(
            "Write the embeddings of the rows of DATA: 'id' (or the row "
            "number), for each modality with a cell encoder (images, audio, "
            "video, signals, sentence embeddings) the columns "
            "'<modality>__0', '<modality>__1', ... (NaN where it is missing) "
            "and '<modality>__missing', the columns of the other modalities as "
            "they are, and the target column when DATA has it. With MODEL, the "
            "model's fitted encoders; without, the roles of --image, --text, "
            "... or else inferred as fit infers them, and the default encoders. "
            "mmensemble.cli.read_embeddings reads the file back and "
            "embedded_modalities fits fusion estimators on it."
        ),
    )
    embed.add_argument(
        "model_or_data",
        metavar="MODEL_OR_DATA",
        help=(
            "a file written by fit, followed by DATA; or DATA alone, embedded "
            "with the default encoders (the roles inferred from its first "
            "chunk of rows unless role flags name them)"
        ),
    )
    embed.add_argument(
        "data", nargs="?", metavar="DATA", help="table to embed (.csv or .parquet)"
    )
    embed.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="EMBEDDINGS.parquet",
        help="file to write (.parquet or .csv)",
    )
    embed.add_argument(
        "--target",
        default=None,
        metavar="COL",
        help=(
            "a column copied as it is and never encoded (default: the column "
            "MODEL was fitted on)"
        ),
    )
    _add_role_options(embed)
    _add_encoder_options(embed)
    _add_stream_options(embed)
    embed.set_defaults(command=_run_embed)

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


def _add_role_options(command):
    """The role flags (``--image COL`` ...), which name the input columns."""
    for role in REGISTRY.values():
        if role.grouped:
            command.add_argument(
                f"--{role.name}",
                nargs="+",
                default=[],
                metavar="COL",
                help=role.flag_help,
            )
        else:
            command.add_argument(f"--{role.name}", metavar="COL", help=role.flag_help)


def _add_encoder_options(command):
    """The encoder choices (``--text-encoder`` ...), ``--sr``, ``--image-size``."""
    for role in REGISTRY.values():
        if role.encoder_option is not None:
            command.add_argument(
                f"--{role.name}-encoder",
                choices=tuple(role.encoders),
                default=role.default_encoder,
                help="; ".join(
                    f"{name}: {encoder.doc}" for name, encoder in role.encoders.items()
                )
                + f" (default: {role.default_encoder})",
            )
    command.add_argument(
        "--sr",
        type=int,
        default=16000,
        help="sample rate the audio is analysed at (default: 16000)",
    )
    command.add_argument(
        "--image-size",
        type=int,
        default=None,
        metavar="PIXELS",
        help="input size of the image network (default: 224; smaller is faster)",
    )


def _add_stream_options(command):
    """``--chunk-rows``, ``--resume`` and ``--dask`` of predict and embed."""
    command.add_argument(
        "--chunk-rows",
        type=_positive_int,
        default=DEFAULT_CHUNK_ROWS,
        metavar="N",
        help=f"rows read, processed and written at a time (default: "
        f"{DEFAULT_CHUNK_ROWS})",
    )
    command.add_argument(
        "--resume",
        action="store_true",
        help=(
            "continue the unfinished output (OUTPUT.partial/) of an earlier run "
            "with the same model, input and options: the rows written are kept"
        ),
    )
    command.add_argument(
        "--dask",
        default=None,
        metavar="SCHEDULER_ADDRESS",
        help=(
            "process the chunks on the workers of this Dask cluster (e.g. "
            "tcp://10.0.0.5:8786); they must read the model and media files at "
            "the same paths"
        ),
    )


def _positive_int(text):
    """``--chunk-rows``'s argument: a positive whole number."""
    try:
        number = int(text)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(
            f"expected a positive whole number, got {text!r}"
        )
    return number


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
    from ..inspection._novelty import ModalityNovelty
    from ._recipes import RoleModel, build_estimator

    _check_output(args.output, "the model")
    roles = {role: getattr(args, role) for role in ROLES if getattr(args, role)}
    inferred = not roles
    if inferred:
        roles = _inferred_roles(
            args.data,
            read_table(args.data, {}, target=args.target),
            args.target,
            _encoder_choices(args),
        )
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
        # The training rows' embeddings are cache hits: fit just encoded them.
        model.novelty = ModalityNovelty.from_estimator(estimator).fit(
            frame[model.columns]
        )
    save(model, args.output)
    if args.fusion == "auto":
        print_leaderboard(estimator)
    print_modalities(estimator, roles, _encoder_choices(args))
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


def _inferred_roles(path, frame, target, encoder_choices):
    """Infer the role of every column of ``frame`` but ``target``; print them.

    ``frame`` holds rows of ``path`` read with no roles. The printed table
    gives each column's role, the encoder it gets (the role's default, or the
    choice in ``encoder_choices``) and the reason.
    """
    from ..roles import infer_column_roles, roles_from_table
    from ._recipes import check_roles

    if target is not None:
        frame = frame.drop(columns=target)
    table = infer_column_roles(frame, base_dir=os.path.dirname(os.path.abspath(path)))
    table["encoder"] = [encoder_doc(role, encoder_choices) for role in table["role"]]
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
    """Make the cells of inferred media columns naming no file missing; say so.

    Returns ``frame``, changed in place.
    """
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
    return frame


def _prediction_options(args):
    """The keyword arguments of ``prediction_table`` that ``predict`` was given."""
    return {
        "explain": args.explain,
        "coverage": args.coverage,
        "novelty": args.novelty,
    }


def _run_predict(args):
    from ._distributed import predict_with_model
    from ._predictions import prediction_table
    from ._streams import file_digest

    model = read_model(args.model)
    options = _prediction_options(args)
    job = {"command": "predict", "model": file_digest(args.model), **options}
    with _dask_client(args) as client:
        output, chunks = _stream_input(args, model.roles, job, "the predictions")
        if client is None:
            results = (prediction_table(model, chunk, **options) for chunk in chunks)
        else:
            path = os.path.abspath(args.model)
            results = _on_cluster(
                client, args, predict_with_model, chunks, path, options
            )
        rows = _stream(args, results, output)
    print(f"wrote {rows} predictions to {args.output}")
    return 0


def _run_embed(args):
    from ._distributed import embed_with_encoders, embed_with_model
    from ._recipes import check_roles
    from ._streams import file_digest, table_columns

    roles = {role: getattr(args, role) for role in ROLES if getattr(args, role)}
    model_path, args.data = (
        (None, args.model_or_data)
        if args.data is None
        else (args.model_or_data, args.data)
    )
    # A --target given must be there; the model's may not (unlabelled rows).
    columns = table_columns(args.data, target=args.target)
    if model_path is not None:
        if roles:
            raise CommandError(
                "the role flags name the columns of a table embedded without a "
                f"model; {model_path} already says which columns it encodes"
            )
        model = read_model(model_path)
        roles, target = model.roles, args.target or model.target
        job = {"model": file_digest(model_path)}
    else:
        target = args.target
        inferred = not roles
        if inferred:
            first = next(table_chunks(args.data, {}, chunk_rows=args.chunk_rows), None)
            if first is None:
                raise CommandError(f"{args.data} has no rows to embed")
            roles = _inferred_roles(args.data, first, target, _encoder_choices(args))
        roles = check_roles(roles)
        options = {
            "text_encoder": args.text_encoder,
            "audio_encoder": args.audio_encoder,
            "sr": args.sr,
            "image_size": args.image_size,
        }
        job = {"roles": roles, **options}
    keep = [target] if target in columns else []
    with _dask_client(args) as client:
        output, chunks = _stream_input(
            args, roles, {"command": "embed", "keep": keep, **job}, "the embeddings"
        )
        if model_path is None:
            from ._embed import default_encoders

            # Fitted on the first chunk, the same one when a run is resumed.
            first = next(table_chunks(args.data, roles, chunk_rows=args.chunk_rows))
            if inferred:  # as fit takes them
                first = _absent_files_as_missing(first, roles)
                chunks = (_absent_files_as_missing(chunk, roles) for chunk in chunks)
            with _reading(args.data):
                encoders = default_encoders(roles, first, **options)
            function, argument = embed_with_encoders, encoders
        elif client is None:
            from ._embed import model_encoders

            function, argument = embed_with_encoders, model_encoders(model.estimator)
        else:
            function, argument = embed_with_model, os.path.abspath(model_path)
        if client is None:
            results = (function(argument, keep, chunk) for chunk in chunks)
        else:
            results = _on_cluster(client, args, function, chunks, argument, keep)
        rows = _stream(args, results, output)
    print(f"wrote the embeddings of {rows} rows to {args.output}")
    return 0


def _stream_input(args, roles, job, what):
    """The resumable output of a streaming command and the input chunks left.

    ``job`` (what makes the rows) gets the input file's identity and the
    chunk size: an output resumes only under the same ones.
    """
    from ._streams import ChunkedOutput, file_identity, table_columns, table_kind

    table_kind(args.output)
    table_columns(args.data, roles)
    _check_output(args.output, what)
    job = {**job, "data": file_identity(args.data), "chunk_rows": args.chunk_rows}
    try:
        output = ChunkedOutput(args.output, job, resume=args.resume)
    except OSError as exc:
        raise CommandError(f"could not write {args.output}: {exc}") from exc
    if output.rows_done:
        print(f"resuming {args.output} after the {output.rows_done} rows written")
    chunks = table_chunks(
        args.data, roles, chunk_rows=args.chunk_rows, skip_rows=output.rows_done
    )
    return output, chunks


@contextmanager
def _dask_client(args):
    """A client of the ``--dask`` scheduler, connected now; None without it."""
    if args.dask is None:
        yield None
        return
    from distributed import Client

    try:
        client = Client(args.dask, timeout="20s")
    except (OSError, TimeoutError) as exc:
        raise CommandError(
            f"cannot connect to the Dask scheduler at {args.dask}: {exc}"
        ) from exc
    with client:
        yield client


def _on_cluster(client, args, function, chunks, *arguments):
    """``function(*arguments, chunk)`` of each chunk on the cluster of ``client``.

    Yields the results in order. Two chunks per worker thread are in flight.
    """
    from distributed import KilledWorker

    from ._streams import cluster_results

    # Sent to every worker once, not with each chunk.
    shared = [client.scatter([argument], broadcast=True)[0] for argument in arguments]
    window = 2 * max(sum(client.nthreads().values()), 1)
    try:
        yield from cluster_results(client, function, chunks, shared, window=window)
    except KilledWorker as exc:
        raise CommandError(
            f"the Dask workers running a chunk of {args.data} died repeatedly "
            f"({exc}); the rows written so far are kept in {args.output}"
            ".partial/ and --resume continues them"
        ) from exc


def _stream(args, results, output):
    """Write the chunks of ``results``; the rows written (see ``stream_table``)."""
    from ._streams import count_rows, stream_table

    total = count_rows(args.data)
    with _reading(args.data):
        try:
            return stream_table(results, output, total=total)
        except OSError as exc:
            raise CommandError(f"could not write {args.output}: {exc}") from exc


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
    """Read a CSV or Parquet file for a model with the given column roles.

    Only missing cells are missing: empty CSV cells, Parquet nulls (a text
    such as ``"NA"`` stays a text). Image and audio cells are file paths;
    relative ones are taken relative to the file's folder and made absolute.
    This is :func:`~mmensemble.cli._streams.table_chunks` in one chunk.

    Parameters
    ----------
    path : str
        The ``.csv`` or ``.parquet`` file.
    roles : dict of str to str or list of str
        Column(s) of each role; they must all be in the file.
    target : str, default=None
        The target column, which must be in the file too when given.

    Returns
    -------
    frame : DataFrame
        The whole table, media paths resolved and text cells as str.
    """
    return next(table_chunks(path, roles, target=target))


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
