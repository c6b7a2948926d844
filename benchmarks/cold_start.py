"""Cold start: a one-row ``mmensemble predict`` against the bare import floor.

Everything is timed in fresh processes, in one run, so that the ratios are
meaningful on a noisy shared machine:

- the floor, ``python -c "import sklearn, onnxruntime, PIL"``: what any
  command that loads a model and runs a network on ONNX Runtime pays anyway;
- ``mmensemble predict MODEL one_row.csv -o pred.csv``, one row, with a
  stacking model over image, text and audio fitted once by ``mmensemble fit``
  on rows of the bundled spoken-digits dataset;
- ``mmensemble.load`` of that model file alone.

Each is repeated and the median reported, with its ratio to the floor. The
stored ONNX graphs (``MMENSEMBLE_MODELS_DIR``) live in a fresh folder of this
run: the fit builds them, so the repeated predicts are what every later
process sees. The very first predict, before any graph is stored, is timed too
(``--cold-first``, a second fresh folder) and reported on its own.

Usage::

    python benchmarks/cold_start.py  # 12 min on a busy 2-core machine, mostly fit
    python benchmarks/cold_start.py --repeats 3 --text sentence
"""

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PREDICT = "import sys; from mmensemble.cli import main; sys.exit(main())"
FLOOR = "import sklearn, onnxruntime, PIL"


def make_tables(folder, n_rows):
    """Training and one-row CSV files from the spoken-digits dataset."""
    from mmensemble.datasets import load_spoken_digits

    digits = load_spoken_digits(data_home=folder / "data")
    frame = digits.frame[["image", "audio", "text", "target"]].head(n_rows)
    frame = frame.rename(columns={"target": "digit"})
    train, one_row = folder / "train.csv", folder / "one_row.csv"
    frame.to_csv(train, index=False)
    frame.drop(columns="digit").iloc[[0]].to_csv(one_row, index=False)
    return train, one_row


def encoder_flags(args):
    """The encoder flags of ``mmensemble fit`` that this version has."""
    usage = subprocess.run(
        [sys.executable, "-c", PREDICT, "fit", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    flags = []
    for flag, value in [("--text-encoder", args.text), ("--audio-encoder", args.audio)]:
        if flag in usage:
            flags += [flag, value]
    return flags


def imported_packages(argv, env):
    """Top-level packages a fresh process imports (from ``-X importtime``)."""
    done = subprocess.run(
        [argv[0], "-X", "importtime", *argv[1:]],
        env=env,
        capture_output=True,
        text=True,
    )
    names = re.findall(r"^import time:.*\| *([\w.]+)$", done.stderr, re.M)
    return {name.split(".")[0] for name in names}


def run(argv, env):
    """Wall time of one fresh process; fail loudly if it fails."""
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode:
        raise SystemExit(f"{argv!r} failed:\n{done.stdout}\n{done.stderr}")
    return elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--n-rows",
        type=int,
        default=100,
        help="training rows (at least 50: five folds need five rows of each digit)",
    )
    parser.add_argument(
        "--text",
        default="tfidf",
        help="--text-encoder of mmensemble fit (default: tfidf, which needs no torch)",
    )
    parser.add_argument(
        "--audio",
        default="whisper",
        help="--audio-encoder of mmensemble fit (default: whisper, on CTranslate2)",
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        env = {**os.environ, "MMENSEMBLE_MODELS_DIR": str(folder / "models")}
        env.pop("MMENSEMBLE_CACHE_DIR", None)  # no embedding cache: cold rows
        train, one_row = make_tables(folder, args.n_rows)
        model = folder / "model.mmen"
        fit = [sys.executable, "-c", PREDICT, "fit", str(train), "--target", "digit"]
        fit += ["--image", "image", "--audio", "audio", "--text", "text"]
        fit += ["--fusion", "stacking", "--sr", "8000", "-o", str(model)]
        flags = encoder_flags(args)
        fit_seconds = run(fit + flags, env)
        print(f"fitted the stacking model on {args.n_rows} rows in {fit_seconds:.1f} s")
        print(f"encoder flags: {' '.join(flags) or '(none: this fit has none)'}")

        predict = [sys.executable, "-c", PREDICT, "predict", str(model)]
        predict += [str(one_row), "-o", str(folder / "pred.csv")]
        load_code = f"import mmensemble; mmensemble.load({str(model)!r})"
        commands = {
            "floor": [sys.executable, "-c", FLOOR],
            "predict": predict,
            "load": [sys.executable, "-c", load_code],
            # skops.io imported first lists every scikit-learn estimator, as
            # mmensemble.load did before it imported skops.io itself
            "listed": [sys.executable, "-c", f"import skops.io; {load_code}"],
        }
        first_env = {**env, "MMENSEMBLE_MODELS_DIR": str(folder / "models-first")}
        first = run(predict, first_env)
        times = {name: [] for name in commands}
        for _ in range(args.repeats):  # interleaved: load changes hit all alike
            for name, argv in commands.items():
                times[name].append(run(argv, env))
        results = {name: (statistics.median(t), t) for name, t in times.items()}
        packages = imported_packages(predict, env)

    floor_s = results["floor"][0]
    print(f"\nmedian of {args.repeats} fresh processes (s), ratio to the floor:")
    print("| command | median s | x floor | all runs |")
    print("|---|---|---|---|")
    labels = {
        "floor": f"`python -c {FLOOR!r}`",
        "predict": "`mmensemble predict` one row (graphs stored)",
        "load": "`mmensemble.load` of the model file",
        "listed": "`mmensemble.load`, skops listing every estimator (before)",
    }
    for name, (median, times) in results.items():
        runs = ", ".join(f"{t:.2f}" for t in times)
        print(f"| {labels[name]} | {median:.2f} | {median / floor_s:.2f} | {runs} |")
    print(
        f"| `mmensemble predict` one row, very first process (no stored graph) "
        f"| {first:.2f} | {first / floor_s:.2f} | one run |"
    )
    heavy = ["torch", "matplotlib", "sentence_transformers", "librosa", "numba"]
    heavy += ["ctranslate2"]
    listed = ", ".join(
        f"{name} {'yes' if name in packages else 'no'}" for name in heavy
    )
    print(f"\nimported by the one-row predict: {listed}")


if __name__ == "__main__":
    main()
