"""Calibrated probabilities and conformal prediction sets on unseen voices.

On the bundled spoken digits split by voice (the test rows are spoken by
voices never heard in training), ``mmensemble fit train.csv --target label``
with no other flag (roles inferred, pretrained encoders, automatic fusion,
whose probabilities are temperature-scaled on its out-of-fold ones and whose
conformity scores are its out-of-fold output), then on the test rows:

1. the expected calibration error (15 equal-width bins of the top
   probability) and the log loss of the probabilities before and after the
   temperature scaling (before: the calibrated probabilities raised to the
   power ``T`` and renormalised, which undoes ``softmax(log(p) / T)``
   exactly), and the out-of-fold figures that decided it (``calibration_``);
2. the empirical coverage of the conformal prediction sets at 80, 90 and 95%,
   their mean size and the share of each size; the 90% sets must cover
   0.87-0.95 of the test rows;
3. with ``--mapie`` (MAPIE 1.x importable): the seconds of MAPIE's
   ``CrossConformalClassifier`` on the same automatic fusion (it refits the
   estimator on each of its 5 folds) against those of the fit command and of
   :func:`mmensemble.conformalize` (which reads ``oof_output_``), and its
   coverage and set size on the test rows.

Usage::

    python benchmarks/calibration_coverage.py
    python benchmarks/calibration_coverage.py --quick --mapie
"""

import argparse
import contextlib
import io
import os
import tempfile
import time
import warnings

import numpy as np
from fusion_accuracy import QUICK_ROWS, subsample
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, log_loss

from mmensemble import conformalize
from mmensemble.cli._main import main as mmensemble_main
from mmensemble.cli._main import read_model, read_table
from mmensemble.fusion._calibration import expected_calibration_error
from mmensemble.inspection._conformal import coverage_table

COVERAGES = (0.8, 0.9, 0.95)
TARGET_RANGE = (0.87, 0.95)


def write_split(quick, random_state):
    """The training and test CSVs of the voice split (a subsample if quick).

    Returns
    -------
    paths : dict of str to str
        ``train`` and ``test`` CSV files, in a new temporary folder.
    """
    from mmensemble.datasets import load_spoken_digits

    X_train, X_test, y_train, y_test = load_spoken_digits(
        return_X_y=True, held_out_voices=True, random_state=random_state
    )
    y_train, y_test = np.asarray(y_train), np.asarray(y_test)
    if quick:
        X_train, y_train = subsample(
            X_train, y_train, QUICK_ROWS["train"], random_state
        )
        X_test, y_test = subsample(X_test, y_test, QUICK_ROWS["test"], random_state)
    folder = tempfile.mkdtemp()
    paths = {}
    for split, X, y in (("train", X_train, y_train), ("test", X_test, y_test)):
        paths[split] = os.path.join(folder, f"{split}.csv")
        X.assign(label=y).to_csv(paths[split], index=False)
    return paths


def fit_no_flag(train_path):
    """Run ``mmensemble fit TRAIN --target label``; the model file and seconds."""
    model_path = os.path.join(os.path.dirname(train_path), "model.mmen")
    printed = io.StringIO()
    start = time.perf_counter()
    with contextlib.redirect_stdout(printed):
        status = mmensemble_main(
            ["fit", train_path, "--target", "label", "-o", model_path]
        )
    if status != 0:
        raise RuntimeError(f"mmensemble fit failed with status {status}")
    return model_path, time.perf_counter() - start


def uncalibrated(proba, temperature):
    """Undo ``softmax(log(p) / T)``: ``p`` is proportional to ``proba ** T``."""
    raw = proba**temperature
    return raw / raw.sum(axis=1, keepdims=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small subsample")
    parser.add_argument(
        "--mapie", action="store_true", help="time MAPIE's cross-conformal too"
    )
    parser.add_argument("--random-state", type=int, default=0)
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=ConvergenceWarning)

    paths = write_split(args.quick, args.random_state)
    model_path, fit_seconds = fit_no_flag(paths["train"])
    model = read_model(model_path)
    auto = model.estimator
    train = read_table(paths["train"], model.roles, target="label")
    test = read_table(paths["test"], model.roles, target="label")
    X_test, y_test = test[model.columns], test["label"].to_numpy()
    print(
        f"spoken digits, {len(train)} training rows, {len(test)} test rows of "
        f"voices unseen in training; 'mmensemble fit' took {fit_seconds:.0f} s "
        f"(kept: {auto.best_method_}); load average "
        f"{' '.join(open('/proc/loadavg').read().split()[:3])}"
    )

    proba = auto.predict_proba(X_test)
    before = uncalibrated(proba, auto.temperature_)
    codes = np.searchsorted(auto.classes_, y_test)
    summary = auto.calibration_
    print(
        f"\n1. calibration: temperature {summary['temperature']:.3f} "
        f"({'applied' if summary['applied'] else 'not applied'}); out of fold: "
        f"log loss {summary['log_loss_before']:.4f} -> "
        f"{summary['log_loss_after']:.4f}, ECE {summary['ece_before']:.4f} -> "
        f"{summary['ece_after']:.4f}"
    )
    print(f"   test accuracy {accuracy_score(y_test, auto.predict(X_test)):.4f}")
    ece = {}
    for name, p in (("before", before), ("after", proba)):
        ece[name] = expected_calibration_error(codes, p)
        print(
            f"   test {name:6s}: ECE {ece[name]:.4f}, "
            f"log loss {log_loss(codes, np.clip(p, 1e-15, 1), labels=range(10)):.4f}"
        )
    verdict = "lower" if ece["after"] < ece["before"] else "NOT lower"
    print(f"   test ECE after the calibration: {verdict} than before")

    table = coverage_table(model.conformal, X_test, y_test, proba, coverages=COVERAGES)
    print("\n2. conformal prediction sets on the test rows:")
    print(table.to_string(float_format=lambda value: f"{value:.3f}"))
    low, high = TARGET_RANGE
    at_90 = table.loc[0.9, "coverage"]
    verdict = "within" if low <= at_90 <= high else "OUTSIDE"
    print(f"   90% sets cover {at_90:.3f} of the test rows: {verdict} {low}-{high}")

    if args.mapie:
        from mapie.classification import CrossConformalClassifier

        X_train, y_train = train[model.columns], train["label"].to_numpy()
        start = time.perf_counter()
        conformalize(auto, X_train, y_train)
        ours_seconds = time.perf_counter() - start
        mapie = CrossConformalClassifier(
            clone(auto), confidence_level=0.9, cv=5, random_state=args.random_state
        )
        start = time.perf_counter()
        mapie.fit_conformalize(X_train, y_train)
        mapie_seconds = time.perf_counter() - start
        _, sets = mapie.predict_set(X_test)
        sets = sets[:, :, 0]
        print(
            "\n3. cost of the conformal step: mmensemble.conformalize "
            f"{ours_seconds:.3f} s (reads oof_output_); MAPIE "
            f"CrossConformalClassifier {mapie_seconds:.0f} s = "
            f"{mapie_seconds / fit_seconds:.1f} x the fit command's "
            f"{fit_seconds:.0f} s (5 refits of the automatic fusion); MAPIE's "
            f"90% sets: coverage {sets[np.arange(len(codes)), codes].mean():.3f}, "
            f"mean size {sets.sum(axis=1).mean():.2f}"
        )


if __name__ == "__main__":
    main()
