"""The machinery shared by the cell encoders (images, audio).

A cell encoder turns one column of cells into a dense ``float32`` array, one row
per cell. Subclasses say how to decode one cell and how to embed a batch of
decoded cells; this base class does everything else: input checks, missing
cells, decoding in worker threads while the previous batch is embedded, the bad
cell policy, errors that name the row and the column, the progress bar, and
keeping heavy runtime state (network weights) out of pickles.
"""

import os
import threading
import warnings
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from numbers import Integral
from typing import ClassVar

import numpy as np
import pandas as pd
from joblib.parallel import BACKENDS, get_active_backend
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from .._compat import HasMethods, Interval, StrOptions, _check_feature_names_in
from .._docstrings import fill_doc
from .._exceptions import BadCellWarning, CellDecodeError
from .._parallel import Parallel, delayed
from .._parameters import estimator_parameters
from ._cache import EmbeddingCache, encoder_fingerprint
from ._cells import as_cell_series, missing_mask
from ._docs import ENCODER_DOCS

__all__ = ["BaseCellEncoder"]

_ERROR_COLUMNS = ("row", "column", "reason")
# Loading an unpickled encoder's weights is done by one thread at a time.
_PREPARE_LOCK = threading.RLock()


class ErrorsTableMixin:
    """Keep an ``errors_`` table of bad cells savable by ``mmensemble.save``.

    skops cannot write a DataFrame attribute, so the state holds ``errors_``
    as a dict of lists, from which ``__setstate__`` rebuilds the table.
    """

    def __getstate__(self):
        state = dict(super().__getstate__())
        errors = state.get("errors_")
        if isinstance(errors, pd.DataFrame):
            state["errors_"] = {
                column: errors[column].tolist() for column in _ERROR_COLUMNS
            }
        return state

    def __setstate__(self, state):
        errors = state.get("errors_")
        if isinstance(errors, dict):
            state = {**state, "errors_": _errors_table(errors)}
        super().__setstate__(state)


