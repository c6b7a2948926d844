"""Model files that load without executing code: ``save`` and ``load``.

A model file is a ``skops`` archive (a zip of a JSON schema and ``.npy``
arrays, never a pickle) with one more entry, ``mmensemble.json``, that records
the format and library versions. ``load`` reads the file once and checks it
before rebuilding anything:

- it is a zip archive with our metadata entry and a known format version;
- its schema has the ``skops`` protocol this version writes;
- every entry is stored uncompressed (as ``save`` writes it), and every
  ``.npy`` array holds exactly the bytes its header declares, of a dtype
  without Python objects (no oversized or pickled arrays);
- every node of the schema names a type or function that is listed, exactly,
  under the node's loader in :mod:`mmensemble._trusted_types` (no module
  prefix is trusted; the loaders that call what they name are never trusted).
- the node arrays of its trees link and read only within range
  (:mod:`mmensemble._model_trees`).

A refusal names each offending node and where it sits in the model; nothing
from the file has been imported, created or called by then. ``save`` runs the
same check on what it is about to write, and writes atomically
(:mod:`mmensemble._atomic`): a failed save keeps the previous file.

No list of every scikit-learn estimator is built: skops computes one when
``skops.io`` is first imported, by importing every scikit-learn module
(seconds, and torch with them), so mmensemble imports ``skops.io`` with that
listing empty (:func:`_skops_io`).
"""

import io
import json
import math
import os
import sys
import threading
import zipfile
from importlib import import_module
from importlib.metadata import version

from ._atomic import atomic_write
from ._deps import import_optional
from ._exceptions import MMEnsembleError
from ._model_trees import tree_problems
from ._trusted_types import TRUSTED

__all__ = ["ModelFileError", "load", "save"]

FORMAT = "mmensemble-model"
FORMAT_VERSION = 1
_METADATA = "mmensemble.json"
_SCHEMA = "schema.json"
# A node that refers to another node of the file (an object saved twice).
_REFERENCE_LOADER = "CachedNode"
_ALL_TRUSTED = frozenset().union(*TRUSTED.values())
_IMPORT_LOCK = threading.Lock()


class ModelFileError(MMEnsembleError, ValueError):
    """A model file is not an mmensemble model, is damaged, or is not trusted."""


def save(estimator, path):
    """Save a (fitted) estimator to a file that loads without running code.

    The file is written atomically: if saving fails, or the process is
    killed while writing, a previous file at ``path`` stays as it was.

    Parameters
    ----------
    estimator : estimator
        Any estimator built from scikit-learn and mmensemble parts. Network
        weights are stored as arrays; column selectors that are lambdas cannot
        be saved (use column names).
    path : str or path-like
        Destination file, conventionally ``*.mmen``; its folder must exist.

    Raises
    ------
    ModelFileError
        The estimator holds something a model file cannot hold, or that
        :func:`load` would not trust (named in the message).

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

    name = type(estimator).__name__
    try:
        archive = sio.dumps(estimator)
    except (TypeError, AttributeError, NotImplementedError, RuntimeError) as exc:
        # RuntimeError: torch tensors, e.g. of a custom ImageEncoder backbone
        raise ModelFileError(
            f"could not save {name}: {exc}. Model files hold "
            "estimators, arrays and plain values; replace lambdas and other "
            "ad-hoc functions (e.g. column selectors) by names or library "
            "functions, and custom torch modules by a named backbone (or use "
            "pickle, for trusted files only)"
        ) from exc
    with zipfile.ZipFile(io.BytesIO(archive)) as written:
        refused = _untrusted_nodes(_nodes(json.loads(written.read(_SCHEMA))))
    if refused:
        raise ModelFileError(
            f"could not save {name}: it refers to {_describe(refused)}, which "
            "mmensemble.load does not trust. Model files hold estimators, "
            "arrays and plain values; replace lambdas and other ad-hoc functions "
            "(e.g. column selectors) by names or library functions, or add an "
            "estimator's type to mmensemble/_trusted_types.py"
        )
    metadata = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "mmensemble": __version__,
        "scikit-learn": version("scikit-learn"),
        "estimator": f"{type(estimator).__module__}.{type(estimator).__qualname__}",
    }
    buffer = io.BytesIO(archive)
    with zipfile.ZipFile(buffer, "a") as complete:
        complete.writestr(_METADATA, json.dumps(metadata, indent=2))
    with atomic_write(path) as file:
        file.write(buffer.getvalue())


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
        The file does not exist, is not an mmensemble model file, was written
        by an incompatible format version or an older mmensemble, is damaged,
        or refers to types outside the allow-list (nothing from the file is
        imported or executed in that case).

    See Also
    --------
    save : Write a model file.
    """
    sio = _skops_io()
    data = _read_bytes(path)
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise ModelFileError(
            f"{path!s} is not an mmensemble model file ({exc})"
        ) from exc
    with archive:
        try:
            metadata = _read_metadata(archive, path)
            _check_entries(archive, path)
            schema = _read_schema(archive, path)
            nodes = _nodes(schema)
            refused = _untrusted_nodes(nodes)
            if refused:
                raise ModelFileError(_refusal(path, refused, metadata))
            _check_trees(archive, nodes, path)
        except zipfile.BadZipFile as exc:  # e.g. an entry failing its CRC
            raise ModelFileError(f"{path!s} is damaged: {exc}") from exc
    _warn_on_version_change(metadata)
    names = sorted({name for _, name, _, _ in nodes})
    try:
        return sio.loads(data, trusted=names)
    except Exception as exc:  # any failure past the checks is damage
        raise ModelFileError(f"{path!s} could not be loaded: {exc}") from exc


