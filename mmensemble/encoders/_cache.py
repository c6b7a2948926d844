"""Content-addressed, per-sample cache of encoder outputs.

An entry's key is the encoder's fingerprint (its class, every parameter that
changes the output, a digest of its weights, the library versions) together
with the identity of one cell: a digest of the bytes for in-memory data; the
path, size and modification time of a file (or a digest of its bytes, with
``set_config(cache_file_identity="content")``).

Two layers serve lookups:

- an in-process LRU, bounded in bytes and on by default, so a fusion estimator
  that refits a pipeline for each cross-validation fold encodes each row once;
- an optional on-disk store (``memory=`` on the encoder, or
  ``set_config(cache_dir=...)``): one :class:`diskcache.Cache` (SQLite) per
  cache directory, shared by every encoder, keyed by fingerprint and cell,
  each value the raw ``float32`` bytes of one output row followed by a
  checksum of the key and those bytes. Lookups and stores are index
  operations, whatever the number of entries; SQLite's locking lets
  concurrent processes share the store; each batch is stored as soon as it is
  encoded, so an interrupted encoding resumes where it stopped; beyond
  ``set_config(cache_max_bytes=...)`` diskcache evicts the entries stored
  longest ago as new ones arrive.

What is read back is checked: an entry of the wrong size or kind is a miss;
an entry whose checksum does not match its bytes (damaged on disk) is never
served: it is a miss, with a ``RuntimeWarning``, and is replaced by the
freshly encoded row (``cache_info()["disk_damaged"]`` counts them). A store
that cannot be opened (a read-only folder, a damaged database) or read says
so in a ``RuntimeWarning`` and encoding goes on without it; a ``memory=`` (or
``cache_dir``) that names a regular file is an error. Entries are written by
diskcache: small ones inside an SQLite transaction, large ones to a new file
committed with their row, so a killed write never leaves a half entry.
"""

import hashlib
import importlib.metadata
import os
import sqlite3
import threading
import warnings
from collections import OrderedDict
from contextlib import contextmanager
from pathlib import Path

import diskcache
import numpy as np

from .._config import get_config
from .._exceptions import MMEnsembleError

__all__ = ["cache_info", "clear_cache", "memory_cache_scope"]

_IRRELEVANT_PARAMS = frozenset(
    {"batch_size", "n_jobs", "verbose", "on_error", "memory"}
)
_ROOT_NAME = "mmensemble-embeddings"
_DTYPE = np.dtype("<f4")
_CHECKSUM_BYTES = 16
# What a failing store raises: locked beyond diskcache's timeout, a damaged or
# unwritable database file, a full disk.
_STORE_ERRORS = (diskcache.Timeout, sqlite3.Error, OSError)


class _MemoryLRU:
    """A thread-safe LRU of arrays bounded by their total size in bytes."""

    def __init__(self):
        self._entries = OrderedDict()
        self._nbytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key):
        with self._lock:
            value = self._entries.get(key)
            if value is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return value

    def put(self, key, value, max_bytes):
        if value.nbytes > max_bytes:
            return
        with self._lock:
            if key in self._entries:
                return
            self._entries[key] = value
            self._nbytes += value.nbytes
            while self._nbytes > max_bytes:
                _, evicted = self._entries.popitem(last=False)
                self._nbytes -= evicted.nbytes

    def empty(self):
        """Drop every entry, keeping the hit and miss counts."""
        with self._lock:
            self._entries.clear()
            self._nbytes = 0

    def clear(self):
        self.empty()
        with self._lock:
            self.hits = self.misses = 0


class _Counters:
    """Thread-safe event counts."""

    def __init__(self, *names):
        self._names = names
        self._lock = threading.Lock()
        self.clear()

    def add(self, name, count=1):
        with self._lock:
            self._counts[name] += count

    def snapshot(self):
        with self._lock:
            return dict(self._counts)

    def clear(self):
        with self._lock:
            self._counts = dict.fromkeys(self._names, 0)


_MEMORY = _MemoryLRU()
_DISK_STATS = _Counters("hits", "misses", "writes", "damaged")


class CacheLocationError(MMEnsembleError, ValueError):
    """The on-disk cache location names something that is not a folder."""