@estimator_parameters
class BaseCellEncoder(ErrorsTableMixin, TransformerMixin, BaseEstimator):
    """Base class of the encoders that turn a column of cells into vectors.

    Subclasses implement ``_decode(cell)`` (thread safe; raise on a bad cell),
    ``_embed(decoded_cells)`` (a batch, returns ``(n, n_features_out_)``
    ``float32``), ``_output_width()`` and optionally ``_prepare()`` (load the
    runtime state, e.g. network weights, into attributes named in
    ``_runtime_attributes``, which are not pickled and come back lazily) and
    ``_feature_names()`` (the output names, when they say more than
    ``<class name><k>``).
    ``_libraries`` names the distributions whose versions change the output
    and ``_fingerprint_extra()`` may add identity (a digest of the weights):
    both enter the cache fingerprint.

    Outputs are cached per cell (see ``mmensemble.encoders._cache``): in this process
    always (bounded, ``set_config(memory_cache_bytes=...)``), and on disk when
    ``memory`` (or ``set_config(cache_dir=...)``) names a directory. Each batch
    is stored as soon as it is encoded, so an interrupted run resumes where it
    stopped.

    Missing cells (``None``, NaN, ``pd.NA``) are never decoded: their output
    rows are NaN. With ``on_error="missing"``, cells that fail to decode are
    treated the same way, and ``errors_`` lists them.

    The runtime parameters every encoder takes (``batch_size``, ``n_jobs``,
    ``on_error``, ``verbose``, ``memory``) are declared here, as annotated
    class attributes; a subclass declares its own the same way (and may
    declare ``batch_size`` again with a default of its own), and
    :func:`~mmensemble._parameters.estimator_parameters` writes the
    ``__init__`` that stores them all.
    """

    _parameter_constraints: ClassVar[dict] = {
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "n_jobs": [Interval(Integral, -1, None, closed="left"), None],
        "on_error": [StrOptions({"raise", "missing"})],
        "verbose": ["verbose"],
        "memory": [None, str, os.PathLike, HasMethods(["cache"])],
    }
    _runtime_attributes: ClassVar[tuple] = ()
    _libraries: ClassVar[tuple] = ()

    batch_size: int = 32
    n_jobs: int | None = None
    on_error: str = "raise"
    verbose: int = 0
    memory: str | os.PathLike | None = None

    @fill_doc(ENCODER_DOCS)
    def fit(self, X, y=None):
        """Check the parameters and the input; the encoder itself is pretrained.

        %(fit)s
        """
        self._validate_params()
        cells = as_cell_series(X)
        if isinstance(X, pd.DataFrame):
            self.feature_names_in_ = np.asarray(X.columns, dtype=object)
            self.n_features_in_ = 1
        self._prepare()
        self.n_features_out_ = self._output_width()
        self.fingerprint_ = encoder_fingerprint(
            self, libraries=self._libraries, extra=self._fingerprint_extra()
        )
        self.errors_ = errors_frame([])
        del cells
        return self

    def transform(self, X):
        """Encode every cell of ``X``.

        Parameters
        ----------
        X : Series, single-column DataFrame, list or ndarray of cells
            The column to encode.

        Returns
        -------
        X_out : ndarray of shape (n_samples, n_features_out_), dtype float32
            One row per cell; rows of missing cells are NaN.
        """
        check_is_fitted(self, "n_features_out_")
        encoded, _ = self._encode(as_cell_series(X))
        return encoded

    def fit_transform(self, X, y=None):
        """Fit the encoder and encode every cell of ``X``.

        The cells found bad while encoding (under ``on_error="missing"``) are
        listed in ``errors_``; :meth:`transform` never changes ``errors_``, it
        reports its bad cells by a :class:`~mmensemble.BadCellWarning` (whose
        ``errors`` attribute lists them).

        Parameters
        ----------
        X : Series, single-column DataFrame, list or ndarray of cells
            The column to encode.
        y : None
            Ignored.

        Returns
        -------
        X_out : ndarray of shape (n_samples, n_features_out_), dtype float32
            One row per cell; rows of missing and bad cells are NaN.
        """
        self.fit(X, y)
        encoded, errors = self._encode(as_cell_series(X))
        self.errors_ = errors_frame(errors)
        return encoded

    def get_feature_names_out(self, input_features=None):
        """Get the output feature names.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Only checked against the column seen during ``fit``.

        Returns
        -------
        feature_names_out : ndarray of str objects
            One name per output column, in order: the class name in lower case
            and the column's position (``imageencoder0``, ...), or names that
            say what each column holds, given in the Notes of the encoder's
            class (``mfcc0_mean``, ``ch0_std``...).
        """
        check_is_fitted(self, "n_features_out_")
        _check_feature_names_in(self, input_features, generate_names=False)
        return self._feature_names()

    def _feature_names(self):
        """The output names of a fitted encoder, ``<class name><k>`` by default."""
        prefix = type(self).__name__.lower()
        return np.asarray(
            [f"{prefix}{k}" for k in range(self.n_features_out_)], dtype=object
        )

    def _encode(self, cells):
        """Encode a Series of cells: cached ones from the cache, the rest fresh.

        Returns the encoded rows and the list of cells that failed to decode
        (``CellDecodeError``); changes no attribute of the encoder.
        """
        values = cells.to_numpy(dtype=object)
        out = np.full((len(values), self.n_features_out_), np.nan, dtype=np.float32)
        cache = EmbeddingCache(
            self.fingerprint_, self.memory, width=self.n_features_out_
        )
        keys = {}
        todo = []
        for position in np.flatnonzero(~missing_mask(cells)):
            key = self._cell_key(cache, values[position]) if cache.enabled else None
            cached = None if key is None else cache.get(key)
            if cached is None:
                keys[position] = key
                todo.append(position)
            else:
                out[position] = cached
        todo = self._encode_order(values, todo)
        errors = []
        batches = (
            self._encode_remote if _remote_backend_active() else self._encode_local
        )
        with self._progress(len(todo)) as progress:
            for positions, embeddings, batch_errors in batches(cells, todo):
                out[positions] = embeddings
                cache.put_many([keys[position] for position in positions], embeddings)
                errors.extend(batch_errors)
                progress.update(len(positions) + len(batch_errors))
        if errors:
            # in the column's order, whatever order the cells were encoded in
            rank = {label: position for position, label in enumerate(cells.index)}
            errors.sort(key=lambda error: rank.get(error.row, 0))
            warnings.warn(
                BadCellWarning(_bad_cells_message(errors), errors=errors),
                stacklevel=3,
            )
        return out, errors

    def _encode_local(self, cells, positions):
        """Yield ``(positions, embeddings, errors)`` batch by batch.

        Cells are decoded in threads, one batch ahead of the embedding.
        """
        if not len(positions):
            return
        self._ensure_prepared()
        values = cells.to_numpy(dtype=object)
        labels = cells.index.tolist()
        with ThreadPoolExecutor(self._decode_threads()) as pool:
            pending = deque()
            position_iter = iter(positions)

            def top_up():
                while len(pending) < 2 * self.batch_size:
                    position = next(position_iter, None)
                    if position is None:
                        return
                    future = pool.submit(
                        self._decode_cell,
                        values[position],
                        labels[position],
                        cells.name,
                    )
                    pending.append((position, future))

            top_up()
            while pending:
                size = min(self.batch_size, len(pending))
                batch = [pending.popleft() for _ in range(size)]
                decoded_positions, decoded, errors = [], [], []
                for position, future in batch:
                    result = future.result()
                    if self._is_decoded(result, errors):
                        decoded_positions.append(position)
                        decoded.append(result)
                top_up()
                embeddings = (
                    self._embed(decoded)
                    if decoded
                    else np.empty((0, self.n_features_out_), dtype=np.float32)
                )
                yield decoded_positions, embeddings, errors

    def _encode_remote(self, cells, positions):
        """Encode chunks of cells on the workers of a distributed joblib backend.

        Used inside ``joblib.parallel_config(backend="dask")`` (or any backend
        other than joblib's local ones): each worker loads the network once
        and returns embeddings, which are small, rather than decoded images.
        """
        chunk = 8 * self.batch_size
        chunks = [positions[i : i + chunk] for i in range(0, len(positions), chunk)]
        results = Parallel(return_as="generator")(
            delayed(_encode_chunk)(self, cells.iloc[part]) for part in chunks
        )
        for part, (embeddings, errors) in zip(chunks, results, strict=True):
            if self.on_error == "raise" and errors:
                raise errors[0]
            failed = {error.row for error in errors}
            labels = cells.index[part].tolist()
            done = [
                p for p, label in zip(part, labels, strict=True) if label not in failed
            ]
            yield done, embeddings, errors

    def _decode_cell(self, value, row, column):
        """Decode one cell, returning a ``CellDecodeError`` instead of raising."""
        try:
            return self._decode(value)
        except Exception as exc:  # any failure of a cell is that cell's error
            return CellDecodeError(row, column, value, f"{type(exc).__name__}: {exc}")

    def _is_decoded(self, result, errors):
        """Whether a result of ``_decode_cell`` is a decoded cell.

        A bad cell (a ``CellDecodeError``) is raised under ``on_error="raise"``;
        under ``"missing"`` it is appended to ``errors`` and False returned.
        """
        if not isinstance(result, CellDecodeError):
            return True
        if self.on_error == "raise":
            raise result
        errors.append(result)
        return False

    def _decode_threads(self):
        if self.n_jobs is None:
            return min(4, os.cpu_count() or 1)
        if self.n_jobs < 0:
            return max(1, (os.cpu_count() or 1) + 1 + self.n_jobs)
        return max(1, self.n_jobs)

    def _progress(self, total):
        from tqdm.auto import tqdm

        return tqdm(
            total=total,
            disable=not self.verbose or total < 2 * self.batch_size,
            desc=type(self).__name__,
            unit="cell",
        )

    def _prepare(self):
        """Load the runtime state (network weights...). No-op by default."""

    def _fingerprint_extra(self):
        """Identity beyond the parameters (e.g. a weights digest) for the cache."""
        return ()

    def _cell_key(self, cache, cell):
        """The cache key of one cell (None: not cached); ``cache.key`` by default.

        Override when a cell type means something else for this encoder (a
        ``str`` is a path to ImageEncoder but a text to TextEncoder).
        """
        return cache.key(cell)

    def _encode_order(self, values, positions):
        """The positions to encode, in the order they are to be batched.

        ``values`` holds every cell of the column. The default keeps the
        column's order; an encoder may reorder (TextEncoder sorts by length so
        that a batch pads little). Outputs always land in their own rows.
        """
        return positions

    def _ensure_prepared(self):
        """Load the runtime state once, also when threads share the encoder."""
        if all(hasattr(self, name) for name in self._runtime_attributes):
            return
        with _PREPARE_LOCK:
            if any(not hasattr(self, name) for name in self._runtime_attributes):
                self._prepare()

    def __getstate__(self):
        state = dict(super().__getstate__())  # a copy: the live object keeps them
        for name in self._runtime_attributes:
            state.pop(name, None)
        return state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.one_d_array = True
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True
        tags.input_tags.allow_nan = True
        tags.requires_fit = True
        return tags


