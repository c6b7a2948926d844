"""Audio: MFCCs (and their deltas) pooled over time into a fixed-length vector.

Two backends compute the same features. ``"librosa"`` calls
``librosa.feature.mfcc`` on each clip: it is the reference. ``"torch"`` groups
the clips of a batch by length, pads each group with zeros and runs one STFT,
one mel projection, ``power_to_db`` and the DCT on the whole group (CPU or GPU),
reproducing librosa's arithmetic: hann window, ``center=True`` with zero
padding, power 2, Slaney mel filters built by ``librosa.filters.mel``,
``10 log10(max(S, 1e-10))`` clipped 80 dB below each clip's own peak, DCT-II
with ``norm="ortho"``. A clip zero-padded inside a group keeps its own frames
unchanged (the STFT pads with zeros anyway), and the peak, the deltas and the
pooling use the clip's own frames only.
"""

import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from numbers import Integral, Real
from typing import ClassVar

import numpy as np

from .._compat import Interval, StrOptions
from .._deps import import_optional
from .._docstrings import fill_doc
from .._parameters import estimator_parameters
from .._torch_utils import resolve_device, torch
from ._audio_io import decode_audio
from ._base import BaseCellEncoder, check_names
from ._docs import ENCODER_DOCS

__all__ = ["MFCCEncoder"]

_STATS = ("mean", "std", "min", "max", "median")
_NUMPY_STATS = {
    "mean": np.mean,
    "std": np.std,
    "min": np.min,
    "max": np.max,
    "median": np.median,
}
_DELTA_PREFIXES = ("mfcc", "delta_mfcc", "delta2_mfcc")
# power_to_db as librosa.feature.mfcc applies it: ref=1.0, amin=1e-10, top_db=80.
_AMIN = 1e-10
_TOP_DB = 80.0
# librosa.feature.delta's default width.
_DELTA_WIDTH = 9
# Grouping for the torch backend: a group's longest clip is at most 20 % plus
# _BUCKET_SLACK samples longer than its shortest, and a group holds at most
# this many padded samples (a longer clip is a group of its own). On the CPU,
# small groups stay in cache (2**19 samples: an 8 MB spectrogram); on a GPU,
# large ones use it better.
_BUCKET_RATIO = 1.2
_BUCKET_SLACK = 4096
_MAX_GROUP_SAMPLES = {"cpu": 2**19, "other": 2**24}
# The mel filters are sparse (each spans a few FFT bins): the torch backend
# multiplies by blocks of this many bins, each with only the bands it touches.
_MEL_BLOCK = 64
# Held while the threads of a batch's pool set their torch thread count (see
# _group_pool), so no other batch reads torch's transient default meanwhile.
_TORCH_THREADS_LOCK = threading.Lock()


