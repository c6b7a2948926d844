"""Tests of the cell-encoder machinery: missing cells, bad cells, the cache."""

import pickle
import threading

import numpy as np
import pandas as pd
import pytest

from mmensemble import (
    BadCellWarning,
    CellDecodeError,
    MMEnsembleError,
    cache_info,
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
    assert encoder.errors_["row"].tolist() == ["r1", "r7"]


def test_memory_cache_encodes_each_cell_once_across_clones():
    from sklearn.base import clone

    column = cells(10)
    first = MomentsEncoder().fit_transform(column)
    second = clone(MomentsEncoder()).fit_transform(column)
    np.testing.assert_array_equal(first, second)
    assert sum(MomentsEncoder.embedded) == 10
    # a parameter that changes the output changes the fingerprint
    changed = MomentsEncoder(scale=2.0).fit_transform(column)
    assert sum(MomentsEncoder.embedded) == 20
    np.testing.assert_allclose(changed[:, 0], 2 * first[:, 0])
    # one that does not (batch size) keeps hitting the cache
    MomentsEncoder(batch_size=3).fit_transform(column)
    assert sum(MomentsEncoder.embedded) == 20
    assert cache_info()["memory_hits"] >= 20


def test_memory_cache_can_be_turned_off():
    with config_context(memory_cache_bytes=0):
        MomentsEncoder().fit_transform(cells(5))
        MomentsEncoder().fit_transform(cells(5))
    assert sum(MomentsEncoder.embedded) == 10


def test_disk_cache_is_shared_and_survives_the_process_cache(tmp_path):
    column = cells(8)
    reference = MomentsEncoder(memory=tmp_path).fit_transform(column)
    clear_cache()  # forget the in-process layer, as a new process would
    again = MomentsEncoder(memory=str(tmp_path)).fit_transform(column)
    np.testing.assert_array_equal(reference, again)
    assert sum(MomentsEncoder.embedded) == 8
    assert cache_info()["disk_hits"] == 8
    clear_cache(tmp_path)
    assert not (tmp_path / "mmensemble-embeddings").exists()


def test_changing_a_file_invalidates_its_entry(tmp_path):
    path = tmp_path / "clip.npy"

    class FileEncoder(MomentsEncoder):
        def _decode(self, cell):
            return np.load(cell)

    np.save(path, np.arange(5.0))
    first = FileEncoder(memory=tmp_path).fit_transform([str(path)])
    np.save(path, np.arange(5.0) + 10)
    import os

    os.utime(path, ns=(1, 1))  # a different mtime even on coarse clocks
    second = FileEncoder(memory=tmp_path).fit_transform([str(path)])
    assert second[0, 0] == pytest.approx(first[0, 0] + 10)


def test_interrupted_encoding_resumes_where_it_stopped(tmp_path):
    column = cells(20)

    class Interrupted(Exception):
        pass

    class FlakyEncoder(MomentsEncoder):
        fail_after = 2

        def _embed(self, decoded):
            if FlakyEncoder.fail_after == 0:
                raise Interrupted
            FlakyEncoder.fail_after -= 1
            return super()._embed(decoded)

    encoder = FlakyEncoder(memory=tmp_path, batch_size=4).fit(column)
    with pytest.raises(Interrupted):
        encoder.transform(column)
    assert sum(MomentsEncoder.embedded) == 8
    clear_cache()
    FlakyEncoder.fail_after = 100
    out = encoder.transform(column)
    assert sum(MomentsEncoder.embedded) == 20  # 8 before, only 12 more now
    np.testing.assert_allclose(out[:, 0], np.arange(20) + 2.0)


def test_disk_cache_is_bounded(tmp_path):
    with config_context(cache_max_bytes=1000, memory_cache_bytes=0):
        MomentsEncoder(memory=tmp_path).fit_transform(cells(40))
    files = list((tmp_path / "mmensemble-embeddings").rglob("*.npy"))
    assert 0 < sum(f.stat().st_size for f in files) <= 1000


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
