"""Model files that load without executing code: ``save`` and ``load``.

A model file is a ``skops`` archive (a zip of a JSON schema and ``.npy``
arrays, never a pickle) with one more entry, ``mmensemble.json``, that records
the format and library versions. ``load`` refuses a file that is not ours, a
format it does not know, and any file that refers to a type outside an explicit
allow-list (scikit-learn's and mmensemble's estimators, numpy, scipy, builtins):
it raises before creating a single object of such a type.

The check is by name: skops lists every type a file names (classes, and the
functions it refers to, e.g. ``os.system``), and each must belong to an
allowed package or be one of a few exact names; ``skops.io.load`` then gets
exactly that checked list. No list of every scikit-learn estimator is built:
skops computes one when ``skops.io`` is first imported, by importing every
scikit-learn module (seconds, and torch with them), so mmensemble imports
``skops.io`` with that listing empty (:func:`_skops_io`).
"""

import json
import os
import sys
import threading
import zipfile
from importlib.metadata import version

from ._deps import import_optional
from ._exceptions import MMEnsembleError

__all__ = ["ModelFileError", "load", "save"]

FORMAT = "mmensemble-model"
FORMAT_VERSION = 1
_METADATA = "mmensemble.json"
_TRUSTED_PREFIXES = ("mmensemble.", "sklearn.", "numpy.", "scipy.sparse.")
_TRUSTED_EXACT = frozenset(
    {
        "builtins.slice",
        "collections.OrderedDict",
        "collections.defaultdict",
        "pandas.core.frame.DataFrame",
        "pandas.core.series.Series",
        "pandas.core.indexes.base.Index",
        "pandas.core.indexes.range.RangeIndex",
        # skrub's encoders of the datetime and string roles
        "skrub._datetime_encoder.DatetimeEncoder",
        "skrub._datetime_encoder._CircularEncoder",
        "skrub._string_encoder.StringEncoder",
        "skrub._to_datetime.ToDatetime",
        "skrub._to_str.ToStr",
    }
)
_IMPORT_LOCK = threading.Lock()


class ModelFileError(MMEnsembleError, ValueError):
    """A model file is not an mmensemble model, is damaged, or is not trusted."""


def save(estimator, path):
    """Save a (fitted) estimator to a file that loads without running code.

    Parameters
    ----------
    estimator : estimator
        Any estimator built from scikit-learn and mmensemble parts. Network
        weights are stored as arrays; column selectors that are lambdas cannot
        be saved (use column names).
    path : str or path-like
        Destination file, conventionally ``*.mmen``.

    See Also
    --------
    load : Read the file back.
    skops.io.dump : The underlying format.

    Examples
    --------
    >>> import os, tempfile
    >>> from sklearn.linear_model import LogisticRegression
    >>> import mmensemble
    >>> path = os.path.join(tempfile.mkdtemp(), "model.mmen")
    >>> mmensemble.save(LogisticRegression().fit([[0], [1]], [0, 1]), path)
    >>> mmensemble.load(path).predict([[1]])
    array([1])
    """
    sio = _skops_io()
    from . import __version__

    try:
        sio.dump(estimator, path)
    except (TypeError, AttributeError, NotImplementedError, RuntimeError) as exc:
        # RuntimeError: torch tensors, e.g. of a custom ImageEncoder backbone
        raise ModelFileError(
            f"could not save {type(estimator).__name__}: {exc}. Model files hold "
            "estimators, arrays and plain values; replace lambdas and other "
            "ad-hoc functions (e.g. column selectors) by names or library "
            "functions, and custom torch modules by a named backbone (or use "
            "pickle, for trusted files only)"
        ) from exc
    refused = [
        name for name in sio.get_untrusted_types(file=path) if not _is_trusted(name)
    ]
    if refused:
        os.remove(path)
        raise ModelFileError(
            f"could not save {type(estimator).__name__}: it refers to {refused!r}, "
            "which mmensemble.load does not trust. Model files hold estimators, "
            "arrays and plain values; replace lambdas and other ad-hoc functions "
            "(e.g. column selectors) by names or library functions"
        )
    metadata = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "mmensemble": __version__,
        "scikit-learn": version("scikit-learn"),
        "estimator": f"{type(estimator).__module__}.{type(estimator).__qualname__}",
    }
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr(_METADATA, json.dumps(metadata, indent=2))


