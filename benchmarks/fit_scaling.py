"""Cost of the no-flag fit as the rows grow: seconds per 1,000 rows.

``mmensemble fit train.csv --target label`` with no other flag builds the
automatic fusion of the pretrained default encoders (``build_estimator("auto",
...)`` in ``mmensemble.cli._recipes``, with the command's defaults: every core,
16 kHz audio, the image network's native size). This benchmark fits that
estimator on synthetic multimodal tables
(:func:`~mmensemble.datasets.make_multimodal_classification`: RGB images,
one-second clips, short texts and a few numbers, five classes) of growing
size, and prints for each size

- the encoding seconds (every encoder over its cells, once, which fills the
  in-memory embedding cache),
- the model-fitting seconds (the automatic fusion's fit on the same rows,
  whose encoders then find every cell in the cache),
- seconds per 1,000 rows and their ratio to the smallest size's, measured in
  the same run (a flat cost is a ratio near 1), and the encoding's share.

Run it without ``MMENSEMBLE_CACHE_DIR`` (the disk cache is then off), so that
nothing carries over between sizes or runs.

Usage::

    python benchmarks/fit_scaling.py                      # 1k, 4k and 16k rows
    python benchmarks/fit_scaling.py --sizes 500 1000     # a smoke test
"""

import argparse
import time
import warnings

from _timing import machine
from sklearn.exceptions import ConvergenceWarning

from mmensemble.cli._recipes import build_estimator
from mmensemble.datasets import make_multimodal_classification
from mmensemble.fusion._defaults import default_encoder

SR = 16000
N_TABULAR = 4
MODALITIES = ("image", "audio", "text", "tabular")


def make_table(n_rows, random_state):
    """A synthetic four-modality table of ``n_rows`` rows, five classes."""
    return make_multimodal_classification(
        n_rows,
        n_classes=5,
        signal=0.3,
        missing_rate=0.1,
        image_size=32,
        image_channels=3,
        audio_length=SR,
        sr=SR,
        text_length=12,
        n_tabular=N_TABULAR,
        random_state=random_state,
    )


def roles():
    """The columns of each role, as ``mmensemble fit`` infers them."""
    return {
        "image": "image",
        "audio": "audio",
        "text": "text",
        "tabular": [f"tabular_{index}" for index in range(N_TABULAR)],
    }


def encode(X):
    """Encode every media cell once (filling the memory cache); the seconds."""
    start = time.perf_counter()
    for role in ("image", "audio", "text"):
        cells = X[role].dropna()
        encoder = default_encoder(role, sr=SR)
        encoder.fit(cells).transform(cells)
    return time.perf_counter() - start


def fit(X, y, n_jobs):
    """The no-flag automatic fusion fitted on the table; it and the seconds."""
    estimator = build_estimator("auto", roles(), sr=SR, n_jobs=n_jobs)
    start = time.perf_counter()
    estimator.fit(X, y)
    return estimator, time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 4000, 16000])
    parser.add_argument("--n-jobs", type=int, default=-1)
    parser.add_argument("--random-state", type=int, default=0)
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    print(f"{machine()}; n_jobs={args.n_jobs}")
    header = ("rows", "encode s", "fit s", "s / 1k rows", "x smallest", "encoding")
    print("{:>7s} {:>9s} {:>9s} {:>12s} {:>11s} {:>9s}".format(*header))
    baseline = None
    for n_rows in args.sizes:
        X, y = make_table(n_rows, args.random_state + n_rows)
        encoding = encode(X)
        estimator, fitting = fit(X, y, args.n_jobs)
        per_thousand = (encoding + fitting) / n_rows * 1000
        baseline = per_thousand if baseline is None else baseline
        print(
            f"{n_rows:7d} {encoding:9.1f} {fitting:9.1f} {per_thousand:12.2f} "
            f"{per_thousand / baseline:10.2f}x "
            f"{encoding / (encoding + fitting):9.0%}   "
            f"(kept: {estimator.best_method_})",
            flush=True,
        )


if __name__ == "__main__":
    main()
