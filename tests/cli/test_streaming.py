"""Streaming ``predict`` and ``embed``: chunks, Parquet, ``--resume`` after a kill."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_cli import ALL_ROLES, FIT_OPTIONS, assert_error, run, write_table

import mmensemble
from mmensemble import ModalityVotingClassifier, cache_info, default_modality_model
from mmensemble.cli import embedded_modalities, read_embeddings
from mmensemble.cli._main import CommandError, main, read_model, read_table
from mmensemble.cli._predictions import prediction_table
from mmensemble.cli._streams import ChunkedOutput

IMAGE_SIZE = ["--image-size", "32"]
EMBED_ROLES = ["--image", "photo", "--text", "note", "--tabular", "size", "weight"]


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    """The test table as CSV and as Parquet, side by side (same media paths)."""
    csv, data = write_table(tmp_path_factory.mktemp("table"))
    data.to_parquet(csv.with_suffix(".parquet"), index=False)
    return csv, data


@pytest.fixture(scope="module")
def model(table, tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "voting.mmen"
    argv = ["fit", table[0], "--target", "label", *ALL_ROLES, "--fusion", "voting"]
    assert main([str(arg) for arg in [*argv, "-o", path, *FIT_OPTIONS]]) == 0
    return path


@pytest.fixture(scope="module")
def long_table(table):
    """The table repeated to 320 rows (many chunks for the kill test)."""
    csv, data = table
    path = csv.parent / "long.csv"
    long = pd.concat([data] * 8, ignore_index=True)
    long["id"] = [f"r{row}" for row in range(len(long))]
    long.to_csv(path, index=False)
    return path


def read_output(path):
    return pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)


@pytest.mark.parametrize("source", ["csv", "parquet"])
@pytest.mark.parametrize("target", ["csv", "parquet"])
def test_chunked_predictions_equal_the_whole_table_ones(
    model, table, tmp_path, source, target
):
    csv, data = table
    data_path = csv.with_suffix(f".{source}")
    expected = prediction_table(
        read_model(model), read_table(csv, read_model(model).roles)
    )
    output = tmp_path / f"pred.{target}"
    argv = ["predict", model, data_path, "-o", output, "--chunk-rows", "7"]
    assert main([str(arg) for arg in argv]) == 0
    predictions = read_output(output)
    assert predictions["id"].tolist() == data["id"].tolist()
    pd.testing.assert_frame_equal(
        predictions, expected.reset_index(drop=True), check_dtype=False
    )
    assert os.listdir(tmp_path) == [output.name]


def test_explanations_and_novelty_encode_each_image_once(
    model, table, tmp_path, monkeypatch
):
    # The masked copies of --explain and the scores of --novelty find the
    # chunk's encodings in the in-process cache, kept for the chunk only.
    from mmensemble import ImageEncoder

    csv, data = table
    decoded = []
    original = ImageEncoder._decode

    def counting_decode(self, cell):
        decoded.append(cell)
        return original(self, cell)

    monkeypatch.setattr(ImageEncoder, "_decode", counting_decode)
    output = tmp_path / "pred.csv"
    argv = ["predict", model, csv, "-o", output, "--chunk-rows", "7"]
    assert main([str(arg) for arg in [*argv, "--explain", "--novelty"]]) == 0
    assert sorted(decoded) == sorted(str(csv.parent / photo) for photo in data["photo"])
    assert cache_info()["memory_entries"] == 0


def test_parquet_round_trip_reads_the_cells_the_csv_file_holds(model, table):
    csv, _ = table
    roles = read_model(model).roles
    from_csv = read_table(csv, roles, target="label")
    from_parquet = read_table(csv.with_suffix(".parquet"), roles, target="label")
    pd.testing.assert_frame_equal(from_parquet, from_csv, check_dtype=False)
    assert os.path.isabs(from_parquet["photo"][0])
    assert from_parquet["clip"].isna().sum() == 1


def test_unknown_extensions_are_refused(model, table, tmp_path, capsys):
    argv = ["predict", model, table[0], "-o", tmp_path / "pred.txt"]
    assert_error(capsys, argv, "pred.txt: unknown table format", ".parquet")
    data = tmp_path / "data.json"
    data.write_text("{}")
    argv = ["predict", model, data, "-o", tmp_path / "pred.csv"]
    assert_error(capsys, argv, "data.json: unknown table format")
    assert sorted(os.listdir(tmp_path)) == ["data.json"]


def progress(output):
    """The chunks ``progress.json`` lists, or [] before it is readable."""
    try:
        with open(f"{output}.partial/progress.json", encoding="utf-8") as file:
            return json.load(file)["chunks"]
    except (OSError, ValueError):
        return []


def killed_run(argv, output):
    """Start ``mmensemble ARGV`` and SIGKILL it once two chunks are written."""
    code = "import sys; from mmensemble.cli import main; sys.exit(main(sys.argv[1:]))"
    env = {**os.environ, "PYTHONPATH": str(Path(mmensemble.__file__).parents[1])}
    process = subprocess.Popen(
        [sys.executable, "-c", code, *map(str, argv)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while len(progress(output)) < 2:
            assert process.poll() is None, "the run ended before it could be killed"
            time.sleep(0.01)  # the polling interval
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert not os.path.exists(output)
    return progress(output)


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_resume_after_kill_gives_the_uninterrupted_output(
    model, long_table, tmp_path, suffix, capsys
):
    whole = tmp_path / f"whole.{suffix}"
    common = ["predict", model, long_table, "--chunk-rows", "8"]
    assert run(capsys, *common, "-o", whole)[0] == 0
    output = tmp_path / f"pred.{suffix}"
    done = killed_run([*common, "-o", output], output)
    status, out, _ = run(capsys, *common, "-o", output, "--resume")
    assert status == 0
    rows = sum(chunk["rows"] for chunk in done)
    assert f"resuming {output} after the {rows} rows written" in out
    assert output.read_bytes() == whole.read_bytes()
    assert sorted(os.listdir(tmp_path)) == sorted([whole.name, output.name])


def test_a_half_written_chunk_is_redone(model, long_table, tmp_path, capsys):
    whole = tmp_path / "whole.csv"
    common = ["predict", model, long_table, "--chunk-rows", "8"]
    assert run(capsys, *common, "-o", whole)[0] == 0
    output = tmp_path / "pred.csv"
    chunks = killed_run([*common, "-o", output], output)
    partial = tmp_path / "pred.csv.partial"
    # A chunk file written but not yet listed, and a torn temporary file.
    (partial / f"{len(chunks):06d}.csv").write_text("r1,garbage\n")
    (partial / f".{len(chunks) + 1:06d}.csv.1234abcd.tmp").write_text("r2,gar")
    assert run(capsys, *common, "-o", output, "--resume")[0] == 0
    assert output.read_bytes() == whole.read_bytes()
    assert not partial.exists()


def test_resume_refuses_the_output_of_another_job(model, long_table, tmp_path, capsys):
    output = tmp_path / "pred.csv"
    common = ["predict", model, long_table, "--chunk-rows", "8", "-o", output]
    killed_run(common, output)
    assert_error(
        capsys,
        [*common, "--resume", "--explain"],
        "cannot resume",
        "another model, input file or options",
        "without --resume",
    )
    # Without --resume the unfinished output is discarded and redone.
    assert run(capsys, *common)[0] == 0
    assert len(pd.read_csv(output)) == 320


def test_embed_with_a_model_writes_its_encoders_embeddings(model, table, tmp_path):
    csv, data = table
    output = tmp_path / "embeddings.parquet"
    argv = ["embed", model, csv, "-o", output, "--chunk-rows", "9"]
    assert main([str(arg) for arg in argv]) == 0
    embeddings = read_embeddings(output)
    fitted = read_model(model).estimator.named_estimators_
    cells = read_table(csv, read_model(model).roles)
    for name, column in [("image", "photo"), ("audio", "clip")]:
        expected = fitted[name][0].transform(cells[column])
        block = embeddings[[f"{name}__{i}" for i in range(expected.shape[1])]]
        np.testing.assert_allclose(block.to_numpy(), expected, rtol=1e-5, atol=1e-6)
        assert embeddings[f"{name}__missing"].tolist() == cells[column].isna().tolist()
    # TF-IDF texts and numbers (fitted on the training rows) stay as they are.
    assert embeddings["note"].tolist() == data["note"].tolist()
    assert embeddings["label"].tolist() == data["label"].tolist()
    assert embeddings.index.name is None and embeddings["id"].tolist()[:2] == [
        "s00",
        "s01",
    ]


def test_fit_on_embeddings_equals_fit_on_the_cells(table, tmp_path, capsys):
    csv, data = table
    output = tmp_path / "embeddings.csv"
    argv = ["embed", csv, "--target", "label", *EMBED_ROLES, "-o", output]
    status, _, _ = run(capsys, *argv, "--text-encoder", "tfidf", *IMAGE_SIZE)
    assert status == 0
    models = [
        ("image", default_modality_model("image", image_size=32), "photo"),
        ("text", default_modality_model("text", text_encoder="tfidf"), "note"),
        ("tabular", default_modality_model("tabular"), ["size", "weight"]),
    ]
    roles = {"image": "photo", "text": "note", "tabular": ["size", "weight"]}
    cells = read_table(csv, roles, target="label")
    raw = ModalityVotingClassifier(models, voting="soft").fit(cells, data["label"])
    embeddings = read_embeddings(output)
    triples = embedded_modalities(models, embeddings)
    assert triples[0][2][:2] == ["image__0", "image__1"]
    assert triples[1:] == models[1:]
    embedded = ModalityVotingClassifier(triples, voting="soft")
    embedded.fit(embeddings, embeddings["label"])
    np.testing.assert_allclose(
        embedded.predict_proba(embeddings), raw.predict_proba(cells), rtol=1e-6
    )


def test_embed_without_roles_infers_them(table, tmp_path, capsys):
    csv, data = table
    absent = csv.parent / "absent.csv"
    data.assign(photo=data["photo"].where(data.index != 3, "media/absent.png")).to_csv(
        absent, index=False
    )
    output = tmp_path / "embeddings.parquet"
    argv = ["embed", absent, "--target", "label", "-o", output, *IMAGE_SIZE]
    status, out, _ = run(capsys, *argv, "--audio-encoder", "mfcc")
    assert status == 0
    assert "column roles inferred from" in out
    # As fit does, a file that does not exist is a missing cell.
    assert "column 'photo': 1 files do not exist" in out
    embeddings = read_embeddings(output)
    assert embeddings["image__missing"].tolist() == [row == 3 for row in range(40)]
    for name in ["image", "audio"]:
        assert f"{name}__0" in embeddings and f"{name}__missing" in embeddings
    assert embeddings.columns[-1] == "label"
    assert embeddings["audio__missing"].sum() == 1
    assert np.isnan(embeddings.loc[embeddings["audio__missing"], "audio__0"]).all()


def test_embed_role_flags_with_a_model_are_refused(model, table, tmp_path, capsys):
    argv = ["embed", model, table[0], "--image", "photo", "-o", tmp_path / "e.csv"]
    assert_error(capsys, argv, "role flags", "already says which columns")


def test_parquet_chunks_join_their_column_types(tmp_path):
    output = tmp_path / "out.parquet"
    chunks = ChunkedOutput(output, {"job": 1}, resume=False)
    # A text column all missing in the first chunk, ids int then float.
    chunks.write(pd.DataFrame({"id": [1, 2], "note": [None, None]}))
    chunks.write(pd.DataFrame({"id": [3.5, np.nan], "note": ["a", None]}))
    chunks.finish()
    written = pd.read_parquet(output)
    assert written["id"].tolist()[:3] == [1.0, 2.0, 3.5]
    assert written["note"].tolist()[2] == "a"
    again = ChunkedOutput(output, {"job": 1}, resume=False)
    again.write(pd.DataFrame({"id": [1], "note": ["a"]}))
    with pytest.raises(CommandError, match="column types of the chunks before"):
        again.write(pd.DataFrame({"id": ["x"], "note": ["b"]}))


def test_embed_names_a_target_that_is_not_there(table, tmp_path, capsys):
    argv = ["embed", table[0], "--target", "grade", "-o", tmp_path / "e.parquet"]
    assert_error(capsys, argv, "has no column 'grade' (--target)")
