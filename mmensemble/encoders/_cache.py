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
  ``set_config(cache_dir=...)``), one ``.npy`` file per entry written
  atomically, so concurrent processes can share it, an interrupted encoding
  resumes where it stopped, and a size bound evicts the oldest entries.
"""

import hashlib
import importlib.metadata
import os
import shutil
import threading
import uuid
from collections import OrderedDict
from pathlib import Path

import numpy as np

from .._config import get_config

__all__ = ["cache_info", "clear_cache"]

_IRRELEVANT_PARAMS = frozenset(
    {"batch_size", "n_jobs", "verbose", "on_error", "memory"}
)


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

    def clear(self):
        with self._lock:
            self._entries.clear()
            self._nbytes = 0
            self.hits = self.misses = 0


_MEMORY = _MemoryLRU()
_DISK_STATS = {"hits": 0, "misses": 0, "writes": 0}


def cache_info():
    """Return hit and miss counts of the embedding caches in this process.

    Returns
    -------
    info : dict
        ``memory_hits``, ``memory_misses``, ``disk_hits``, ``disk_misses``,
        ``disk_writes`` and ``memory_entries``.

    Examples
    --------
    >>> from mmensemble import cache_info
    >>> sorted(cache_info())[:2]
    ['disk_hits', 'disk_misses']
    """
    return {
        "memory_hits": _MEMORY.hits,
        "memory_misses": _MEMORY.misses,
        "memory_entries": len(_MEMORY._entries),
        "disk_hits": _DISK_STATS["hits"],
        "disk_misses": _DISK_STATS["misses"],
        "disk_writes": _DISK_STATS["writes"],
    }


def clear_cache(location=None):
    """Empty the in-process cache and, if given, an on-disk cache directory.

    Parameters
    ----------
    location : str, path-like or joblib.Memory, default=None
        The on-disk cache to delete. None clears only the in-process cache.
    """
    _MEMORY.clear()
    for name in _DISK_STATS:
        _DISK_STATS[name] = 0
    directory = _disk_location(location)
    if directory is not None and directory.exists():
        shutil.rmtree(directory / _ROOT_NAME, ignore_errors=True)


_ROOT_NAME = "mmensemble-embeddings"


def _disk_location(memory):
    """The disk cache directory for an encoder's ``memory`` parameter."""
    if memory is None:
        memory = get_config()["cache_dir"]
    if memory is None or memory is False:
        return None
    location = getattr(memory, "location", memory)
    return None if location is None else Path(os.fspath(location))


class EmbeddingCache:
    """The cache view of one fitted encoder: lookups and stores by cell.

    Parameters
    ----------
    fingerprint : str
        Digest of everything about the encoder that changes its output.
    memory : None, str, path-like or joblib.Memory
        The encoder's ``memory`` parameter.
    """

    def __init__(self, fingerprint, memory):
        config = get_config()
        self.fingerprint = fingerprint
        self.memory_bytes = config["memory_cache_bytes"]
        self.max_disk_bytes = config["cache_max_bytes"]
        self.file_identity = config["cache_file_identity"]
        location = _disk_location(memory)
        self.directory = (
            None if location is None else location / _ROOT_NAME / fingerprint
        )

    @property
    def enabled(self):
        return self.memory_bytes > 0 or self.directory is not None

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
        if self.directory is None:
            return None
        path = self._path(key)
        try:
            value = np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError):
            _DISK_STATS["misses"] += 1
            return None
        _DISK_STATS["hits"] += 1
        if self.memory_bytes > 0:
            _MEMORY.put(full_key, value, self.memory_bytes)
        return value

    def put(self, key, value):
        """Store the output of one cell in both layers."""
        value = np.array(value, dtype=np.float32, copy=True)
        if self.memory_bytes > 0:
            _MEMORY.put((self.fingerprint, key), value, self.memory_bytes)
        if self.directory is None:
            return
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        with open(temporary, "wb") as file:
            np.save(file, value, allow_pickle=False)
        os.replace(temporary, path)
        _DISK_STATS["writes"] += 1

    def prune(self):
        """Evict the oldest on-disk entries beyond the size bound."""
        if self.directory is None:
            return
        root = self.directory.parent
        entries = []
        for dirpath, _, filenames in os.walk(root):
            for filename in filenames:
                path = os.path.join(dirpath, filename)
                try:
                    stat = os.stat(path)
                except FileNotFoundError:
                    continue
                entries.append((stat.st_mtime, stat.st_size, path))
        total = sum(size for _, size, _ in entries)
        for _, size, path in sorted(entries):
            if total <= self.max_disk_bytes:
                break
            try:
                os.remove(path)
            except FileNotFoundError:
                pass
            total -= size

    def _path(self, key):
        return self.directory / key[:2] / f"{key}.npy"


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