def _encode_chunk(encoder, cells):
    """Encode a chunk of cells in a worker; returns the embeddings and errors."""
    positions = np.arange(len(cells))
    embeddings, errors = [], []
    for _, batch_embeddings, batch_errors in encoder._encode_local(cells, positions):
        embeddings.append(batch_embeddings)
        errors.extend(batch_errors)
    width = encoder.n_features_out_
    stacked = np.concatenate(embeddings) if embeddings else np.empty((0, width))
    return stacked.astype(np.float32, copy=False), errors


def _remote_backend_active():
    """Whether the active joblib backend runs outside this machine's processes."""
    backend, _ = get_active_backend()
    local = tuple(BACKENDS[name] for name in _LOCAL_BACKENDS if name in BACKENDS)
    return not isinstance(backend, local)


_LOCAL_BACKENDS = ("loky", "threading", "multiprocessing", "sequential")


def check_names(parameter, value, allowed, *, item="name", error=ValueError):
    """Check a parameter that names some of ``allowed``, each at most once.

    Parameters
    ----------
    parameter : str
        The parameter's name, for the messages.
    value : str or sequence of str
        Its value: a non-empty sequence of names (a single name, where the
        parameter may be one, counts as a sequence of one).
    allowed : tuple of str
        The names it may hold.
    item : str, default="name"
        What a name stands for, for the message (``"statistic"``...).
    error : type, default=ValueError
        The exception raised.

    Returns
    -------
    names : tuple of str
        The names, in order.

    Raises
    ------
    error
        When a name is not allowed, none is given, or one is given twice; the
        message names the parameter.
    """
    names = (value,) if isinstance(value, str) else tuple(value)
    if not names or any(
        not isinstance(name, str) or name not in allowed for name in names
    ):
        raise error(
            f"{parameter}={value!r} is not valid: expected a non-empty tuple of "
            f"names among {allowed!r}"
        )
    if len(set(names)) != len(names):
        raise error(f"{parameter}={value!r} names a {item} twice")
    return names


