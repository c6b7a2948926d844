"""Shared test configuration."""

import matplotlib
import pytest

import mmensemble

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def one_torch_thread():
    """Run a module's torch work on one thread, restoring the setting after."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True, scope="session")
def _session_models_dir(tmp_path_factory):
    """Stored ONNX graphs go to a folder of this test run, not the user cache."""
    patch = pytest.MonkeyPatch()
    patch.setenv("MMENSEMBLE_MODELS_DIR", str(tmp_path_factory.mktemp("models")))
    yield
    patch.undo()


@pytest.fixture(autouse=True)
def _isolated_embedding_cache():
    """Each test starts and ends with an empty in-process embedding cache."""
    mmensemble.clear_cache()
    yield
    mmensemble.clear_cache()
