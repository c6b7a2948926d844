"""Cold start: ``mmensemble predict`` in a fresh process imports only what it needs."""

import os
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from mmensemble.cli._main import main
from mmensemble.datasets import load_spoken_digits

PREDICT = "import sys; from mmensemble.cli import main; sys.exit(main())"


@pytest.fixture(scope="module")
def fitted_model(tmp_path_factory):
    """A voting model over image and TF-IDF text, fitted by ``mmensemble fit``."""
    folder = tmp_path_factory.mktemp("cold")
    digits = load_spoken_digits(data_home=folder / "data")
    frame = digits.frame[["image", "text", "target"]]
    frame = frame[frame["target"] < 2].head(20)
    frame.to_csv(folder / "train.csv", index=False)
    frame.drop(columns="target").iloc[:2].to_csv(folder / "rows.csv", index=False)
    argv = ["fit", folder / "train.csv", "--target", "target", "--image", "image"]
    argv += ["--text", "text", "--text-encoder", "tfidf", "--fusion", "voting"]
    argv += ["--image-size", "32", "-o", folder / "model.mmen"]
    assert main([str(arg) for arg in argv]) == 0
    return folder


def imported_modules(importtime_log):
    """Top-level package names in a ``python -X importtime`` log."""
    names = re.findall(
        r"^import time:\s+\d+ \|\s+\d+ \|\s*([\w.]+)$", importtime_log, re.M
    )
    return {name.split(".")[0] for name in names}


def test_predict_in_a_fresh_process_imports_neither_torch_nor_matplotlib(
    fitted_model,
):
    folder = fitted_model
    argv = ["predict", folder / "model.mmen", folder / "rows.csv"]
    argv += ["-o", folder / "pred.csv"]
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", PREDICT, *map(str, argv)],
        capture_output=True,
        text=True,
        env=dict(os.environ),
    )
    assert done.returncode == 0, done.stderr[-2000:]
    modules = imported_modules(done.stderr)
    assert {"sklearn", "onnxruntime", "PIL", "skops"} <= modules  # the log is read
    assert "torch" not in modules
    assert "matplotlib" not in modules
    fresh = pd.read_csv(folder / "pred.csv")
    assert main([str(arg) for arg in argv[:-1]] + [str(folder / "here.csv")]) == 0
    pd.testing.assert_frame_equal(fresh, pd.read_csv(folder / "here.csv"))


HEAVY = ("torch", "transformers", "sentence_transformers", "librosa")
MODULES_AFTER = (
    "import sys; from mmensemble.cli import main; status = main(sys.argv[1:]); "
    f"print([name for name in {HEAVY!r} if name in sys.modules]); sys.exit(status)"
)


@pytest.fixture(scope="module")
def default_model(tmp_path_factory):
    """A model of the default encoders (sentence text, Whisper) and a number."""
    folder = tmp_path_factory.mktemp("cold-default")
    digits = load_spoken_digits(data_home=folder / "data")
    frame = digits.frame[["image", "audio", "text", "target"]]
    frame = frame[frame["target"] < 2].head(20).reset_index(drop=True)
    frame["size"] = np.random.default_rng(0).normal(size=len(frame))
    frame.to_csv(folder / "train.csv", index=False)
    frame.drop(columns="target").iloc[[0]].to_csv(folder / "row.csv", index=False)
    argv = ["fit", folder / "train.csv", "--target", "target", "--image", "image"]
    argv += ["--text", "text", "--audio", "audio", "--tabular", "size"]
    argv += ["--fusion", "voting", "--image-size", "32", "-o", folder / "model.mmen"]
    assert main([str(arg) for arg in argv]) == 0
    return folder


def test_default_model_predicts_in_a_fresh_process_without_torch(default_model):
    folder = default_model
    argv = ["predict", folder / "model.mmen", folder / "row.csv"]
    argv += ["-o", folder / "pred.csv"]
    done = subprocess.run(
        [sys.executable, "-c", MODULES_AFTER, *map(str, argv)],
        capture_output=True,
        text=True,
        env=dict(os.environ),
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines()[-1] == "[]"  # none of HEAVY was imported
    fresh = pd.read_csv(folder / "pred.csv")
    assert len(fresh) == 1 and fresh["prediction"].isin([0, 1]).all()
    assert main([str(arg) for arg in argv[:-1]] + [str(folder / "here.csv")]) == 0
    pd.testing.assert_frame_equal(
        fresh, pd.read_csv(folder / "here.csv"), check_exact=False, atol=1e-6
    )