@estimator_parameters
@fill_doc(ENCODER_DOCS)
class MFCCEncoder(BaseCellEncoder):
    """Encode audio clips as MFCCs (and deltas) pooled over time.

    Each clip becomes the MFCC matrix of ``librosa.feature.mfcc``
    (``n_mfcc`` coefficients by frames), optionally stacked with its delta
    and delta-delta coefficients, then summarised over time by the statistics
    in ``stats``. Every clip gives a vector of the same length whatever its
    duration.

    Parameters
    ----------
    sr : float, default=22050
        Sample rate the features are computed at. Files and ``(array, sr)``
        cells at another rate are resampled to it (``librosa.resample``,
        ``res_type="soxr_hq"``, as ``librosa.load`` does); a bare array is
        taken to be at ``sr`` already.

    n_mfcc : int, default=20
        Number of MFCCs per frame; at most ``n_mels``.

    n_fft : int, default=2048
        FFT window length in samples.

    hop_length : int, default=512
        Samples between successive frames. A clip of ``n`` samples has
        ``1 + (n + 2 * (n_fft // 2) - n_fft) // hop_length`` frames.

    n_mels : int, default=128
        Number of mel bands.

    fmin : float, default=0.0
        Lowest frequency of the mel filter bank, in Hz.

    fmax : float, default=None
        Highest frequency of the mel filter bank, in Hz; ``None`` means
        ``sr / 2``.

    deltas : {0, 1, 2}, default=0
        Also compute the delta (1) or the delta and delta-delta (2)
        coefficients of the MFCCs, as ``librosa.feature.delta(mfcc,
        order=k)`` does (Savitzky-Golay filter, ``width=9``,
        ``mode="interp"``). A clip with fewer than 9 frames uses the largest odd
        width not above its number of frames; a clip with fewer than 3 frames
        gets zero deltas.

    stats : tuple of {"mean", "std", "min", "max", "median"}, \
            default=("mean", "std")
        Statistics pooled over the frames of each clip (``std`` is the
        population standard deviation, as ``np.std``).

    %(max_duration)s

    backend : {"auto", "torch", "librosa"}, default="auto"
        ``"librosa"`` computes each clip with ``librosa.feature.mfcc``.
        ``"torch"`` computes clips of similar length together, on ``device``,
        in float32 as librosa does: pooled means and standard deviations
        match librosa's to about ``1e-5`` relative, minima, maxima and
        medians (single frames, not averages) to better than ``2e-4``.
        ``"auto"`` is ``"torch"``.

    device : {"auto", "cpu", "cuda"} or torch.device, default="auto"
        Where the torch backend computes: ``"auto"`` takes CUDA when present,
        else the CPU. Ignored by the librosa backend.

    batch_size : int, default=64
        Clips embedded together. The torch backend groups the clips of a batch
        by length: larger batches waste less padding and, on a CPU with many
        cores, give more groups to compute in parallel.

    %(n_jobs)s
        Decoding a clip is reading and resampling it.

    %(on_error_verbose_memory)s

    Attributes
    ----------
    n_features_out_ : int
        Output width: ``n_mfcc * (1 + deltas) * len(stats)``.

    %(fingerprint_)s

    %(errors_)s

    %(n_features_in_)s

    See Also
    --------
    librosa.feature.mfcc : The MFCCs of one clip, which this encoder pools.
    librosa.feature.delta : The delta coefficients.
    ImageEncoder : The image counterpart.

    Notes
    -----
    A cell is a path (``str`` or ``os.PathLike``), a 1-D float array at
    ``sr``, or an ``(array, sr)`` tuple. Files are read with soundfile (WAV,
    FLAC, OGG, MP3, AIFF...); other formats (M4A, AAC...) are decoded by
    ffmpeg through audioread when ffmpeg is installed. Multichannel audio
    (a file, or a 2-D array of shape ``(channels, n)`` or ``(n, channels)`` with
    at most 8 channels) is averaged to mono, as ``librosa.load`` does. Samples
    must be finite floats; empty clips are rejected. Missing cells (None, NaN,
    ``pd.NA``) give NaN rows.

    Clips shorter than ``n_fft``, down to a single sample, are handled as
    librosa handles them: the centred STFT zero-pads them to at least one
    frame. Silence is floored at -100 dB (``amin=1e-10``), so silent and very
    short clips give finite features.

    On the CPU, the torch backend computes the length groups of a batch in
    parallel threads, each running torch on one thread, rather than splitting
    every operation across threads: far fewer synchronisations, so the
    throughput holds up when the cores are shared. Only those threads run
    torch on one thread: the torch thread count of every other thread,
    and torch's default for new threads, are left as they are.

    The output columns are stat-major: all the statistics of the first stat
    (MFCCs, then deltas, then delta-deltas, coefficient by coefficient), then
    those of the next stat, named ``mfcc0_mean``, ..., ``delta_mfcc0_mean``,
    ..., ``delta2_mfcc0_mean``, ..., ``mfcc0_std``, ...

    Examples
    --------
    >>> import numpy as np
    >>> from mmensemble import MFCCEncoder
    >>> t = np.arange(22050) / 22050
    >>> clips = [np.sin(2 * np.pi * 440 * t), (np.sin(2 * np.pi * 880 * t), 44100),
    ...          None]
    >>> encoder = MFCCEncoder(n_mfcc=13, deltas=1)
    >>> features = encoder.fit_transform(clips)
    >>> features.shape
    (3, 52)
    >>> encoder.get_feature_names_out()[[0, 13, 26]].tolist()
    ['mfcc0_mean', 'delta_mfcc0_mean', 'mfcc0_std']
    >>> bool(np.isnan(features[2]).all())
    True
    """

    _parameter_constraints: ClassVar[dict] = {
        **BaseCellEncoder._parameter_constraints,
        "sr": [Interval(Real, 0, None, closed="neither")],
        "n_mfcc": [Interval(Integral, 1, None, closed="left")],
        "n_fft": [Interval(Integral, 2, None, closed="left")],
        "hop_length": [Interval(Integral, 1, None, closed="left")],
        "n_mels": [Interval(Integral, 1, None, closed="left")],
        "fmin": [Interval(Real, 0, None, closed="left")],
        "fmax": [Interval(Real, 0, None, closed="neither"), None],
        "deltas": [Interval(Integral, 0, 2, closed="both")],
        "stats": [tuple, list],
        "max_duration": [Interval(Real, 0, None, closed="neither"), None],
        "backend": [StrOptions({"auto", "torch", "librosa"})],
        "device": "no_validation",
    }
    _runtime_attributes = ("_torch_mfcc",)
    _libraries = ("librosa", "torch", "soundfile", "soxr", "scipy")

    sr: float = 22050
    n_mfcc: int = 20
    n_fft: int = 2048
    hop_length: int = 512
    n_mels: int = 128
    fmin: float = 0.0
    fmax: float | None = None
    deltas: int = 0
    stats: tuple = ("mean", "std")
    max_duration: float | None = 600.0
    backend: str = "auto"
    device: str = "auto"
    batch_size: int = 64

    def _validate_params(self):
        super()._validate_params()
        validate_stats(self.stats)
        if self.n_mfcc > self.n_mels:
            raise ValueError(
                f"n_mfcc={self.n_mfcc!r} is larger than n_mels={self.n_mels!r}: the "
                "DCT of n_mels bands gives at most n_mels coefficients"
            )
        fmax = self.sr / 2 if self.fmax is None else self.fmax
        if self.fmin >= fmax:
            raise ValueError(
                f"fmin={self.fmin!r} must be below fmax={self.fmax!r} "
                f"(sr / 2 = {self.sr / 2!r} when fmax is None)"
            )

    def _feature_names(self):
        """``<block><k>_<stat>``, stat-major (see Notes of the class)."""
        rows = [
            f"{prefix}{k}"
            for prefix in _DELTA_PREFIXES[: 1 + self.deltas]
            for k in range(self.n_mfcc)
        ]
        return np.asarray(
            [f"{row}_{stat}" for stat in self.stats for row in rows], dtype=object
        )

    def _output_width(self):
        return self.n_mfcc * (1 + self.deltas) * len(self.stats)

    def _prepare(self):
        if self.backend == "librosa":
            self._torch_mfcc = None
            return
        try:
            device = resolve_device(self.device)
        except (RuntimeError, TypeError, ValueError) as exc:
            raise ValueError(
                f"device={self.device!r} is not a torch device: expected 'auto', "
                f"'cpu', 'cuda', 'cuda:<index>' or a torch.device ({exc})"
            ) from exc
        self._torch_mfcc = _TorchMFCC(self, device)

    # ------------------------------------------------------------------ decoding

    def _decode(self, cell):
        """Turn one cell into a finite 1-D float waveform at ``self.sr``."""
        return decode_audio(cell, sr=self.sr, max_duration=self.max_duration)

    # ----------------------------------------------------------------- embedding

    def _embed(self, decoded):
        if self._torch_mfcc is None:
            features = np.stack([self._librosa_features(y) for y in decoded])
        else:
            features = self._torch_mfcc(decoded)
        return features.astype(np.float32)

    def _mel_filters(self):
        """The arguments of ``librosa.filters.mel``: both backends' filter bank."""
        return {
            "sr": self.sr,
            "n_fft": self.n_fft,
            "n_mels": self.n_mels,
            "fmin": self.fmin,
            "fmax": self.fmax,
        }

    def _librosa_features(self, waveform):
        """The pooled features of one clip, computed by librosa itself."""
        librosa = import_optional("librosa")
        with warnings.catch_warnings():
            # librosa warns on clips shorter than n_fft, which it pads: expected.
            warnings.filterwarnings("ignore", message=r"n_fft=\d+ is too large")
            mfcc = librosa.feature.mfcc(
                y=waveform,
                n_mfcc=self.n_mfcc,
                hop_length=self.hop_length,
                **self._mel_filters(),
            )
        blocks = [mfcc]
        width = _delta_width(mfcc.shape[1])
        for order in range(1, self.deltas + 1):
            if width < 3:
                blocks.append(np.zeros_like(mfcc))
            else:
                blocks.append(librosa.feature.delta(mfcc, width=width, order=order))
        features = np.concatenate(blocks).astype(np.float64)
        return np.concatenate(
            [_NUMPY_STATS[stat](features, axis=1) for stat in self.stats]
        )


