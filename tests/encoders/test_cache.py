"""Tests of the embedding cache (in-process LRU and on-disk diskcache store) and
of the thread-local configuration that points encoders at it."""

import multiprocessing
import os
import pickle
import sqlite3
import sys
import threading
import warnings

import diskcache
import joblib
import numpy as np
import pytest
from _toy import SummaryEncoder, cells, embedded
from sklearn.base import clone
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline

import mmensemble
from mmensemble import cache_info, clear_cache, config_context, get_config, set_config
from mmensemble._parallel import Parallel, delayed
from mmensemble.encoders._cache import EmbeddingCache


@pytest.fixture(autouse=True)
def fresh_counts():
    SummaryEncoder.batches = []
    yield


def expected(n=10, start=0, scale=1.0):
    first = np.arange(start, start + n, dtype=np.float32)
    return np.stack(
        [(first + 2) * scale, np.full(n, np.sqrt(2.0)), first, first + 4], axis=1
    ).astype(np.float32)


def store_of(directory):
    return diskcache.Cache(os.fspath(directory / "mmensemble-embeddings"))


# ------------------------------------------------------------ in-process layer


def test_memory_cache_encodes_each_cell_once_across_clones():
    column = cells(10)
    first = SummaryEncoder().fit_transform(column)
    second = clone(SummaryEncoder()).fit_transform(column)
    np.testing.assert_array_equal(first, second)
    np.testing.assert_allclose(first, expected(10), rtol=1e-6)
    assert embedded() == 10
    # a parameter that changes the output changes the fingerprint
    changed = SummaryEncoder(scale=2.0).fit_transform(column)
    assert embedded() == 20
    np.testing.assert_allclose(changed[:, 0], 2 * first[:, 0])
    # one that does not (batch size) keeps hitting the cache
    SummaryEncoder(batch_size=3).fit_transform(column)
    assert embedded() == 20
    assert cache_info()["memory_hits"] >= 20


def test_memory_cache_can_be_turned_off():
    with config_context(memory_cache_bytes=0):
        SummaryEncoder().fit_transform(cells(5))
        SummaryEncoder().fit_transform(cells(5))
    assert embedded() == 10


# ------------------------------------------------------------------ disk layer


def test_disk_cache_is_shared_and_survives_the_process_cache(tmp_path):
    column = cells(8)
    reference = SummaryEncoder(memory=tmp_path).fit_transform(column)
    clear_cache()  # forget the in-process layer, as a new process would
    again = SummaryEncoder(memory=str(tmp_path)).fit_transform(column)
    np.testing.assert_array_equal(reference, again)
    assert embedded() == 8
    assert cache_info()["disk_hits"] == 8
    # a joblib.Memory names the same directory
    clear_cache()
    SummaryEncoder(memory=joblib.Memory(tmp_path, verbose=0)).fit_transform(column)
    assert embedded() == 8


def test_set_config_cache_dir_is_used_by_encoders_without_memory(tmp_path):
    with config_context(cache_dir=tmp_path):
        SummaryEncoder().fit_transform(cells(6))
    assert len(store_of(tmp_path)) == 6
    clear_cache()
    with config_context(cache_dir=tmp_path, memory_cache_bytes=0):
        SummaryEncoder().fit_transform(cells(6))
    assert embedded() == 6
    assert cache_info()["disk_hits"] == 6


def test_clear_cache_empties_the_disk_store_only_when_named(tmp_path):
    column = cells(6)
    SummaryEncoder(memory=tmp_path).fit_transform(column)
    with config_context(cache_dir=tmp_path):
        clear_cache()  # the in-process layer only, as documented
    assert len(store_of(tmp_path)) == 6
    clear_cache(tmp_path)
    assert len(store_of(tmp_path)) == 0
    SummaryEncoder(memory=tmp_path).fit_transform(column)
    assert embedded() == 12
    assert cache_info()["disk_misses"] == 6


def test_changing_a_file_invalidates_its_entry(tmp_path):
    path = tmp_path / "clip.npy"

    class FileEncoder(SummaryEncoder):
        def _decode(self, cell):
            return np.load(cell)

    np.save(path, np.arange(5.0))
    first = FileEncoder(memory=tmp_path).fit_transform([str(path)])
    np.save(path, np.arange(5.0) + 10)
    os.utime(path, ns=(1, 1))  # a different mtime even on coarse clocks
    second = FileEncoder(memory=tmp_path).fit_transform([str(path)])
    assert second[0, 0] == pytest.approx(first[0, 0] + 10)


class Interrupted(Exception):
    pass


class FailingOnThirdBatch(SummaryEncoder):
    fail = True

    def _embed(self, decoded):
        if FailingOnThirdBatch.fail and len(type(self).batches) == 2:
            raise Interrupted
        return super()._embed(decoded)


