"""Tests of the safe model files: mmensemble.save and mmensemble.load."""

import io
import json
import pickle
import subprocess
import sys
import zipfile

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

import mmensemble
from mmensemble import FeatureFusion, ModelFileError


@pytest.fixture
def fitted():
    X = pd.DataFrame(
        {
            "text": ["a red cat", None, "a blue dog", "cat dog", "red dog", None],
            "size": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
        }
    )
    y = np.array([0, 1, 0, 1, 0, 1])
    model = make_pipeline(
        FeatureFusion(
            [("text", TfidfVectorizer(), "text"), ("size", "passthrough", ["size"])]
        ),
        LogisticRegression(),
    ).fit(X, y)
    return model, X


def rewrite(path, name, transform):
    """Rewrite one entry of a zip archive with ``transform(bytes) -> bytes``."""
    with zipfile.ZipFile(path) as archive:
        entries = {item: archive.read(item) for item in archive.namelist()}
    entries[name] = transform(entries.get(name, b""))
    with zipfile.ZipFile(path, "w") as archive:
        for item, data in entries.items():
            archive.writestr(item, data)


def test_round_trip_keeps_predictions(fitted, tmp_path):
    model, X = fitted
    path = tmp_path / "model.mmen"
    mmensemble.save(model, path)
    loaded = mmensemble.load(path)
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))


def test_file_referring_to_a_command_is_refused_without_running_it(fitted, tmp_path):
    model, _ = fitted
    path = tmp_path / "model.mmen"
    mmensemble.save(model, path)

    def smuggle(schema):
        text = schema.decode()
        text = text.replace('"LogisticRegression"', '"system"', 1)
        text = text.replace('"sklearn.linear_model._logistic"', '"os"', 1)
        return text.encode()

    rewrite(path, "schema.json", smuggle)
    with pytest.raises(ModelFileError, match="not trusted: 'os.system' "):
        mmensemble.load(path)


class _Payload:
    """A pickle payload that would leave a trace if it were ever unpickled."""

    def __init__(self, trace):
        self.trace = str(trace)

    def __reduce__(self):
        return (open, (self.trace, "w"))


def test_pickle_payload_in_an_array_entry_is_never_executed(fitted, tmp_path):
    model, _ = fitted
    path = tmp_path / "model.mmen"
    mmensemble.save(model, path)
    trace = tmp_path / "payload-ran"
    with zipfile.ZipFile(path) as archive:
        array_entry = next(n for n in archive.namelist() if n.endswith(".npy"))
    payload = np.array([_Payload(trace)], dtype=object)
    buffer = io.BytesIO()
    np.save(buffer, payload, allow_pickle=True)
    rewrite(path, array_entry, lambda _: buffer.getvalue())
    with pytest.raises(ModelFileError):
        mmensemble.load(path)
    assert not trace.exists()


def test_foreign_and_damaged_files_are_refused(fitted, tmp_path):
    model, _ = fitted
    plain_pickle = tmp_path / "model.pkl"
    plain_pickle.write_bytes(pickle.dumps(model))
    with pytest.raises(ModelFileError, match="is not an mmensemble model file"):
        mmensemble.load(plain_pickle)
    bare_skops = tmp_path / "model.skops"
    sio.dump(model, bare_skops)
    with pytest.raises(ModelFileError, match="no mmensemble.json entry"):
        mmensemble.load(bare_skops)
    with pytest.raises(ModelFileError, match="does-not-exist.mmen does not exist"):
        mmensemble.load(tmp_path / "does-not-exist.mmen")
    with pytest.raises(ModelFileError, match="is a folder, not a model file"):
        mmensemble.load(tmp_path)


def test_format_and_version_checks(fitted, tmp_path):
    model, _ = fitted
    path = tmp_path / "model.mmen"
    mmensemble.save(model, path)

    def edit(**changes):
        def transform(raw):
            return json.dumps({**json.loads(raw), **changes}).encode()

        return transform

    rewrite(path, "mmensemble.json", edit(mmensemble="0.0.1"))
    with pytest.warns(UserWarning, match="saved with mmensemble 0.0.1"):
        mmensemble.load(path)
    rewrite(path, "mmensemble.json", edit(format_version=99))
    with pytest.raises(ModelFileError, match="format version 99"):
        mmensemble.load(path)


def test_unsavable_estimator_gives_a_clear_error(tmp_path):
    from sklearn.preprocessing import FunctionTransformer

    transformer = FunctionTransformer(lambda x: x).fit([[1.0]])
    with pytest.raises(ModelFileError, match="could not save FunctionTransformer"):
        mmensemble.save(transformer, tmp_path / "f.mmen")


