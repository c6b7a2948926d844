"""Tables holding each kind of ordinary column: inferred roles, reasons, a fit."""

import io

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from sklearn.metrics import accuracy_score

from mmensemble import MMEnsembleError, infer_column_roles
from mmensemble.cli._recipes import build_estimator
from mmensemble.fusion import default_modality_model
from mmensemble.roles import roles_from_table

N_ROWS = 120
HOSTS = ["github.com", "salsa.debian.org", "www.gnu.org", "pypi.org", "gitlab.com"]
PACKAGES = ["libc6", "python3", "perl", "zlib1g", "libssl3", "debconf", "libgcc-s1"]


def kinds_table(n_rows=N_ROWS, seed=0):
    """One column of every ordinary kind, and a target that several predict."""
    rng = np.random.default_rng(seed)
    y = np.arange(n_rows) % 3
    flag = y == 1
    with_gaps = pd.Series(flag, dtype=object)
    with_gaps[rng.random(n_rows) < 0.2] = None
    table = pd.DataFrame(
        {
            "package_id": rng.choice(10**6, n_rows, replace=False),
            "row": np.arange(n_rows),
            "sku": [f"SKU-{row:05d}" for row in rng.permutation(n_rows)],
            "essential": flag,
            "protected": with_gaps,
            "priority_code": np.array([10, 20, 30])[y],
            "area": rng.integers(20, 140, n_rows) + 150 * y,
            "size": [f"{value:,}" for value in rng.integers(900, 90_000, n_rows)],
            "released": [
                str(day.date())
                for day in pd.Timestamp("2018-01-01")
                + pd.to_timedelta(700 * y + rng.integers(0, 500, n_rows), unit="D")
            ],
            "homepage_host": [
                f"{['tool', 'proj', 'libx'][label]}{row % 40}.{HOSTS[row % 5]}"
                for row, label in enumerate(y)
            ],
            "depends": [
                " ".join(rng.choice(PACKAGES, 3, replace=False)) + f" lib{label}x"
                for label in y
            ],
            "description": [
                f"this is the {['first', 'second', 'third'][label]} tool for "
                f"the people who write {row} programs with it"
                for row, label in enumerate(y)
            ],
            "origin": ["Debian"] * n_rows,
            "empty": [None] * n_rows,
        }
    )
    return table, y


def role_table(frame, **options):
    return infer_column_roles(frame, **options).set_index("column")


def test_each_kind_of_column_gets_its_role_and_reason():
    table = role_table(kinds_table()[0])
    assert table["role"].to_dict() == {
        "package_id": "ignored",
        "row": "ignored",
        "sku": "ignored",
        "essential": "categorical",
        "protected": "categorical",
        "priority_code": "categorical",
        "area": "tabular",
        "size": "tabular",
        "released": "datetime",
        "homepage_host": "string",
        "depends": "tokens",
        "description": "text",
        "origin": "ignored",
        "empty": "ignored",
    }
    reasons = table["reason"]
    assert reasons["package_id"].endswith("named like an id")
    assert reasons["row"].endswith("consecutive")
    assert "pattern 'SKU-99999'" in reasons["sku"]
    assert reasons["essential"].startswith("booleans")
    assert "empty" in reasons["protected"]
    assert reasons["priority_code"].startswith("integer codes")
    assert "thousands separators" in reasons["size"]
    assert reasons["depends"].startswith("token lists")
    assert reasons["origin"].startswith("constant")
    assert reasons["empty"] == "every cell is empty"


def test_distinct_integers_are_ids_only_when_they_look_like_ids():
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(
        {
            "square_metres": rng.choice(np.arange(30, 3000), N_ROWS, replace=False),
            "order": np.arange(5, 5 + 4 * N_ROWS, 4),
            "uuid": rng.choice(10**9, N_ROWS, replace=False),
            "customerId": rng.choice(10**6, N_ROWS, replace=False),
        }
    )
    assert role_table(frame)["role"].to_dict() == {
        "square_metres": "tabular",
        "order": "ignored",
        "uuid": "ignored",
        "customerId": "ignored",
    }


