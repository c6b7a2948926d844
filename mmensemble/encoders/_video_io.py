"""Reading video files with PyAV: sampled frames by timestamp, and the soundtrack.

PyAV (the ``av`` package) wraps FFmpeg's libraries, which its wheels ship. Only
the frames that are asked for are decoded: for each sampled time the reader
seeks to the keyframe before it and decodes forward to the first frame at or
after it, unless that keyframe is already behind the decoder, in which case
decoding simply goes on. Times are seconds on the stream's own clock, so a
variable frame rate changes nothing. The soundtrack is read by a separate pass
that demuxes the file and decodes its audio packets only.
"""

import bisect
import io
import itertools
import os
from fractions import Fraction

import numpy as np

from .._deps import import_optional
from ._cells import check_file

__all__ = ["open_video", "read_frames", "read_soundtrack", "sample_times"]

# FFmpeg's decoders of text-mode art: its ``tty`` demuxer opens any long
# enough text file (a ``.txt`` transcript) as a "video" of rendered text.
_TEXT_CODECS = frozenset({"ansi", "bintext", "idf", "xbin"})
# FFmpeg's demuxers of single still images (``jpeg_pipe``, ``png_pipe``...).
_STILL_IMAGE_FORMATS = ("image2", "_pipe")


def open_video(cell):
    """Open a video cell (a path or encoded bytes) as a PyAV input container.

    Parameters
    ----------
    cell : str, path-like, bytes or bytearray
        The file, or its bytes.

    Returns
    -------
    container : av.container.InputContainer
        To be closed by the caller (it is a context manager).
    """
    av = import_optional("av")
    if isinstance(cell, str | os.PathLike):
        source = check_file(os.fspath(cell), "video")
    elif isinstance(cell, bytes | bytearray | memoryview):
        source = io.BytesIO(bytes(cell))
    else:
        raise TypeError(
            f"expected a video path or encoded bytes, got {type(cell).__name__}"
        )
    try:
        return av.open(source, mode="r")
    except av.error.FFmpegError as exc:
        raise ValueError(f"not a video file FFmpeg can read ({exc})") from exc


def video_stream(container, *, max_pixels=None):
    """The container's first video stream, checked before anything is decoded.

    Raises ``ValueError`` when there is no video stream (an audio-only file),
    when the file is not a video at all (:func:`check_video_container`), or
    when its coded size exceeds ``max_pixels``.
    """
    check_video_container(container)
    if not container.streams.video:
        kinds = sorted({stream.type for stream in container.streams}) or ["none"]
        raise ValueError(f"the file has no video stream (streams: {', '.join(kinds)})")
    stream = container.streams.video[0]
    width, height = stream.codec_context.width, stream.codec_context.height
    if max_pixels is not None and width * height > max_pixels:
        raise ValueError(
            f"video frames of {width}x{height} pixels exceed max_pixels={max_pixels}"
        )
    return stream


def check_video_container(container):
    """Raise ``ValueError`` for a file FFmpeg opens although it is no video.

    FFmpeg reads a text file as text-mode art (its ``tty`` demuxer) and a
    still image as a one-frame stream; both are bad video cells, not videos
    (nor silent soundtracks). An audio-only file passes: it is a soundtrack.

    Parameters
    ----------
    container : av.container.InputContainer
    """
    codecs = {stream.codec_context.name for stream in container.streams.video}
    if codecs & _TEXT_CODECS:
        raise ValueError(
            "the file is text, not a video (FFmpeg would render it as text-mode art)"
        )
    if container.format.name.endswith(_STILL_IMAGE_FORMATS):
        raise ValueError(
            f"the file is a still image ({container.format.name}), not a video"
        )


def stream_span(container, stream):
    """``(start, duration)`` of a video stream in seconds.

    The duration comes from the stream header, else from the container's,
    else from the timestamps of its packets (demuxed, not decoded). A stream
    without timestamps (a raw H.264 file) raises ``ValueError``.
    """
    time_base = stream.time_base
    start = _start_seconds(stream)
    if stream.duration:
        return start, float(stream.duration * time_base)
    if container.duration:
        av = import_optional("av")
        return start, float(Fraction(container.duration, av.time_base))
    end = None
    for packet in container.demux(stream):
        if packet.pts is not None:
            stop = float((packet.pts + (packet.duration or 0)) * time_base)
            end = stop if end is None else max(end, stop)
    if end is None:
        raise ValueError(
            "the video stream carries no timestamps (a raw elementary stream?); "
            "put it in a container such as MP4 or Matroska"
        )
    container.seek(0)
    return start, end - start


def sample_times(start, duration, *, n_frames, every_seconds=None):
    """Times (seconds) at which to sample a clip.

    Parameters
    ----------
    start, duration : float
        The clip's first timestamp and its length, in seconds.
    n_frames : int or None
        Without ``every_seconds``: the number of frames, at the centres of
        ``n_frames`` equal slices of the clip. With it: the most frames kept
        (evenly spaced among the times); None keeps them all.
    every_seconds : float, default=None
        One frame every ``every_seconds`` seconds from the start.

    Returns
    -------
    times : ndarray of float64
        Increasing times; at least one.

    Examples
    --------
    >>> from mmensemble.encoders._video_io import sample_times
    >>> sample_times(0.0, 2.0, n_frames=4).tolist()
    [0.25, 0.75, 1.25, 1.75]
    >>> sample_times(0.0, 2.0, n_frames=None, every_seconds=0.5).tolist()
    [0.0, 0.5, 1.0, 1.5]
    """
    duration = max(float(duration), 0.0)
    if every_seconds is None:
        return start + (np.arange(n_frames) + 0.5) * duration / n_frames
    count = max(1, int(np.ceil(duration / every_seconds - 1e-9)))
    times = start + np.arange(count) * every_seconds
    if n_frames is not None and count > n_frames:
        times = times[np.linspace(0, count - 1, n_frames).round().astype(int)]
    return times


