"""Accuracy of unimodal and fused models, and their robustness to missing modalities.

Part A, the bundled spoken digits (image, audio, text), on its fixed split
whose test rows are spoken by voices never heard in training:

1. accuracy, macro-F1 and fit time of one model per modality and of each
   fusion strategy, once with the classic text and audio features (character
   n-gram TF-IDF, MFCC statistics) and once with the pretrained encoders
   (all-MiniLM-L6-v2 sentence embeddings, Whisper tiny.en), and the automatic
   fusion (``--fusion auto``: every strategy scored out of fold, the best or a
   greedy ensemble kept); the gain of the best fusion over the best single
   modality;
2. the default, self-tuning heads (``TunedLogisticRegression`` on the cached
   embeddings) against heads hand-tuned on the test rows themselves (each
   modality's ``C`` picked from the same grid by its test accuracy: an
   optimistic bound for tuning by hand);
3. the accuracy of every fused model when 25% and 50% of the test rows lose
   one modality (their cells set to None; the same rows for every model);
4. ``mmensemble fit train.csv --target label`` with no other flag (roles
   inferred, pretrained encoders, auto fusion, the command's default sample
   rate and image size), scored on the test CSV, against the best single
   fusion method of table 1, and its wall time;
5. the same command with ``--time-limit 60`` (the issue's budget) and with
   ``--time-limit 15`` (one that not every method fits): its wall time
   against the limit, its test accuracy and its leaderboard (what was
   skipped).
   ``--part no-flag`` runs items 4 and 5 alone.

Part B, Fashion-MNIST (image only, the Debian package ``dataset-fashion-mnist``):
logistic regression on raw pixels against the same model on EfficientNet-Lite0
embeddings (the 28x28 images upscaled to 128 px; ``--image-size 0`` takes the
network's native 224 px, about 1 point better and 3 times slower), on
stratified subsamples of the official training and test sets. It is skipped,
with a message, when the package is not installed.

Every model comes from ``mmensemble.default_modality_model`` (through
``mmensemble.cli._recipes`` for the fused ones), as in ``mmensemble fit``; Part A's
table 1 scores the methods of ``mmensemble demo`` (``mmensemble.cli._demo``),
with its encoder settings. In Part A the images, clips and texts are encoded
once per encoder, before the models are fitted (the embedding cache), so the
fit times compare models, not encoders.

Usage::

    python benchmarks/fusion_accuracy.py
    python benchmarks/fusion_accuracy.py --part spoken
    python benchmarks/fusion_accuracy.py --part no-flag
    python benchmarks/fusion_accuracy.py --part fashion --n-train 10000 --n-test 5000
    python benchmarks/fusion_accuracy.py --part fashion --image-size 0
    python benchmarks/fusion_accuracy.py --quick
"""

import argparse
import contextlib
import gzip
import io
import os
import tempfile
import time
import warnings

import numpy as np
import pandas as pd
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import FunctionTransformer

from mmensemble import (
    ModalityStackingClassifier,
    ModalityVotingClassifier,
    default_modality_model,
)
from mmensemble.cli._demo import (
    ENCODER_SETS,
    IMAGE_SIZE,
    ROLES,
    SR,
    encode_once,
    fused_methods,
    unimodal_methods,
)
from mmensemble.cli._main import main as mmensemble_main
from mmensemble.fusion._heads import C_GRID

DROP_RATES = (0.25, 0.5)
# Seconds of item 5's budgeted no-flag fits.
TIME_LIMITS = (60, 15)
QUICK_ROWS = {"train": 150, "test": 60}
FASHION_DIR = "/usr/share/datasets/fashion-mnist"


def load_spoken(quick, random_state):
    """Return the spoken digits split by voice; a stratified subsample if quick.

    Parameters
    ----------
    quick : bool
        Keep ``QUICK_ROWS`` training and test rows.
    random_state : int
        Seed of the held-out voices and of the subsample.

    Returns
    -------
    X_train, X_test : DataFrame
        The ``image`` (arrays), ``audio`` (paths), ``text`` and ``voice``
        columns.
    y_train, y_test : ndarray
        The digits.
    """
    from mmensemble.datasets import load_spoken_digits

    X_train, X_test, y_train, y_test = load_spoken_digits(
        return_X_y=True,
        held_out_voices=True,
        random_state=random_state,
        image_format="array",
    )
    y_train, y_test = np.asarray(y_train), np.asarray(y_test)
    if quick:
        X_train, y_train = subsample(
            X_train, y_train, QUICK_ROWS["train"], random_state
        )
        X_test, y_test = subsample(X_test, y_test, QUICK_ROWS["test"], random_state)
    return X_train, X_test, y_train, y_test


