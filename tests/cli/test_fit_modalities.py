"""``mmensemble fit`` says which encoder and which head each modality got."""

import numpy as np
import pandas as pd
import pytest

from mmensemble.cli import main

N_ROWS = 150
PACKAGES = ["libc6", "python3", "perl", "zlib1g", "libssl3", "debconf", "gcc"]


@pytest.fixture(scope="module")
def table_csv(tmp_path_factory):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, N_ROWS)
    colour = rng.choice(["red", "green", "blue", "grey"], N_ROWS)
    frame = pd.DataFrame(
        {
            # the class is whether the colour is red or blue, and the tag
            "colour": colour,
            "depends": [
                f"lib{label}x " + " ".join(rng.choice(PACKAGES, 3, replace=False))
                for label in y
            ],
            "area": rng.normal(size=N_ROWS) + y,
            "label": np.where(np.isin(colour, ["red", "blue"]), y, 3 - y),
        }
    )
    path = tmp_path_factory.mktemp("table") / "table.csv"
    frame.to_csv(path, index=False)
    return path


def _fit(table_csv, tmp_path, capsys, fusion):
    argv = ["fit", table_csv, "--target", "label", "--fusion", fusion]
    argv += ["-o", tmp_path / "model.mmen"]
    assert main([str(arg) for arg in argv]) == 0
    out = capsys.readouterr().out
    return out[out.index("modalities:") :].splitlines()


def test_voting_names_each_encoder_and_the_head_kept(table_csv, tmp_path, capsys):
    lines = _fit(table_csv, tmp_path, capsys, "voting")
    header, *rows = lines[1:4]
    assert header.split() == ["modality", "columns", "encoder", "head"]
    by_name = {row.split()[0]: row for row in rows + lines[4:]}
    assert "TF-IDF of the tokens" in by_name["tokens"]
    assert by_name["tokens"].endswith("linear")
    categorical = by_name["categorical"]
    assert "most-frequent imputation, one-hot" in categorical
    # the categorical head chose between the linear head and the trees
    chosen = categorical.split("(cv score:")[0].split()[-1]
    scores = dict(
        item.split()
        for item in categorical.split("(cv score:")[1].rstrip(")").split(",")
    )
    assert set(scores) == {"linear", "trees"}
    assert chosen == max(scores, key=lambda name: float(scores[name]))


def test_early_fusion_has_no_head_per_modality(table_csv, tmp_path, capsys):
    lines = _fit(table_csv, tmp_path, capsys, "early")
    assert lines[1].split() == ["modality", "columns", "encoder"]
