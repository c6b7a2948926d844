"""Encoders: one column of cells (images, audio...) to a dense array.

The lowest layer of mmensemble. ``_cells`` says what a cell is and when it is
missing, ``_base`` holds the machinery every cell encoder shares (decoding in
threads, the bad-cell policy, the progress bar), ``_cache`` the per-cell
embedding cache, and each remaining module one encoder and its runtime.
Nothing here imports from :mod:`mmensemble.fusion` or the layers above it.
"""

from ._audio import MFCCEncoder
from ._cache import cache_info, clear_cache
from ._image import ImageEncoder
from ._signal import SignalEncoder
from ._text import TextEncoder
from ._video import VideoEncoder, video_soundtrack
from ._whisper import WhisperEncoder

__all__ = [
    "ImageEncoder",
    "MFCCEncoder",
    "SignalEncoder",
    "TextEncoder",
    "VideoEncoder",
    "WhisperEncoder",
    "cache_info",
    "clear_cache",
    "video_soundtrack",
]
