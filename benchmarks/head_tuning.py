"""Cost and accuracy of the ways a default head can pick its regularisation.

The heads of the defaults fit on standardised embeddings (1,280 columns for
the image network, 384 for sentence embeddings, 384 for Whisper tiny.en).
This benchmark fits each candidate head on the same embeddings, on one
thread, and prints its fit time, its ratio to the former default
(``LogisticRegressionCV`` over five values of ``C``) measured in the same run,
the ``C`` it chose and its held-out accuracy:

- ``LogisticRegressionCV(Cs=logspace(-3, 1, 5))``, the former default head
  (scored by log loss, as the default head is);
- :class:`~mmensemble.fusion._heads.TunedLogisticRegression`, the default
  head: the same grid walked from strong to weak regularisation,
  warm-started, stopped when the held-out log loss stops improving;
- ``LogisticRegression(C=0.01)``, untuned (the best ``C`` of the grid on
  these embeddings, known in advance);
- ``RidgeClassifierCV`` (closed-form leave-one-out over its alphas);
- ``LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto")``
  (Ledoit-Wolf shrinkage, no search).

Data: the bundled spoken digits (its image, sentence-text and Whisper-audio
embeddings, on its split by held-out voices) and synthetic high-dimensional
blocks (``make_classification``: 1,280 columns, 10 classes, standardised),
whose rows and classes are given on the command line.

``--blas-threads`` also times one ``LogisticRegression(C=0.01)`` fit per
block with the BLAS thread pool at one thread (as the default head runs its
solver) and at the machine's default, in the same run.

Usage::

    python benchmarks/head_tuning.py
    python benchmarks/head_tuning.py --quick
    python benchmarks/head_tuning.py --blas-threads
    python benchmarks/head_tuning.py --synthetic-rows 4000
"""

import argparse
import warnings

import numpy as np
from _timing import machine, timed
from sklearn.datasets import make_classification
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import (
    LogisticRegression,
    LogisticRegressionCV,
    RidgeClassifierCV,
)
from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from mmensemble import default_modality_model
from mmensemble.cli._demo import IMAGE_SIZE, SR
from mmensemble.fusion._heads import C_GRID, TunedLogisticRegression

ENCODERS = {"text_encoder": "sentence", "audio_encoder": "whisper"}
ROLES = ("image", "text", "audio")
QUICK_ROWS = 300


def candidate_heads():
    """The heads compared, by display name, the former default first."""
    return {
        "LogisticRegressionCV (former default)": LogisticRegressionCV(
            Cs=list(C_GRID),
            l1_ratios=(0.0,),
            scoring="neg_log_loss",
            max_iter=1000,
            use_legacy_attributes=False,
        ),
        "TunedLogisticRegression (default)": TunedLogisticRegression(),
        "LogisticRegression(C=0.01)": LogisticRegression(C=0.01, max_iter=1000),
        "RidgeClassifierCV": RidgeClassifierCV(alphas=np.logspace(-1, 4, 6)),
        "shrinkage LDA": LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto"),
    }


def spoken_blocks(quick, random_state):
    """Each modality's standardised embeddings of the spoken digits.

    Returns
    -------
    blocks : dict of str to tuple
        ``(X_train, X_test, y_train, y_test)`` by block name; rows without the
        modality (some texts are missing) are left out.
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
        X_train, y_train = X_train.iloc[:QUICK_ROWS], y_train[:QUICK_ROWS]
        X_test, y_test = X_test.iloc[: QUICK_ROWS // 2], y_test[: QUICK_ROWS // 2]
    blocks = {}
    for role in ROLES:
        embed = default_modality_model(role, sr=SR, image_size=IMAGE_SIZE, **ENCODERS)[
            :-1
        ]
        train = X_train[role].notna().to_numpy()
        test = X_test[role].notna().to_numpy()
        Z_train = embed.fit_transform(X_train.loc[train, role].to_frame())
        Z_test = embed.transform(X_test.loc[test, role].to_frame())
        blocks[f"spoken digits: {role}"] = (
            Z_train,
            Z_test,
            y_train[train],
            y_test[test],
        )
    return blocks


def synthetic_block(n_rows, n_classes, random_state):
    """A standardised 1,280-column block with a few informative directions."""
    X, y = make_classification(
        n_samples=n_rows,
        n_features=1280,
        n_informative=60,
        n_redundant=200,
        n_classes=n_classes,
        n_clusters_per_class=2,
        class_sep=1.5,
        random_state=random_state,
    )
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.3, stratify=y, random_state=random_state
    )
    scaler = StandardScaler().fit(X_train)
    return scaler.transform(X_train), scaler.transform(X_test), y_train, y_test


def chosen_regularisation(head):
    """The ``C`` (or alpha) a fitted head chose, as text."""
    if isinstance(head, TunedLogisticRegression):
        return f"C={head.C_:g}"
    if isinstance(head, LogisticRegressionCV):
        return f"C={np.atleast_1d(head.C_)[0]:g}"
    if isinstance(head, RidgeClassifierCV):
        return f"alpha={head.alpha_:g}"
    if isinstance(head, LogisticRegression):
        return f"C={head.C:g}"
    return "shrinkage"


def compare(name, block):
    """Fit every head on one block; print its time, ratio and accuracy."""
    X_train, X_test, y_train, y_test = block
    print(
        f"\n{name}: {X_train.shape[0]} training rows x {X_train.shape[1]} columns, "
        f"{len(np.unique(y_train))} classes, {len(y_test)} test rows"
    )
    header = ("head", "fit s", "x former", "chose", "test acc")
    print("{:40s} {:>8s} {:>9s} {:>12s} {:>9s}".format(*header))
    baseline = None
    for label, head in candidate_heads().items():
        with threadpool_limits(limits=1):
            _, wall, _ = timed(head.fit, X_train, y_train)
        baseline = wall if baseline is None else baseline
        accuracy = accuracy_score(y_test, head.predict(X_test))
        print(
            f"{label:40s} {wall:8.2f} {wall / baseline:8.2f}x "
            f"{chosen_regularisation(head):>12s} {accuracy:9.3f}"
        )


def compare_blas_threads(name, block):
    """Time one logistic regression fit on one BLAS thread and on all."""
    X_train, _, y_train, _ = block
    head = LogisticRegression(C=0.01, max_iter=1000)
    with threadpool_limits(limits=1, user_api="blas"):
        _, one_thread, _ = timed(head.fit, X_train, y_train)
    _, default_threads, _ = timed(head.fit, X_train, y_train)
    print(
        f"{name:32s} one BLAS thread {one_thread:6.2f} s, default threads "
        f"{default_threads:6.2f} s: {default_threads / one_thread:5.2f}x"
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few hundred rows")
    parser.add_argument("--synthetic-rows", type=int, default=2000)
    parser.add_argument("--synthetic-classes", type=int, default=10)
    parser.add_argument("--random-state", type=int, default=0)
    parser.add_argument(
        "--blas-threads",
        action="store_true",
        help="also time a fit on one BLAS thread against the default threads",
    )
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    print(f"{machine()}; every head fitted on one thread")
    blocks = spoken_blocks(args.quick, args.random_state)
    rows = QUICK_ROWS if args.quick else args.synthetic_rows
    blocks[f"synthetic, {rows} rows"] = synthetic_block(
        rows, args.synthetic_classes, args.random_state
    )
    for name, block in blocks.items():
        compare(name, block)
    if args.blas_threads:
        print("\nLogisticRegression(C=0.01), BLAS threads:")
        for name, block in blocks.items():
            compare_blas_threads(name, block)


if __name__ == "__main__":
    main()
