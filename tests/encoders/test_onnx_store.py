"""Tests of the stored ONNX graphs: exported once, reused by later processes."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from mmensemble.encoders import _image, _onnx
from mmensemble.encoders._efficientnet import _VARIANTS

# A fresh process encodes three images and prints whether it imported torch,
# then the embeddings.
ENCODE = """
import json, sys
import numpy as np
from mmensemble import ImageEncoder
rng = np.random.default_rng(0)
images = [rng.integers(0, 256, (40, 48, 3), dtype=np.uint8) for _ in range(3)]
features = ImageEncoder(image_size=32).fit_transform(images)
print(json.dumps({"torch": "torch" in sys.modules, "features": features.tolist()}))
"""


@pytest.fixture
def models_dir(tmp_path, monkeypatch):
    folder = tmp_path / "models"
    monkeypatch.setenv(_onnx.MODELS_DIR_ENV, str(folder))
    return folder


def encode_in_fresh_process(models_dir):
    env = {**os.environ, _onnx.MODELS_DIR_ENV: str(models_dir)}
    done = subprocess.run(
        [sys.executable, "-c", ENCODE],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(done.stdout)
    return result["torch"], np.asarray(result["features"], dtype=np.float32)


class Exporter:
    """An export function that counts its calls."""

    def __init__(self, graph=b"an onnx graph"):
        self.graph = graph
        self.calls = 0

    def __call__(self):
        self.calls += 1
        return self.graph


def test_a_graph_is_exported_once_and_then_read_back(models_dir):
    export = Exporter()
    assert _onnx.stored_onnx_graph("net", {"weights": "a"}, export) == export.graph
    assert _onnx.stored_onnx_graph("net", {"weights": "a"}, export) == export.graph
    assert export.calls == 1
    (stored,) = models_dir.iterdir()
    assert stored.name.startswith("net-") and stored.suffix == ".onnx"
    assert stored.read_bytes() == export.graph
    assert not [path for path in models_dir.iterdir() if path.suffix == ".tmp"]


def test_another_key_is_another_graph(models_dir):
    export = Exporter()
    _onnx.stored_onnx_graph("net", {"weights": "a", "torch": "2.13"}, export)
    _onnx.stored_onnx_graph("net", {"weights": "a", "torch": "2.14"}, export)
    _onnx.stored_onnx_graph("net", {"torch": "2.14", "weights": "a"}, export)
    assert export.calls == 2
    assert len(list(models_dir.iterdir())) == 2


@pytest.mark.parametrize(
    "damage",
    [lambda data: data[: len(data) // 2], lambda data: data[:-1] + b"?", lambda _: b""],
    ids=["truncated", "altered", "emptied"],
)
def test_a_damaged_graph_is_exported_again_not_trusted(models_dir, damage):
    export = Exporter(b"0123456789" * 10)
    _onnx.stored_onnx_graph("net", {"v": 1}, export)
    (stored,) = models_dir.iterdir()
    stored.write_bytes(damage(stored.read_bytes()))
    assert _onnx.stored_onnx_graph("net", {"v": 1}, export) == export.graph
    assert export.calls == 2
    (restored,) = models_dir.iterdir()
    assert restored.read_bytes() == export.graph


def test_an_unwritable_models_folder_warns_and_still_gives_the_graph(
    tmp_path, monkeypatch
):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv(_onnx.MODELS_DIR_ENV, str(blocker / "models"))
    export = Exporter()
    with pytest.warns(RuntimeWarning, match="could not store the ONNX graph 'net'"):
        assert _onnx.stored_onnx_graph("net", {"v": 1}, export) == export.graph


def test_models_folder_defaults_to_the_user_cache(tmp_path, monkeypatch):
    monkeypatch.delenv(_onnx.MODELS_DIR_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert _onnx.models_dir() == tmp_path / "mmensemble" / "models"


def test_a_cpu_device_is_known_without_torch():
    assert _onnx.certainly_cpu("cpu")
    assert not _onnx.certainly_cpu("cuda")
    assert not _onnx.certainly_cpu("cuda:1")


def test_native_sizes_match_the_network_table():
    assert _image._NATIVE_SIZES == {name: row[2] for name, row in _VARIANTS.items()}


@pytest.fixture(scope="module")
def first_process(tmp_path_factory):
    """A models folder filled by a first process; its torch flag and features."""
    folder = tmp_path_factory.mktemp("first") / "models"
    imported_torch, features = encode_in_fresh_process(folder)
    return folder, imported_torch, features


def test_stored_graph_is_reused_across_processes_without_torch(first_process):
    folder, torch_first, first = first_process
    stored = sorted(folder.iterdir())
    torch_second, second = encode_in_fresh_process(folder)
    assert torch_first  # the first process exported the network
    assert not torch_second  # the second read the graph: no export, no torch
    np.testing.assert_array_equal(second, first)
    assert sorted(folder.iterdir()) == stored and len(stored) == 1


def test_outputs_equal_with_and_without_the_stored_graph(first_process, monkeypatch):
    from mmensemble import ImageEncoder

    _, _, stored = first_process
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (40, 48, 3), dtype=np.uint8) for _ in range(3)]
    # an export in this process, stored nowhere
    monkeypatch.setattr(
        _onnx, "_stored_graph", lambda name, key, export: (None, export())
    )
    monkeypatch.setattr(_onnx, "_SESSIONS", {})
    fresh = ImageEncoder(image_size=32).fit_transform(images)
    np.testing.assert_array_equal(fresh, stored)
    torch_path = ImageEncoder(image_size=32, runtime="torch").fit_transform(images)
    np.testing.assert_allclose(fresh, torch_path, atol=1e-5 * np.abs(torch_path).max())


def test_truncated_stored_graph_is_rebuilt_across_processes(first_process, tmp_path):
    source, _, first = first_process
    folder = tmp_path / "models"
    shutil.copytree(source, folder)
    (stored,) = folder.iterdir()
    size = stored.stat().st_size
    with open(stored, "r+b") as file:
        file.truncate(size // 3)
    exported_again, second = encode_in_fresh_process(folder)
    assert exported_again
    np.testing.assert_array_equal(second, first)
    (rebuilt,) = folder.iterdir()
    assert rebuilt.name == stored.name and rebuilt.stat().st_size == size
