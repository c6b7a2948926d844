"""Tests of ``mmensemble evaluate --report`` and ``mmensemble predict --explain``.

The report is opened in a real headless browser (Debian's ``chromium``): the
test skips only when chromium is absent and ``MMENSEMBLE_REQUIRE_BROWSER`` is
unset (CI sets it, so CI cannot skip).
"""

import base64
import io
import os
import re
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from sklearn.datasets import load_sample_image

from mmensemble.cli._main import main
from mmensemble.datasets import load_spoken_digits

# Class names with spaces, non-ASCII letters and HTML metacharacters.
NAMES = {1: "one · eins · ένα", 2: "two <b>&</b> zwei", 3: "three — drei"}
SECTIONS = [
    "summary",
    "metrics",
    "confusion-matrix",
    "per-class",
    "importance",
    "robustness",
    "calibration",
    "coverage",
    "slowest-rows",
    "most-wrong-rows",
    "novelty",
    "encoders",
    "bad-cells",
]
FIT_OPTIONS = ["--sr", "8000", "--image-size", "32", "--random-state", "0"]
FIT_OPTIONS += ["--audio-encoder", "mfcc"]  # cheap: no pretrained speech model


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    """Small train and test CSVs of three spoken digits, unseen voices in test.

    The first test row's image is a photograph, unlike the training images.
    """
    folder = tmp_path_factory.mktemp("digits")
    X_train, X_test, y_train, y_test = load_spoken_digits(
        return_X_y=True, held_out_voices=0.25, random_state=0
    )
    paths = []
    for name, X, y, n_per_class in [
        ("train", X_train, y_train, 14),
        ("test", X_test, y_test, 6),
    ]:
        table = X.assign(digit=y.map(NAMES.get), number=y.astype(float))
        table = table[table["digit"].notna()]
        table = table.groupby("digit", group_keys=False).head(n_per_class)
        table.insert(0, "id", [f"{name}-{i}" for i in range(len(table))])
        if name == "test":
            photo = load_sample_image("china.jpg")[100:164, 200:264]
            Image.fromarray(photo).save(folder / "photo.png")
            table.iloc[0, table.columns.get_loc("image")] = "photo.png"
        table.to_csv(folder / f"{name}.csv", index=False)
        paths.append(folder / f"{name}.csv")
    return paths