def errors_frame(errors):
    """Tabulate cells that failed to decode: columns ``row``, ``column``, ``reason``.

    Parameters
    ----------
    errors : iterable of CellDecodeError

    Returns
    -------
    table : DataFrame
    """
    errors = list(errors)
    return _errors_table(
        {
            column: [getattr(error, column) for error in errors]
            for column in _ERROR_COLUMNS
        }
    )


def _errors_table(columns):
    """The ``errors_`` DataFrame from a dict of lists (object columns)."""
    return pd.DataFrame(
        {name: pd.Series(columns[name], dtype=object) for name in _ERROR_COLUMNS},
        columns=_ERROR_COLUMNS,
    )


def concat_errors(tables):
    """Stack ``errors_`` tables into one (the empty table when there are none)."""
    tables = [table for table in tables if len(table)]
    if not tables:
        return errors_frame([])
    return pd.concat(tables, ignore_index=True)[list(_ERROR_COLUMNS)]


def _bad_cells_message(errors, shown=10):
    listed = "; ".join(f"row {error.row!r}: {error.reason}" for error in errors[:shown])
    more = f"; and {len(errors) - shown} more" if len(errors) > shown else ""
    return (
        f"{len(errors)} cell(s) of column {errors[0].column!r} could not be decoded "
        f"and were treated as missing (on_error='missing'): {listed}{more}"
    )