def cache_info():
    """Return hit and miss counts of the embedding caches in this process.

    Returns
    -------
    info : dict
        ``memory_hits``, ``memory_misses``, ``disk_hits``, ``disk_misses``,
        ``disk_writes``, ``disk_damaged`` (entries whose checksum failed,
        counted among the misses) and ``memory_entries``.

    Examples
    --------
    >>> from mmensemble import cache_info
    >>> sorted(cache_info())[:3]
    ['disk_damaged', 'disk_hits', 'disk_misses']
    """
    disk = _DISK_STATS.snapshot()
    return {
        "memory_hits": _MEMORY.hits,
        "memory_misses": _MEMORY.misses,
        "memory_entries": len(_MEMORY._entries),
        "disk_hits": disk["hits"],
        "disk_misses": disk["misses"],
        "disk_writes": disk["writes"],
        "disk_damaged": disk["damaged"],
    }


def clear_cache(location=None):
    """Empty the in-process cache and, if given, an on-disk cache.

    Parameters
    ----------
    location : str, path-like or joblib.Memory, default=None
        The on-disk cache to empty (the directory given as ``memory=`` or
        ``set_config(cache_dir=...)``). None clears only the in-process
        cache and the counts of :func:`cache_info`.

    Examples
    --------
    >>> from mmensemble import cache_info, clear_cache
    >>> clear_cache()
    >>> cache_info()["memory_entries"]
    0
    """
    _MEMORY.clear()
    _DISK_STATS.clear()
    if location is None:
        return
    root = _disk_root(location)
    if root is not None and root.exists():
        store = _open_store(root)
        if store is not None:
            store.clear(retry=True)


@contextmanager
def memory_cache_scope():
    """Keep the in-process cache's entries only while the block runs.

    The streaming commands work a chunk of rows at a time: within a chunk the
    in-process cache spares encoding a cell twice (explanations predict
    masked copies of the rows, novelty scores encode them again), while across
    chunks it would only grow, no row coming back. Entries of other threads
    go too, which costs them only re-encodings.
    """
    try:
        yield
    finally:
        _MEMORY.empty()


def _disk_root(memory):
    """The store directory for an encoder's ``memory`` (None: no disk cache).

    Raises :class:`CacheLocationError` when the location is a regular file.
    """
    setting = "memory"
    if memory is None:
        memory, setting = get_config()["cache_dir"], "cache_dir"
    if memory is None or memory is False:
        return None
    location = getattr(memory, "location", memory)
    if location is None:
        return None
    location = Path(os.fspath(location))
    if location.exists() and not location.is_dir():
        raise CacheLocationError(
            f"{setting}={os.fspath(location)!r} is a regular file, not a folder: "
            "the embedding cache is a folder (created if missing); give a folder "
            f"path, or {setting}=None for no disk cache"
        )
    return location / _ROOT_NAME


class _ArrayDisk(diskcache.Disk):
    """diskcache serialisation that reads back raw bytes only, never pickles.

    Values are written as ``bytes`` (stored inline or, when large, in a file);
    any other kind of entry found in the store reads as missing.
    """

    def fetch(self, mode, filename, value, read):
        if mode not in (diskcache.core.MODE_RAW, diskcache.core.MODE_BINARY):
            raise OSError(f"not a raw entry (mode {mode})")  # diskcache: a miss
        return super().fetch(mode, filename, value, read)


_STORES = {}
_STORES_LOCK = threading.Lock()


def _forget_stores():
    """In a forked child: drop the parent's handles (and a lock it may hold)."""
    global _STORES_LOCK
    _STORES.clear()
    _STORES_LOCK = threading.Lock()


os.register_at_fork(after_in_child=_forget_stores)


def _open_store(root):
    """The process's handle on the store in ``root``; None if it cannot open.

    Handles are kept per directory and never pickled with an encoder;
    diskcache opens one SQLite connection per thread and reopens it in a
    forked process.
    """
    key = os.fspath(root)
    with _STORES_LOCK:
        store = _STORES.get(key)
        if store is None:
            try:
                store = diskcache.Cache(
                    key,
                    disk=_ArrayDisk,
                    eviction_policy="least-recently-stored",
                )
            except _STORE_ERRORS as exc:
                warnings.warn(
                    f"the embedding cache in {key!r} cannot be opened, so it is "
                    f"not used (no entry is read or stored; every cell is "
                    f"encoded): {_why(root, exc)}",
                    RuntimeWarning,
                    stacklevel=4,
                )
                return None
            _STORES[key] = store
    return store


