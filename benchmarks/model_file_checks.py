"""What the model-file checks cost: ``mmensemble.load`` against skops alone.

For the fitted model of each fusion strategy (TF-IDF text, a categorical and a
numeric column, 200 rows) and a large network-sized array, the file is saved
once; then ``mmensemble.load`` (every check: entries, array headers, protocol,
each schema node against the exact table) is timed against the bare
``skops.io.loads`` of the same bytes with the same trusted names (no check),
in the same process, median of ``--repeats`` runs. ``mmensemble.save`` (which
checks what it writes, and writes atomically) is timed against
``skops.io.dump`` to the same folder.

Usage::

    python benchmarks/model_file_checks.py --repeats 7
"""

import argparse
import io
import os
import statistics
import tempfile
import time
import warnings
import zipfile

import numpy as np
import pandas as pd
import skops.io as sio

import mmensemble
from mmensemble._persistence import _nodes, _read_schema

warnings.simplefilter("ignore")


def median_seconds(repeats, function, *args, **kwargs):
    """Median wall-clock seconds of ``function(*args, **kwargs)``."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function(*args, **kwargs)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def models():
    from sklearn.linear_model import LogisticRegression

    from mmensemble.cli._recipes import build_estimator

    rng = np.random.default_rng(0)
    X = pd.DataFrame(
        {
            "text": rng.choice(["red cat", "blue dog", "cat dog", "big bird"], 200),
            "kind": rng.choice(["a", "b", "c"], 200),
            "size": rng.normal(size=200),
        }
    )
    y = rng.integers(0, 2, 200)
    roles = {"text": "text", "categorical": ["kind"], "tabular": ["size"]}
    for fusion in ("early", "voting", "stacking", "net", "auto"):
        model = build_estimator(fusion, roles, text_encoder="tfidf")
        yield fusion, model.fit(X, y)
    big = LogisticRegression().fit([[0.0], [1.0]], [0, 1])
    big.coef_ = rng.normal(size=(1, 10_000_000))  # 80 MB of weights
    yield "80 MB array", big


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    folder = tempfile.mkdtemp()
    print(f"{os.cpu_count()} CPU(s); median of {args.repeats} runs")
    print(
        f"{'model':<12} {'nodes':>6} {'skops load s':>13} {'mmensemble s':>13} "
        f"{'x':>6} {'skops dump s':>13} {'save s':>8} {'x':>6}"
    )
    for name, model in models():
        path = os.path.join(folder, "model.mmen")
        mmensemble.save(model, path)
        with open(path, "rb") as file:
            data = file.read()
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            schema = _read_schema(archive, path)
        nodes = _nodes(schema)
        names = sorted({name for _, name, _, _ in nodes})
        n_nodes = len(nodes)
        repeats = args.repeats
        bare = median_seconds(repeats, sio.loads, data, trusted=names)
        checked = median_seconds(repeats, mmensemble.load, path)
        other = os.path.join(folder, "bare.skops")
        dump = median_seconds(repeats, sio.dump, model, other)
        save = median_seconds(repeats, mmensemble.save, model, path)
        print(
            f"{name:<12} {n_nodes:>6} {bare:>13.4f} {checked:>13.4f} "
            f"{checked / bare:>6.2f} {dump:>13.4f} {save:>8.4f} {save / dump:>6.2f}"
        )


if __name__ == "__main__":
    main()
