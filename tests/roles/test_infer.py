"""Tests of column-role inference (infer_column_roles)."""

import io

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from PIL import Image

from mmensemble import infer_column_roles
from mmensemble.cli._recipes import check_roles
from mmensemble.roles import roles_from_table
from mmensemble.roles._infer import INFERRED_ROLES

N_ROWS = 30


def png_bytes(seed):
    image = np.random.default_rng(seed).integers(0, 255, (8, 8, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """Image, audio and plain-text files, in a media/ subfolder."""
    root = tmp_path_factory.mktemp("roles")
    (root / "media").mkdir()
    for row in range(N_ROWS):
        (root / "media" / f"{row}.png").write_bytes(png_bytes(row))
        clip = np.sin(np.linspace(0, 200 * (row + 1), 800)).astype(np.float32)
        sf.write(root / "media" / f"{row}.wav", clip, 8000)
        (root / "media" / f"{row}.txt").write_text(f"note {row}")
        series = np.random.default_rng(row).normal(size=(50, 3))
        np.save(root / "media" / f"{row}.npy", series)
        pd.DataFrame(series, columns=["x", "y", "z"]).to_csv(
            root / "media" / f"{row}.csv", index=False
        )
    for row in range(3):
        write_video(root / "media" / f"{row}.mp4", seed=row)
    return root


def write_video(path, seed):
    """A five-frame H.264 clip of noise."""
    import av

    rng = np.random.default_rng(seed)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=5)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        for _ in range(5):
            pixels = rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())


def roles_of(frame, **options):
    table = infer_column_roles(frame, **options)
    assert list(table.columns) == ["column", "role", "reason"]
    assert table["role"].isin(INFERRED_ROLES).all()
    assert table["reason"].str.len().gt(0).all()
    return dict(zip(table["column"], table["role"], strict=True))


def test_every_role_from_a_csv_like_table(folder):
    rng = np.random.default_rng(0)
    words = ["red apple pie", "a long green road", "blue sky at noon", "sour milk"]
    frame = pd.DataFrame(
        {
            "id": np.arange(1000, 1000 + N_ROWS),
            "photo": [f"media/{row}.png" for row in range(N_ROWS)],
            "clip": [f"media/{row}.wav" for row in range(N_ROWS)],
            "review": [f"{words[row % 4]} number {row}" for row in range(N_ROWS)],
            "colour": rng.choice(["red", "green", "blue"], size=N_ROWS),
            "height": rng.normal(size=N_ROWS),
            "stars": rng.integers(1, 6, size=N_ROWS),
            "country": ["FR"] * N_ROWS,
        }
    )
    assert roles_of(frame, base_dir=folder) == {
        "id": "ignored",
        "photo": "image",
        "clip": "audio",
        "review": "text",
        "colour": "categorical",
        "height": "tabular",
        "stars": "categorical",
        "country": "ignored",
    }


def test_video_and_sensor_series_files(folder):
    frame = pd.DataFrame(
        {
            "movie": [
                f"media/{row % 3}.mp4" if row % 5 else None for row in range(N_ROWS)
            ],
            "imu": [f"media/{row}.npy" for row in range(N_ROWS)],
            "ecg": [f"media/{row}.csv" for row in range(N_ROWS)],
        }
    )
    assert roles_of(frame, base_dir=folder) == {
        "movie": "video",
        "imu": "signal",
        "ecg": "signal",
    }


def test_numeric_looking_ids_are_ignored():
    frame = pd.DataFrame(
        {
            "customer": [str(100234 + 7 * row) for row in range(N_ROWS)],
            "code": np.arange(N_ROWS, dtype=float)[::-1],
            "sku": [f"SKU-{row:04d}" for row in range(N_ROWS)],
            "weight": np.linspace(0.5, 3.0, N_ROWS),
        }
    )
    table = infer_column_roles(frame)
    roles = dict(zip(table["column"], table["role"], strict=True))
    assert roles == {
        "customer": "ignored",
        "code": "ignored",
        "sku": "ignored",
        "weight": "tabular",
    }
    assert "id" in table.set_index("column").loc["customer", "reason"]


def test_missing_cells_do_not_confuse_media_or_text(folder):
    photos = [None if row % 3 == 0 else f"media/{row}.png" for row in range(N_ROWS)]
    texts = [
        np.nan if row % 4 == 0 else f"the parcel number {row} came late"
        for row in range(N_ROWS)
    ]
    frame = pd.DataFrame(
        {"photo": photos, "note": texts, "empty": [None] * N_ROWS},
    )
    table = infer_column_roles(frame, base_dir=folder).set_index("column")
    assert table["role"].to_dict() == {
        "photo": "image",
        "note": "text",
        "empty": "ignored",
    }
    assert "20 present" in table.loc["photo", "reason"]


def test_short_categorical_strings_against_free_text():
    rng = np.random.default_rng(1)
    n_rows = 200
    sizes = rng.choice(["S", "M", "L", "XL"], size=n_rows)
    # Short single words, but many distinct values (typed names with typos).
    names = [
        f"{rng.choice(['seven', 'sept', 'sieben'])}{'x' * (row % 40)}"
        for row in range(n_rows)
    ]
    comments = [f"delivered on day {row % 90} in good order" for row in range(n_rows)]
    frame = pd.DataFrame({"size": sizes, "name": names, "comment": comments})
    assert roles_of(frame) == {
        "size": "categorical",
        "name": "text",
        "comment": "text",
    }


def test_paths_that_are_not_media_are_not_images(folder):
    frame = pd.DataFrame(
        {
            "notes": [f"media/{row}.txt" for row in range(N_ROWS)],
            "gone": [f"media/absent{row % 3}.png" for row in range(N_ROWS)],
        }
    )
    roles = roles_of(frame, base_dir=folder)
    assert roles["notes"] not in ("image", "audio")
    assert roles["gone"] == "categorical"


def test_in_memory_cells():
    rng = np.random.default_rng(2)
    frame = pd.DataFrame(
        {
            "png": [png_bytes(row) for row in range(10)],
            "pixels": pd.Series(
                [rng.integers(0, 255, (6, 6), dtype=np.uint8) for _ in range(10)],
                dtype=object,
            ),
            "wave": pd.Series(
                [(rng.normal(size=400), 8000) for _ in range(10)], dtype=object
            ),
            "series": pd.Series(
                [rng.normal(size=(100, 2)) for _ in range(10)], dtype=object
            ),
        }
    )
    assert roles_of(frame) == {
        "png": "image",
        "pixels": "image",
        "wave": "audio",
        "series": "signal",
    }


def test_role_table_becomes_the_recipes_roles():
    table = pd.DataFrame(
        {
            "column": ["id", "photo", "colour", "size", "age", "review"],
            "role": [
                "ignored",
                "image",
                "categorical",
                "categorical",
                "tabular",
                "text",
            ],
            "reason": ["x"] * 6,
        }
    )
    roles = roles_from_table(table)
    assert roles == {
        "image": ["photo"],
        "categorical": ["colour", "size"],
        "tabular": ["age"],
        "text": ["review"],
    }
    assert list(check_roles(roles)) == ["image", "text", "categorical", "tabular"]