def test_interrupted_encoding_resumes_where_it_stopped(tmp_path):
    column = cells(20)
    encoder = FailingOnThirdBatch(memory=tmp_path, batch_size=4).fit(column)
    FailingOnThirdBatch.fail = True
    with pytest.raises(Interrupted):
        encoder.transform(column)
    assert SummaryEncoder.batches == [4, 4]  # stored as soon as encoded
    clear_cache()  # a new process: only the disk store remembers
    FailingOnThirdBatch.fail = False
    SummaryEncoder.batches = []
    out = encoder.transform(column)
    assert SummaryEncoder.batches == [4, 4, 4]  # the 12 cells not stored yet
    np.testing.assert_allclose(out, expected(20), rtol=1e-6)


def test_eviction_keeps_the_store_under_its_bound(tmp_path):
    bound = 100_000
    with config_context(cache_max_bytes=bound, memory_cache_bytes=0):
        encoder = SummaryEncoder(memory=tmp_path, batch_size=16)
        encoder.fit_transform(cells(3000))
        store = store_of(tmp_path)
        assert store.volume() <= bound
        assert 0 < len(store) < 3000
        clear_cache()
        # the entries stored longest ago went first
        encoder.transform(cells(1, start=2999))
        assert embedded() == 3000
        encoder.transform(cells(1, start=0))
        assert embedded() == 3001


def test_lowering_the_bound_evicts_down_to_it(tmp_path):
    encoder = SummaryEncoder(memory=tmp_path, batch_size=64)
    encoder.fit_transform(cells(2000))
    assert store_of(tmp_path).volume() > 60_000
    with config_context(cache_max_bytes=60_000):
        encoder.transform(cells(1))
    assert store_of(tmp_path).volume() <= 60_000


def test_a_corrupt_entry_is_a_miss_and_is_rewritten(tmp_path):
    column = cells(3)
    encoder = SummaryEncoder(memory=tmp_path).fit(column)
    encoder.transform(column)
    store = store_of(tmp_path)
    keys = sorted(store)
    store.set(keys[0], b"\x00" * 3)  # truncated
    store.set(keys[1], {"not": "raw bytes"})  # a pickle, never loaded
    clear_cache()
    with config_context(memory_cache_bytes=0):
        out = encoder.transform(column)
        np.testing.assert_allclose(out, expected(3), rtol=1e-6)
        assert embedded() == 3 + 2
        assert cache_info()["disk_misses"] == 2
        encoder.transform(column)  # rewritten: all hits now
    assert embedded() == 5


def test_an_unreadable_store_warns_and_encoding_goes_on(tmp_path):
    root = tmp_path / "mmensemble-embeddings"
    root.mkdir()
    (root / "cache.db").write_bytes(b"this is not a database" * 100)
    with pytest.warns(RuntimeWarning, match="cannot be opened"):
        out = SummaryEncoder(memory=tmp_path).fit_transform(cells(3))
    np.testing.assert_allclose(out, expected(3), rtol=1e-6)


def damage(directory, keys, width):
    """Overwrite the row bytes of stored entries with NaNs, keeping their length.

    Done through SQLite, as the disk would leave it: the checksum stays.
    """
    store = store_of(directory)
    database = sqlite3.connect(os.path.join(store.directory, "cache.db"))
    with database:
        for key in keys:
            checksum = store.get(key)[width * 4 :]
            nans = np.full(width, np.nan, dtype="<f4").tobytes()
            database.execute(
                "UPDATE Cache SET value = ? WHERE key = ?", (nans + checksum, key)
            )
    database.close()
    assert all(len(store.get(key)) == width * 4 + 16 for key in keys)


def test_a_damaged_entry_is_never_served_but_encoded_again_and_replaced(tmp_path):
    column = cells(30)
    encoder = SummaryEncoder(memory=tmp_path).fit(column)
    encoder.transform(column)
    damaged = sorted(store_of(tmp_path))[:27]
    damage(tmp_path, damaged, width=4)
    clear_cache()
    SummaryEncoder.batches = []
    with config_context(memory_cache_bytes=0):
        with pytest.warns(RuntimeWarning, match="holds a damaged entry") as record:
            out = encoder.transform(column)
        np.testing.assert_allclose(out, expected(30), rtol=1e-6)  # no NaN row
        assert "encoded again and the entry replaced" in str(record[0].message)
        info = cache_info()
        assert (info["disk_damaged"], info["disk_hits"], embedded()) == (27, 3, 27)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            again = encoder.transform(column)  # replaced: all sound hits now
    np.testing.assert_array_equal(again, out)
    assert embedded() == 27 and cache_info()["disk_hits"] == 3 + 30


