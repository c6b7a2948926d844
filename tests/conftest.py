"""Shared test configuration."""

import matplotlib
import pytest

import mmensemble

matplotlib.use("Agg")


@pytest.fixture(autouse=True)
def _isolated_embedding_cache():
    """Each test starts and ends with an empty in-process embedding cache."""
    mmensemble.clear_cache()
    yield
    mmensemble.clear_cache()
