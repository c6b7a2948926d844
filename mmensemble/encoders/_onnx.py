"""Run exported networks with ONNX Runtime on the CPU; export each one once.

ONNX Runtime runs the EfficientNet-Lite backbones about three times faster
than PyTorch's eager mode on a CPU, with the same outputs (relative
differences around 1e-6). Exporting a network from torch takes seconds, so
the exported graph is stored once in the models folder (:func:`models_dir`)
and every later process, joblib or Dask worker loads it from there without
importing torch. A stored graph is named after its key (what it computes and
the versions of its exporter) and a digest of its bytes; a file whose bytes
do not match its digest (truncated, damaged) is deleted and the graph
exported again. Files are written whole to a temporary name and renamed, so
concurrent processes never read a partial graph.

Within a process, the session of a stored graph is built once and shared:
ONNX Runtime sessions are safe to call from several threads, which is how a
batch uses several cores.
"""

import hashlib
import importlib.metadata
import io
import json
import mmap
import os
import sys
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from .._atomic import atomic_write
from .._deps import import_optional
from .._docstrings import fill_doc
from .._exceptions import MMEnsembleError
from ._docs import ENCODER_DOCS

__all__ = [
    "ExportError",
    "certainly_cpu",
    "export_graph",
    "exporter_versions",
    "graph_metadata",
    "models_dir",
    "onnx_session",
    "pooled_features_graph",
    "run_rows",
    "run_session",
    "stored_onnx_graph",
    "stored_session",
    "with_metadata",
]

MODELS_DIR_ENV = "MMENSEMBLE_MODELS_DIR"

_SESSIONS = {}
_SESSIONS_LOCK = threading.Lock()
# torch's ONNX exporter keeps global state: one export at a time.
_EXPORT_LOCK = threading.Lock()


class ExportError(MMEnsembleError, RuntimeError):
    """The torch module could not be exported to ONNX."""


def models_dir():
    """The folder of the stored ONNX graphs.

    ``$MMENSEMBLE_MODELS_DIR`` when set, else ``mmensemble/models`` in the
    user cache directory (``$XDG_CACHE_HOME``, by default ``~/.cache``). The
    variable is read at each call, so worker processes started with it
    share the folder. Deleting the folder is safe: graphs are exported again
    when next needed.

    Returns
    -------
    folder : pathlib.Path
        The folder; it may not exist yet.

    Examples
    --------
    >>> from pathlib import Path
    >>> from mmensemble.encoders._onnx import models_dir
    >>> isinstance(models_dir(), Path)
    True
    """
    configured = os.environ.get(MODELS_DIR_ENV)
    if configured:
        return Path(configured)
    cache_home = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache_home) / "mmensemble" / "models"


def exporter_versions():
    """Versions of what writes the graphs, for the key of a stored graph.

    Read from the installed distributions' metadata: torch is not imported.

    Returns
    -------
    versions : dict of str to str
        ``torch``, ``onnx`` and ``mmensemble``; ``"absent"`` for one not
        installed.
    """
    from .. import __version__

    versions = {"mmensemble": __version__}
    for distribution in ("torch", "onnx"):
        try:
            versions[distribution] = importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            versions[distribution] = "absent"
    return versions


def stored_onnx_graph(name, key, export):
    """The bytes of the stored ONNX graph ``name`` for ``key``; export on a miss.

    Parameters
    ----------
    name : str
        Readable start of the file name, e.g. ``"efficientnet-lite0-224"``
        (letters, digits, ``-``, ``_`` and ``.``).
    key : dict
        Everything that determines the graph, JSON-serialisable: what it
        computes (e.g. a digest of the weights file, the input size) and who
        exports it (:func:`exporter_versions`). A different key is a different
        file, so a graph exported by other versions is never reused.
    export : callable
        Called without arguments on a miss; returns the graph's bytes.

    Returns
    -------
    graph : bytes
        The serialized ONNX model, its digest checked.

    Warns
    -----
    RuntimeWarning
        When the graph cannot be written to the models folder (it is used
        anyway, and exported again by the next process).

    Examples
    --------
    >>> import os, tempfile
    >>> from mmensemble.encoders._onnx import stored_onnx_graph
    >>> previous = os.environ.get("MMENSEMBLE_MODELS_DIR")
    >>> os.environ["MMENSEMBLE_MODELS_DIR"] = tempfile.mkdtemp()
    >>> calls = []
    >>> def export():
    ...     calls.append(1)
    ...     return b"graph bytes"
    >>> stored_onnx_graph("demo", {"v": 1}, export)
    b'graph bytes'
    >>> stored_onnx_graph("demo", {"v": 1}, export), len(calls)
    (b'graph bytes', 1)
    >>> if previous is None:
    ...     del os.environ["MMENSEMBLE_MODELS_DIR"]
    ... else:
    ...     os.environ["MMENSEMBLE_MODELS_DIR"] = previous
    """
    path, graph = _stored_graph(name, key, export)
    return path.read_bytes() if graph is None else graph


