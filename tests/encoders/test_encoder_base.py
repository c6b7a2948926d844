"""Tests of the cell-encoder machinery: missing cells, bad cells, pickling.

The embedding cache has its own tests, in ``test_cache.py``.
"""

import pickle
import threading

import numpy as np
import pandas as pd
import pytest

from mmensemble import (
    BadCellWarning,
    CellDecodeError,
    MMEnsembleError,
    clear_cache,
)
from mmensemble._config import config_context
from mmensemble.encoders._base import BaseCellEncoder


class MomentsEncoder(BaseCellEncoder):
    """Mean and spread of a numeric array cell; counts the cells it embeds."""

    _parameter_constraints = {**BaseCellEncoder._parameter_constraints}
    _runtime_attributes = ("_calls",)
    embedded = []

    def __init__(
        self,
        *,
        scale=1.0,
        batch_size=4,
        n_jobs=2,
        on_error="raise",
        verbose=0,
        memory=None,
    ):
        self.scale = scale
        self.batch_size = batch_size
        self.n_jobs = n_jobs
        self.on_error = on_error
        self.verbose = verbose
        self.memory = memory

    def _prepare(self):
        self._calls = 0

    def _output_width(self):
        return 2

    def _decode(self, cell):
        array = np.asarray(cell, dtype=float)
        if array.size == 0:
            raise ValueError("empty array")
        return array

    def _embed(self, decoded):
        self._calls += 1
        type(self).embedded.append(len(decoded))
        return np.array(
            [[cell.mean() * self.scale, cell.std()] for cell in decoded],
            dtype=np.float32,
        )


@pytest.fixture(autouse=True)
def fresh_cache():
    clear_cache()
    MomentsEncoder.embedded = []
    yield
    clear_cache()


def cells(n=10, start=0):
    return pd.Series(
        [np.arange(i, i + 5, dtype=float) for i in range(start, start + n)],
        index=[f"r{i}" for i in range(start, start + n)],
        name="signal",
    )


def test_missing_cells_give_nan_rows_and_are_not_decoded():
    column = cells(6)
    column.iloc[2] = None
    column.iloc[4] = np.nan
    out = MomentsEncoder().fit_transform(column)
    assert out.dtype == np.float32 and out.shape == (6, 2)
    assert np.isnan(out[[2, 4]]).all()
    np.testing.assert_allclose(out[0], [2.0, np.sqrt(2.0)])
    assert sum(MomentsEncoder.embedded) == 4


def test_bad_cell_raises_naming_row_column_and_value():
    column = cells(6)
    column.iloc[3] = np.array([])
    with pytest.raises(CellDecodeError, match=r"row 'r3', column 'signal'") as info:
        MomentsEncoder().fit_transform(column)
    assert isinstance(info.value, MMEnsembleError)
    assert info.value.row == "r3" and "empty array" in str(info.value)
    restored = pickle.loads(pickle.dumps(info.value))
    assert str(restored) == str(info.value)


def test_bad_cells_become_missing_with_one_warning_under_on_error_missing():
    column = cells(9)
    column.iloc[1] = np.array([])
    column.iloc[7] = "not a number"
    encoder = MomentsEncoder(on_error="missing").fit(column)
    with pytest.warns(
        BadCellWarning, match=r"2 cell\(s\) of column 'signal'"
    ) as record:
        out = encoder.transform(column)
    assert len(record) == 1
    assert np.isnan(out[[1, 7]]).all() and not np.isnan(np.delete(out, [1, 7], 0)).any()
    assert [error.row for error in record[0].message.errors] == ["r1", "r7"]
    # transform reports by the warning; only fit_transform records errors_
    assert encoder.errors_.empty
    with pytest.warns(BadCellWarning):
        MomentsEncoder(on_error="missing").fit_transform(column)
    refitted = MomentsEncoder(on_error="missing")
    with pytest.warns(BadCellWarning):
        refitted.fit_transform(column)
    assert refitted.errors_["row"].tolist() == ["r1", "r7"]


def test_weights_are_not_pickled_and_come_back():
    encoder = MomentsEncoder().fit(cells(3))
    encoder.transform(cells(3))
    state = encoder.__getstate__()
    assert "_calls" not in state
    restored = pickle.loads(pickle.dumps(encoder))
    with config_context(memory_cache_bytes=0):
        np.testing.assert_allclose(
            restored.transform(cells(3)), encoder.transform(cells(3))
        )


def test_concurrent_transforms_give_correct_results():
    encoder = MomentsEncoder().fit(cells(3))
    expected = encoder.transform(cells(50))
    results = [None] * 4

    def work(slot):
        results[slot] = encoder.transform(cells(50))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    with config_context(memory_cache_bytes=0):
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    for result in results:
        np.testing.assert_array_equal(result, expected)