def load(path):
    """Load an estimator saved by :func:`save`, refusing untrusted content.

    Parameters
    ----------
    path : str or path-like
        A file written by :func:`save`.

    Returns
    -------
    estimator : estimator
        The estimator, as it was saved.

    Raises
    ------
    ModelFileError
        The file is not an mmensemble model file, was written by an
        incompatible format version, is damaged, or refers to types outside
        the allow-list (nothing from the file is executed in that case).

    See Also
    --------
    save : Write a model file.
    """
    sio = _skops_io()
    metadata = _read_metadata(path)
    if metadata.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(
            f"{path!s} has model format version {metadata.get('format_version')!r}, "
            f"this mmensemble reads version {FORMAT_VERSION}; load it with "
            f"mmensemble {metadata.get('mmensemble')!r} or refit it"
        )
    _warn_on_version_change(metadata)
    try:
        untrusted = sio.get_untrusted_types(file=path)
    except Exception as exc:  # any parse failure means a damaged file
        raise ModelFileError(f"{path!s} is damaged: {exc}") from exc
    refused = [name for name in untrusted if not _is_trusted(name)]
    if refused:
        raise ModelFileError(
            f"{path!s} refers to types that are not trusted: {refused!r}. Nothing "
            "was loaded. A model file from mmensemble.save holds only "
            "scikit-learn and mmensemble objects; this one may have been tampered "
            "with"
        )
    try:
        return sio.load(path, trusted=untrusted)
    except Exception as exc:  # any failure past the type check is damage
        raise ModelFileError(f"{path!s} could not be loaded: {exc}") from exc


def _read_metadata(path):
    try:
        with zipfile.ZipFile(path) as archive:
            if _METADATA not in archive.namelist():
                raise ModelFileError(
                    f"{path!s} is not an mmensemble model file (no {_METADATA} "
                    "entry); save models with mmensemble.save"
                )
            metadata = json.loads(archive.read(_METADATA))
    except (zipfile.BadZipFile, OSError, UnicodeDecodeError, ValueError) as exc:
        if isinstance(exc, ModelFileError):
            raise
        raise ModelFileError(
            f"{path!s} is not an mmensemble model file ({exc})"
        ) from exc
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
        raise ModelFileError(f"{path!s} is not an mmensemble model file")
    return metadata


def _warn_on_version_change(metadata):
    import warnings

    from . import __version__

    saved = (metadata.get("mmensemble"), metadata.get("scikit-learn"))
    current = (__version__, version("scikit-learn"))
    if saved != current:
        warnings.warn(
            f"this model was saved with mmensemble {saved[0]} and scikit-learn "
            f"{saved[1]}, and is loaded with mmensemble {current[0]} and "
            f"scikit-learn {current[1]}; predictions may differ",
            UserWarning,
            stacklevel=3,
        )


def _skops_io():
    """``skops.io``, imported without listing every scikit-learn estimator.

    On its first import, skops builds its default trusted types from
    ``sklearn.utils.all_estimators()``, which imports every scikit-learn
    module. :func:`load` never relies on those defaults (it passes the exact
    list of types it has checked itself), so here the listing returns no
    estimator while ``skops.io`` is imported. skops' own default trust then
    leaves out scikit-learn's estimators in this process: stricter, never
    looser (``skops.io.get_untrusted_types`` names them, for its caller to
    review). An already imported ``skops.io`` is used as it is.
    """
    if "skops.io" in sys.modules:
        return sys.modules["skops.io"]
    import sklearn.utils

    with _IMPORT_LOCK:
        listing = sklearn.utils.all_estimators
        sklearn.utils.all_estimators = _no_estimators
        try:
            return import_optional("skops.io", package="skops")
        finally:
            sklearn.utils.all_estimators = listing


def _no_estimators(type_filter=None):
    return []


def _is_trusted(name):
    return name in _TRUSTED_EXACT or name.startswith(_TRUSTED_PREFIXES)
