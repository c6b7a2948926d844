"""Audio cells to waveforms: the input contract shared by the audio encoders.

A cell is a path (read with soundfile, or ffmpeg through audioread for the
formats soundfile cannot read), a 1-D float array at the encoder's rate, or an
``(array, sr)`` tuple. Multichannel audio is averaged to mono, as
``librosa.load`` does, and clips at another rate are resampled as
``librosa.resample`` does by default (soxr's "HQ" quality), by soxr itself.
"""

import os
from numbers import Real

import numpy as np

from .._deps import import_optional
from ._cells import check_file

__all__ = ["decode_audio"]

# A 2-D array is a multichannel clip when its shorter side has at most this many
# entries (7.1 surround) and its longer side is longer.
_MAX_CHANNELS = 8


def decode_audio(cell, *, sr, max_duration, array_sr=None):
    """Turn one audio cell into a finite 1-D float waveform at ``sr``.

    Parameters
    ----------
    cell : str, path-like, array-like or tuple
        A path, a 1-D float array at ``sr`` (or a 2-D multichannel one), or an
        ``(array, sr)`` tuple.
    sr : float
        The sample rate of the returned waveform.
    max_duration : float or None
        Longest clip accepted, in seconds, checked before resampling (and for
        files before reading them); None accepts any duration.
    array_sr : float, default=None
        The sample rate of a bare array cell; None means ``sr``.

    Returns
    -------
    waveform : ndarray of shape (n_samples,), float32 or float64
        C-contiguous, finite.
    """
    if isinstance(cell, (str, os.PathLike)):
        waveform, cell_sr = _read_file(os.fspath(cell), max_duration)
    elif isinstance(cell, tuple):
        if len(cell) != 2:
            raise TypeError(
                f"a tuple cell must be (array, sr), got a tuple of {len(cell)} items"
            )
        samples, cell_sr = cell
        if (
            not isinstance(cell_sr, Real)
            or isinstance(cell_sr, bool)
            or not 0 < cell_sr < np.inf
        ):
            raise ValueError(
                f"the sample rate of an (array, sr) cell must be a positive "
                f"finite number, got {cell_sr!r}"
            )
        waveform = _as_waveform(samples)
        _check_duration(len(waveform), cell_sr, max_duration)
    elif isinstance(cell, (bytes, bytearray, memoryview)):
        raise TypeError(
            "raw bytes are not an audio cell: write them to a file and give "
            "its path, or decode them into an array"
        )
    elif isinstance(cell, (list, np.ndarray)) or hasattr(cell, "__array__"):
        waveform, cell_sr = _as_waveform(cell), sr if array_sr is None else array_sr
        _check_duration(len(waveform), cell_sr, max_duration)
    else:
        raise TypeError(
            "expected a path, a 1-D float array or an (array, sr) tuple, got "
            f"{type(cell).__name__} {cell!r}"
        )
    if cell_sr != sr:
        if len(waveform) * sr < cell_sr:
            raise ValueError(
                f"the clip of {len(waveform)} sample(s) at {cell_sr!r} Hz is shorter "
                f"than one sample at sr={sr}"
            )
        waveform = _resample(waveform, cell_sr, sr)
    return np.ascontiguousarray(waveform)


def _resample(waveform, orig_sr, target_sr):
    """``librosa.resample(..., res_type="soxr_hq")``, without importing librosa.

    The same soxr call and the same output length (``ceil`` of the scaled
    length, zero-padded or cut as librosa's ``fix_length`` does); importing
    librosa costs a fresh process about 0.2 s of numba set-up.
    """
    soxr = import_optional("soxr")
    resampled = soxr.resample(waveform, orig_sr, target_sr, quality="soxr_hq")
    size = int(np.ceil(len(waveform) * float(target_sr) / orig_sr))
    if len(resampled) < size:
        resampled = np.pad(resampled, (0, size - len(resampled)))
    return resampled[:size].astype(waveform.dtype, copy=False)