# A fresh process, where mmensemble imports skops.io itself: it loads model
# files (or reports each refusal), and says what it imported.
FRESH_LOAD = """
import json, sys
import sklearn.utils
import mmensemble
results = []
for path in sys.argv[1:]:
    try:
        results.append(type(mmensemble.load(path)).__name__)
    except mmensemble.ModelFileError as exc:
        results.append(str(exc))
print(json.dumps({
    "results": results,
    "torch": "torch" in sys.modules,
    "listing_restored": (
        sklearn.utils.all_estimators is sklearn.utils.discovery.all_estimators
    ),
}))
"""

SMUGGLED = [
    ("os", "system"),
    ("subprocess", "Popen"),
    ("pandas.io.pickle", "read_pickle"),
    ("builtins", "eval"),
    ("sklearnx.linear_model", "LogisticRegression"),
]


def load_in_fresh_process(*paths):
    done = subprocess.run(
        [sys.executable, "-c", FRESH_LOAD, *map(str, paths)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout)


def smuggle_type(module, name):
    """Replace the LogisticRegression of a schema by ``module.name``."""

    def transform(schema):
        text = schema.decode()
        text = text.replace('"LogisticRegression"', f'"{name}"', 1)
        text = text.replace('"sklearn.linear_model._logistic"', f'"{module}"', 1)
        return text.encode()

    return transform


def test_a_fresh_process_loads_fast_and_refuses_types_outside_the_allowed_packages(
    fitted, tmp_path
):
    model, _ = fitted
    good = tmp_path / "model.mmen"
    mmensemble.save(model, good)
    tampered = []
    for index, (module, name) in enumerate(SMUGGLED):
        path = tmp_path / f"tampered-{index}.mmen"
        mmensemble.save(model, path)
        rewrite(path, "schema.json", smuggle_type(module, name))
        tampered.append(path)
    report = load_in_fresh_process(good, *tampered)
    # no listing of every scikit-learn estimator (which imports torch too)
    assert not report["torch"] and report["listing_restored"]
    loaded, *refusals = report["results"]
    assert loaded == "Pipeline"
    for (module, name), refusal in zip(SMUGGLED, refusals, strict=True):
        assert f"not trusted: '{module}.{name}' (ObjectNode at steps[1][1])" in refusal
    # the same refusals where skops.io was imported first, as here
    for (module, name), path in zip(SMUGGLED, tampered, strict=True):
        with pytest.raises(ModelFileError, match=rf"not trusted: '{module}.{name}' "):
            mmensemble.load(path)


@pytest.mark.parametrize("fusion", ["early", "voting", "stacking", "net", "auto"])
@pytest.mark.parametrize("task", ["classification", "regression"])
def test_every_fusion_strategy_saves_only_trusted_names(fusion, task, tmp_path):
    from mmensemble.cli._recipes import build_estimator

    rng = np.random.default_rng(0)
    X = pd.DataFrame(
        {
            "text": rng.choice(["red cat", "blue dog", "cat dog", None], size=40),
            "size": rng.normal(size=40),
            "kind": rng.choice(["a", "b"], size=40),
        }
    )
    y = rng.integers(0, 2, 40) if task == "classification" else rng.normal(size=40)
    roles = {"text": "text", "tabular": ["size"], "categorical": ["kind"]}
    model = build_estimator(fusion, roles, task=task, text_encoder="tfidf")
    model.fit(X, y)
    path = tmp_path / "model.mmen"
    mmensemble.save(model, path)
    np.testing.assert_array_equal(mmensemble.load(path).predict(X), model.predict(X))


@pytest.mark.parametrize(
    "head, target",
    [
        ("RandomForestClassifier", "multiclass"),
        ("ExtraTreesClassifier", "multiclass"),
        ("GradientBoostingClassifier", "multiclass"),
        ("HistGradientBoostingClassifier", "multiclass"),
        ("HistGradientBoostingClassifier", "binary"),
        ("GradientBoostingClassifier", "binary"),
        ("HistGradientBoostingRegressor", "continuous"),
        ("GradientBoostingRegressor", "continuous"),
        ("RandomForestRegressor", "continuous"),
    ],
)
def test_tree_ensemble_heads_save_and_load(head, target, tmp_path):
    from sklearn import ensemble

    X = np.random.default_rng(1).normal(size=(30, 3))
    y = {
        "multiclass": np.arange(30) % 3,
        "binary": (X[:, 0] > 0).astype(int),
        "continuous": X[:, 0],
    }[target]
    model = getattr(ensemble, head)().set_params(random_state=0).fit(X, y)
    path = tmp_path / "model.mmen"
    mmensemble.save(model, path)
    np.testing.assert_array_equal(mmensemble.load(path).predict(X), model.predict(X))