def subsample(X, y, n_rows, random_state):
    """Return a stratified subsample of ``n_rows`` rows (all of them if fewer).

    Parameters
    ----------
    X : DataFrame or ndarray
        The rows.
    y : ndarray
        Their classes.
    n_rows : int
        How many rows to keep.
    random_state : int
        Seed of the draw.

    Returns
    -------
    X, y : DataFrame or ndarray, ndarray
        The kept rows.
    """
    if n_rows >= len(y):
        return X, y
    X, _, y, _ = train_test_split(
        X, y, train_size=n_rows, stratify=y, random_state=random_state
    )
    return X, y


def single_modality(model, role):
    """One modality's model inside a voting classifier, as in the demo.

    The rows without the modality (15% of the texts are missing) get the
    class prior instead of crashing.
    """
    return ModalityVotingClassifier([(role, model, ROLES[role])], voting="soft")


def hand_tuned_models(X_train, y_train, X_test, y_test, random_state):
    """Voting and stacking whose heads are tuned by hand on the test rows.

    Each modality's logistic regression takes the ``C`` of the default grid
    with the best test accuracy of that modality alone; an optimistic bound
    for tuning by hand, as it looks at the test rows.

    Parameters
    ----------
    X_train, y_train, X_test, y_test : DataFrame, ndarray
        The rows of both splits.
    random_state : int
        Seed of the stacking folds.

    Returns
    -------
    methods : list of (str, estimator)
        Unfitted voting and stacking with each encoder set.
    chosen : dict of str to float
        The ``C`` kept for each modality and encoder.
    """
    methods, chosen = [], {}
    for encoders, options in ENCODER_SETS.items():
        options = {**options, "sr": SR, "image_size": IMAGE_SIZE}
        models = []
        for role, column in ROLES.items():
            scores = {}
            for C in C_GRID:
                model = default_modality_model(role, **options)
                model.steps[-1] = (
                    "logisticregression",
                    LogisticRegression(C=C, max_iter=2000),
                )
                single = single_modality(model, role).fit(X_train, y_train)
                scores[C] = (single.score(X_test, y_test), model)
            C = max(scores, key=lambda value: scores[value][0])
            chosen[f"{role} [{encoders}]"] = C
            models.append((role, scores[C][1], column))
        methods.append(
            (
                f"fused: soft voting, hand-tuned heads [{encoders}]",
                ModalityVotingClassifier(models, voting="soft"),
            )
        )
        methods.append(
            (
                f"fused: stacking, hand-tuned heads [{encoders}]",
                ModalityStackingClassifier(
                    models,
                    final_estimator=LogisticRegression(max_iter=2000),
                    cv=5,
                    random_state=random_state,
                ),
            )
        )
    return methods, chosen


def fit_and_score(name, estimator, X_train, y_train, X_test, y_test):
    """Fit ``estimator``, predict the test rows and return its scores.

    Parameters
    ----------
    name : str
        Display name of the method.
    estimator : estimator
        Unfitted classifier.
    X_train, y_train : DataFrame or Series, ndarray
        Training rows.
    X_test, y_test : DataFrame or Series, ndarray
        Test rows.

    Returns
    -------
    scores : dict
        ``method``, ``accuracy``, ``macro-F1``, ``fit s``, ``predict s``.
    """
    start = time.perf_counter()
    estimator.fit(X_train, y_train)
    fit_seconds = time.perf_counter() - start
    start = time.perf_counter()
    prediction = estimator.predict(X_test)
    return {
        "method": name,
        "accuracy": accuracy_score(y_test, prediction),
        "macro-F1": f1_score(y_test, prediction, average="macro"),
        "fit s": fit_seconds,
        "predict s": time.perf_counter() - start,
    }


def drop_cells(X, modality, rate, rng):
    """Return a copy of ``X`` whose ``modality`` is missing in ``rate`` of the rows.

    Parameters
    ----------
    X : DataFrame
        The rows.
    modality : str
        The column whose cells are set to None.
    rate : float
        Share of the rows that lose it (rows already missing it may be drawn).
    rng : numpy.random.Generator
        Draws the rows.

    Returns
    -------
    X : DataFrame
        The copy.
    """
    cells = X[modality].to_numpy(dtype=object, copy=True)
    cells[rng.choice(len(cells), size=round(rate * len(cells)), replace=False)] = None
    return X.assign(**{modality: pd.Series(cells, index=X.index, dtype=object)})


