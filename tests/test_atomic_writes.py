"""A failed or killed write leaves the previous file: models, predictions, reports."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import FunctionTransformer

import mmensemble
from mmensemble import ModelFileError
from mmensemble._atomic import atomic_write, check_writable


@pytest.fixture
def old_model(tmp_path):
    """A good model file, and the coefficients it holds."""
    model = LogisticRegression().fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1])
    path = tmp_path / "model.mmen"
    mmensemble.save(model, path)
    return path, model.coef_


def test_a_failed_save_keeps_the_previous_file(old_model, tmp_path):
    path, coef = old_model
    unsavable = FunctionTransformer(lambda x: x).fit([[1.0]])
    with pytest.raises(ModelFileError, match="could not save FunctionTransformer"):
        mmensemble.save(unsavable, path)
    np.testing.assert_array_equal(mmensemble.load(path).coef_, coef)
    assert sorted(os.listdir(tmp_path)) == ["model.mmen"]  # no temporary left


def test_a_failing_block_keeps_the_previous_file_and_removes_the_temporary(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("old")
    with pytest.raises(OSError, match="disk full"):
        with atomic_write(path, "w") as file:
            file.write("half of the new")
            raise OSError("disk full")
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["notes.txt"]


def test_a_new_file_gets_the_permissions_of_a_plain_open(tmp_path):
    with atomic_write(tmp_path / "a.txt", "w") as file:
        file.write("a")
    with open(tmp_path / "b.txt", "w") as file:
        file.write("b")
    assert os.stat(tmp_path / "a.txt").st_mode == os.stat(tmp_path / "b.txt").st_mode


def test_check_writable_says_what_is_wrong(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist; create it first"):
        check_writable(tmp_path / "missing" / "folder" / "m.mmen")
    (tmp_path / "file").write_text("")
    with pytest.raises(NotADirectoryError, match="is not a folder"):
        check_writable(tmp_path / "file" / "m.mmen")
    with pytest.raises(IsADirectoryError, match="is a folder, not a file name"):
        check_writable(tmp_path)
    check_writable(tmp_path / "m.mmen")
    assert sorted(os.listdir(tmp_path)) == ["file"]


# Saves a large model over argv[1]; killed by the test while it writes.
BIG_SAVE = """
import sys
import numpy as np
from sklearn.linear_model import LogisticRegression
import mmensemble
model = LogisticRegression().fit([[0.0], [1.0]], [0, 1])
model.coef_ = np.random.default_rng(0).normal(size=(1, 20_000_000))  # 160 MB
print("saving", flush=True)
mmensemble.save(model, sys.argv[1])
"""


def test_kill_9_during_a_save_leaves_the_previous_file(old_model, tmp_path):
    path, coef = old_model
    before = path.read_bytes()
    child = subprocess.Popen(
        [sys.executable, "-c", BIG_SAVE, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout.readline() == "saving\n"
    # kill as soon as a byte of the new model reaches the folder, wherever
    # the saving code puts it (the model file itself, or a temporary file)
    deadline = time.monotonic() + 120
    while not _writing(tmp_path, path, before) and child.poll() is None:
        assert time.monotonic() < deadline, "the save never started writing"
        time.sleep(0.001)
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert child.returncode == -signal.SIGKILL, "the save ended before the kill"
    assert path.read_bytes() == before
    np.testing.assert_array_equal(mmensemble.load(path).coef_, coef)


def _writing(folder, path, before):
    others = [entry for entry in os.scandir(folder) if entry.name != path.name]
    return any(entry.stat().st_size for entry in others) or (
        path.stat().st_size != len(before)
    )
