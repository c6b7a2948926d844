"""Tests of the ``mmensemble`` command line: demo, fit, predict, evaluate."""

import os
import re

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from PIL import Image
from sklearn.linear_model import LogisticRegression

import mmensemble
from mmensemble.cli._main import main
from mmensemble.cli._recipes import RoleModel

N_ROWS = 40
SR = 8000
# TF-IDF and MFCCs keep most tests fast; the pretrained encoders (the
# defaults) are tested by the tests that do not pass these.
FAST_ENCODERS = ["--text-encoder", "tfidf", "--audio-encoder", "mfcc"]
FIT_OPTIONS = ["--sr", str(SR), "--image-size", "64", *FAST_ENCODERS]
ALL_ROLES = ["--image", "photo", "--audio", "clip", "--text", "note"]
ALL_ROLES += ["--tabular", "size", "weight"]


def write_table(folder, n_rows=N_ROWS, seed=0):
    """A CSV of PNG and WAV paths (relative to it), texts and numbers.

    The label ``"yes"`` has a bright square in the image, a high tone in the
    clip and "bright" in the text; a few texts and one clip are empty.
    """
    rng = np.random.default_rng(seed)
    media = folder / "media"
    media.mkdir(parents=True)
    rows = []
    for row in range(n_rows):
        label = row % 2
        image = rng.integers(0, 60, size=(16, 16, 3), dtype=np.uint8)
        if label:
            image[4:12, 4:12] = 230
        Image.fromarray(image).save(media / f"{row}.png")
        time = np.arange(SR // 5) / SR
        tone = 0.3 * np.sin(2 * np.pi * (1200 if label else 300) * time)
        clip = tone + 0.05 * rng.normal(size=time.size)
        sf.write(media / f"{row}.wav", clip.astype(np.float32), SR)
        words = ["bright", "tall"] if label else ["dark", "short"]
        rows.append(
            {
                "id": f"s{row:02d}",
                "photo": f"media/{row}.png",
                "clip": None if row == 5 else f"media/{row}.wav",
                "note": None if row % 7 == 3 else " ".join([*words, "thing"]),
                "size": label + rng.normal(),
                "weight": rng.normal(),
                "label": "yes" if label else "no",
                "price": 10.0 * label + 3.0 * rng.normal(),
            }
        )
    table = pd.DataFrame(rows)
    table.to_csv(folder / "data.csv", index=False)
    return folder / "data.csv", table


def run(capsys, *argv):
    """Run the command line in-process; return (status, stdout, stderr)."""
    status = main([str(arg) for arg in argv])
    out, err = capsys.readouterr()
    return status, out, err


def assert_error(capsys, argv, *fragments):
    """The command fails with status 2 and one ``mmensemble: error:`` line."""
    status, _, err = run(capsys, *argv)
    assert status == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("mmensemble: error: ")
    for fragment in fragments:
        assert fragment in lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    return write_table(tmp_path_factory.mktemp("table"))


@pytest.fixture(scope="module")
def early_model(table, tmp_path_factory):
    """An early-fusion model file fitted once for the tests that only read it."""
    path = tmp_path_factory.mktemp("model") / "early.mmen"
    status = main(
        ["fit", str(table[0]), "--target", "label", *ALL_ROLES]
        + ["--fusion", "early", "-o", str(path), *FIT_OPTIONS]
    )
    assert status == 0
    return path


@pytest.mark.parametrize(
    "command", [[], ["demo"], ["fit"], ["predict"], ["embed"], ["evaluate"]]
)
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([*command, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(" ".join(["usage: mmensemble", *command]))
    expected = {
        (): ["demo", "fit", "predict", "embed", "evaluate"],
        ("demo",): ["--quick", "--n-jobs"],
        ("fit",): ["--target", "--image", "--tabular", "--categorical"]
        + ["--fusion", "auto", "--text-encoder", "sentence", "--audio-encoder"],
        ("predict",): ["MODEL", "PRED.csv", "--chunk-rows", "--resume", "--dask"],
        ("embed",): ["MODEL_OR_DATA", "[DATA]", "--image", "--text-encoder"]
        + ["--resume"],
        ("evaluate",): ["--target", "--out-dir"],
    }[tuple(command)]
    for word in expected:
        assert word in out


def test_no_command_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([])
    assert exit_info.value.code == 2
    assert "usage: mmensemble" in capsys.readouterr().err


def test_demo_quick_prints_the_scores_and_the_importance(capsys):
    status, out, _ = run(capsys, "demo", "--quick")
    assert status == 0
    lines = out.splitlines()
    header = next(line for line in lines if line.startswith("method "))
    assert header.split() == "method accuracy macro-F1 fit s predict s".split()
    fusions = [
        "fused: early (FeatureFusion)",
        "fused: soft voting",
        "fused: stacking",
        "fused: fusion network",
    ]
    unimodal = ["image only", "audio only [MFCC]", "text only [TF-IDF]"]
    unimodal += ["audio only [Whisper]", "text only [sentence]"]
    methods = unimodal + [
        f"{fusion} [{encoders}]"
        for encoders in ("TF-IDF/MFCC", "sentence/Whisper")
        for fusion in fusions
    ]
    methods.append("fused: auto (best by CV) [sentence/Whisper]")
    accuracies = {}
    for method in methods:
        line = next(line for line in lines if line.startswith(method))
        numbers = [float(value) for value in line[len(method) :].split()]
        assert len(numbers) == 4
        assert 0 <= numbers[0] <= 1 and 0 <= numbers[1] <= 1
        assert numbers[2] >= 0 and numbers[3] >= 0
        accuracies[method] = numbers[0]
    # Ten classes: every fused model is far better than chance.
    assert min(accuracies[method] for method in methods[len(unimodal) :]) > 0.3
    importance = lines[lines.index("modality  score_alone  score_drop  shapley") :]
    assert sorted(line.split()[0] for line in importance[1:4]) == [
        "audio",
        "image",
        "text",
    ]
    for line in importance[1:4]:
        assert all(-1 <= float(value) <= 1 for value in line.split()[1:])


@pytest.mark.parametrize("fusion", ["early", "voting", "stacking", "net"])
def test_fit_predict_evaluate_round_trip(fusion, table, tmp_path, capsys, monkeypatch):
    csv, data = table
    model_path = tmp_path / f"{fusion}.mmen"
    # Paths in the CSV are relative to its folder, not to the working folder.
    monkeypatch.chdir(tmp_path)
    argv = ["fit", csv, "--target", "label", *ALL_ROLES, "--fusion", fusion]
    status, out, _ = run(capsys, *argv, "-o", model_path, *FIT_OPTIONS)
    assert status == 0
    assert "saved to" in out

    model = mmensemble.load(model_path)
    assert isinstance(model, RoleModel)
    assert model.roles == {
        "image": "photo",
        "audio": "clip",
        "text": "note",
        "tabular": ["size", "weight"],
    }
    assert (model.target, model.task, model.fusion) == (
        "label",
        "classification",
        fusion,
    )

    status, out, _ = run(capsys, "predict", model_path, csv, "-o", "pred.csv")
    assert status == 0
    predictions = pd.read_csv(tmp_path / "pred.csv")
    assert list(predictions.columns) == ["id", "prediction", "proba_no", "proba_yes"]
    assert predictions["id"].tolist() == data["id"].tolist()
    np.testing.assert_allclose(
        predictions[["proba_no", "proba_yes"]].sum(axis=1), 1.0, rtol=1e-6
    )
    assert (predictions["prediction"] == data["label"]).mean() >= 0.9
    assert_prediction_sets(capsys, model_path, csv, tmp_path, data["label"])

    status, out, _ = run(
        capsys, "evaluate", model_path, csv, "--out-dir", tmp_path / "figures"
    )
    assert status == 0
    accuracy = float(re.search(r"^accuracy: ([\d.]+)$", out, re.M).group(1))
    assert accuracy >= 0.9
    assert re.search(r"^macro-F1: [\d.]+$", out, re.M)
    for name in ["image", "audio", "text", "tabular"]:
        assert re.search(rf"^{name}\s+-?[\d.]+\s+-?[\d.]+$", out, re.M)
    for figure in ["confusion_matrix.png", "modality_importance.png"]:
        with Image.open(tmp_path / "figures" / figure) as image:
            assert image.format == "PNG"
            assert min(image.size) > 100


def test_regression_round_trip(table, tmp_path, capsys):
    csv, data = table
    model_path = tmp_path / "price.mmen"
    argv = ["fit", csv, "--target", "price", "--text", "note", "--tabular", "size"]
    argv += ["--fusion", "stacking", "-o", model_path, *FAST_ENCODERS]
    status, out, _ = run(capsys, *argv)
    assert status == 0
    assert "regression" in out
    assert mmensemble.load(model_path).task == "regression"

    status, _, _ = run(capsys, "predict", model_path, csv, "-o", tmp_path / "p.csv")
    assert status == 0
    predictions = pd.read_csv(tmp_path / "p.csv")
    assert list(predictions.columns) == ["id", "prediction"]
    # TF-IDF text and numbers: no modality with a cell encoder to score
    argv = ["predict", model_path, csv, "--novelty", "-o", tmp_path / "n.csv"]
    assert run(capsys, *argv)[0] == 0
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "n.csv"), predictions)
    assert np.corrcoef(predictions["prediction"], data["price"])[0, 1] > 0.5

    widths = []
    for coverage in ["0.5", "0.9"]:
        argv = ["predict", model_path, csv, "-o", tmp_path / "p.csv"]
        status, _, _ = run(capsys, *argv, "--coverage", coverage)
        assert status == 0
        intervals = pd.read_csv(tmp_path / "p.csv")
        assert list(intervals.columns) == ["id", "prediction", "lower", "upper"]
        np.testing.assert_allclose(
            intervals["prediction"] - intervals["lower"],
            intervals["upper"] - intervals["prediction"],
        )
        inside = (intervals["lower"] <= data["price"]) & (
            data["price"] <= intervals["upper"]
        )
        # Out-of-fold residuals: the training rows are covered at least as often.
        assert inside.mean() >= float(coverage) - 0.1
        widths.append((intervals["upper"] - intervals["lower"]).mean())
    assert widths[0] < widths[1]

    status, out, _ = run(
        capsys, "evaluate", model_path, csv, "--out-dir", tmp_path / "figures"
    )
    assert status == 0
    assert float(re.search(r"^R2: (-?[\d.]+)$", out, re.M).group(1)) > 0.3
    assert re.search(r"^MAE: [\d.]+", out, re.M)
    assert (tmp_path / "figures" / "prediction_error.png").is_file()
    assert (tmp_path / "figures" / "modality_importance.png").is_file()


def test_predict_without_id_column_writes_row_numbers(early_model, table, tmp_path):
    csv, data = table
    copy = csv.parent / "no_id.csv"
    data.drop(columns="id").to_csv(copy, index=False)
    assert (
        main(["predict", str(early_model), str(copy), "-o", str(tmp_path / "p.csv")])
        == 0
    )
    predictions = pd.read_csv(tmp_path / "p.csv")
    assert predictions.columns[:2].tolist() == ["row", "prediction"]
    assert predictions["row"].tolist() == list(range(N_ROWS))


def test_predict_novelty_adds_a_score_and_a_flag_per_encoded_modality(
    early_model, table, tmp_path, capsys
):
    from sklearn.datasets import load_sample_image

    csv, data = table
    # rows 0-3 get a photograph instead of the training rows' dark squares
    photo = load_sample_image("china.jpg")[100:228, 200:328]
    Image.fromarray(photo).save(csv.parent / "media" / "photo.png")
    foreign = data.assign(photo=["media/photo.png"] * 4 + data["photo"][4:].tolist())
    foreign.to_csv(csv.parent / "foreign.csv", index=False)
    argv = ["predict", early_model, csv.parent / "foreign.csv", "--novelty"]
    status, _, _ = run(capsys, *argv, "-o", tmp_path / "p.csv")
    assert status == 0
    predictions = pd.read_csv(tmp_path / "p.csv")
    # TF-IDF text and the numeric columns have no cell encoder: no columns
    assert predictions.columns[4:].tolist() == [
        "image_novelty",
        "image_unlike_training",
        "audio_novelty",
        "audio_unlike_training",
    ]
    flags = predictions["image_unlike_training"]
    assert flags[:4].all() and flags[4:].mean() <= 0.1
    assert (predictions["image_novelty"][:4] > 1).all()
    # row 5 has no clip: no score, no flag
    assert np.isnan(predictions.loc[5, "audio_novelty"])
    assert not predictions.loc[5, "audio_unlike_training"]
    assert predictions["audio_novelty"].drop(5).notna().all()

    older = mmensemble.load(early_model)
    del older.novelty  # as in files written before the summaries existed
    mmensemble.save(older, tmp_path / "older.mmen")
    assert_error(
        capsys,
        [
            "predict",
            tmp_path / "older.mmen",
            csv,
            "--novelty",
            "-o",
            tmp_path / "q.csv",
        ],
        "holds no novelty summaries",
        "fit it again",
    )


def test_missing_column_is_named_with_the_available_ones(table, tmp_path, capsys):
    csv, data = table
    line = assert_error(
        capsys,
        ["fit", csv, "--target", "label", "--image", "picture", "--text", "note"]
        + ["--fusion", "early", "-o", tmp_path / "m.mmen"],
        "'picture' (--image)",
        repr(list(data.columns)),
    )
    assert "note" not in line.split("its columns")[0]
    assert not (tmp_path / "m.mmen").exists()


def test_missing_target_column_at_evaluate(early_model, table, capsys):
    assert_error(
        capsys,
        ["evaluate", early_model, table[0], "--target", "grade"],
        "'grade' (--target)",
    )


def test_unreadable_image_names_the_row_and_path(tmp_path, capsys):
    _, data = write_table(tmp_path)
    (tmp_path / "media" / "broken.png").write_bytes(b"not a png")
    data = data.assign(photo=data["photo"].where(data.index != 3, "media/broken.png"))
    data.to_csv(tmp_path / "broken.csv", index=False)
    assert_error(
        capsys,
        ["fit", tmp_path / "broken.csv", "--target", "label", "--image", "photo"]
        + ["--fusion", "voting", "-o", tmp_path / "m.mmen", *FIT_OPTIONS],
        "row 3",
        "'photo'",
        str(tmp_path / "media" / "broken.png"),
    )


def test_missing_audio_file_at_predict_names_the_row_and_path(
    early_model, table, tmp_path, capsys
):
    csv, data = table
    data = data.copy()
    data.loc[7, "clip"] = "media/absent.wav"
    data.to_csv(csv.parent / "absent.csv", index=False)
    assert_error(
        capsys,
        ["predict", early_model, csv.parent / "absent.csv", "-o", tmp_path / "p.csv"],
        "row 7",
        "'clip'",
        str(csv.parent / "media" / "absent.wav"),
    )


def test_empty_target_cells_are_refused(table, tmp_path, capsys):
    data = table[1].copy()
    data.loc[[2, 9], "label"] = None
    data.to_csv(tmp_path / "unlabelled.csv", index=False)
    assert_error(
        capsys,
        ["fit", tmp_path / "unlabelled.csv", "--target", "label", "--text", "note"]
        + ["--fusion", "early", "-o", tmp_path / "m.mmen"],
        "'label'",
        "[2, 9]",
    )


def test_model_file_that_is_not_ours(table, tmp_path, capsys):
    (tmp_path / "fake.mmen").write_text("not a model")
    assert_error(
        capsys,
        ["predict", tmp_path / "fake.mmen", table[0], "-o", tmp_path / "p.csv"],
        "is not an mmensemble model file",
    )


def test_model_file_without_column_roles(table, tmp_path, capsys):
    path = tmp_path / "plain.mmen"
    mmensemble.save(LogisticRegression().fit([[0.0], [1.0]], [0, 1]), path)
    assert_error(
        capsys,
        ["evaluate", path, table[0]],
        "holds a LogisticRegression, not a model written by 'mmensemble fit'",
    )


@pytest.mark.parametrize("command", ["fit", "predict", "evaluate"])
def test_missing_files(command, early_model, tmp_path, capsys):
    absent = tmp_path / "absent.csv"
    argv = {
        "fit": ["fit", absent, "--target", "y", "--text", "t", "--fusion", "early"]
        + ["-o", tmp_path / "m.mmen"],
        "predict": ["predict", early_model, absent, "-o", tmp_path / "p.csv"],
        "evaluate": ["evaluate", tmp_path / "absent.mmen", absent],
    }[command]
    if command == "evaluate":
        assert_error(
            capsys, argv, f"the model file {tmp_path / 'absent.mmen'} does not exist"
        )
    else:
        assert_error(capsys, argv, str(absent), "no such file")


def test_fit_without_any_usable_column(tmp_path, capsys):
    csv = tmp_path / "ids.csv"
    pd.DataFrame(
        {"id": [f"s{row}" for row in range(8)], "shop": "A", "label": [0, 1] * 4}
    ).to_csv(csv, index=False)
    assert_error(
        capsys,
        ["fit", csv, "--target", "label", "-o", tmp_path / "m.mmen"],
        "no column",
        "--tabular",
    )


def test_fit_with_no_flag_infers_roles_and_picks_the_fusion(table, tmp_path, capsys):
    csv, data = table
    model_path = tmp_path / "auto.mmen"
    status, out, _ = run(
        capsys, "fit", csv, "--target", "label", "-o", model_path, *FIT_OPTIONS[:4]
    )
    assert status == 0
    for column, role, encoder in [
        ("id", "ignored", ""),
        ("photo", "image", "ImageEncoder embeddings"),
        ("clip", "audio", "WhisperEncoder embeddings"),
        ("note", "categorical", "most-frequent imputation, one-hot"),
        ("size", "tabular", "numbers parsed, mean-imputed, standardised"),
    ]:
        pattern = rf"^{column}\s+{role}\s+{re.escape(encoder)}\s*\S"
        assert re.search(pattern, out, re.M), out
    assert "kept:" in out
    assert re.search(r"^temperature scaling, T=[\d.]+ \((not )?applied\): ", out, re.M)
    for method in ["early", "voting", "stacking", "net"]:
        assert re.search(rf"^{method}(\s+[\d.]+){{4}}\s+scored$", out, re.M)
    model = mmensemble.load(model_path)
    assert model.fusion == "auto"
    assert model.roles == {
        "image": ["photo"],
        "audio": ["clip"],
        "categorical": ["note"],
        "tabular": ["size", "weight", "price"],
    }
    encoders = {
        name: type(encoder).__name__ for name, encoder, _ in model.estimator.modalities_
    }
    assert encoders == {
        "image": "ImageEncoder",
        "audio": "WhisperEncoder",
        "categorical": "NoneType",
        "tabular": "NoneType",
    }
    status, _, _ = run(capsys, "predict", model_path, csv, "-o", tmp_path / "p.csv")
    assert status == 0
    predictions = pd.read_csv(tmp_path / "p.csv")
    assert (predictions["prediction"] == data["label"]).mean() >= 0.9
    # Automatic fusion's conformity scores are its out-of-fold output.
    scores = model.estimator.oof_output_[
        np.arange(N_ROWS), (data["label"] == "yes").to_numpy(int)
    ]
    np.testing.assert_allclose(model.conformal.scores, 1 - scores)
    assert_prediction_sets(capsys, model_path, csv, tmp_path, data["label"])


def assert_prediction_sets(capsys, model_path, csv, tmp_path, labels):
    """``predict --coverage`` adds sets of known classes, in class order."""
    argv = ["predict", model_path, csv, "-o", tmp_path / "sets.csv"]
    status, _, _ = run(capsys, *argv, "--coverage", "0.9")
    assert status == 0
    sets = pd.read_csv(tmp_path / "sets.csv", keep_default_na=False)
    assert list(sets.columns) == [
        "id",
        "prediction",
        "proba_no",
        "proba_yes",
        "prediction_set",
    ]
    members = sets["prediction_set"].str.split("|")
    assert set(members.map(tuple)) <= {("",), ("no",), ("yes",), ("no", "yes")}
    assert all(
        not row.prediction_set or row.prediction in row.prediction_set.split("|")
        for row in sets.itertuples()
    )
    assert (
        np.mean([label in kept for label, kept in zip(labels, members, strict=True)])
        >= 0.8
    )


@pytest.mark.parametrize("coverage", ["0", "1", "1.5", "-0.1", "nan", "most"])
def test_coverage_must_be_strictly_between_0_and_1(
    coverage, early_model, table, capsys
):
    with pytest.raises(SystemExit) as exit_info:
        main(
            ["predict", str(early_model), str(table[0]), "-o", "p.csv"]
            + ["--coverage", coverage]
        )
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "argument --coverage: expected a number strictly between 0 and 1" in err
    assert repr(coverage) in err


def test_a_model_file_without_conformity_scores_says_to_refit(
    early_model, table, tmp_path, capsys
):
    model = mmensemble.load(early_model)
    model.conformal = None
    mmensemble.save(model, tmp_path / "old.mmen")
    argv = ["predict", tmp_path / "old.mmen", table[0], "-o", tmp_path / "p.csv"]
    assert_error(
        capsys, [*argv, "--coverage", "0.9"], "no conformity scores", "fit it again"
    )


def test_role_flags_override_inference_and_pick_pretrained_encoders(
    table, tmp_path, capsys
):
    csv, data = table
    model_path = tmp_path / "voting.mmen"
    argv = ["fit", csv, "--target", "label", "--text", "note", "--audio", "clip"]
    argv += ["--fusion", "voting", "-o", model_path, "--sr", SR]
    status, out, _ = run(capsys, *argv)
    assert status == 0
    assert "inferred" not in out
    model = mmensemble.load(model_path)
    # Only the named columns, with their flag roles.
    assert model.roles == {"audio": "clip", "text": "note"}
    encoders = [
        type(model.estimator.named_estimators_[name][0]).__name__
        for name in ("audio", "text")
    ]
    assert encoders == ["WhisperEncoder", "TextEncoder"]
    status, _, _ = run(capsys, "predict", model_path, csv, "-o", tmp_path / "p.csv")
    assert status == 0
    predictions = pd.read_csv(tmp_path / "p.csv")
    assert (predictions["prediction"] == data["label"]).mean() >= 0.9


@pytest.mark.parametrize("seconds", ["0", "-5", "soon"])
def test_time_limit_must_be_positive_seconds(seconds, table, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", str(table[0]), "--target", "label", "--time-limit", seconds])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "argument --time-limit: expected a positive number of seconds" in err
    assert repr(seconds) in err


def test_time_limit_skips_methods_and_still_saves_a_model(table, tmp_path, capsys):
    csv, data = table
    model_path = tmp_path / "budget.mmen"
    status, out, _ = run(
        capsys,
        *["fit", csv, "--target", "label", *ALL_ROLES, *FIT_OPTIONS],
        *["--time-limit", "0.001", "--n-jobs", "1", "-o", model_path],
    )
    assert status == 0
    statuses = dict(
        re.findall(r"^(early|voting|stacking|net)\s.*?(scored|skipped)", out, re.M)
    )
    assert statuses["voting"] == "scored"
    assert {statuses[method] for method in ["stacking", "early", "net"]} == {"skipped"}
    assert "of time_limit=0.001" in out
    status, _, _ = run(capsys, "predict", model_path, csv, "-o", tmp_path / "p.csv")
    assert status == 0
    assert len(pd.read_csv(tmp_path / "p.csv")) == len(data)


def test_fit_checks_its_output_before_fitting(table, tmp_path, capsys, monkeypatch):
    import mmensemble.cli._recipes as recipes

    def never(*args, **kwargs):
        raise AssertionError("the model was built although its file cannot be written")

    monkeypatch.setattr(recipes, "build_estimator", never)
    output = tmp_path / "missing" / "folder" / "m.mmen"
    argv = ["fit", table[0], "--target", "label", *ALL_ROLES, "-o", output]
    assert_error(
        capsys,
        argv,
        f"cannot write the model to {output}",
        "does not exist; create it first",
        "nothing was done",
    )


def test_predict_and_evaluate_check_their_outputs_first(
    early_model, table, tmp_path, capsys
):
    output = tmp_path / "missing" / "p.csv"
    argv = ["predict", early_model, table[0], "-o", output]
    assert_error(capsys, argv, f"cannot write the predictions to {output}")
    report = tmp_path / "missing" / "report.html"
    argv = ["evaluate", early_model, table[0], "--report", report]
    assert_error(capsys, argv, f"cannot write the report to {report}")


def test_a_failed_predictions_write_keeps_the_previous_file(
    early_model, table, tmp_path, capsys, monkeypatch
):
    output = tmp_path / "p.csv"
    output.write_text("the previous predictions\n")

    def half_then_full_disk(frame, file, **kwargs):
        file.write("row,prediction\n0,")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_csv", half_then_full_disk)
    argv = ["predict", early_model, table[0], "-o", output]
    assert_error(capsys, argv, f"could not write {output}", "No space left")
    assert output.read_text() == "the previous predictions\n"
    # What --resume continues: the progress record, no chunk (the torn one
    # was removed).
    assert sorted(os.listdir(tmp_path)) == ["p.csv", "p.csv.partial"]
    assert os.listdir(tmp_path / "p.csv.partial") == ["progress.json"]
    monkeypatch.undo()
    assert run(capsys, *argv, "--resume")[0] == 0
    assert len(pd.read_csv(output)) == N_ROWS
    assert os.listdir(tmp_path) == ["p.csv"]


def test_too_few_rows_per_class_says_what_to_change(tmp_path, capsys):
    csv = tmp_path / "few.csv"
    pd.DataFrame(
        {"size": np.arange(8.0), "weight": np.arange(8.0) % 3, "label": [0, 1] * 4}
    ).to_csv(csv, index=False)
    argv = ["fit", csv, "--target", "label", "--tabular", "size", "weight"]
    assert_error(
        capsys,
        [*argv, "--fusion", "stacking", "-o", tmp_path / "m.mmen"],
        f"could not fit the 'stacking' model on {csv}",
        "cross-validates in 5 stratified folds",
        "has 4 (of 8 rows)",
        "--fusion early or voting",
    )
    assert not (tmp_path / "m.mmen").exists()
    # The fusions the message suggests fit, their conformal scores on 4 folds.
    status, out, _ = run(capsys, *argv, "--fusion", "voting", "-o", tmp_path / "m.mmen")
    assert status == 0 and "on 4 folds for the conformal scores" in out
    assert mmensemble.load(tmp_path / "m.mmen").conformal.scores.shape == (8,)
