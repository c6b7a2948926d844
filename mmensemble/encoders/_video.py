"""Video: sampled frames through an inner ImageEncoder, pooled over time.

Also :func:`video_soundtrack`, which turns a video column into an audio column,
so that fusion estimators see the frames and the sound as two modalities.
"""

import warnings
from dataclasses import field
from numbers import Integral, Real
from typing import ClassVar

import numpy as np
import pandas as pd
from sklearn.base import clone

from .._compat import Interval, StrOptions
from .._docstrings import fill_doc
from .._exceptions import BadCellWarning, CellDecodeError
from .._parallel import Parallel, delayed
from .._parameters import estimator_parameters
from ._base import BaseCellEncoder, _bad_cells_message, check_names
from ._cells import as_cell_series, missing_mask
from ._docs import ENCODER_DOCS
from ._image import ImageEncoder
from ._video_io import (
    frame_rgb,
    open_video,
    read_frames,
    read_soundtrack,
    sample_times,
    stream_span,
    video_stream,
)

__all__ = ["VideoEncoder", "video_soundtrack"]

_POOLINGS = ("mean", "max", "std")
_POOL = {"mean": np.mean, "max": np.max, "std": np.std}


@estimator_parameters
@fill_doc(ENCODER_DOCS)
class VideoEncoder(BaseCellEncoder):
    """Embed video clips: sampled frames through an ImageEncoder, pooled over time.

    Each clip is decoded with PyAV (FFmpeg, shipped in the ``av`` wheels).
    ``n_frames`` frames are sampled at the centres of equal slices of the
    clip's duration (or one every ``every_seconds`` seconds); for each sampled
    time the decoder seeks to the keyframe before it and decodes forward to
    the first frame at or after it, so a sparse sample of a long clip decodes
    only a few frames. Frames are turned upright (the display matrix's
    rotation), preprocessed and embedded by the inner ``image_encoder``, and
    the embeddings are pooled over time.

    Parameters
    ----------
    image_encoder : ImageEncoder, default=None
        Embeds the frames; None means ``ImageEncoder()``. It is cloned in
        ``fit``; its parameters are nested (``image_encoder__image_size``).
        Its network parameters, ``batch_size`` (frames per forward pass) and
        ``max_pixels`` apply; its cache, threads and error policy do not.

    n_frames : int or None, default=8
        Frames sampled per clip, at the centres of ``n_frames`` equal slices
        of its duration. With ``every_seconds``: the most frames kept per clip
        (evenly spaced among the sampled times), None for no limit.

    every_seconds : float, default=None
        Sample one frame every ``every_seconds`` seconds from the start
        instead (clips of different lengths then give different numbers of
        frames, pooled all the same).

    pooling : {"mean", "max", "std"} or tuple of them, default="mean"
        Statistics over the sampled frames of each embedding coordinate; with
        several, their blocks are concatenated in the order given.

    seek : bool, default=True
        Seek to the keyframe before each sampled time when that skips
        frames. False decodes every frame from the start (for streams whose
        seeking is unreliable); the frames picked are the same.

    batch_size : int, default=4
        Clips decoded ahead and embedded together.

    %(n_jobs)s

    %(on_error_verbose_memory)s

    Attributes
    ----------
    image_encoder_ : ImageEncoder
        The fitted clone of ``image_encoder``.

    n_features_out_ : int
        Output width: the frame embedding width times ``len(pooling)``.

    %(fingerprint_)s

    %(errors_)s

    See Also
    --------
    ImageEncoder : The frame encoder.
    video_soundtrack : The audio modality of a video column.

    Notes
    -----
    A cell is a path (str or path-like) or the encoded bytes of a file in any
    container and codec FFmpeg reads (MP4, Matroska, WebM, AVI...). Missing
    cells (None, NaN) give NaN rows. These are bad cells (a
    ``CellDecodeError``, or missing under ``on_error="missing"``): a file
    FFmpeg cannot open (truncated before its index, not a video), a file with
    no video stream (e.g. audio only), a stream with no decodable frame, a
    stream whose frames are larger than the image encoder's ``max_pixels``
    (refused from the header, before any decoding), or data that fails to
    decode. A file truncated after some frames gives what it holds: a time
    after its last frame takes the last frame.

    Times are read from the frames' timestamps, so variable frame rates are
    sampled by time, not by frame count. The display matrix's rotation is
    rounded to a quarter turn and applied (as FFmpeg's players do); its flips
    are not.

    The output columns are stat-major, named ``frames_<stat><k>``:
    ``frames_mean0``, ``frames_mean1``, ..., then the next statistic of
    ``pooling``.

    Examples
    --------
    >>> from mmensemble import ImageEncoder, VideoEncoder
    >>> from mmensemble.datasets import load_moving_shapes
    >>> videos = load_moving_shapes().data["video"][:2]
    >>> encoder = VideoEncoder(ImageEncoder(image_size=32), n_frames=4,
    ...                        pooling=("mean", "std"))
    >>> encoder.fit_transform(videos).shape
    (2, 2560)
    >>> encoder.get_feature_names_out()[[0, 1280]].tolist()
    ['frames_mean0', 'frames_std0']
    """

    _parameter_constraints: ClassVar[dict] = {
        **BaseCellEncoder._parameter_constraints,
        "image_encoder": [None, ImageEncoder],
        "n_frames": [Interval(Integral, 1, None, closed="left"), None],
        "every_seconds": [Interval(Real, 0, None, closed="neither"), None],
        "pooling": [StrOptions(set(_POOLINGS)), tuple, list],
        "seek": ["boolean"],
    }
    _runtime_attributes = ("_frames_ready",)
    _libraries = ("av",)

    image_encoder: ImageEncoder | None = field(default=None, kw_only=False)
    n_frames: int | None = 8
    every_seconds: float | None = None
    pooling: str | tuple = "mean"
    seek: bool = True
    batch_size: int = 4

    @fill_doc(ENCODER_DOCS)
    def fit(self, X, y=None):
        """Check the parameters and fit (load) the inner image encoder.

        %(fit)s
        """
        self._validate_params()
        inner = ImageEncoder() if self.image_encoder is None else self.image_encoder
        self.image_encoder_ = clone(inner).fit([])
        return super().fit(X, y)

    def _validate_params(self):
        super()._validate_params()
        if self.n_frames is None and self.every_seconds is None:
            raise ValueError(
                "n_frames=None needs every_seconds: without it, n_frames is the "
                "number of frames sampled per clip"
            )
        check_names("pooling", self.pooling, _POOLINGS, item="statistic")

    def _pooling_names(self):
        return (self.pooling,) if isinstance(self.pooling, str) else tuple(self.pooling)

    def _feature_names(self):
        """``frames_mean0``, ``frames_mean1``, ..., then the next statistic."""
        width = self.image_encoder_.n_features_out_
        return np.asarray(
            [
                f"frames_{stat}{k}"
                for stat in self._pooling_names()
                for k in range(width)
            ],
            dtype=object,
        )

    def _prepare(self):
        self.image_encoder_._ensure_prepared()
        self._frames_ready = True

    def _output_width(self):
        return self.image_encoder_.n_features_out_ * len(self._pooling_names())

    def _fingerprint_extra(self):
        return (self.image_encoder_.fingerprint_,)

    def _decode(self, cell):
        """The sampled frames of one clip, preprocessed: ``(n, 3, size, size)``."""
        frame_encoder = self.image_encoder_
        with open_video(cell) as container:
            stream = video_stream(container, max_pixels=frame_encoder.max_pixels)
            start, duration = stream_span(container, stream)
            times = sample_times(
                start,
                duration,
                n_frames=self.n_frames,
                every_seconds=self.every_seconds,
            )
            frames = read_frames(container, stream, times, seek=self.seek)
            inputs = {}  # a frame sampled twice (a short clip) is converted once
            for frame in frames:
                if id(frame) not in inputs:
                    inputs[id(frame)] = frame_encoder._decode(frame_rgb(frame))
        return np.stack([inputs[id(frame)] for frame in frames])

    def _embed(self, decoded):
        frame_encoder = self.image_encoder_
        frames = np.concatenate(decoded)
        step = frame_encoder.batch_size
        embeddings = np.concatenate(
            [
                frame_encoder._embed(list(frames[i : i + step]))
                for i in range(0, len(frames), step)
            ]
        )
        per_clip = np.split(embeddings, np.cumsum([len(d) for d in decoded])[:-1])
        return np.stack(
            [
                np.concatenate(
                    [_POOL[name](e, axis=0) for name in self._pooling_names()]
                )
                for e in per_clip
            ]
        ).astype(np.float32)