def _read_bytes(path):
    """The whole file, read once: what is checked is what gets loaded."""
    if os.path.isdir(path):
        raise ModelFileError(f"{path!s} is a folder, not a model file")
    try:
        with open(path, "rb") as file:
            return file.read()
    except FileNotFoundError:
        raise ModelFileError(
            f"the model file {path!s} does not exist (write one with "
            "'mmensemble fit' or mmensemble.save)"
        ) from None
    except OSError as exc:
        raise ModelFileError(f"cannot read the model file {path!s}: {exc}") from exc


def _read_metadata(archive, path):
    if _METADATA not in archive.namelist():
        raise ModelFileError(
            f"{path!s} is not an mmensemble model file (no {_METADATA} "
            "entry); save models with mmensemble.save"
        )
    try:
        metadata = json.loads(archive.read(_METADATA))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ModelFileError(
            f"{path!s} is not an mmensemble model file ({exc})"
        ) from exc
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
        raise ModelFileError(f"{path!s} is not an mmensemble model file")
    saved = metadata.get("format_version")
    if type(saved) is not int or saved != FORMAT_VERSION:
        raise ModelFileError(
            f"{path!s} has model format version {saved!r}, this mmensemble "
            f"reads version {FORMAT_VERSION}; load it with mmensemble "
            f"{metadata.get('mmensemble')!r} or refit it"
        )
    return metadata


def _check_entries(archive, path):
    """Refuse compressed entries and arrays unlike their headers."""
    for entry in archive.infolist():
        if entry.compress_type != zipfile.ZIP_STORED:
            raise ModelFileError(
                f"{path!s} is damaged or was tampered with: its entry "
                f"{entry.filename!r} is compressed, and mmensemble.save compresses "
                "nothing"
            )
        if entry.filename.endswith(".npy"):
            _check_array_entry(archive, entry, path)


def _check_array_entry(archive, entry, path):
    import numpy as np

    with archive.open(entry) as file:
        try:
            major, _ = np.lib.format.read_magic(file)
            read_header = (
                np.lib.format.read_array_header_1_0
                if major == 1
                else np.lib.format.read_array_header_2_0
            )
            shape, _, dtype = read_header(file)
        except ValueError as exc:
            raise ModelFileError(
                f"{path!s} is damaged: its array {entry.filename!r} has no valid "
                f"header ({exc})"
            ) from exc
        header_size = file.tell()
    if dtype.hasobject:
        raise ModelFileError(
            f"{path!s} was tampered with: its array {entry.filename!r} holds "
            "Python objects (a pickle), which model files never hold"
        )
    declared = math.prod(shape) * dtype.itemsize
    held = entry.file_size - header_size
    if declared != held:
        raise ModelFileError(
            f"{path!s} is damaged or was tampered with: its array "
            f"{entry.filename!r} declares shape {shape} of {dtype} "
            f"({declared} bytes) but holds {held} bytes"
        )