def robustness(fitted, X_test, y_test, clean, random_state):
    """Accuracy of each fitted model when test rows lose one modality.

    Parameters
    ----------
    fitted : list of (str, estimator)
        The fitted fused models.
    X_test : DataFrame
        Test rows.
    y_test : ndarray
        Their classes.
    clean : Series
        Accuracy of each model on the intact test rows, by name.
    random_state : int
        Seed of the dropped rows, the same for every model.

    Returns
    -------
    table : DataFrame
        One row per (method, dropped modality, rate): ``accuracy`` and
        ``change`` (points against the intact rows).
    """
    rng = np.random.default_rng(random_state)
    damaged = {
        (modality, rate): drop_cells(X_test, modality, rate, rng)
        for modality in ROLES
        for rate in DROP_RATES
    }
    rows = []
    for name, estimator in fitted:
        for (modality, rate), X in damaged.items():
            accuracy = accuracy_score(y_test, estimator.predict(X))
            rows.append(
                {
                    "method": name,
                    "modality dropped": modality,
                    "rows": f"{rate:.0%}",
                    "accuracy": accuracy,
                    "change": 100 * (accuracy - clean[name]),
                }
            )
    return pd.DataFrame(rows).set_index(["method", "modality dropped", "rows"])


def no_flag_fit(quick, random_state, options=()):
    """Score ``mmensemble fit train.csv --target label`` with no other flag.

    Parameters
    ----------
    quick : bool
        A small subsample of both splits.
    random_state : int
        Seed of the held-out voices and of the subsample.
    options : sequence of str, default=()
        Flags added to the command (``--time-limit 60``).

    Returns
    -------
    accuracy : float
        Of the saved model on the test CSV.
    output : str
        What the command printed (the inferred roles and the leaderboard).
    seconds : float
        Wall time of the command.
    """
    from mmensemble.cli._main import read_model, read_table
    from mmensemble.datasets import load_spoken_digits

    X_train, X_test, y_train, y_test = load_spoken_digits(
        return_X_y=True, held_out_voices=True, random_state=random_state
    )
    if quick:
        X_train, y_train = subsample(
            X_train, np.asarray(y_train), QUICK_ROWS["train"], random_state
        )
        X_test, y_test = subsample(
            X_test, np.asarray(y_test), QUICK_ROWS["test"], random_state
        )
    folder = tempfile.mkdtemp()
    paths = {}
    for split, X, y in (("train", X_train, y_train), ("test", X_test, y_test)):
        paths[split] = os.path.join(folder, f"{split}.csv")
        X.assign(label=np.asarray(y)).to_csv(paths[split], index=False)
    model_path = os.path.join(folder, "model.mmen")
    printed = io.StringIO()
    start = time.perf_counter()
    with contextlib.redirect_stdout(printed):
        status = mmensemble_main(
            ["fit", paths["train"], "--target", "label", "-o", model_path, *options]
        )
    seconds = time.perf_counter() - start
    if status != 0:
        raise RuntimeError(f"mmensemble fit failed with status {status}")
    model = read_model(model_path)
    frame = read_table(paths["test"], model.roles, target="label")
    prediction = model.estimator.predict(frame[model.columns])
    return accuracy_score(frame["label"], prediction), printed.getvalue(), seconds