def _read_file(path, max_duration):
    """Read an audio file as float32 mono; return it and its sample rate."""
    soundfile = import_optional("soundfile")
    check_file(path, "audio")
    try:
        with soundfile.SoundFile(path) as file:
            sr = file.samplerate
            _check_duration(file.frames, sr, max_duration)
            if file.subtype == "PCM_16":
                # Twice as fast as libsndfile's conversion, and bit-identical
                # (both scale by 1 / 32768 exactly).
                pcm = file.read(dtype="int16", always_2d=True)
                data = pcm.astype(np.float32) / np.float32(32768)
            else:
                data = file.read(dtype="float32", always_2d=True)
    except soundfile.SoundFileRuntimeError as exc:
        data, sr = _read_with_ffmpeg(path, exc, max_duration)
    if data.shape[0] == 0:
        raise ValueError(f"{path!r} holds no audio samples")
    # librosa.load's to_mono: the mean over the channels.
    waveform = data[:, 0] if data.shape[1] == 1 else np.mean(data.T, axis=0)
    _check_finite(waveform)
    return waveform, sr


def _read_with_ffmpeg(path, soundfile_error, max_duration):
    """Decode a format soundfile cannot read with ffmpeg, through audioread.

    This is what ``librosa.load`` falls back to, minus its deprecated wrapper
    (and audioread's ``rawread`` backend, whose formats soundfile reads
    already).
    """
    ffdec = import_optional("audioread.ffdec", package="audioread")
    try:
        with ffdec.FFmpegAudioFile(path) as file:
            _check_duration(
                file.duration * file.samplerate, file.samplerate, max_duration
            )
            sr, channels = file.samplerate, file.channels
            pcm = b"".join(file)
    except ffdec.NotInstalledError as exc:
        raise ValueError(
            f"{path!r} is not an audio file soundfile can read "
            f"({soundfile_error}); other formats need ffmpeg, which is not "
            "installed"
        ) from exc
    except ffdec.FFmpegError as exc:
        raise ValueError(
            f"{path!r} is not an audio file soundfile or ffmpeg can read "
            f"(soundfile: {soundfile_error}; ffmpeg: {type(exc).__name__} {exc})"
        ) from exc
    # ffmpeg decodes to 16-bit little-endian PCM; scale as librosa does.
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768
    return samples.reshape(-1, channels), sr


def _check_duration(n_samples, sr, max_duration):
    if max_duration is not None and n_samples > max_duration * sr:
        raise ValueError(
            f"the clip lasts {n_samples / sr:.1f} s, more than "
            f"max_duration={max_duration!r} s; raise max_duration (None "
            "for no limit) or cut the clip"
        )


def _as_waveform(samples):
    """Check an array-like of samples; return it as a 1-D float array."""
    array = np.asarray(samples)
    if array.dtype.kind != "f":
        if array.dtype.kind in "iu":
            raise TypeError(
                f"expected float samples, got integers ({array.dtype}); scale PCM "
                "integers to [-1, 1] first, e.g. x / 32768 for int16"
            )
        raise TypeError(f"expected float samples, got an array of dtype {array.dtype}")
    if array.dtype.itemsize < 4:
        array = array.astype(np.float32)
    if array.ndim == 2:
        channels_axis = int(np.argmin(array.shape))
        n_channels = array.shape[channels_axis]
        if n_channels > _MAX_CHANNELS or array.shape[0] == array.shape[1]:
            raise ValueError(
                f"a 2-D array of shape {array.shape} is not a multichannel clip: "
                f"expected (channels, n) or (n, channels) with at most "
                f"{_MAX_CHANNELS} channels and more samples than channels"
            )
        array = np.mean(array, axis=channels_axis) if n_channels > 1 else array.ravel()
    elif array.ndim != 1:
        raise ValueError(
            f"expected a 1-D waveform (or a 2-D multichannel clip), got an array "
            f"of shape {array.shape}"
        )
    if array.size == 0:
        raise ValueError("the waveform is empty (0 samples)")
    _check_finite(array)
    return array


def _check_finite(waveform):
    """Reject NaN and inf samples, and samples that overflow float32."""
    finite = np.isfinite(waveform)
    if not finite.all():
        bad = np.flatnonzero(~finite)
        raise ValueError(
            f"the waveform has {bad.size} non-finite sample(s) (NaN or inf), the "
            f"first at sample {bad[0]}"
        )
    overflowing = np.abs(waveform) > np.finfo(np.float32).max
    if overflowing.any():
        raise ValueError(
            f"the waveform has {np.count_nonzero(overflowing)} sample(s) beyond the "
            f"float32 range, the first at sample {np.flatnonzero(overflowing)[0]}; "
            "audio samples are expected in [-1, 1]"
        )
