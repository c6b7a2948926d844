"""The tree heads of the tabular and categorical blocks: threads and native splits.

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
   3-fold search and a refit) with the OpenMP thread pool at one thread (as
   the head runs its candidates) and at the machine's default, and their
   ratio. The load average is printed with them: the ratio
   depends on what else the machine runs.

Usage::

    python benchmarks/tree_heads.py
    python benchmarks/tree_heads.py --rows 1000 --repeats 2
"""

import argparse
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

    with threadpool_limits(limits=threads, user_api="openmp"):
        return float(np.median([timed(search)[1] for _ in range(repeats)]))


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
        timing = {"repeats": args.repeats}
        one = trees_seconds(trees, block, y, threads=1, **timing)
        load = os.getloadavg()[0]
        default = trees_seconds(trees, block, y, threads=None, **timing)
        print(
            f"{role:12s} trees' search and refit: one OpenMP thread {one:.2f} s, "
            f"default threads {default:.2f} s, ratio {default / one:.2f}x "
            f"(load average {load:.1f})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