def stored_session(name, key, export):
    """A shared ONNX Runtime session of the stored graph ``name`` for ``key``.

    Built once per process and key from the graph :func:`stored_onnx_graph`
    gives (same parameters), read by ONNX Runtime from its file (faster than
    from the same bytes in Python); see :func:`onnx_session` for its
    threading.

    Returns
    -------
    session : onnxruntime.InferenceSession
    """
    identity = (name, json.dumps(key, sort_keys=True))
    with _SESSIONS_LOCK:
        if identity not in _SESSIONS:
            path, graph = _stored_graph(name, key, export)
            _SESSIONS[identity] = _build_session(str(path) if graph is None else graph)
        return _SESSIONS[identity]


def _stored_graph(name, key, export):
    """``(path, None)`` for an intact stored graph, else ``(None, exported bytes)``.

    See :func:`stored_onnx_graph`; an exported graph is stored on the way.
    """
    folder = models_dir()
    prefix = f"{name}-{_digest(json.dumps(key, sort_keys=True).encode())}-"
    for path in sorted(folder.glob(f"{prefix}*.onnx")):
        if _verified(path, prefix):
            return path, None
    graph = export()
    path = folder / f"{prefix}{_digest(graph)}.onnx"
    try:
        _write_atomically(path, graph)
    except OSError as exc:
        warnings.warn(
            f"could not store the ONNX graph {name!r} in {folder} ({exc}); it "
            f"will be exported again by the next process. Set {MODELS_DIR_ENV} "
            "to a writable folder",
            RuntimeWarning,
            stacklevel=3,
        )
    return None, graph


def onnx_session(model, input_size):
    """A new ONNX Runtime session computing ``model``'s pooled features.

    The session runs its operators on one thread: :func:`run_session` runs
    the images of a batch in parallel instead, which is faster on a CPU than
    splitting each operator over threads. Nothing is stored: use
    :func:`stored_session` for networks with a stable identity.

    Parameters
    ----------
    model : torch.nn.Module
        The backbone, on the CPU, in eval mode.
    input_size : int
        Side of the square input.

    Returns
    -------
    session : onnxruntime.InferenceSession

    Raises
    ------
    ExportError
        When the module cannot be exported to ONNX.
    """
    return _build_session(pooled_features_graph(model, input_size))


def run_session(session, batch, *, n_threads=None):
    """Pooled features of a ``(n, 3, h, w)`` batch, as a float32 array.

    Images are run one by one, ``n_threads`` at a time (None: the CPUs this
    process may use): as fast as larger batches on a CPU, and each image's
    features then depend neither on the other images of its batch nor on the
    number of threads.
    """
    name = session.get_inputs()[0].name
    images = np.asarray(batch, dtype=np.float32)

    def features(index):
        return session.run(None, {name: images[index : index + 1]})[0]

    return run_rows(features, len(images), n_threads)


def run_rows(run_one, n_rows, n_threads=None):
    """``run_one(row)`` for each row, ``n_threads`` at a time, concatenated.

    Each call runs a single-threaded ONNX Runtime session on one row (it
    releases the GIL, so the threads overlap); ``n_threads=None`` means the
    CPUs this process may use. Returns a float32 array.
    """
    if n_threads is None:
        n_threads = _usable_cpus()
    if n_threads <= 1 or n_rows <= 1:
        outputs = [run_one(row) for row in range(n_rows)]
    else:
        with ThreadPoolExecutor(min(n_threads, n_rows)) as pool:
            outputs = list(pool.map(run_one, range(n_rows)))
    return np.concatenate(outputs).astype(np.float32, copy=False)


def with_metadata(graph, metadata):
    """The ONNX bytes of ``graph`` with ``metadata`` added to its metadata.

    What a graph's user needs besides the graph (a tokenizer, its settings)
    travels inside it: stored with it, covered by its digest, and read back by
    :func:`graph_metadata` without importing ``onnx``.

    Parameters
    ----------
    graph : bytes
        A serialized ONNX model.
    metadata : dict of str to str
        Entries of the model's ``metadata_props``.

    Returns
    -------
    graph : bytes
    """
    onnx = import_optional("onnx")
    model = onnx.load_from_string(graph)
    for key, value in metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    return model.SerializeToString()


