"""``mmensemble fit`` with no flag on an image column with missing files."""

import numpy as np
import pandas as pd
from PIL import Image

import mmensemble
from mmensemble.cli import main

N_ROWS = 20


def test_missing_files_of_an_inferred_image_column_are_missing_cells(tmp_path, capsys):
    rng = np.random.default_rng(0)
    y = np.arange(N_ROWS) % 2
    (tmp_path / "images").mkdir()
    for row, label in enumerate(y):
        if row in (5, 16):
            continue  # two files missing
        pixels = rng.integers(0, 60, (16, 16, 3), dtype=np.uint8)
        pixels[4:12, 4:12] = 230 * label
        Image.fromarray(pixels).save(tmp_path / "images" / f"{row:03d}.png")
    pd.DataFrame(
        {
            "photo": [f"images/{row:03d}.png" for row in range(N_ROWS)],
            "size": y + rng.normal(scale=0.3, size=N_ROWS),
            "label": np.where(y, "yes", "no"),
        }
    ).to_csv(tmp_path / "data.csv", index=False)
    argv = ["fit", tmp_path / "data.csv", "--target", "label", "--fusion", "voting"]
    argv += ["--image-size", "32", "-o", tmp_path / "model.mmen"]
    status = main([str(arg) for arg in argv])
    out = capsys.readouterr().out
    assert status == 0, out
    assert "18 of 20 sampled files open as image, 2 do not exist" in out
    assert (
        "column 'photo': 2 files do not exist, taken as missing cells (rows 5, 16)"
        in out
    )
    model = mmensemble.load(tmp_path / "model.mmen")
    assert model.roles["image"] == ["photo"]
