"""Package-wide configuration, thread-local like ``sklearn.set_config``.

The defaults live in ``_global_config``; each thread works on its own copy,
made the first time it reads or changes the configuration, so
``set_config``/``config_context`` in one thread is invisible in the others.
Nothing here writes ``os.environ``: ``MMENSEMBLE_CACHE_DIR`` is read once, at
import, for the initial ``cache_dir``. Joblib workers receive the caller's
configuration through :func:`mmensemble._parallel.delayed`.
"""

import os
import threading
from contextlib import contextmanager

from ._exceptions import MMEnsembleError

__all__ = ["config_context", "get_config", "set_config"]

_global_config = {
    "cache_dir": os.environ.get("MMENSEMBLE_CACHE_DIR") or None,
    "cache_max_bytes": 10 * 2**30,
    "memory_cache_bytes": 512 * 2**20,
    "cache_file_identity": "stat",
}
_threadlocal = threading.local()


class _InvalidConfigError(MMEnsembleError, ValueError):
    """A value passed to :func:`set_config` is not allowed."""


def _get_threadlocal_config():
    """This thread's configuration, a copy of the defaults on first use."""
    if not hasattr(_threadlocal, "config"):
        _threadlocal.config = _global_config.copy()
    return _threadlocal.config


def get_config():
    """Return the current mmensemble configuration of this thread.

    Returns
    -------
    config : dict
        Keys are the parameters of :func:`set_config`.

    See Also
    --------
    sklearn.get_config : The scikit-learn counterpart.

    Examples
    --------
    >>> import mmensemble
    >>> sorted(mmensemble.get_config())
    ['cache_dir', 'cache_file_identity', 'cache_max_bytes', 'memory_cache_bytes']
    """
    return _get_threadlocal_config().copy()


def set_config(
    cache_dir=None,
    *,
    cache_max_bytes=None,
    memory_cache_bytes=None,
    cache_file_identity=None,
):
    """Set mmensemble's embedding-cache defaults for the current thread.

    As with :func:`sklearn.set_config`, the configuration is thread-local: a
    change made in one thread is not seen by the others, and threads started
    afterwards begin from the initial defaults. Joblib workers started by
    mmensemble's own estimators (``n_jobs``, a Dask backend) run with the
    configuration of the thread that dispatched them, carried by
    ``mmensemble._parallel.delayed`` as ``sklearn.utils.parallel.delayed``
    carries scikit-learn's.

    The environment is never written. Worker processes of *scikit-learn's*
    own ``Parallel`` (``GridSearchCV(n_jobs=2)``, ``cross_validate``) do not
    see a ``cache_dir`` set here; to share an on-disk cache with them, give
    the encoders ``memory="cache/"`` (a parameter, so it travels with the
    estimator into every worker), or set the environment variable
    ``MMENSEMBLE_CACHE_DIR`` before Python starts (it is read once, at import,
    for the initial value of ``cache_dir``, in every process).

    Parameters
    ----------
    cache_dir : str or path-like, default=None
        Directory of the on-disk embedding cache used by encoders whose
        ``memory`` parameter is None. None keeps the current value; pass
        ``False`` to turn the disk cache off. Initially the value of the
        environment variable ``MMENSEMBLE_CACHE_DIR``, if set.
    cache_max_bytes : int, default=None
        Size bound of each on-disk cache, in bytes; beyond it the entries
        stored longest ago are evicted. Initially 10 GiB.
    memory_cache_bytes : int, default=None
        Size bound of the in-process cache that lets a fusion estimator encode
        each row once per fit even when it refits its base models for
        cross-validation. ``0`` turns it off. Initially 512 MiB.
    cache_file_identity : {"stat", "content"}, default=None
        How a file cell is identified: by path, size and modification time
        (``"stat"``, initially) or by a digest of its bytes (``"content"``).

    See Also
    --------
    config_context : The same settings for the duration of a ``with`` block.
    sklearn.set_config : The scikit-learn counterpart.

    Examples
    --------
    >>> import mmensemble
    >>> with mmensemble.config_context(memory_cache_bytes=0):
    ...     mmensemble.get_config()["memory_cache_bytes"]
    0
    >>> mmensemble.get_config()["memory_cache_bytes"] == 512 * 2**20
    True
    """
    updates = {}
    if cache_dir is not None:
        updates["cache_dir"] = None if cache_dir is False else os.fspath(cache_dir)
    for name, value in (
        ("cache_max_bytes", cache_max_bytes),
        ("memory_cache_bytes", memory_cache_bytes),
    ):
        if value is not None:
            updates[name] = _check_bytes(name, value)
    if cache_file_identity is not None:
        if cache_file_identity not in ("stat", "content"):
            raise _InvalidConfigError(
                "cache_file_identity must be 'stat' or 'content', got "
                f"{cache_file_identity!r}"
            )
        updates["cache_file_identity"] = cache_file_identity
    _get_threadlocal_config().update(updates)


def _check_bytes(name, value):
    number = int(value)
    if number != value or number < 0:
        raise _InvalidConfigError(
            f"{name} must be a non-negative whole number of bytes, got {value!r}"
        )
    return number


@contextmanager
def config_context(**new_config):
    """Change the configuration of this thread for a ``with`` block.

    On exit the configuration is restored exactly as it was, whatever the
    block changed.

    Parameters
    ----------
    **new_config : dict
        Arguments of :func:`set_config`.

    Yields
    ------
    None

    See Also
    --------
    set_config : The settings and how they reach other threads and processes.
    sklearn.config_context : The scikit-learn counterpart.

    Examples
    --------
    >>> import mmensemble
    >>> with mmensemble.config_context(cache_dir="cache/"):
    ...     mmensemble.get_config()["cache_dir"]
    'cache/'
    """
    config = _get_threadlocal_config()
    saved = config.copy()
    set_config(**new_config)
    try:
        yield
    finally:
        config.clear()
        config.update(saved)
