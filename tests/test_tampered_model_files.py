"""Tampered model files: each is refused by mmensemble.load and runs nothing.

Every "call" case is first shown to be harmful: skops itself, told to trust
the names the file holds, writes the marker file while loading it.
mmensemble.load, and the ``mmensemble predict`` command, refuse the same file,
name the offending node, and the marker is never written.
"""

import functools
import io
import json
import os
import zipfile

import numpy as np
import pandas as pd
import pytest
import scipy.sparse
import skops.io as sio
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

import mmensemble
from mmensemble import FeatureFusion, ModelFileError
from mmensemble.cli import main
from mmensemble.cli._recipes import RoleModel


@pytest.fixture(scope="module")
def table():
    return pd.DataFrame(
        {
            "text": ["a red cat", "a blue dog", "cat dog", "red dog"] * 3,
            "size": np.arange(12, dtype=float),
        }
    )


@pytest.fixture(scope="module")
def role_model(table):
    """A model as ``mmensemble fit`` writes it: a pipeline inside a RoleModel."""
    pipeline = make_pipeline(
        FeatureFusion(
            [("text", TfidfVectorizer(), "text"), ("size", "passthrough", ["size"])]
        ),
        LogisticRegression(),
    ).fit(table, [0, 1] * 6)
    return RoleModel(
        pipeline,
        roles={"text": "text", "tabular": ["size"]},
        target="y",
        task="classification",
        fusion="early",
    )


@pytest.fixture
def model_file(role_model, tmp_path):
    path = tmp_path / "model.mmen"
    mmensemble.save(role_model, path)
    return path


def read_entries(path):
    with zipfile.ZipFile(path) as archive:
        return {item.filename: archive.read(item) for item in archive.infolist()}


def write_entries(path, entries, compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression=compression) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)


def strip_ids(state):
    """Drop skops' object ids, which would collide with the host file's."""
    if isinstance(state, dict):
        return {
            key: strip_ids(value) for key, value in state.items() if key != "__id__"
        }
    if isinstance(state, list):
        return [strip_ids(value) for value in state]
    return state


def call_node(module, name, *args):
    """A node calling ``module.name(*args)`` when rebuilt, and its array entries."""
    with zipfile.ZipFile(io.BytesIO(sio.dumps(args))) as archive:
        entries = {n: archive.read(n) for n in archive.namelist()}
    arguments = json.loads(entries.pop("schema.json"))
    arguments.pop("protocol")
    node = {
        "__class__": name,
        "__module__": module,
        "__loader__": "ConstructorFromReduceNode",
        "content": strip_ids(arguments),
    }
    return node, entries


def edit_head(path, edit):
    """Apply ``edit`` to the schema node of the logistic regression in the file."""
    files = read_entries(path)
    schema = json.loads(files["schema.json"])
    head = schema["content"]["content"]["estimator"]["content"]["content"]["steps"]
    head = head["content"][1]["content"][1]
    assert head["__class__"] == "LogisticRegression"
    edit(head)
    files["schema.json"] = json.dumps(schema).encode()
    return files


def plant(path, node, entries=()):
    """Put ``node`` in place of the logistic regression's ``C`` in the file."""
    files = edit_head(path, lambda head: head["content"]["content"].update(C=node))
    files.update(entries)
    write_entries(path, files)


def harmful_calls(marker):
    """Calls that write ``marker`` when a file holding them is rebuilt."""
    touch = f"open({str(marker)!r}, 'w').close()"
    return {
        "numpy.testing.runstring": call_node("numpy.testing", "runstring", touch, {}),
        "numpy.save": call_node("numpy", "save", str(marker), np.zeros(2)),
        "scipy.sparse.save_npz": call_node(
            "scipy.sparse", "save_npz", str(marker), scipy.sparse.csr_matrix(np.eye(2))
        ),
        "sklearn.datasets.dump_svmlight_file": call_node(
            "sklearn.datasets",
            "dump_svmlight_file",
            np.zeros((1, 1)),
            np.zeros(1),
            str(marker),
        ),
        "builtins.exec": call_node("builtins", "exec", touch),
        "builtins.open": call_node("builtins", "open", str(marker), "w"),
        "os.system": call_node("os", "system", f"touch {marker}"),
        "operator.call": call_node("operator", "call", open, str(marker), "w"),
    }


CALLS = list(harmful_calls("marker"))