def _why(root, exc):
    """Say why a store failed: a read-only folder, or the error itself."""
    read_only = isinstance(exc, PermissionError) or "readonly" in str(exc)
    if read_only or (root.exists() and not os.access(root, os.W_OK)):
        return (
            f"the folder is read-only ({type(exc).__name__}: {exc}); SQLite needs "
            "to write next to its database even to read it: make the folder "
            "writable, or give memory= (or cache_dir) a writable folder"
        )
    return f"{type(exc).__name__}: {exc}"


class EmbeddingCache:
    """The cache view of one fitted encoder: lookups and stores by cell.

    Parameters
    ----------
    fingerprint : str
        Hex digest of everything about the encoder that changes its output.
    memory : None, str, path-like or joblib.Memory
        The encoder's ``memory`` parameter.
    width : int
        Length of one output row; a stored entry of another length is a miss.
    """

    def __init__(self, fingerprint, memory, *, width):
        config = get_config()
        self.fingerprint = fingerprint
        self.width = width
        self.memory_bytes = config["memory_cache_bytes"]
        self.file_identity = config["cache_file_identity"]
        root = _disk_root(memory)
        self.store = None if root is None else _open_store(root)
        if self.store is not None:
            self._bound(config["cache_max_bytes"])

    def _bound(self, max_bytes):
        """Apply the configured size bound, evicting down to it if lowered."""
        if self.store.size_limit == max_bytes:
            return
        try:
            self.store.reset("size_limit", max_bytes)
            self.store.cull()
        except _STORE_ERRORS as exc:
            self._store_failed("resized", exc)

    @property
    def enabled(self):
        return self.memory_bytes > 0 or self.store is not None

    def key(self, cell):
        """Identity of a cell, or None when it cannot be identified."""
        return cell_identity(cell, file_identity=self.file_identity)

    def get(self, key):
        """The cached output for ``key``, or None."""
        full_key = (self.fingerprint, key)
        if self.memory_bytes > 0:
            value = _MEMORY.get(full_key)
            if value is not None:
                return value
        if self.store is None:
            return None
        disk_key = self._disk_key(key)
        try:
            raw = self.store.get(disk_key)
        except _STORE_ERRORS as exc:
            self._store_failed("read", exc)
            raw = None
        value = None if raw is None else self._decode(disk_key, raw)
        _DISK_STATS.add("misses" if value is None else "hits")
        if value is not None and self.memory_bytes > 0:
            _MEMORY.put(full_key, value, self.memory_bytes)
        return value

    def put_many(self, keys, values):
        """Store output rows in both layers, the disk ones in one transaction.

        Parameters
        ----------
        keys : sequence of str or None
            Cell identities; rows whose key is None are not stored.
        values : array-like of shape (len(keys), width)
        """
        rows = [
            (key, np.array(value, dtype=_DTYPE, copy=True))
            for key, value in zip(keys, values, strict=True)
            if key is not None
        ]
        if self.memory_bytes > 0:
            for key, value in rows:
                _MEMORY.put((self.fingerprint, key), value, self.memory_bytes)
        if self.store is None or not rows:
            return
        try:
            with self.store.transact():
                for key, value in rows:
                    disk_key = self._disk_key(key)
                    data = value.tobytes()
                    self.store.set(disk_key, data + _checksum(disk_key, data))
        except _STORE_ERRORS as exc:
            self._store_failed("written", exc)
            return
        _DISK_STATS.add("writes", len(rows))

    def _disk_key(self, key):
        return bytes.fromhex(self.fingerprint + key)

    def _decode(self, disk_key, raw):
        """The row stored in ``raw``, or None if it is not a sound entry."""
        size = self.width * _DTYPE.itemsize
        if not isinstance(raw, bytes) or len(raw) != size + _CHECKSUM_BYTES:
            return None
        data, checksum = raw[:size], raw[size:]
        if checksum != _checksum(disk_key, data):
            _DISK_STATS.add("damaged")
            warnings.warn(
                f"the embedding cache in {self.store.directory!r} holds a damaged "
                "entry (its bytes do not match their checksum); it is not used: "
                "the cell is encoded again and the entry replaced",
                RuntimeWarning,
                stacklevel=5,
            )
            return None
        return np.frombuffer(data, dtype=_DTYPE)  # read-only, as bytes are

    def _store_failed(self, action, exc):
        warnings.warn(
            f"the embedding cache in {self.store.directory!r} could not be "
            f"{action}: {type(exc).__name__}: {exc}",
            RuntimeWarning,
            stacklevel=4,
        )


