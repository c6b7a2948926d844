"""Tests of the cell-encoder machinery: missing cells, bad cells, pickling.

The embedding cache has its own tests, in ``test_cache.py``.
"""

import pickle
import threading

import numpy as np
import pytest
from _toy import SummaryEncoder, cells, embedded

from mmensemble import (
    BadCellWarning,
    CellDecodeError,
    MMEnsembleError,
)
from mmensemble._config import config_context


@pytest.fixture(autouse=True)
def fresh_counts():
    SummaryEncoder.batches = []
    yield


def test_missing_cells_give_nan_rows_and_are_not_decoded():
    column = cells(6)
    column.iloc[2] = None
    column.iloc[4] = np.nan
    out = SummaryEncoder().fit_transform(column)
    assert out.dtype == np.float32 and out.shape == (6, 4)
    assert np.isnan(out[[2, 4]]).all()
    np.testing.assert_allclose(out[0], [2.0, np.sqrt(2.0), 0.0, 4.0])
    assert embedded() == 4


def test_bad_cell_raises_naming_row_column_and_value():
    column = cells(6)
    column.iloc[3] = np.array([])
    with pytest.raises(CellDecodeError, match=r"row 'r3', column 'signal'") as info:
        SummaryEncoder().fit_transform(column)
    assert isinstance(info.value, MMEnsembleError)
    assert info.value.row == "r3" and "empty array" in str(info.value)
    restored = pickle.loads(pickle.dumps(info.value))
    assert str(restored) == str(info.value)


def test_bad_cells_become_missing_with_one_warning_under_on_error_missing():
    column = cells(9)
    column.iloc[1] = np.array([])
    column.iloc[7] = "not a number"
    encoder = SummaryEncoder(on_error="missing").fit(column)
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
        SummaryEncoder(on_error="missing").fit_transform(column)
    refitted = SummaryEncoder(on_error="missing")
    with pytest.warns(BadCellWarning):
        refitted.fit_transform(column)
    assert refitted.errors_["row"].tolist() == ["r1", "r7"]


def test_weights_are_not_pickled_and_come_back():
    encoder = SummaryEncoder().fit(cells(3))
    encoder.transform(cells(3))
    state = encoder.__getstate__()
    assert "_calls" not in state
    restored = pickle.loads(pickle.dumps(encoder))
    with config_context(memory_cache_bytes=0):
        np.testing.assert_allclose(
            restored.transform(cells(3)), encoder.transform(cells(3))
        )


def test_concurrent_transforms_give_correct_results():
    encoder = SummaryEncoder().fit(cells(3))
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