@pytest.fixture(scope="module")
def stacking_model(tables, tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "stacking.mmen"
    argv = ["fit", str(tables[0]), "--target", "digit", "--image", "image"]
    argv += ["--audio", "audio", "--fusion", "stacking", "-o", str(path)]
    assert main([*argv, *FIT_OPTIONS]) == 0
    return path


def _data_uris(page):
    return re.findall(r'<img [^>]*src="data:(image/[a-z]+);base64,([^"]+)"', page)


def _chromium():
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("MMENSEMBLE_REQUIRE_BROWSER"):
            pytest.fail("chromium is required (MMENSEMBLE_REQUIRE_BROWSER is set)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return found


def _browse(chromium, page, profile, *options):
    command = [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
        *options,
        page.as_uri(),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.fixture(scope="module")
def report(tables, stacking_model, tmp_path_factory):
    folder = tmp_path_factory.mktemp("report")
    path = folder / "report.html"
    argv = ["evaluate", str(stacking_model), str(tables[1]), "--normalize"]
    argv += ["--out-dir", str(folder / "figures"), "--report", str(path)]
    assert main(argv) == 0
    return path


def test_report_is_self_contained_and_escapes_the_data(report):
    page = report.read_text(encoding="utf-8")
    assert "<script" not in page.lower()
    # nothing is fetched: every src is an inline data URI, no link to a stylesheet
    assert re.findall(r'src="(?!data:)', page) == []
    assert "<link" not in page and "http://" not in page and "https://" not in page
    for section in SECTIONS:
        assert f'<section id="{section}">' in page
    assert "two &lt;b&gt;&amp;&lt;/b&gt; zwei" in page and "<b>&</b>" not in page
    assert "one · eins · ένα" in page
    images = _data_uris(page)
    # confusion matrix, importance, robustness, reliability diagram, and
    # thumbnails of shown rows
    assert [kind for kind, _ in images[:4]] == ["image/png"] * 4
    assert len(images) > 4 and {kind for kind, _ in images[4:]} == {"image/jpeg"}
    for _, data in images:
        with Image.open(io.BytesIO(base64.b64decode(data, validate=True))) as image:
            image.load()
            assert min(image.size) >= 32


def test_report_tables_hold_the_evaluation(report, tables, stacking_model, capsys):
    page = report.read_text(encoding="utf-8")
    status = main(
        [
            "evaluate",
            str(stacking_model),
            str(tables[1]),
            "--out-dir",
            str(report.parent / "again"),
        ]
    )
    assert status == 0
    accuracy = re.search(r"accuracy: (\d\.\d{4})", capsys.readouterr().out).group(1)
    assert f"<tr><th>accuracy</th><td>{accuracy}</td></tr>" in page
    per_class = page.split('<section id="per-class">')[1].split("</section>")[0]
    assert per_class.count("<tr>") == 1 + len(NAMES)
    rows = page.split('<section id="most-wrong-rows">')[1].split("</section>")[0]
    assert rows.count('<img class="thumbnail"') == 5
    for column in ["explain_image", "explain_audio", "explain_baseline", "test-"]:
        assert column in rows
    novelty = page.split('<section id="novelty">')[1].split("</section>")[0]
    counts, flagged = re.findall(r"<table>.*?</table>", novelty)
    assert "<th>image</th>" not in counts  # modality names are cells
    for name in ["image", "audio"]:
        assert re.search(rf"<tr><td>{name}</td><td class=\"number\">18</td>", counts)
    # the photograph is the row most unlike training, shown with its thumbnail
    first = flagged.split("</tr>")[1]
    assert "<td>test-0</td>" in first and " ⚑" in first
    assert '<img class="thumbnail"' in first
    assert "image_novelty" in flagged and "audio_novelty" in flagged
    encoders = page.split('<section id="encoders">')[1].split("</section>")[0]
    assert "ImageEncoder(image_size=32)" in encoders and "MFCCEncoder(" in encoders
    assert "0 bad cells met while predicting test.csv" in page
    coverage = _section(page, "coverage")
    table = _first_table(coverage)
    assert table["target"].tolist() == [0.8, 0.9, 0.95]
    assert table["coverage"].is_monotonic_increasing
    assert (table["mean_size"].diff().dropna() >= 0).all()
    sizes = table[[f"size_{size}" for size in range(len(NAMES) + 1)]]
    np.testing.assert_allclose(sizes.sum(axis=1), 1.0, atol=1e-3)
    calibration = _section(page, "calibration")
    assert "ECE" in calibration and "reliability diagram" in calibration


def _section(page, identifier):
    return page.split(f'<section id="{identifier}">')[1].split("</section>")[0]


def _first_table(section):
    """The first table of a report section, its cells read as numbers."""
    table = section.split("<table>")[1].split("</table>")[0]
    rows = [
        re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row)
        for row in re.findall(r"<tr>(.*?)</tr>", table)
    ]
    return pd.DataFrame(rows[1:], columns=rows[0]).astype(float)


def test_report_renders_in_a_headless_browser(report, tmp_path):
    chromium = _chromium()
    dom = _browse(chromium, report, tmp_path / "profile", "--dump-dom")
    for section in SECTIONS:
        assert f'<section id="{section}">' in dom
    assert dom.count("<img ") == len(_data_uris(report.read_text(encoding="utf-8")))
    shot = tmp_path / "report.png"
    _browse(
        chromium,
        report,
        tmp_path / "profile",
        "--hide-scrollbars",
        "--window-size=1000,1400",
        f"--screenshot={shot}",
    )
    with Image.open(shot) as image:
        pixels = np.asarray(image.convert("L"), dtype=float)
    assert pixels.shape == (1400, 1000)
    # text and figures on a white page: many dark pixels, not a blank page
    assert (pixels < 128).mean() > 0.01 and pixels.std() > 20


def test_predict_explain_adds_columns_that_sum_to_the_probability(
    tables, stacking_model, tmp_path
):
    out = tmp_path / "pred.csv"
    argv = ["predict", str(stacking_model), str(tables[1]), "-o", str(out)]
    assert main([*argv, "--explain"]) == 0
    pred = pd.read_csv(out)
    explain = ["explain_image", "explain_audio", "explain_baseline"]
    assert list(pred.columns[-3:]) == explain
    proba = pred[[f"proba_{name}" for name in sorted(NAMES.values())]].to_numpy()
    np.testing.assert_allclose(
        pred[explain].sum(axis=1), proba.max(axis=1), rtol=0, atol=1e-9
    )
    plain = tmp_path / "plain.csv"
    assert main(argv[:-1] + [str(plain)]) == 0
    pd.testing.assert_frame_equal(pd.read_csv(plain), pred.drop(columns=explain))


def test_regression_report_has_a_prediction_error_figure(tables, tmp_path):
    model = tmp_path / "regression.mmen"
    argv = ["fit", str(tables[0]), "--target", "number", "--audio", "audio"]
    argv += ["--fusion", "voting", "--task", "regression", "-o", str(model)]
    assert main([*argv, *FIT_OPTIONS]) == 0
    path = tmp_path / "report.html"
    argv = ["evaluate", str(model), str(tables[1]), "--out-dir", str(tmp_path)]
    assert main([*argv, "--report", str(path)]) == 0
    page = path.read_text(encoding="utf-8")
    assert '<section id="prediction-error">' in page
    assert '<section id="per-class">' not in page
    assert "Largest absolute error." in page
    assert '<section id="calibration">' not in page
    intervals = _section(page, "coverage")
    assert "Conformal prediction intervals" in intervals
    table = _first_table(intervals)
    assert list(table.columns) == ["target", "coverage", "mean_width"]
    assert table["mean_width"].is_monotonic_increasing
    assert (tmp_path / "prediction_error.png").is_file()


def test_report_of_a_model_without_novelty_summaries_says_how_to_get_them():
    from types import SimpleNamespace

    from mmensemble.cli._report import _novelty_section

    older = SimpleNamespace(novelty=None)  # a file written before the summaries
    section = _novelty_section(older, frame=None, y=None, prediction=None)
    assert section.startswith('<section id="novelty">')
    assert "holds no novelty summaries" in section and "fit it again" in section
