"""A fitted model mapped over a Dask cluster's workers.

The work sent to a worker names the model *file*: each worker process loads
it once (:func:`worker_model`, keyed by the file's path, size and
modification time, so a refitted file is loaded again) and keeps it for the
following chunks. The workers encode with their own embedding cache (their
process's ``cache_dir``; the in-process cache holds one chunk's encodings at
a time). Files the model or the cells name must be readable by the workers at
the same paths (one machine, or a shared file system).
"""

import functools
import os

from ..encoders._cache import memory_cache_scope
from ._embed import embed_rows, model_encoders
from ._predictions import prediction_table
from ._recipes import read_model
from ._streams import resolve_media

__all__ = [
    "embed_partitions",
    "embed_with_model",
    "embed_with_encoders",
    "predict_partitions",
    "predict_with_model",
    "worker_model",
]


def worker_model(path):
    """The model of the file ``path``, loaded once per process."""
    status = os.stat(path)
    return _loaded_model(os.path.abspath(path), status.st_size, status.st_mtime_ns)


@functools.lru_cache(maxsize=4)
def _loaded_model(path, size, mtime_ns):
    return read_model(path)


def predict_with_model(model_path, options, frame):
    """``prediction_table`` of the model file's model for ``frame``."""
    return prediction_table(worker_model(model_path), frame, **options)


def embed_with_model(model_path, keep, frame):
    """The embeddings of ``frame`` by the model file's fitted encoders."""
    encoders = model_encoders(worker_model(model_path).estimator)
    return embed_with_encoders(encoders, keep, frame)


def embed_with_encoders(encoders, keep, frame):
    """The embeddings of ``frame`` by fitted encoders (see ``embed_rows``)."""
    with memory_cache_scope():
        return embed_rows(encoders, keep, frame)


def _resolved(frame, function, model_path, base_dir, argument):
    """``function(model_path, argument, frame)``, media paths made absolute."""
    if base_dir is not None:
        roles = worker_model(model_path).roles
        frame = resolve_media(frame.copy(), roles, os.path.abspath(base_dir))
    return function(model_path, argument, frame)


def _map_model(function, model, ddf, base_dir, argument):
    path = os.path.abspath(model)
    worker_model(path)  # a missing or damaged file fails here, not on a worker
    meta = _resolved(ddf.head(1), function, path, base_dir, argument).iloc[:0]
    return ddf.map_partitions(
        _resolved, function, path, base_dir, argument, meta=meta, align_dataframes=False
    )


def predict_partitions(model, ddf, *, base_dir=None, **options):
    """Predict every partition of a Dask DataFrame on the cluster's workers.

    Parameters
    ----------
    model : str or path-like
        A model file written by ``mmensemble fit``, readable by the workers
        at this path; each worker process loads it once.
    ddf : dask.dataframe.DataFrame
        The rows, with the model's input columns (cells as
        :func:`~mmensemble.cli._streams.table_chunks` reads them: media as
        file paths).
    base_dir : str or path-like, default=None
        The folder relative media paths are taken from (as ``mmensemble
        predict`` takes them from the table's folder); None leaves them as
        they are.
    **options
        The options of ``mmensemble predict``, as keyword arguments of
        :func:`~mmensemble.cli._predictions.prediction_table` (e.g.
        ``explain=True``: each modality's contribution).

    Returns
    -------
    predictions : dask.dataframe.DataFrame
        Lazy: one row per row of ``ddf``, its index and order, the columns of
        ``mmensemble predict`` (``id``, ``prediction``, ``proba_<class>``...).
        Computing it gives the values in-process prediction gives.
    """
    return _map_model(predict_with_model, model, ddf, base_dir, options)


def embed_partitions(model, ddf, *, base_dir=None, keep=()):
    """Embed every partition of a Dask DataFrame with a model's encoders.

    Parameters
    ----------
    model : str or path-like
        A model file written by ``mmensemble fit``, readable by the workers
        at this path; each worker process loads it once.
    ddf : dask.dataframe.DataFrame
        The rows, with the model's input columns.
    base_dir : str or path-like, default=None
        The folder relative media paths are taken from; None leaves them.
    keep : list of str, default=()
        Further columns copied as they are (e.g. the target).

    Returns
    -------
    embeddings : dask.dataframe.DataFrame
        Lazy: the table of ``mmensemble embed`` (see
        :func:`~mmensemble.cli.read_embeddings`), index and order of ``ddf``.
    """
    return _map_model(embed_with_model, model, ddf, base_dir, list(keep))
