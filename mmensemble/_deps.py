"""Lazy loading of the heavy optional dependencies."""

import importlib

from ._exceptions import MMEnsembleError

__all__ = ["import_optional"]


class MissingDependencyError(MMEnsembleError, ImportError):
    """A dependency needed by the feature in use is not installed."""


def import_optional(module, *, extra=None, package=None):
    """Import ``module`` or raise an error telling how to install it.

    Parameters
    ----------
    module : str
        Dotted module name, e.g. ``"torch"``.
    extra : str, default=None
        The mmensemble extra that installs it, e.g. ``"dask"``.
    package : str, default=None
        The PyPI distribution name when it differs from ``module``.

    Returns
    -------
    module : module
        The imported module.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        name = package or module.split(".")[0]
        hint = f"pip install 'mmensemble[{extra}]'" if extra else f"pip install {name}"
        raise MissingDependencyError(
            f"this feature needs the package {name!r}, which could not be imported "
            f"({exc}); install it with: {hint}"
        ) from exc