def video_soundtrack(X, *, sr=16000, n_jobs=None, on_error="raise"):
    """Turn a column of video cells into a column of audio cells.

    Each clip's first audio stream is decoded with PyAV (only the audio
    packets: the video is demuxed, never decoded), resampled to ``sr`` by
    FFmpeg's resampler and averaged to mono. The result is an audio column
    that :class:`~mmensemble.MFCCEncoder` (and the other audio encoders)
    accept, so a fusion estimator can take the frames (``VideoEncoder``) and
    the sound as two modalities of one table.

    Parameters
    ----------
    X : Series, single-column DataFrame, list or ndarray of cells
        The video column: paths or encoded bytes.
    sr : int or None, default=16000
        Sample rate of the waveforms; None keeps each file's own.
    n_jobs : int, default=None
        Threads reading files, as joblib counts them (``-1``: one per
        processor); None means 1 unless in a ``joblib.parallel_config``
        context.
    on_error : {"raise", "missing"}, default="raise"
        A file that cannot be read raises a
        :class:`~mmensemble.CellDecodeError` naming its row and column, or
        becomes missing (NaN), with one ``BadCellWarning`` (whose ``errors``
        attribute lists the bad cells).

    Returns
    -------
    audio : Series of object
        With ``X``'s index and name: a ``(waveform, sr)`` tuple (a float32
        mono array and its rate) per clip, NaN where the cell is missing or
        the file has no audio stream.

    See Also
    --------
    VideoEncoder : The frames of the same column.

    Examples
    --------
    >>> from mmensemble import video_soundtrack
    >>> from mmensemble.datasets import load_moving_shapes
    >>> audio = video_soundtrack(load_moving_shapes().data["video"][:2], sr=8000)
    >>> waveform, sr = audio.iloc[0]
    >>> sr, waveform.dtype.name
    (8000, 'float32')
    """
    if on_error not in ("raise", "missing"):
        raise ValueError(
            f"on_error={on_error!r} is not valid: expected 'raise' or 'missing'"
        )
    if sr is not None and (
        not isinstance(sr, Integral) or isinstance(sr, bool) or sr <= 0
    ):
        raise ValueError(f"sr={sr!r} is not valid: expected a positive int or None")
    cells = as_cell_series(X)
    values = cells.to_numpy(dtype=object)
    labels = cells.index.tolist()
    positions = np.flatnonzero(~missing_mask(cells))
    out = np.full(len(values), np.nan, dtype=object)
    errors = []
    results = Parallel(n_jobs=n_jobs, prefer="threads")(
        delayed(_soundtrack_cell)(values[position], sr) for position in positions
    )
    for position, result in zip(positions, results, strict=True):
        if isinstance(result, Exception):
            error = CellDecodeError(
                labels[position],
                cells.name,
                values[position],
                f"{type(result).__name__}: {result}",
            )
            if on_error == "raise":
                raise error
            errors.append(error)
        elif result is not None:
            out[position] = result
    if errors:
        warnings.warn(
            BadCellWarning(_bad_cells_message(errors), errors=errors), stacklevel=2
        )
    return pd.Series(out, index=cells.index, name=cells.name, dtype=object)


def _soundtrack_cell(cell, sr):
    try:
        with open_video(cell) as container:
            waveform, rate = read_soundtrack(container, sr=sr)
    except Exception as exc:  # any failure of a cell is that cell's error
        return exc
    return None if waveform is None else (waveform, rate)