def _checksum(disk_key, data):
    """Digest binding an entry's bytes to its key (a moved entry fails too)."""
    digest = hashlib.blake2b(disk_key, digest_size=_CHECKSUM_BYTES)
    digest.update(data)
    return digest.digest()


def cell_identity(cell, *, file_identity="stat"):
    """Digest identifying a cell's content, or None if it cannot be identified.

    Parameters
    ----------
    cell : object
        A path, bytes, array, ``(array, sr)`` tuple or PIL image.
    file_identity : {"stat", "content"}, default="stat"
        Identify files by path, size and modification time, or by content.

    Returns
    -------
    key : str or None
    """
    digest = hashlib.blake2b(digest_size=20)
    try:
        identified = _feed(digest, cell, file_identity)
    except (OSError, TypeError, ValueError):
        # e.g. a path with a NUL byte, a ragged (array, sr) tuple, an array
        # whose dtype has no buffer: not cached; decoding says what is wrong
        return None
    return digest.hexdigest() if identified else None


def _feed(digest, cell, file_identity):
    if isinstance(cell, str | os.PathLike):
        path = os.path.abspath(os.fspath(cell))
        try:
            stat = os.stat(path)
        except OSError:
            return False
        if file_identity == "content":
            digest.update(b"file-content:")
            with open(path, "rb") as file:
                for chunk in iter(lambda: file.read(1 << 20), b""):
                    digest.update(chunk)
        else:
            digest.update(f"file:{path}:{stat.st_size}:{stat.st_mtime_ns}".encode())
        return True
    if isinstance(cell, bytes | bytearray | memoryview):
        digest.update(b"bytes:")
        digest.update(cell)
        return True
    if isinstance(cell, np.ndarray):
        if cell.dtype == object:
            return False
        digest.update(f"array:{cell.dtype.str}:{cell.shape}:".encode())
        digest.update(np.ascontiguousarray(cell).data)
        return True
    if isinstance(cell, tuple) and len(cell) == 2 and np.isscalar(cell[1]):
        digest.update(f"pair:{cell[1]!r}:".encode())
        return _feed(digest, np.asarray(cell[0]), file_identity)
    if type(cell).__module__.startswith("PIL."):
        digest.update(f"pil:{cell.mode}:{cell.size}:".encode())
        digest.update(cell.tobytes())
        return True
    return False


def encoder_fingerprint(encoder, *, libraries=(), extra=()):
    """Digest of everything about ``encoder`` that changes its output.

    Parameters
    ----------
    encoder : estimator
        The encoder; its parameters other than batch size, parallelism,
        verbosity, error policy and cache location enter the digest.
    libraries : iterable of str, default=()
        Distributions whose versions enter the digest (numpy always does).
    extra : iterable of str or bytes, default=()
        More identity, e.g. a digest of the network weights.

    Returns
    -------
    fingerprint : str
    """
    from .. import __version__

    digest = hashlib.blake2b(digest_size=16)
    relevant = sorted(
        (name, repr(value))
        for name, value in encoder.get_params(deep=False).items()
        if name not in _IRRELEVANT_PARAMS
    )
    versions = [f"mmensemble={__version__}", f"numpy={np.__version__}"]
    versions.extend(f"{name}={_version(name)}" for name in libraries)
    digest.update(repr((type(encoder).__qualname__, relevant, versions)).encode())
    for item in extra:
        digest.update(item if isinstance(item, bytes) else str(item).encode())
    return digest.hexdigest()


def _version(distribution):
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "absent"