def graph_metadata(session):
    """The metadata written by :func:`with_metadata`, from a session's graph.

    Parameters
    ----------
    session : onnxruntime.InferenceSession

    Returns
    -------
    metadata : dict of str to str
    """
    return dict(session.get_modelmeta().custom_metadata_map)


def certainly_cpu(device):
    """Whether a ``device`` parameter means the CPU, if torch need not be asked.

    ``"cpu"`` does. ``"auto"`` (or None) does when torch cannot see a CUDA
    device, which is decided without importing torch when possible: a CPU
    build of torch, macOS, or Linux without an NVIDIA driver (or, for ROCm
    builds, without ``/dev/kfd``). When torch is already imported, it is
    asked.

    Parameters
    ----------
    device : str, torch.device or None

    Returns
    -------
    cpu : bool
        False when the device is not the CPU or only torch can tell.
    """
    if device is not None and str(device) != "auto":
        return str(device) == "cpu"
    return not _cuda_possible()


def _cuda_possible():
    if "torch" in sys.modules:
        return bool(sys.modules["torch"].cuda.is_available())
    try:
        build = importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        return False
    if build.endswith("+cpu") or sys.platform == "darwin":
        return False
    if sys.platform.startswith("linux"):
        if "+rocm" in build:
            return os.path.exists("/dev/kfd")
        return os.path.exists("/proc/driver/nvidia/version")
    return True


@fill_doc(ENCODER_DOCS)
def pooled_features_graph(model, input_size):
    """The ONNX bytes of ``model`` followed by global average pooling.

    Parameters
    ----------
    model : torch.nn.Module
        The backbone, on the CPU, in eval mode; its ``forward_features`` (or
        ``forward``) output is average-pooled over its spatial dimensions.
    input_size : int
        Side of the square ``(n, 3, input_size, input_size)`` input; the batch
        size stays free.

    %(onnx_graph)s
    """
    import torch

    from .._torch_utils import pooled_features

    return export_graph(
        model,
        pooled_features,
        (torch.zeros(1, 3, input_size, input_size),),
        input_names=["images"],
        output_names=["features"],
        dynamic_axes={"images": {0: "n"}, "features": {0: "n"}},
        what=type(model).__name__,
    )


@fill_doc(ENCODER_DOCS)
def export_graph(
    model, forward, example, *, input_names, output_names, dynamic_axes, what
):
    """The ONNX bytes of ``forward(model, *example)`` (opset 17, one at a time).

    Parameters
    ----------
    model : torch.nn.Module
        On the CPU, in eval mode: the weights of the graph.
    forward : callable
        ``forward(model, *tensors)`` computes the graph's outputs; it is
        traced, on ``example``, as the ``forward`` of a module holding
        ``model``.
    example : tuple of torch.Tensor
        The inputs it is traced on.
    input_names, output_names : list of str
    dynamic_axes : dict
        As for ``torch.onnx.export``: the dimensions left free.
    what : str
        What is exported, for the error message.

    %(onnx_graph)s
    """
    import torch

    class Traced(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, *tensors):
            return forward(self.model, *tensors)

    buffer = io.BytesIO()
    try:
        with _EXPORT_LOCK, warnings.catch_warnings():
            # Tracer and exporter notices (shape arithmetic made constant:
            # right, since the traced shapes are fixed) are not the user's concern.
            warnings.simplefilter("ignore")
            torch.onnx.export(
                Traced().eval(),
                example,
                buffer,
                dynamo=False,
                input_names=input_names,
                output_names=output_names,
                dynamic_axes=dynamic_axes,
                opset_version=17,
            )
    except Exception as exc:  # whatever the exporter cannot handle
        raise ExportError(f"could not export {what} to ONNX: {exc}") from exc
    return buffer.getvalue()


def _build_session(graph):
    onnxruntime = import_optional("onnxruntime")
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    return onnxruntime.InferenceSession(
        graph, options, providers=["CPUExecutionProvider"]
    )


def _digest(data):
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def _verified(path, prefix):
    """Whether a stored graph matches the digest in its name; if not, it is deleted.

    The file is digested through a memory map: no copy of its bytes is made.
    """
    try:
        with open(path, "rb") as file:
            if os.fstat(file.fileno()).st_size == 0:  # mmap refuses empty files
                intact = False
            else:
                with mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as data:
                    intact = path.name == f"{prefix}{_digest(data)}.onnx"
    except OSError:
        return False
    if not intact:
        try:
            path.unlink()
        except OSError:
            pass  # gone already, or a read-only folder: skipped either way
    return intact


def _write_atomically(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as file:
        file.write(data)


def _usable_cpus():
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1
