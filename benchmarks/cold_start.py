"""Cold start: a one-row ``mmensemble predict`` against the bare import floor.

Everything is timed in fresh processes, in one run, so that the ratios are
meaningful on a noisy shared machine:

- the floor, ``python -c "import sklearn, onnxruntime, PIL"``: what any
  command that loads a model and runs a network on ONNX Runtime pays anyway;
- ``mmensemble predict MODEL one_row.csv -o pred.csv``, one row, for two
  stacking models fitted once by ``mmensemble fit`` on rows of the bundled
  spoken-digits dataset: the **pretrained** one the command line builds by
  default (image, sentence-embedding text, Whisper audio) and the
  **classic** one of earlier rounds (image, TF-IDF text, Whisper audio);
- ``mmensemble.load`` of the pretrained model file alone.

Each is repeated (interleaved) and the median reported, with its ratio to the
floor. The stored ONNX graphs (``MMENSEMBLE_MODELS_DIR``) live in a fresh
folder of this run: the fits build them, so the repeated predicts are what
every later process sees. The very first pretrained predict, before any graph
is stored (a second fresh folder: the graphs are exported, torch loaded), is
timed once and reported on its own. Last, the packages a pretrained predict
imports (``-X importtime``) are listed.

Usage::

    python benchmarks/cold_start.py  # about 3 min on a busy 2-core machine
    python benchmarks/cold_start.py --repeats 5 --n-rows 100
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

CLI = "import sys; from mmensemble.cli import main; sys.exit(main())"
FLOOR = "import sklearn, onnxruntime, PIL"
# The encoder flags of each model: none for the pretrained defaults.
MODELS = {"pretrained": [], "classic": ["--text-encoder", "tfidf"]}
HEAVY = ["torch", "transformers", "sentence_transformers", "matplotlib", "librosa"]
HEAVY += ["numba", "ctranslate2", "tokenizers"]


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
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--n-rows",
        type=int,
        default=60,
        help="training rows (at least 50: five folds need five rows of each digit)",
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        env = {**os.environ, "MMENSEMBLE_MODELS_DIR": str(folder / "models")}
        env.pop("MMENSEMBLE_CACHE_DIR", None)  # no embedding cache: cold rows
        train, one_row = make_tables(folder, args.n_rows)
        commands = {"floor": [sys.executable, "-c", FLOOR]}
        for name, flags in MODELS.items():
            model = folder / f"{name}.mmen"
            fit = [sys.executable, "-c", CLI, "fit", str(train), "--target", "digit"]
            fit += ["--image", "image", "--audio", "audio", "--text", "text"]
            fit += ["--fusion", "stacking", "--sr", "8000", *flags, "-o", str(model)]
            seconds = run(fit, env)
            print(f"fitted the {name} model on {args.n_rows} rows in {seconds:.1f} s")
            commands[f"predict {name}"] = [sys.executable, "-c", CLI, "predict"]
            commands[f"predict {name}"] += [str(model), str(one_row)]
            commands[f"predict {name}"] += ["-o", str(folder / f"{name}.csv")]
        load = (
            f"import mmensemble; mmensemble.load({str(folder / 'pretrained.mmen')!r})"
        )
        commands["load pretrained"] = [sys.executable, "-c", load]

        predict = commands["predict pretrained"]
        first_env = {**env, "MMENSEMBLE_MODELS_DIR": str(folder / "models-first")}
        first = run(predict, first_env)
        times = {name: [] for name in commands}
        for _ in range(args.repeats):  # interleaved: load changes hit all alike
            for name, argv in commands.items():
                times[name].append(run(argv, env))
        packages = imported_packages(predict, env)

    floor_s = statistics.median(times["floor"])
    labels = {
        "floor": f"`python -c {FLOOR!r}` (the floor)",
        "predict pretrained": "`mmensemble predict` one row, pretrained model",
        "predict classic": "`mmensemble predict` one row, classic model (TF-IDF)",
        "load pretrained": "`mmensemble.load` of the pretrained model file",
    }
    print(f"\nmedian of {args.repeats} fresh processes (s), ratio to the floor:")
    print("| command | median s | x floor | all runs |")
    print("|---|---|---|---|")
    for name, runs in times.items():
        median = statistics.median(runs)
        listed = ", ".join(f"{t:.2f}" for t in runs)
        print(f"| {labels[name]} | {median:.2f} | {median / floor_s:.2f} | {listed} |")
    print(
        "| very first pretrained `mmensemble predict` (graphs exported) "
        f"| {first:.2f} | {first / floor_s:.2f} | one run |"
    )
    imported = ", ".join(
        f"{name} {'yes' if name in packages else 'no'}" for name in HEAVY
    )
    print(f"\nimported by the pretrained one-row predict: {imported}")


if __name__ == "__main__":
    main()