class _TorchMFCC:
    """The torch backend: batched MFCCs, deltas and pooling on one device.

    Holds the hann window, the mel filter bank (by blocks of frequency bins)
    and the DCT matrix as tensors on ``device``; calling it on a list of
    waveforms returns their pooled features as a float64 array.
    """

    def __init__(self, encoder, device):
        th = torch()
        librosa = import_optional("librosa")
        scipy_fft = import_optional("scipy.fft", package="scipy")
        self.device = device
        self.n_fft = encoder.n_fft
        self.hop_length = encoder.hop_length
        self.deltas = encoder.deltas
        self.stats = tuple(encoder.stats)
        self.n_features_out = encoder._output_width()
        self.window = th.hann_window(
            encoder.n_fft, periodic=True, dtype=th.float32, device=device
        )
        mel = librosa.filters.mel(**encoder._mel_filters())
        self.n_mels = encoder.n_mels
        self.mel_blocks = []
        for start in range(0, mel.shape[1], _MEL_BLOCK):
            bins = slice(start, start + _MEL_BLOCK)
            bands = np.flatnonzero(mel[:, bins].any(axis=1))
            if bands.size:
                bands = slice(int(bands[0]), int(bands[-1]) + 1)
                weights = th.as_tensor(mel[bands, bins], device=device).contiguous()
                self.mel_blocks.append((bins, bands, weights))
        # Row k of the DCT-II (ortho) matrix: dct(x)[k] = dct_matrix[k] @ x.
        dct = scipy_fft.dct(np.eye(encoder.n_mels), type=2, norm="ortho", axis=0)
        self.dct = th.as_tensor(dct[: encoder.n_mfcc], dtype=th.float64, device=device)
        # delta_operators[order, width][i, t]: weight of frame i in the delta at
        # frame t of a clip of `width` frames; its middle column is the filter
        # applied inside longer clips, its first and last width // 2 columns
        # give the edge frames (the polynomial fit of mode="interp").
        self.delta_operators = {
            (order, width): th.as_tensor(
                librosa.feature.delta(np.eye(width), width=width, order=order),
                dtype=th.float64,
                device=device,
            )
            for order in range(1, self.deltas + 1)
            for width in range(3, _DELTA_WIDTH + 1, 2)
        }

    def __call__(self, waveforms):
        lengths = np.array([len(waveform) for waveform in waveforms])
        on_cpu = self.device.type == "cpu"
        budget = _MAX_GROUP_SAMPLES["cpu" if on_cpu else "other"]
        groups = _length_groups(lengths, self.n_fft, budget)
        features = np.empty((len(waveforms), self.n_features_out))
        with _group_pool(len(groups), on_cpu) as pool:
            results = pool.map(
                lambda group: self._group_features([waveforms[i] for i in group]),
                groups,
            )
            for group, pooled in zip(groups, results, strict=True):
                features[group] = pooled
        return features

    def _group_features(self, waveforms):
        th = torch()
        lengths = np.array([len(waveform) for waveform in waveforms])
        # The zero padding of center=True, done here with the batch's padding.
        offset = self.n_fft // 2
        padded = np.zeros((len(waveforms), lengths.max() + 2 * offset), np.float32)
        for row, waveform in enumerate(waveforms):
            padded[row, offset : offset + len(waveform)] = waveform
        frames = 1 + (lengths + 2 * offset - self.n_fft) // self.hop_length
        spectrum = th.stft(
            th.from_numpy(padded).to(self.device),
            self.n_fft,
            self.hop_length,
            window=self.window,
            center=False,
            return_complex=True,
        )
        power = spectrum.real.square().addcmul_(spectrum.imag, spectrum.imag)
        del spectrum
        mel_power = power.new_zeros((len(waveforms), self.n_mels, power.shape[-1]))
        for bins, bands, weights in self.mel_blocks:
            mel_power[:, bands].add_(th.matmul(weights, power[:, bins]))
        del power
        frames_t = th.as_tensor(frames, device=self.device)
        valid = th.arange(mel_power.shape[-1], device=self.device) < frames_t[:, None]
        # power_to_db, in place; log10 is monotonic, so the peak in dB is the dB
        # of the peak power over the clip's own frames.
        peak = mel_power.amax(dim=1).masked_fill_(~valid, 0.0).amax(dim=1)
        floor = 10.0 * th.log10(th.clamp(peak, min=_AMIN)) - _TOP_DB
        db = mel_power.clamp_(min=_AMIN).log10_().mul_(10.0)
        db = db.clamp_(min=floor[:, None, None]).double()
        mfcc = th.matmul(self.dct, db)
        del db
        blocks = [mfcc] + [
            self._delta(mfcc, frames, order) for order in range(1, self.deltas + 1)
        ]
        features = th.cat(blocks, dim=1) if self.deltas else mfcc
        return _pool(features, frames_t, valid, self.stats).cpu().numpy()

    def _delta(self, mfcc, frames, order):
        """``librosa.feature.delta`` of each clip of a padded batch."""
        th = torch()
        out = th.zeros_like(mfcc)
        widths = np.array([_delta_width(n) for n in frames])
        for width in np.unique(widths[widths >= 3]):
            rows = np.flatnonzero(widths == width)
            operator = self.delta_operators[order, int(width)]
            out[rows] = _savgol(mfcc[rows], frames[rows], operator, self.device)
        return out