def _check_trees(archive, nodes, path):
    """Refuse tree node arrays that compiled code would follow out of range."""
    import numpy as np

    def read_array(state):
        with archive.open(state["file"]) as file:
            return np.load(io.BytesIO(file.read()), allow_pickle=False)

    problems = tree_problems(nodes, _nodes, read_array)
    if problems:
        raise ModelFileError(
            f"{path!s} is damaged or was tampered with: {'; '.join(problems[:3])}"
            f"{' ...' if len(problems) > 3 else ''}. Nothing was loaded"
        )


def _read_schema(archive, path):
    protocol = import_module("skops.io._protocol").PROTOCOL
    try:
        schema = json.loads(archive.read(_SCHEMA))
    except KeyError:
        raise ModelFileError(f"{path!s} is damaged: no {_SCHEMA} entry") from None
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ModelFileError(f"{path!s} is damaged: {_SCHEMA}: {exc!r}") from exc
    saved = schema.get("protocol") if isinstance(schema, dict) else None
    if type(saved) is not int or saved != protocol:
        raise ModelFileError(
            f"{path!s} has skops schema protocol {saved!r}, this mmensemble reads "
            f"protocol {protocol}; refit the model (or load it with the versions "
            "that saved it)"
        )
    return schema


def _nodes(schema):
    """The ``(loader, name, location, state)`` of every node of a skops schema.

    Every mapping with a ``__loader__`` key is a node, wherever it sits: more
    than skops itself visits, never less. ``location`` is the attribute path
    of the node in the saved object (``steps[1][1].coef_``). The walk keeps
    its own stack, so that no nesting depth makes it recurse.
    """
    found = []
    stack = [(schema, "")] if isinstance(schema, dict | list) else []
    while stack:
        state, location = stack.pop()
        if isinstance(state, dict):
            if "__loader__" in state:
                name = f"{state.get('__module__')}.{state.get('__class__')}"
                where = location or "the object"
                found.append((state["__loader__"], name, where, state))
            children = [
                (value, location if _structural(key) else _attribute(location, key))
                for key, value in state.items()
                if isinstance(value, dict | list)
            ]
        else:
            children = [
                (value, f"{location}[{position}]")
                for position, value in enumerate(state)
                if isinstance(value, dict | list)
            ]
        stack.extend(reversed(children))  # visited in the file's order
    return found


def _structural(key):
    """Whether a schema key is skops' own (``content``, ``__class__``...)."""
    return key == "content" or key.startswith("__")


def _attribute(location, key):
    return key if not location else f"{location}.{key}"


def _untrusted_nodes(nodes):
    """The nodes, of ``_nodes``, whose name is not listed for their loader."""
    refused = []
    for loader, name, location, _ in nodes:
        if loader == _REFERENCE_LOADER:
            trusted = name in _ALL_TRUSTED
        else:
            trusted = isinstance(loader, str) and name in TRUSTED.get(loader, ())
        if not trusted:
            refused.append((loader, name, location))
    return refused


def _describe(refused, limit=5):
    parts = [
        f"{name!r} ({loader} at {location})"
        for loader, name, location in refused[:limit]
    ]
    more = f" and {len(refused) - limit} more" if len(refused) > limit else ""
    return ", ".join(parts) + more


def _refusal(path, refused, metadata):
    from . import __version__

    names = sorted({name for _, name, _ in refused})
    if all(name.startswith("mmensemble.") for name in names):
        return (
            f"{path!s} was saved by another mmensemble version "
            f"({metadata.get('mmensemble')!r}, an older layout): it refers to "
            f"{names!r}, which mmensemble {__version__} does not have. Refit the "
            "model with this version and save it again; nothing was loaded"
        )
    return (
        f"{path!s} refers to names that are not trusted: {_describe(refused)}. "
        "Nothing was loaded or run. A model file from mmensemble.save holds only "
        "the scikit-learn and mmensemble types listed in "
        "mmensemble/_trusted_types.py; this one may have been tampered with"
    )


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