@pytest.mark.parametrize("setting", ["memory", "cache_dir"])
def test_a_cache_location_that_is_a_regular_file_is_an_error(setting, tmp_path):
    from mmensemble.encoders._cache import CacheLocationError

    path = tmp_path / "cache.txt"
    path.write_text("not a folder")
    message = rf"{setting}='{path}' is a regular file, not a folder"
    with pytest.raises(CacheLocationError, match=message):
        if setting == "memory":
            SummaryEncoder(memory=path).fit_transform(cells(3))
        else:
            with config_context(cache_dir=path):
                SummaryEncoder().fit_transform(cells(3))
    assert isinstance(CacheLocationError("x"), (ValueError, mmensemble.MMEnsembleError))


def test_a_read_only_cache_folder_warns_that_it_is_read_only(tmp_path, monkeypatch):
    # what SQLite raises for a user without write permission on the folder
    # (the tests may run as root, whom permissions do not stop)
    SummaryEncoder(memory=tmp_path).fit_transform(cells(3))
    import mmensemble.encoders._cache as cache_module

    def read_only(directory, **kwargs):
        raise sqlite3.OperationalError("attempt to write a readonly database")

    monkeypatch.setattr(cache_module, "_STORES", {})
    monkeypatch.setattr(diskcache, "Cache", read_only)
    clear_cache()
    with pytest.warns(RuntimeWarning, match="the folder is read-only") as record:
        out = SummaryEncoder(memory=tmp_path).fit_transform(cells(3))
    assert "cannot be opened, so it is not used" in str(record[0].message)
    assert "give memory= (or cache_dir) a writable folder" in str(record[0].message)
    np.testing.assert_allclose(out, expected(3), rtol=1e-6)


def test_a_store_failing_at_read_warns(tmp_path, monkeypatch):
    encoder = SummaryEncoder(memory=tmp_path).fit(cells(3))
    encoder.transform(cells(3))
    clear_cache()

    def failing(self, key, *args, **kwargs):
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(diskcache.Cache, "get", failing)
    with config_context(memory_cache_bytes=0):
        with pytest.warns(RuntimeWarning, match="could not be read: .*disk I/O error"):
            out = encoder.transform(cells(3))
    np.testing.assert_allclose(out, expected(3), rtol=1e-6)


def test_the_store_handle_is_not_pickled_with_the_encoder(tmp_path):
    encoder = SummaryEncoder(memory=tmp_path).fit(cells(3))
    encoder.transform(cells(3))
    data = pickle.dumps(encoder)
    assert b"diskcache" not in data and b"sqlite" not in data
    clear_cache()
    restored = pickle.loads(data)
    np.testing.assert_array_equal(restored.transform(cells(3)), expected(3))
    assert embedded() == 3  # read back from the disk store


def _encode_concurrently(directory, start, n, ready, queue):
    """In a child process: encode cells start..start+n once all are ready."""
    SummaryEncoder.batches = []  # a forked child inherits the parent's
    ready.wait()
    with config_context(memory_cache_bytes=0):
        encoder = SummaryEncoder(memory=directory, batch_size=2).fit(cells(1))
        out = encoder.transform(cells(n, start))
        again = encoder.transform(cells(n, start))
    queue.put((start, out, again, sum(SummaryEncoder.batches)))


def _run_children(context, directory, starts, n):
    ready = context.Barrier(len(starts))
    queue = context.Queue()
    children = [
        context.Process(
            target=_encode_concurrently, args=(directory, start, n, ready, queue)
        )
        for start in starts
    ]
    for child in children:
        child.start()
    results = [queue.get(timeout=120) for _ in children]
    for child in children:
        child.join(timeout=60)
        assert child.exitcode == 0
    return results


def test_two_processes_share_one_store_concurrently(tmp_path):
    context = multiprocessing.get_context("spawn")
    results = _run_children(context, tmp_path, starts=(0, 60), n=120)
    for start, out, again, count in results:
        np.testing.assert_allclose(out, expected(120, start), rtol=1e-6)
        np.testing.assert_array_equal(again, out)
        assert count <= 120  # each child encoded each of its cells at most once
    # together they stored every cell once; this process reads them all back
    assert len(store_of(tmp_path)) == 180
    with config_context(memory_cache_bytes=0):
        out = SummaryEncoder(memory=tmp_path).fit_transform(cells(180))
    np.testing.assert_allclose(out, expected(180), rtol=1e-6)
    assert embedded() == 0 and cache_info()["disk_hits"] == 180


