"""Image preprocessing for the EfficientNet-Lite backbones (PIL and NumPy only).

Kept apart from the network so that decoding and preprocessing an image, which
the ONNX Runtime path does in threads, never imports torch.
"""

import numpy as np
from PIL import Image

__all__ = ["preprocess_pil", "request_draft"]

# The mean and standard deviation the weights were trained with, in 0-255 units.
_MEAN = 127.0
_STD = 128.0
# Evaluation crop: the central size / (size + 32) of the shorter side.
_CROP_PADDING = 32
_SIXTEEN_BIT = ("I;16", "I;16L", "I;16B", "I;16N")


def preprocess_pil(image, size, *, draft=False):
    """Turn a PIL image into an EfficientNet-Lite input array.

    This is the evaluation preprocessing of the weights' authors: the image is
    converted to 8-bit RGB (transparent pixels composited over white, 16-bit
    grayscale scaled down rather than clipped), the central
    square covering ``size / (size + 32)`` of the shorter side is cropped (the
    classic 224-out-of-256 crop for ``size=224``) and resized to ``size x size``
    with bicubic interpolation, and pixel values are standardised as
    ``(x - 127) / 128``. Keeping the aspect ratio this way gives more confident
    and more accurate ImageNet predictions than squashing the whole image to a
    square.

    Parameters
    ----------
    image : PIL.Image.Image
        The image, in any mode.
    size : int
        Side of the square output, e.g. the ``input_size`` returned by
        :func:`~mmensemble.encoders._efficientnet.load_efficientnet_lite`.
    draft : bool, default=False
        Let the JPEG decoder downscale by 2, 4 or 8 while decoding when the image
        is much larger than needed: much faster on big photos, very slightly
        different pixels. Only takes effect on a JPEG image that has not been
        loaded yet, and then modifies ``image`` in place.

    Returns
    -------
    array : ndarray of shape (3, size, size), dtype float32
        The channels-first, standardised image.

    Examples
    --------
    >>> from PIL import Image
    >>> from mmensemble.encoders._preprocessing import preprocess_pil
    >>> preprocess_pil(Image.new("RGB", (640, 480), "white"), 224).shape
    (3, 224, 224)
    """
    if draft:
        request_draft(image, size)
    image = _to_rgb(image)
    width, height = image.size
    side = min(width, height) * size / (size + _CROP_PADDING)
    left = (width - side) / 2
    top = (height - side) / 2
    image = image.resize(
        (size, size), Image.Resampling.BICUBIC, box=(left, top, left + side, top + side)
    )
    array = np.asarray(image, dtype=np.float32)
    return ((array - _MEAN) / _STD).transpose(2, 0, 1).copy()


def request_draft(image, size):
    """Let the JPEG decoder of an image not loaded yet downscale it while decoding.

    By 2, 4 or 8, never below what the ``size`` crop needs; other formats and
    loaded images are left as they are.

    Parameters
    ----------
    image : PIL.Image.Image
        An opened, not yet loaded, image; modified in place.
    size : int
        Side of the network input the image is preprocessed for.
    """
    image.draft("RGB", (size + _CROP_PADDING, size + _CROP_PADDING))


def _to_rgb(image):
    """Convert ``image`` to 8-bit RGB, compositing any transparency over white.

    16-bit grayscale (``"I;16"``, and ``"I"`` with values above 255, as older
    Pillow opens 16-bit PNG files) is scaled down to 8 bits instead of clipped.
    """
    if image.mode in _SIXTEEN_BIT or (
        image.mode == "I" and image.getextrema()[1] > 255
    ):
        values = np.asarray(image, dtype=np.float64) / 257
        image = Image.fromarray(np.clip(values.round(), 0, 255).astype(np.uint8))
    has_alpha = image.mode in {"RGBA", "LA", "PA", "RGBa"} or (
        "transparency" in image.info
    )
    if not has_alpha:
        return image if image.mode == "RGB" else image.convert("RGB")
    rgba = image.convert("RGBA")
    background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(background, rgba).convert("RGB")
