"""Automatic fusion's fold fits: the tree heads' native splits, and threads.

On the real table of ``benchmarks/real_table.py`` (Debian's package index,
its section as the target), the categorical block (priority and two
True/False flags, one-hot) and the tabular block (two sizes, standardised)
get the default head, :func:`mmensemble.default_head` with ``trees=True``:
the better, by 3-fold log loss, of the linear head and gradient-boosted trees.
In one run this prints:

1. each block's held-out log loss (5 stratified folds of the training rows) of
   the linear head, of the trees on the one-hot columns and of the trees
   splitting the categories natively
   (:class:`~mmensemble.fusion._categorical_trees.CategoricalTrees`, the
   categorical block's default);
2. the seconds of the trees' part of the default head's fit on each block (a
   3-fold search and a refit), and of the string role's encoder (skrub's
   ``StringEncoder``) on the package names, with the native thread pools at
   one thread (as automatic fusion runs its fold fits, and the head its
   candidates) and at the machine's default, and their ratio. The load
   average is printed with them: the ratio depends on what else the machine
   runs.

Usage::

    python benchmarks/fold_fits.py
    python benchmarks/fold_fits.py --rows 1000 --repeats 2
"""

import argparse
import functools
import os
import warnings

import numpy as np
from _timing import machine, timed
from real_table import package_table
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import StratifiedKFold, cross_val_score
from threadpoolctl import threadpool_limits

from mmensemble import default_modality_model
from mmensemble.fusion._categorical_trees import CategoricalTrees

BLOCKS = {
    "categorical": ["priority", "arch_all", "multi_arch"],
    "tabular": ["installed_size", "size"],
}


def candidates(role):
    """The heads scored on a block: the default's two, and one-hot trees."""
    linear, trees = dict(default_modality_model(role)[-1].estimators).values()
    heads = {"linear": linear}
    if isinstance(trees, CategoricalTrees):
        heads["trees, one-hot columns"] = clone(trees.estimator)
        heads["trees, native categories (default)"] = trees
    else:
        heads["trees (default)"] = trees
    return heads


def held_out_log_loss(head, block, y):
    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    with threadpool_limits(limits=1, user_api="openmp"):
        return -cross_val_score(head, block, y, cv=folds, scoring="neg_log_loss").mean()


def trees_seconds(trees, block, y, *, threads, repeats):
    """Median seconds of the trees' 3-fold search and refit, as the head runs it."""
    folds = StratifiedKFold(3, shuffle=True, random_state=0)

    def search():
        cross_val_score(trees, block, y, cv=folds)
        clone(trees).fit(block, y)

    with threadpool_limits(limits=threads):
        return float(np.median([timed(search)[1] for _ in range(repeats)]))


def string_encoder_seconds(names, *, threads, repeats):
    """Median seconds of the string role's encoder fitted on ``names``."""
    encoder = default_modality_model("string")[0]
    with threadpool_limits(limits=threads):
        return float(
            np.median(
                [timed(clone(encoder).fit_transform, names)[1] for _ in range(repeats)]
            )
        )


def compare(what, seconds, **timing):
    one = seconds(threads=1, **timing)
    load = os.getloadavg()[0]
    default = seconds(threads=None, **timing)
    print(
        f"{what}: one thread {one:.2f} s, default threads {default:.2f} s, "
        f"ratio {default / one:.2f}x (load average {load:.1f})"
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    print(machine())
    X, y = package_table(args.rows)
    print(f"{len(X)} packages, {len(np.unique(y))} sections")
    for role, columns in BLOCKS.items():
        encoder = default_modality_model(role)[:-1]
        block = encoder.fit_transform(X[columns], y)
        block = block.toarray() if hasattr(block, "toarray") else block
        for name, head in candidates(role).items():
            loss = held_out_log_loss(head, block, y)
            print(f"{role:12s} {name:36s} held-out log loss {loss:.4f}")
        trees = dict(default_modality_model(role)[-1].estimators)["trees"]
        compare(
            f"{role:12s} trees' search and refit",
            functools.partial(trees_seconds, trees, block, y),
            repeats=args.repeats,
        )
    compare(
        "string encoder on the package names",
        functools.partial(string_encoder_seconds, X["package"]),
        repeats=args.repeats,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