def _savgol(x, frames, operator, device):
    """Apply a delta operator along the frames of a padded batch.

    ``x`` has shape ``(clips, coefficients, frames)``; clip ``i`` has
    ``frames[i] >= width`` valid frames. Frames beyond them get finite values
    of no meaning (the pooling gives them zero weight).
    """
    th = torch()
    n_clips, n_coefs, n_frames = x.shape
    width = operator.shape[0]
    half = width // 2
    out = th.zeros_like(x)
    interior = th.nn.functional.conv1d(
        x.reshape(n_clips * n_coefs, 1, n_frames), operator[:, half].view(1, 1, width)
    )
    out[..., half : n_frames - half] = interior.reshape(n_clips, n_coefs, -1)
    out[..., :half] = th.matmul(x[..., :width], operator[:, :half])
    steps = th.arange(width, device=device)
    last = th.as_tensor(frames, device=device)[:, None] - width + steps
    tail = th.gather(x, 2, last[:, None, :].expand(n_clips, n_coefs, width))
    positions = last[:, None, width - half :].expand(n_clips, n_coefs, half)
    out.scatter_(2, positions, th.matmul(tail, operator[:, width - half :]))
    return out


def _pool(features, frames, valid, stats):
    """Pool ``(clips, rows, frames)`` over each clip's valid frames, stat-major."""
    th = torch()
    weights = (valid.to(features.dtype) / frames[:, None])[:, :, None]
    mean = th.bmm(features, weights)[..., 0]
    if {"min", "max", "median"} & set(stats):
        invalid = (~valid)[:, None, :].expand(features.shape).contiguous()
    pooled = []
    for stat in stats:
        if stat == "mean":
            pooled.append(mean)
        elif stat == "std":
            centred = features - mean[..., None]
            pooled.append(th.sqrt(th.bmm(centred.square_(), weights)[..., 0]))
        elif stat == "min":
            pooled.append(features.masked_fill(invalid, np.inf).amin(-1))
        elif stat == "max":
            pooled.append(features.masked_fill(invalid, -np.inf).amax(-1))
        else:  # median: the mean of the two middle values, as np.median
            ordered = features.masked_fill(invalid, np.inf).sort(-1).values
            middle = th.stack([(frames - 1) // 2, frames // 2], dim=1)
            middle = middle[:, None, :].expand(-1, features.shape[1], -1)
            pooled.append(th.gather(ordered, 2, middle).mean(-1))
    return th.cat(pooled, dim=1)


@contextmanager
def _group_pool(n_groups, on_cpu):
    """Threads computing the length groups of a batch: on the CPU, one per torch
    thread of the caller, each running torch ops on one thread.

    Computing groups in Python threads (torch releases the GIL) rather than
    splitting each op across threads means far fewer synchronisations, which
    keeps the throughput steady when the cores are shared (decoding threads,
    other processes), and features that do not depend on the thread count.

    ``torch.set_num_threads`` sets the OpenMP and MKL thread counts of the
    calling thread, and a default that a thread reads when it first uses
    torch. Each worker sets its own count to 1 (after torch's own setup of
    the thread, which would otherwise apply the default later); once all have,
    the caller sets its own, unchanged, count, which puts the default back.
    No other thread's setting changes.
    """
    if not on_cpu:
        with ThreadPoolExecutor(1) as pool:
            yield pool
        return
    th = torch()
    with _TORCH_THREADS_LOCK:
        own = th.get_num_threads()
        n_workers = min(own, n_groups)
        ready = threading.Barrier(n_workers + 1)

        def one_torch_thread():
            try:
                th.get_num_threads()  # torch's setup of this thread
                th.set_num_threads(1)
            finally:
                ready.wait()

        pool = ThreadPoolExecutor(n_workers)
        # Each blocks until all have run, so every worker runs one.
        for _ in range(n_workers):
            pool.submit(one_torch_thread)
        ready.wait()
        th.set_num_threads(own)
    with pool:
        yield pool


def _length_groups(lengths, n_fft, max_samples):
    """Split clip positions into groups of similar length, for padded batches."""
    order = np.argsort(lengths, kind="stable")
    slack = max(_BUCKET_SLACK, n_fft)
    groups, current = [], []
    for position in order:
        if current and (
            lengths[position] > _BUCKET_RATIO * lengths[current[0]] + slack
            or (len(current) + 1) * lengths[position] > max_samples
        ):
            groups.append(current)
            current = []
        current.append(position)
    groups.append(current)
    return groups


def validate_stats(stats):
    """Check a ``stats`` parameter: distinct names among ``_STATS``."""
    check_names("stats", stats, _STATS, item="statistic")


def _delta_width(n_frames):
    """The delta width for a clip: 9, or the largest odd number <= its frames."""
    return min(_DELTA_WIDTH, n_frames if n_frames % 2 else n_frames - 1)