@pytest.mark.parametrize("name", CALLS)
def test_a_planted_call_is_refused_and_never_runs(name, model_file, tmp_path):
    marker = tmp_path / "marker"
    node, entries = harmful_calls(marker)[name]
    harmful = tmp_path / "harmful.mmen"
    harmful.write_bytes(model_file.read_bytes())
    plant(harmful, node, entries)
    # the file is real harm: skops, trusting what it names, runs the call
    sio.load(harmful, trusted=sio.get_untrusted_types(file=harmful))
    (written,) = tmp_path.glob("marker*")  # numpy.save adds .npy, save_npz .npz
    written.unlink()
    with pytest.raises(ModelFileError) as info:
        mmensemble.load(harmful)
    assert f"not trusted: '{name}' (ConstructorFromReduceNode at " in str(info.value)
    assert "estimator.steps[1][1].C" in str(info.value)
    assert "Nothing was loaded or run" in str(info.value)
    assert not list(tmp_path.glob("marker*"))


def test_a_partial_of_an_untrusted_function_is_refused(model_file, tmp_path):
    # functools.partial is trusted (the trees with categorical features save
    # one): it binds arguments without calling; the function it binds is a
    # node of its own, checked like any other.
    marker = tmp_path / "marker"
    with zipfile.ZipFile(
        io.BytesIO(sio.dumps(functools.partial(os.system, f"touch {marker}")))
    ) as archive:
        node = json.loads(archive.read("schema.json"))
    node.pop("protocol")
    assert node["__loader__"] == "PartialNode"
    plant(model_file, strip_ids(node))
    with pytest.raises(ModelFileError) as info:
        mmensemble.load(model_file)
    assert "'posix.system' (TypeNode at estimator.steps[1][1].C.func)" in str(
        info.value
    )
    assert not marker.exists()


def test_mmensemble_predict_refuses_a_planted_call(model_file, table, tmp_path, capsys):
    marker = tmp_path / "marker"
    plant(model_file, *harmful_calls(marker)["numpy.testing.runstring"])
    data = tmp_path / "data.csv"
    table.to_csv(data, index=False)
    output = tmp_path / "predictions.csv"
    status = main(["predict", str(model_file), str(data), "-o", str(output)])
    err = capsys.readouterr().err
    assert status == 2
    assert "not trusted: 'numpy.testing.runstring'" in err
    assert not marker.exists() and not output.exists()


# names that look like trusted ones, and trusted names under a loader that
# calls them: (loader, module, class)
LOOK_ALIKES = [
    ("ObjectNode", "sklearnx.linear_model._logistic", "LogisticRegression"),
    ("ObjectNode", "sklearn.linear_model._logistic", "LogisticRegressionX"),
    ("ObjectNode", "sklearn.linear_model", "LogisticRegression"),
    ("ObjectNode", "numpy.testing", "runstring"),
    ("ObjectNode", "mmensemble_tools.fusion._early", "FeatureFusion"),
    (
        "ConstructorFromReduceNode",
        "sklearn.linear_model._logistic",
        "LogisticRegression",
    ),
    ("NdArrayNode", "numpy.testing", "runstring"),
    ("FunctionNode", "numpy.testing", "runstring"),
    ("TypeNode", "builtins", "eval"),
    ("MethodNode", "sklearn.linear_model._logistic", "LogisticRegression"),
    ("OperatorFuncNode", "operator", "methodcaller"),
]


@pytest.mark.parametrize(("loader", "module", "name"), LOOK_ALIKES)
def test_look_alike_names_and_loaders_are_refused(
    loader, module, name, model_file, tmp_path
):
    planted = {"__class__": name, "__module__": module, "__loader__": loader}
    write_entries(model_file, edit_head(model_file, lambda head: head.update(planted)))
    with pytest.raises(ModelFileError, match="not trusted") as info:
        mmensemble.load(model_file)
    assert f"'{module}.{name}' ({loader} at estimator.steps[1][1])" in str(info.value)


def test_an_old_layout_file_says_to_refit(model_file):
    # FeatureFusion lived in mmensemble._early before the fusion/ layer
    files = read_entries(model_file)
    files["schema.json"] = files["schema.json"].replace(
        b'"mmensemble.fusion._early"', b'"mmensemble._early"'
    )
    metadata = json.loads(files["mmensemble.json"])
    files["mmensemble.json"] = json.dumps({**metadata, "mmensemble": "0.0.9"}).encode()
    write_entries(model_file, files)
    with pytest.raises(
        ModelFileError, match=r"saved by another mmensemble version \('0.0.9'"
    ) as info:
        mmensemble.load(model_file)
    assert "mmensemble._early.FeatureFusion" in str(info.value)
    assert "Refit the model" in str(info.value)


@pytest.mark.parametrize("depth", [300, 100_000])
def test_a_schema_nested_without_end_is_refused(depth, model_file):
    plant(model_file, "PLANTED")
    files = read_entries(model_file)
    level = '[{"__class__": "list", "__module__": "builtins", "__loader__": '
    level += '"ListNode", "content": '
    nested = level * depth + "[]" + "}]" * depth
    files["schema.json"] = files["schema.json"].replace(
        b'"PLANTED"', nested[1:-1].encode()
    )
    write_entries(model_file, files)
    with pytest.raises(ModelFileError, match="nested|damaged|could not be loaded"):
        mmensemble.load(model_file)


