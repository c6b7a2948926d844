"""Package-wide configuration, in the manner of ``sklearn.set_config``."""

import os
from contextlib import contextmanager

__all__ = ["config_context", "get_config", "set_config"]

_DEFAULTS = {
    "cache_dir": os.environ.get("MMENSEMBLE_CACHE_DIR") or None,
    "cache_max_bytes": 10 * 2**30,
    "memory_cache_bytes": 512 * 2**20,
    "cache_file_identity": "stat",
}
_config = dict(_DEFAULTS)


def get_config():
    """Return the current mmensemble configuration.

    Returns
    -------
    config : dict
        Keys are the parameters of :func:`set_config`.

    See Also
    --------
    sklearn.get_config : The scikit-learn counterpart.
    """
    return _config.copy()


def set_config(
    cache_dir=None,
    *,
    cache_max_bytes=None,
    memory_cache_bytes=None,
    cache_file_identity=None,
):
    """Set package-wide defaults for the embedding cache.

    Parameters
    ----------
    cache_dir : str or path-like, default=None
        Directory of the on-disk embedding cache used by encoders whose
        ``memory`` parameter is None. None keeps the current value; pass
        ``False`` to turn the disk cache off. The environment variable
        ``MMENSEMBLE_CACHE_DIR`` sets the initial value, and setting it here
        sets the variable too, so that worker processes started afterwards
        (``GridSearchCV(n_jobs=2)``) share the cache.
    cache_max_bytes : int, default=None
        Size bound of the on-disk cache; the least recently written entries
        are evicted beyond it. Initially 10 GiB.
    memory_cache_bytes : int, default=None
        Size bound of the in-process cache that lets a fusion estimator encode
        each row once per fit even when it refits its base models for
        cross-validation. ``0`` turns it off. Initially 512 MiB.
    cache_file_identity : {"stat", "content"}, default=None
        How a file cell is identified: by path, size and modification time
        (``"stat"``, initially) or by a digest of its bytes (``"content"``).

    See Also
    --------
    sklearn.set_config : The scikit-learn counterpart.

    Examples
    --------
    >>> import mmensemble
    >>> with mmensemble.config_context(memory_cache_bytes=0):
    ...     mmensemble.get_config()["memory_cache_bytes"]
    0
    """
    config = _config
    if cache_dir is not None:
        config["cache_dir"] = None if cache_dir is False else os.fspath(cache_dir)
        if config["cache_dir"] is None:
            os.environ.pop("MMENSEMBLE_CACHE_DIR", None)
        else:
            os.environ["MMENSEMBLE_CACHE_DIR"] = config["cache_dir"]
    if cache_max_bytes is not None:
        config["cache_max_bytes"] = int(cache_max_bytes)
    if memory_cache_bytes is not None:
        config["memory_cache_bytes"] = int(memory_cache_bytes)
    if cache_file_identity is not None:
        if cache_file_identity not in ("stat", "content"):
            raise ValueError(
                "cache_file_identity must be 'stat' or 'content', got "
                f"{cache_file_identity!r}"
            )
        config["cache_file_identity"] = cache_file_identity


@contextmanager
def config_context(**new_config):
    """Temporarily change the configuration (same arguments as `set_config`).

    Parameters
    ----------
    **new_config : dict
        Arguments of :func:`set_config`.

    Yields
    ------
    None

    See Also
    --------
    sklearn.config_context : The scikit-learn counterpart.
    """
    old = get_config()
    set_config(**new_config)
    try:
        yield
    finally:
        set_config(**{**old, "cache_dir": old["cache_dir"] or False})
