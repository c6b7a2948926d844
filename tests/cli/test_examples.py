"""Every script in ``examples/`` runs and prints a score."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).parents[2] / "examples").glob("*.py"))
SCORE = re.compile(r"\b(accuracy|score|R2)\b[^\n]*?\b[01]\.\d+", re.IGNORECASE)


def test_every_strategy_has_an_example():
    assert {path.stem for path in EXAMPLES} >= {
        "shared_layer_net",
        "multitask_net",
        "early_fusion",
        "weighted_early_fusion",
        "voting",
        "stacking",
        "grid_search_fusion",
        "missing_modalities",
    }


@pytest.mark.parametrize("script", EXAMPLES, ids=[path.stem for path in EXAMPLES])
def test_example_runs_and_prints_a_score(script, tmp_path):
    # One thread per library: on a small shared test machine, torch's and
    # BLAS's thread pools fight over the cores and slow the CNN tenfold.
    threads = {name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
    warnings_as_errors = [
        "-W",
        "error::FutureWarning",
        "-W",
        "error::DeprecationWarning",
    ]
    result = subprocess.run(
        [sys.executable, *warnings_as_errors, str(script)],
        cwd=tmp_path,
        env={**os.environ, **threads},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert SCORE.search(result.stdout), result.stdout