def first_array(files):
    return next(name for name in files if name.endswith(".npy"))


def test_an_array_larger_than_its_bytes_is_refused(model_file):
    files = read_entries(model_file)
    name = first_array(files)
    array = np.load(io.BytesIO(files[name]))
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buffer, {"descr": array.dtype.str, "fortran_order": False, "shape": (10**12,)}
    )
    header = len(buffer.getvalue())
    files[name] = buffer.getvalue() + files[name][header:]
    write_entries(model_file, files)
    with pytest.raises(ModelFileError, match=r"declares shape \(1000000000000,\)"):
        mmensemble.load(model_file)


def test_a_compressed_entry_is_refused(model_file):
    # a compressed entry can expand to any size (a zip bomb); save compresses none
    write_entries(model_file, read_entries(model_file), zipfile.ZIP_DEFLATED)
    with pytest.raises(ModelFileError, match="is compressed"):
        mmensemble.load(model_file)


@pytest.mark.parametrize("protocol", [None, 0, 1, 999, "2", True])
def test_a_schema_of_another_protocol_is_refused(protocol, model_file):
    files = read_entries(model_file)
    schema = json.loads(files["schema.json"])
    current = schema["protocol"]
    if protocol is None:
        del schema["protocol"]
    else:
        schema["protocol"] = current - 1 if protocol == 1 else protocol
    files["schema.json"] = json.dumps(schema).encode()
    write_entries(model_file, files)
    with pytest.raises(ModelFileError, match="skops schema protocol"):
        mmensemble.load(model_file)


@pytest.mark.parametrize("format_version", [None, 0, 2, "1", True, 1.0])
def test_a_model_format_of_another_version_is_refused(format_version, model_file):
    files = read_entries(model_file)
    metadata = json.loads(files["mmensemble.json"])
    if format_version is None:
        del metadata["format_version"]
    else:
        metadata["format_version"] = format_version
    files["mmensemble.json"] = json.dumps(metadata).encode()
    write_entries(model_file, files)
    with pytest.raises(ModelFileError, match="model format version"):
        mmensemble.load(model_file)


def test_the_untampered_file_loads_and_predicts(model_file, role_model, table):
    loaded = mmensemble.load(model_file)
    np.testing.assert_array_equal(
        loaded.estimator.predict_proba(table), role_model.estimator.predict_proba(table)
    )


def tree_model(kind):
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.tree import DecisionTreeClassifier

    X = np.random.default_rng(0).normal(size=(60, 3))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    if kind == "tree":
        return DecisionTreeClassifier(max_depth=3, random_state=0).fit(X, y)
    return HistGradientBoostingClassifier(max_iter=3, random_state=0).fit(X, y)


def edit_node_array(path, class_name, edit):
    """Apply ``edit`` to the node array of the first ``class_name`` in the file."""
    files = read_entries(path)
    schema = json.loads(files["schema.json"])
    stack = [schema]
    while stack:
        state = stack.pop()
        if isinstance(state, dict):
            if state.get("__class__") == class_name:
                break
            stack.extend(state.values())
        elif isinstance(state, list):
            stack.extend(state)
    entry = state["content"]["content"]["nodes"]["file"]
    nodes = np.load(io.BytesIO(files[entry]))
    edit(nodes)
    buffer = io.BytesIO()
    np.save(buffer, nodes)
    files[entry] = buffer.getvalue()
    write_entries(path, files)


TREE_EDITS = {
    # (model, node array class, child field, feature field)
    "tree": ("tree", "Tree", "left_child", "feature"),
    "boosting": ("boosting", "TreePredictor", "left", "feature_idx"),
}


@pytest.mark.parametrize("kind", TREE_EDITS)
@pytest.mark.parametrize("fault", ["past the end", "back to the root", "feature"])
def test_tree_node_arrays_that_point_out_of_range_are_refused(kind, fault, tmp_path):
    model_kind, class_name, child, feature = TREE_EDITS[kind]
    model = tree_model(model_kind)
    path = tmp_path / "model.mmen"
    mmensemble.save(model, path)
    X = np.random.default_rng(2).normal(size=(20, 3))
    np.testing.assert_array_equal(mmensemble.load(path).predict(X), model.predict(X))

    def edit(nodes):
        if fault == "past the end":
            nodes[child][0] = 10**6
        elif fault == "back to the root":
            nodes[child][0] = 0  # a loop: predicting would never end
        else:
            nodes[feature][0] = 3  # the model has 3 features: 0, 1, 2

    edit_node_array(path, class_name, edit)
    with pytest.raises(ModelFileError, match="linking outside its .* nodes or reading"):
        mmensemble.load(path)
