"""Joblib helpers that carry the caller's configuration into the workers.

The mmensemble configuration is thread-local (:mod:`mmensemble._config`), so a
joblib worker, a thread or another process, would otherwise run with the
defaults. :func:`delayed` captures :func:`~mmensemble.get_config` when the call
is built, in the dispatching thread, and applies it with
:func:`~mmensemble.config_context` around the call in the worker. It wraps
:func:`sklearn.utils.parallel.delayed`, so used with
:class:`sklearn.utils.parallel.Parallel` (re-exported here) the call also gets
scikit-learn's configuration and the caller's warning filters.
"""

import functools

from sklearn.utils.parallel import Parallel
from sklearn.utils.parallel import delayed as _sklearn_delayed

from ._config import config_context, get_config

__all__ = ["Parallel", "delayed"]


def delayed(function):
    """Capture a function's arguments and the current mmensemble configuration.

    Parameters
    ----------
    function : callable
        The function to run in a joblib worker.

    Returns
    -------
    delayed_function : callable
        Called with the arguments, returns the ``(function, args, kwargs)``
        triple that :class:`Parallel` consumes.

    Examples
    --------
    >>> from mmensemble import config_context, get_config
    >>> from mmensemble._parallel import Parallel, delayed
    >>> def cache_bound():
    ...     return get_config()["cache_max_bytes"]
    >>> with config_context(cache_max_bytes=2**20):
    ...     Parallel(n_jobs=2, backend="threading")(
    ...         delayed(cache_bound)() for _ in range(2)
    ...     )
    [1048576, 1048576]
    """

    @functools.wraps(function)
    def delayed_function(*args, **kwargs):
        configured = _WithConfig(function, get_config())
        return _sklearn_delayed(configured)(*args, **kwargs)

    return delayed_function


class _WithConfig:
    """Call a function inside ``config_context(**config)``; picklable.

    The attribute names are private on purpose: scikit-learn's wrapper copies
    this object's ``__dict__`` into its own, where ``function`` and ``config``
    would replace its attributes of those names.
    """

    def __init__(self, function, config):
        self._function = function
        self._config = config

    def __call__(self, *args, **kwargs):
        with config_context(**_as_arguments(self._config)):
            return self._function(*args, **kwargs)


def _as_arguments(config):
    """``set_config`` arguments reproducing ``config`` (None means "keep")."""
    return {**config, "cache_dir": config["cache_dir"] or False}