@pytest.mark.skipif(sys.platform != "linux", reason="fork is the Linux default")
def test_a_forked_process_reopens_the_parents_store(tmp_path):
    SummaryEncoder(memory=tmp_path).fit_transform(cells(10))  # handle opened
    context = multiprocessing.get_context("fork")
    ((start, out, _, count),) = _run_children(context, tmp_path, (5,), n=10)
    np.testing.assert_allclose(out, expected(10, 5), rtol=1e-6)
    assert count == 5  # cells 5..9 came from the store the parent wrote
    assert len(store_of(tmp_path)) == 15


def test_grid_search_processes_share_the_encoders_disk_cache(tmp_path):
    X, y = cells(24), np.arange(24.0)
    search = GridSearchCV(
        make_pipeline(SummaryEncoder(memory=tmp_path), Ridge()),
        {"ridge__alpha": [0.1, 1.0]},
        cv=2,
        n_jobs=2,
    ).fit(X, y)
    assert search.best_score_ > 0.9
    # the workers (other processes) stored every cell once...
    assert len(store_of(tmp_path)) == 24
    clear_cache()
    with config_context(memory_cache_bytes=0):
        search.best_estimator_.predict(X)
    assert embedded() == 0  # ...and this process reads them from disk


# ----------------------------------------------------------------- config


def test_config_is_thread_local():
    seen = {}
    inside = threading.Event()
    done = threading.Event()

    def other_thread():
        inside.wait()
        seen["other"] = get_config()["memory_cache_bytes"]
        set_config(memory_cache_bytes=7)  # this thread's copy only
        seen["other_after"] = get_config()["memory_cache_bytes"]
        done.set()

    default = get_config()["memory_cache_bytes"]
    thread = threading.Thread(target=other_thread)
    thread.start()
    with config_context(memory_cache_bytes=123):
        inside.set()
        done.wait()
        assert get_config()["memory_cache_bytes"] == 123
    thread.join()
    assert seen == {"other": default, "other_after": 7}
    assert get_config()["memory_cache_bytes"] == default


def test_config_context_restores_exactly_and_never_writes_the_environment(
    tmp_path, monkeypatch
):
    monkeypatch.delenv("MMENSEMBLE_CACHE_DIR", raising=False)
    before = get_config()
    with config_context(cache_dir=tmp_path, cache_file_identity="content"):
        assert get_config()["cache_dir"] == os.fspath(tmp_path)
        set_config(cache_max_bytes=1234, cache_dir=False)
        assert get_config()["cache_dir"] is None
        assert "MMENSEMBLE_CACHE_DIR" not in os.environ
    assert get_config() == before
    assert "MMENSEMBLE_CACHE_DIR" not in os.environ


@pytest.mark.parametrize(
    "bad",
    [
        {"cache_max_bytes": -1},
        {"memory_cache_bytes": 1.5},
        {"cache_file_identity": "x"},
    ],
)
def test_set_config_rejects_bad_values(bad):
    before = get_config()
    with pytest.raises(mmensemble.MMEnsembleError, match=next(iter(bad))):
        set_config(**bad)
    assert get_config() == before


def _worker_config():
    return get_config()["cache_dir"], get_config()["cache_max_bytes"]


@pytest.mark.parametrize("backend", ["loky", "threading"])
def test_config_reaches_joblib_workers_through_delayed(tmp_path, backend):
    with config_context(cache_dir=tmp_path, cache_max_bytes=4321):
        results = Parallel(n_jobs=2, backend=backend)(
            delayed(_worker_config)() for _ in range(4)
        )
    assert results == [(os.fspath(tmp_path), 4321)] * 4
    # outside the context, workers get this thread's configuration again
    default = get_config()["cache_dir"], get_config()["cache_max_bytes"]
    results = Parallel(n_jobs=2, backend=backend)(
        delayed(_worker_config)() for _ in range(2)
    )
    assert results == [default] * 2


def test_encoder_in_a_loky_worker_uses_the_callers_cache_dir(tmp_path):
    encoder = SummaryEncoder().fit(cells(1))
    # (a reused worker may hold these cells in its own in-process cache)
    with config_context(cache_dir=tmp_path, memory_cache_bytes=0):
        (out,) = Parallel(n_jobs=2, backend="loky")(
            [delayed(encoder.transform)(cells(5))]
        )
    np.testing.assert_allclose(out, expected(5), rtol=1e-6)
    assert len(store_of(tmp_path)) == 5


def test_embedding_cache_reads_the_callers_config(tmp_path):
    with config_context(cache_dir=tmp_path, memory_cache_bytes=0):
        cache = EmbeddingCache("ab" * 16, None, width=4)
    assert cache.memory_bytes == 0
    assert cache.store.directory == os.fspath(tmp_path / "mmensemble-embeddings")