def run_spoken(quick, random_state):
    """Run and print Part A.

    Parameters
    ----------
    quick : bool
        A small subsample, fewer folds and epochs.
    random_state : int
        Seed of the subsample, the estimators and the dropped rows.
    """
    X_train, X_test, y_train, y_test = load_spoken(quick, random_state)
    print(
        f"== Part A: spoken digits, {len(X_train)} training rows, {len(X_test)} "
        f"test rows spoken by {X_test['voice'].nunique()} voices unseen in training"
    )
    X_train, X_test = X_train[list(ROLES)], X_test[list(ROLES)]
    encode_once(X_train, X_test)
    unimodal = unimodal_methods()
    fused = fused_methods(quick=quick, random_state=random_state)
    scores = pd.DataFrame(
        [
            fit_and_score(name, estimator, X_train, y_train, X_test, y_test)
            for name, estimator in [*unimodal, *fused]
        ]
    ).set_index("method")
    print("\n1. every method with the classic and with the pretrained encoders\n")
    print(format_table(scores))
    single = scores.loc[[name for name, _ in unimodal], "accuracy"]
    fusion = scores.loc[[name for name, _ in fused], "accuracy"]
    print(
        f"\ngain of best fusion ({fusion.idxmax()}, {fusion.max():.3f}) over best "
        f"single modality ({single.idxmax()}, {single.max():.3f}): "
        f"{100 * (fusion.max() - single.max()):+.1f} points",
        flush=True,
    )
    hand, chosen = hand_tuned_models(X_train, y_train, X_test, y_test, random_state)
    tuned = pd.DataFrame(
        [
            fit_and_score(name, estimator, X_train, y_train, X_test, y_test)
            for name, estimator in hand
        ]
    ).set_index("method")
    default = scores.loc[
        [
            name
            for name in scores.index
            if name.split(" [")[0] in ("fused: soft voting", "fused: stacking")
        ]
    ].rename(index=lambda name: name.replace(" [", ", default heads ["))
    print(
        "\n2. default (self-tuning) heads against heads hand-tuned on the test "
        "rows (C per modality: "
        + ", ".join(f"{name} {value:g}" for name, value in chosen.items())
        + ")\n"
    )
    print(format_table(pd.concat([default, tuned]).sort_index()))
    print(
        "\n3. robustness: accuracy when a share of the test rows lose one modality "
        "(change in points against the intact test rows)"
    )
    table = robustness(fused, X_test, y_test, scores["accuracy"], random_state)
    print(format_table(table))
    best_single = scores.loc[
        [name for name, _ in fused if not name.startswith("fused: auto")], "accuracy"
    ]
    run_no_flag(quick, random_state, best_single)


def run_no_flag(quick, random_state, best_single=None):
    """Run and print Part A's items 4 and 5: the no-flag fit, then under a budget.

    Parameters
    ----------
    quick : bool
        A small subsample of both splits.
    random_state : int
        Seed of the held-out voices and of the subsample.
    best_single : Series, default=None
        Test accuracy of each single fusion method (table 1), compared with
        the no-flag fit's when given.
    """
    accuracy, output, fit_seconds = no_flag_fit(quick, random_state)
    print(
        "\n4. `mmensemble fit train.csv --target label`, no other flag "
        f"({fit_seconds:.0f} s wall, encoding included); it printed:\n"
    )
    print(output.rstrip())
    comparison = (
        ""
        if best_single is None
        else f"; best single fusion method of table 1: {best_single.idxmax()}, "
        f"{best_single.max():.3f} ({100 * (accuracy - best_single.max()):+.1f} points)"
    )
    print(f"\ntest accuracy {accuracy:.3f}{comparison}", flush=True)
    for budget in (20,) if quick else TIME_LIMITS:
        accuracy, output, fit_seconds = no_flag_fit(
            quick, random_state, ["--time-limit", str(budget)]
        )
        print(
            f"\n5. the same with `--time-limit {budget}`: {fit_seconds:.0f} s wall "
            f"({fit_seconds / budget:.2f}x the limit), test accuracy "
            f"{accuracy:.3f}; its leaderboard:\n"
        )
        print(output[output.index("fusion methods by") :].rstrip(), flush=True)


def read_idx(path):
    """Read a gzipped IDX file (the MNIST format) into an array.

    Parameters
    ----------
    path : str
        The ``.gz`` file.

    Returns
    -------
    array : ndarray of uint8
        Of shape ``(n,)`` for labels, ``(n, 28, 28)`` for images.
    """
    with gzip.open(path) as file:
        data = file.read()
    n_dims = data[3]
    shape = np.frombuffer(data, dtype=">u4", count=n_dims, offset=4)
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * n_dims).reshape(shape)


def load_fashion(directory, n_train, n_test, random_state):
    """Return stratified subsamples of the Fashion-MNIST training and test sets.

    Parameters
    ----------
    directory : str
        Folder of the four ``*-idx?-ubyte.gz`` files.
    n_train, n_test : int
        Rows to keep from the training (60,000) and test (10,000) sets.
    random_state : int
        Seed of the subsamples.

    Returns
    -------
    X_train, X_test : Series of ndarray
        28x28 ``uint8`` images, one per cell.
    y_train, y_test : ndarray
        The classes, 0-9.
    """
    splits = []
    for prefix, n_rows in (("train", n_train), ("t10k", n_test)):
        images = read_idx(os.path.join(directory, f"{prefix}-images-idx3-ubyte.gz"))
        labels = read_idx(os.path.join(directory, f"{prefix}-labels-idx1-ubyte.gz"))
        images, labels = subsample(images, labels, n_rows, random_state)
        splits.append((pd.Series(list(images), name="image"), labels))
    (X_train, y_train), (X_test, y_test) = splits
    return X_train, X_test, y_train, y_test


