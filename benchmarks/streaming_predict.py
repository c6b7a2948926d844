"""Streaming ``mmensemble predict``: peak memory against rows, in-process vs Dask.

A synthetic table (64 distinct 16x16 PNG images, short texts from a small
vocabulary, two numbers; a few missing cells) is replicated to 10,000, 50,000
and 200,000 rows, and a soft-voting model (images through EfficientNet-Lite0
at 32 px, TF-IDF texts, numbers) fitted on 200 rows predicts each table with
the default ``--chunk-rows``, each in a fresh subprocess, the embedding caches
off (no ``MMENSEMBLE_CACHE_DIR``; streaming turns the in-process one off).
Each subprocess reports its peak RSS (``getrusage(RUSAGE_SELF).ru_maxrss``)
and the wall time of the command itself; the report gives the ratio of every
peak to the smallest table's (target: within 1.3x) and rows/s. Then the
middle table is predicted again with ``--dask`` on a ``LocalCluster`` of two
worker processes of one thread each, started here, and both rows/s are
printed with their ratio (the workers' memory is not in the peak figures).

Run it with::

    python benchmarks/streaming_predict.py            # about 10 minutes on 2 cores
    python benchmarks/streaming_predict.py --quick    # 1k, 2k, 5k rows
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

CHILD = """
import json, resource, sys, time
from mmensemble.cli import main
start = time.perf_counter()
status = main(sys.argv[1:])
wall = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"status": status, "wall": wall, "peak": peak}))
"""


def base_table(folder, n_rows=200, seed=0):
    """The table replicated: image paths, texts, numbers, a label."""
    rng = np.random.default_rng(seed)
    (folder / "media").mkdir()
    for image in range(64):
        pixels = rng.integers(0, 60, size=(16, 16, 3), dtype=np.uint8)
        if image % 2:
            pixels[4:12, 4:12] = 230
        Image.fromarray(pixels).save(folder / "media" / f"{image}.png")
    label = rng.integers(0, 2, size=n_rows)
    words = np.array([["dark", "short", "cold"], ["bright", "tall", "warm"]])
    return pd.DataFrame(
        {
            "photo": [
                f"media/{2 * rng.integers(32) + y}.png" if row % 17 else None
                for row, y in enumerate(label)
            ],
            "note": [
                " ".join(rng.choice(words[y], size=3)) if row % 11 else None
                for row, y in enumerate(label)
            ],
            "size": label + rng.normal(size=n_rows),
            "weight": rng.normal(size=n_rows),
            "label": np.where(label, "yes", "no"),
        }
    )


def replicated(base, n_rows, path):
    """Write ``base`` repeated to ``n_rows`` rows, a block at a time."""
    written = 0
    with open(path, "w", encoding="utf-8", newline="") as file:
        while written < n_rows:
            block = base.iloc[: n_rows - written]
            block.to_csv(file, index=False, header=written == 0)
            written += len(block)


def predict(model, data, output, *extra):
    """One ``mmensemble predict`` in a fresh process: its report."""
    env = {k: v for k, v in os.environ.items() if k != "MMENSEMBLE_CACHE_DIR"}
    argv = ["predict", str(model), str(data), "-o", str(output), *extra]
    done = subprocess.run(
        [sys.executable, "-c", CHILD, *argv],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["status"] == 0, done.stderr
    return report


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1k, 2k, 5k rows")
    args = parser.parse_args()
    sizes = [1000, 2000, 5000] if args.quick else [10_000, 50_000, 200_000]

    from mmensemble.cli import main as mmensemble

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        base = base_table(folder)
        base.to_csv(folder / "train.csv", index=False)
        model = folder / "voting.mmen"
        fit = ["fit", str(folder / "train.csv"), "--target", "label"]
        fit += ["--image", "photo", "--text", "note", "--tabular", "size", "weight"]
        fit += ["--fusion", "voting", "--text-encoder", "tfidf", "--image-size", "32"]
        with open(os.devnull, "w") as quiet:
            stdout, sys.stdout = sys.stdout, quiet
            try:
                assert mmensemble([*fit, "-o", str(model)]) == 0
            finally:
                sys.stdout = stdout
        print(f"{os.cpu_count()} CPU(s); load average {os.getloadavg()[0]:.2f}")
        print(f"{'rows':>8}  {'peak RSS MB':>11}  {'x smallest':>10}  {'rows/s':>8}")
        reports = {}
        for size in sizes:
            data = folder / f"rows{size}.csv"
            replicated(base, size, data)
            reports[size] = predict(model, data, folder / f"pred{size}.csv")
            peak = reports[size]["peak"]
            ratio = peak / reports[sizes[0]]["peak"]
            rate = size / reports[size]["wall"]
            print(f"{size:>8}  {peak / 2**20:>11.0f}  {ratio:>10.2f}  {rate:>8.0f}")

        from distributed import LocalCluster

        middle = sizes[1]
        with LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster:
            remote = predict(
                model,
                folder / f"rows{middle}.csv",
                folder / "remote.csv",
                "--dask",
                cluster.scheduler_address,
            )
        local_rate = middle / reports[middle]["wall"]
        remote_rate = middle / remote["wall"]
        there = pd.read_csv(folder / "remote.csv")
        here = pd.read_csv(folder / f"pred{middle}.csv")
        same = there[["row", "prediction"]].equals(here[["row", "prediction"]])
        probabilities = ["proba_no", "proba_yes"]
        gap = np.abs(there[probabilities] - here[probabilities]).to_numpy().max()
        print(
            f"{middle} rows: in-process {local_rate:.0f} rows/s, 2-worker "
            f"LocalCluster {remote_rate:.0f} rows/s ({remote_rate / local_rate:.2f}x); "
            f"same rows and labels: {same}, largest probability gap {gap:.1e}; "
            f"load average {os.getloadavg()[0]:.2f}"
        )


if __name__ == "__main__":
    main()