def read_frames(container, stream, times, *, seek=True):
    """Decode, for each time, the first frame at or after it.

    A time after the last decodable frame gets the last frame (a truncated
    file gives what it holds).

    Parameters
    ----------
    container : av.container.InputContainer
    stream : av.video.stream.VideoStream
    times : sequence of float
        Seconds on the stream's clock, in any order.
    seek : bool, default=True
        Seek to the keyframe before a time when that skips frames; False
        decodes every frame from the start.

    Returns
    -------
    frames : list of av.VideoFrame
        One per time, in the order of ``times`` (the same object when two
        times fall on one frame).
    """
    keyframes = _KeyframeIndex(stream) if seek else None
    frames = [None] * len(times)
    decoder = container.decode(stream)
    last = None
    exhausted = False
    for position in np.argsort(times, kind="stable"):
        target = float(times[position])
        if last is not None and (exhausted or last.time >= target):
            frames[position] = last
            continue
        if keyframes is not None and keyframes.should_seek(target, last):
            seeked = _seek_before(container, stream, target)
            if seeked is None:  # the file cannot seek: decode on from here
                keyframes = None
            else:
                decoder = seeked
        for frame in decoder:
            if frame.time is None:
                raise ValueError("the video frames carry no timestamps")
            if keyframes is not None and frame.key_frame:
                keyframes.saw(frame.time)
            last = frame
            if frame.time >= target:
                break
        else:
            exhausted = True
        if last is None:
            raise ValueError("the video stream has no decodable frames")
        frames[position] = last
    return frames


def _seek_before(container, stream, target):
    """Seek to a keyframe at or before ``target``; return the frames from there.

    FFmpeg seeks by the container's index, whose timestamps may be decoding
    times (B-frames) or approximate; when the first frame decoded lies after
    the target, seek again from earlier, down to the start of the file.
    Returns None, the position unchanged, when the first seek fails (a file
    without an index that FFmpeg cannot search).
    """
    av = import_optional("av")
    step = 0.0
    while True:
        offset = int(np.floor((target - step) / stream.time_base))
        if target - step <= _start_seconds(stream):
            container.seek(0)
            return container.decode(stream)
        try:
            container.seek(offset, stream=stream)
        except av.error.FFmpegError:
            if step == 0.0:
                return None
            container.seek(0)
            return container.decode(stream)
        decoder = container.decode(stream)
        first = next(decoder, None)
        if first is not None and first.time is not None and first.time <= target:
            return itertools.chain([first], decoder)
        step = max(1.0, 4 * step)


def _start_seconds(stream):
    if stream.start_time is None:
        return 0.0
    return float(stream.start_time * stream.time_base)


class _KeyframeIndex:
    """Where the keyframes are: the container's index, or those decoded so far.

    Seeking pays when the keyframe before the target lies ahead of the last
    decoded frame: decoding on from there would decode every frame between.
    Without an index (Matroska files before their cues are read, raw streams),
    the largest spacing between keyframes seen so far stands in for it, and
    the reader seeks while that spacing is unknown.
    """

    def __init__(self, stream):
        self.stream = stream
        self.indexed = sorted(
            float(entry.timestamp * stream.time_base)
            for entry in stream.index_entries
            if entry.is_keyframe
        )
        self.seen = []

    def saw(self, time):
        if not self.seen or time > self.seen[-1]:
            self.seen.append(time)

    def should_seek(self, target, last):
        if len(self.indexed) > 1:
            before = bisect.bisect_right(self.indexed, target) - 1
            keyframe = self.indexed[max(before, 0)]
            if last is None:
                return keyframe > self.indexed[0]
            return keyframe > last.time
        if last is None:
            return True
        spacing = np.diff(self.seen).max() if len(self.seen) > 1 else None
        return spacing is None or target - last.time > spacing


def frame_rgb(frame):
    """A decoded frame as an ``HxWx3`` ``uint8`` array, turned upright.

    The display matrix's rotation (``frame.rotation``, counter-clockwise
    degrees, as FFmpeg's players apply it) is rounded to a quarter turn and
    applied; flips in the matrix are not.
    """
    rgb = frame.to_ndarray(format="rgb24")
    quarter_turns = round((frame.rotation or 0) / 90) % 4
    return (
        np.ascontiguousarray(np.rot90(rgb, k=quarter_turns)) if quarter_turns else rgb
    )


def read_soundtrack(container, *, sr=None):
    """Decode a container's first audio stream as a mono float32 waveform.

    Channels are averaged (as ``librosa.load`` does) after resampling to
    ``sr`` with FFmpeg's resampler.

    Parameters
    ----------
    container : av.container.InputContainer
    sr : int, default=None
        Sample rate of the result; None keeps the stream's.

    Returns
    -------
    waveform : ndarray of float32, or None
        None when the file has no audio stream (``ValueError`` when it is no
        video either, see :func:`check_video_container`).
    sr : int or None
        Its sample rate.
    """
    av = import_optional("av")
    check_video_container(container)
    if not container.streams.audio:
        return None, None
    stream = container.streams.audio[0]
    rate = int(sr or stream.rate)
    resampler = av.AudioResampler(format="fltp", rate=rate)
    chunks = []
    for frame in container.decode(stream):
        chunks.extend(out.to_ndarray() for out in resampler.resample(frame))
    chunks.extend(out.to_ndarray() for out in resampler.resample(None))
    if not chunks:
        raise ValueError("the audio stream has no decodable samples")
    samples = np.concatenate(chunks, axis=1)
    return samples.mean(axis=0, dtype=np.float32), rate