def flatten_pixels(cells):
    """Stack image cells into one row of raw pixel values per image.

    Parameters
    ----------
    cells : Series of ndarray
        Images of one shape.

    Returns
    -------
    pixels : ndarray of shape (n_images, n_pixels)
    """
    return np.stack(cells.to_list()).reshape(len(cells), -1).astype(np.float64)


def run_fashion(directory, n_train, n_test, image_size, random_state):
    """Run and print Part B, or say why it is skipped.

    Parameters
    ----------
    directory : str
        Folder of the Fashion-MNIST files.
    n_train, n_test : int
        Training and test rows.
    image_size : int or None
        Input size of the image network; None is its native size.
    random_state : int
        Seed of the subsamples.
    """
    if not os.path.exists(os.path.join(directory, "train-images-idx3-ubyte.gz")):
        print(
            f"== Part B skipped: no Fashion-MNIST in {directory!r} (install it "
            "with `apt-get install dataset-fashion-mnist`, or pass --fashion-dir)"
        )
        return
    X_train, X_test, y_train, y_test = load_fashion(
        directory, n_train, n_test, random_state
    )
    cnn = default_modality_model("image", image_size=image_size)
    size = f"{image_size} px" if image_size else "224 px (native)"
    print(
        f"== Part B: Fashion-MNIST, image only, {len(X_train)} training and "
        f"{len(X_test)} test images (28x28 grayscale), network input {size}"
    )
    # The same scaler and logistic regression, on pixels instead of embeddings.
    pixels = default_modality_model("image").set_params(
        imageencoder=FunctionTransformer(flatten_pixels)
    )
    methods = [
        ("raw pixels + logistic regression", pixels),
        ("EfficientNet-Lite0 embeddings + logistic regression", cnn),
    ]
    scores = pd.DataFrame(
        [
            fit_and_score(name, model, X_train, y_train, X_test, y_test)
            for name, model in methods
        ]
    ).set_index("method")
    print("(the embeddings are computed inside fit and predict)\n")
    print(format_table(scores))
    gain = scores["accuracy"].iloc[1] - scores["accuracy"].iloc[0]
    print(f"\ngain of the CNN features over raw pixels: {100 * gain:+.1f} points")


def format_table(table):
    """Render a score table: scores with 3 decimals, seconds and points with 1.

    Parameters
    ----------
    table : DataFrame
        Columns among ``accuracy``, ``macro-F1``, ``fit s``, ``predict s``,
        ``change``.

    Returns
    -------
    text : str
    """
    formats = {
        "accuracy": "{:.3f}".format,
        "macro-F1": "{:.3f}".format,
        "fit s": "{:.1f}".format,
        "predict s": "{:.1f}".format,
        "change": "{:+.1f}".format,
    }
    return table.to_string(
        formatters={column: formats[column] for column in table.columns}
    )


def main():
    """Parse the command line and run the chosen parts."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--part", choices=("spoken", "no-flag", "fashion", "all"), default="all"
    )
    parser.add_argument(
        "--n-train", type=int, default=2000, help="Fashion-MNIST training rows"
    )
    parser.add_argument(
        "--n-test", type=int, default=1000, help="Fashion-MNIST test rows"
    )
    parser.add_argument(
        "--image-size",
        type=int,
        default=128,
        help="network input size for Fashion-MNIST; 0: native (224 px, slower)",
    )
    parser.add_argument("--fashion-dir", default=FASHION_DIR)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="small subsamples, fewer folds and epochs (a smoke test)",
    )
    parser.add_argument("--random-state", type=int, default=0)
    args = parser.parse_args()
    start = time.perf_counter()
    # The quick run's epoch budgets are deliberate; no warning per fold.
    warnings.simplefilter("ignore", ConvergenceWarning)
    if args.part in ("spoken", "all"):
        run_spoken(args.quick, args.random_state)
    if args.part == "no-flag":
        run_no_flag(args.quick, args.random_state)
    if args.part == "all":
        print()
    if args.part in ("fashion", "all"):
        n_train, n_test = (500, 250) if args.quick else (args.n_train, args.n_test)
        image_size = args.image_size or None
        run_fashion(args.fashion_dir, n_train, n_test, image_size, args.random_state)
    print(f"\ntotal: {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