@pytest.mark.parametrize("role", ["categorical", "tabular"])
def test_tree_head_chosen_by_out_of_fold_score(role):
    table, y = kinds_table()
    columns = [c for c, r in role_table(table)["role"].items() if r == role]
    model = default_modality_model(role).fit(table[columns], y)
    head = model[-1]
    assert set(head.cv_scores_) == {"linear", "trees"}
    assert head.chosen_ == max(head.cv_scores_, key=head.cv_scores_.get)
    assert accuracy_score(y, model.predict(table[columns])) > 0.6


def test_a_fit_on_every_inferred_column():
    table, y = kinds_table()
    roles = roles_from_table(role_table(table).reset_index())
    for role, columns in roles.items():
        if role == "text":
            continue  # sentence embeddings are fitted in the next test
        model = default_modality_model(role)
        X = table[columns] if role in ("categorical", "tabular") else table[columns[0]]
        predicted = model.fit(X, y).predict(X)
        assert accuracy_score(y, predicted) > 0.6, role


def test_voting_fits_the_whole_inferred_table():
    table, y = kinds_table()
    roles = roles_from_table(role_table(table).reset_index())
    vote = build_estimator("voting", roles, text_encoder="tfidf")
    columns = [column for columns in roles.values() for column in columns]
    train, test = np.arange(N_ROWS) % 4 != 0, np.arange(N_ROWS) % 4 == 0
    vote.fit(table.loc[train, columns], y[train])
    assert vote.score(table.loc[test, columns], y[test]) > 0.8


def test_duplicate_column_names_are_named():
    frame = pd.DataFrame([[1, 2, 3]] * 4, columns=["a", "price", "price"])
    with pytest.raises(MMEnsembleError, match="more than one column named 'price'"):
        infer_column_roles(frame)


def test_image_column_with_missing_files_is_media(tmp_path):
    # One file name pattern, one file per row: media, not an id.
    for row in range(20):
        if row not in (4, 13):
            buffer = io.BytesIO()
            Image.new("RGB", (8, 8), (row * 10, 0, 0)).save(buffer, format="PNG")
            (tmp_path / f"{row:04d}.png").write_bytes(buffer.getvalue())
    frame = pd.DataFrame({"photo": [f"{row:04d}.png" for row in range(20)]})
    table = role_table(frame, base_dir=tmp_path)
    assert table.loc["photo", "role"] == "image"
    assert (
        "18 of 20 sampled files open as image, 2 do not exist"
        in (table.loc["photo", "reason"])
    )


def test_text_files_are_not_video(tmp_path):
    # FFmpeg's "tty" demuxer opens any longer text file as a video stream.
    for row in range(20):
        (tmp_path / f"{row}.txt").write_text(f"transcript {row}: " + "words " * 300)
    frame = pd.DataFrame({"transcript": [f"{row}.txt" for row in range(20)]})
    assert role_table(frame, base_dir=tmp_path).loc["transcript", "role"] not in (
        "video",
        "image",
        "audio",
        "signal",
    )


@pytest.mark.parametrize("fusion", ["early", "voting", "stacking"])
def test_models_of_every_kind_of_column_save_and_load(fusion, tmp_path):
    import mmensemble

    table, y = kinds_table()
    roles = roles_from_table(role_table(table).reset_index())
    model = build_estimator(fusion, roles, text_encoder="tfidf")
    columns = [column for columns in roles.values() for column in columns]
    model.fit(table[columns], y)
    path = tmp_path / "model.mmen"
    mmensemble.save(model, path)
    loaded = mmensemble.load(path)
    np.testing.assert_array_equal(
        loaded.predict(table[columns]), model.predict(table[columns])
    )
