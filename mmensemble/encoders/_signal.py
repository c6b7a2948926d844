"""Sensor signals: multichannel time series to fixed-length features.

Two families of features, which combine freely:

- descriptive features of each series, computed with NumPy and SciPy: per-channel
  statistics (mean, standard deviation, minimum, maximum, quantiles, the slope of
  a least-squares line), the share of each channel's power in frequency bands
  (Welch's method, ``scipy.signal.welch``) and the correlations between channels.
  They need no fitting;
- MiniRocket (Dempster, Schmidt and Webb, KDD 2021), aeon's implementation:
  thousands of dilated convolutions whose biases are quantiles of the training
  series' convolution outputs, so ``fit`` really fits in that mode.
"""

import hashlib
import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from numbers import Integral, Real
from typing import ClassVar

import numpy as np
import pandas as pd
from sklearn.utils import check_random_state

from .._compat import Interval, StrOptions
from .._deps import import_optional
from .._docstrings import fill_doc
from .._exceptions import BadCellWarning, MMEnsembleError
from .._parameters import estimator_parameters
from ._base import BaseCellEncoder, _bad_cells_message, check_names
from ._cells import as_cell_series, missing_mask
from ._docs import ENCODER_DOCS

__all__ = ["SignalEncoder"]

_STATISTICS = ("mean", "std", "min", "max", "quantiles", "slope")
_FEATURES = (*_STATISTICS, "band_power", "correlation", "minirocket")
# The default by accuracy on real recordings (benchmarks/signal_accuracy.py):
# MiniRocket matches or beats the descriptive features on multichannel motion
# data and beats them by 25+ points on series whose class is in their shape.
_DEFAULT_FEATURES = ("minirocket",)
_FILE_SEPARATORS = {".csv": ",", ".tsv": "\t"}
# MiniRocket's kernels have 9 taps: shorter series are zero-padded to this.
_MIN_MINIROCKET_LENGTH = 9
# A (array, sr) cell at another rate is resampled by a ratio of integers whose
# denominator is at most this (resample_poly's up / down).
_MAX_RESAMPLE_DENOMINATOR = 1000
_MAX_VALUE = float(np.finfo(np.float32).max)


class SignalEncoderError(MMEnsembleError, ValueError):
    """A SignalEncoder parameter or training column cannot be used."""


@estimator_parameters
@fill_doc(ENCODER_DOCS)
class SignalEncoder(BaseCellEncoder):
    """Encode multichannel sensor series as fixed-length feature vectors.

    A cell holds one series: ``n_timesteps`` samples of ``n_channels``
    channels, at sampling rate ``sr``. Series may differ in length from row to
    row; every row gives a vector of the same length. By default the vector is
    the MiniRocket transform (aeon's), whose kernel biases ``fit`` learns from
    the training series; the descriptive features (statistics, band powers,
    correlations) need no fitting, are cheaper and have readable names.

    Parameters
    ----------
    features : tuple of str, default=("minirocket",)
        The feature blocks, in output order, among:

        - ``"mean"``, ``"std"`` (population), ``"min"``, ``"max"``: per channel;
        - ``"quantiles"``: per channel, at the levels in ``quantiles``
          (``numpy.quantile``, linear interpolation);
        - ``"slope"``: per channel, of the least-squares line through the
          samples, in units per second (per sample when ``sr=1``);
        - ``"band_power"``: per channel, the share of its power (after
          removing its mean) in each frequency band of ``bands``, from
          Welch's power spectral density (``scipy.signal.welch``, Hann windows
          of ``nperseg`` samples, half overlapping); the shares of a constant
          channel are 0;
        - ``"correlation"``: Pearson's correlation of each pair of channels
          (0 when either channel is constant);
        - ``"minirocket"``: the MiniRocket transform (aeon), fitted on the
          training series, ``minirocket_kernels`` features.

        All the descriptive blocks: ``("mean", "std", "min", "max",
        "quantiles", "slope", "band_power", "correlation")``.

    sr : float, default=1.0
        Sampling rate of the series, in Hz. An ``(array, sr)`` cell at another
        rate is resampled to it (``scipy.signal.resample_poly``). With the
        default, frequencies are in cycles per sample.

    layout : {"time_first", "channels_first"}, default="time_first"
        How a 2-D array (or file) is laid out: ``(n_timesteps, n_channels)``
        or ``(n_channels, n_timesteps)``. A 1-D array is one channel.

    n_channels : int, default=None
        The number of channels every series must have. None takes the count
        of the first series that decodes in ``fit``. A series with another
        count is a bad cell.

    channel_names : sequence of str, default=None
        Names of the channels in the output feature names; None names them
        ``ch0``, ``ch1``, ...

    quantiles : tuple of float, default=(0.25, 0.5, 0.75)
        Levels of the ``"quantiles"`` block, in [0, 1].

    bands : int or sequence of (float, float), default=4
        The frequency bands of ``"band_power"``: an int splits ``[0, sr / 2]``
        into that many bands of equal width; a sequence gives ``(low, high)``
        bands in Hz within ``[0, sr / 2]``. A band holds the frequencies ``f``
        with ``low <= f < high`` (``f <= high`` for a band ending at
        ``sr / 2``).

    nperseg : int, default=256
        Length of Welch's segments; a shorter series is one segment.

    minirocket_kernels : int, default=10_000
        MiniRocket's number of features (rounded down to a multiple of 84).

    minirocket_length : int, default=None
        MiniRocket needs series of one length: every series is zero-padded
        at its end (or cut) to this many timesteps. None takes the longest
        training series (at least 9).

    max_length : int or None, default=10_000_000
        Longest series accepted, in timesteps per channel (checked on arrays
        and ``.npy`` files before reading them, before resampling). A longer
        one is a bad cell. None accepts any length.

    random_state : int, RandomState instance or None, default=None
        Seeds MiniRocket's choice of channels and biases.

    batch_size : int, default=64
        Series embedded together.

    %(n_jobs)s
        Decoding a series is reading it, filling its gaps and resampling it.
        MiniRocket runs on one thread (aeon's default; on two busy cores, more
        threads cost more CPU time, not less).

    %(on_error)s
        In ``fit``, bad training series are left out of MiniRocket's fit under
        ``"missing"``.

    %(verbose)s

    %(memory)s

    Attributes
    ----------
    n_channels_ : int
        The channel count every series has.

    minirocket_ : aeon MiniRocket or None
        The fitted MiniRocket transform, None without ``"minirocket"``.

    minirocket_length_ : int or None
        The length series are padded or cut to for MiniRocket.

    n_features_out_ : int
        Output width.

    %(fingerprint_)s

    %(errors_)s

    %(n_features_in_)s

    See Also
    --------
    scipy.signal.welch : The power spectral density behind ``"band_power"``.
    aeon.transformations.collection.convolution_based.MiniRocket : The
        random-kernel transform behind ``"minirocket"``.
    MFCCEncoder : The audio counterpart.

    Notes
    -----
    A cell is a 2-D array (laid out as ``layout`` says), a 1-D array (one
    channel), an ``(array, sr)`` tuple, or a path to a ``.npy`` file (an array
    as above) or to a ``.csv`` / ``.tsv`` file (a table of numbers laid out
    as ``layout`` says; a first row that holds no number is a header and is
    skipped). Values must be real numbers; missing values (NaN, or empty CSV
    fields) are gaps, filled by linear interpolation between the neighbouring
    samples of their channel (and with the nearest sample at either end)
    before anything else. A channel with no value at all, an infinite value
    or one beyond the float32 range, non-numeric values, an empty series,
    another channel count or an unreadable file make a bad cell. Missing
    cells (None, NaN, ``pd.NA``) give NaN rows.

    The output columns follow ``features``; within a block, channel by channel
    (quantiles: level by level, each for every channel; band powers: channel
    by channel, each for every band), named ``ch0_mean``, ``ch0_q25``,
    ``ch0_slope``, ``ch0_power_0-0.125Hz``, ``corr_ch0_ch1``,
    ``minirocket0``...

    Choosing features, from ``benchmarks/signal_accuracy.py`` (four UCR/UEA
    recordings shipped with aeon, a ridge classifier on standardised
    features): MiniRocket is at least as accurate as the descriptive blocks
    on multichannel motion and speech data (BasicMotions 1.000 and 1.000,
    JapaneseVowels 0.987 and 0.970) and far more where the class is in the
    waveform's shape (GunPoint 0.993 and 0.727, PickupGestureWiimoteZ 0.853
    and 0.580), for 2 to 17 times the CPU time (under a second for a few
    hundred series). The descriptive blocks suit a light model (tens of
    readable columns, no aeon, nothing fitted, so the feature cache is shared
    across cross-validation folds).

    aeon's MiniRocket seeds NumPy's global random generator when fitted: the
    encoder saves and restores that generator's state around the fit. Its
    numba functions are compiled on first use (about 20 s, once per
    installation: numba caches them).

    Examples
    --------
    >>> import numpy as np
    >>> from mmensemble import SignalEncoder
    >>> t = np.arange(200) / 50.0
    >>> walk = np.column_stack([np.sin(2 * np.pi * 2 * t), np.cos(2 * np.pi * 2 * t)])
    >>> cells = [walk, walk[:120] * 2.0, None]
    >>> encoder = SignalEncoder(sr=50.0, features=("mean", "std", "correlation"))
    >>> features = encoder.fit_transform(cells)
    >>> features.shape
    (3, 5)
    >>> encoder.get_feature_names_out().tolist()
    ['ch0_mean', 'ch1_mean', 'ch0_std', 'ch1_std', 'corr_ch0_ch1']
    >>> bool(np.isnan(features[2]).all())
    True
    """

    _parameter_constraints: ClassVar[dict] = {
        **BaseCellEncoder._parameter_constraints,
        "features": [tuple, list],
        "sr": [Interval(Real, 0, None, closed="neither")],
        "layout": [StrOptions({"time_first", "channels_first"})],
        "n_channels": [Interval(Integral, 1, None, closed="left"), None],
        "channel_names": [tuple, list, None],
        "quantiles": [tuple, list],
        "bands": [Interval(Integral, 1, None, closed="left"), tuple, list],
        "nperseg": [Interval(Integral, 1, None, closed="left")],
        "minirocket_kernels": [Interval(Integral, 84, None, closed="left")],
        "minirocket_length": [
            Interval(Integral, _MIN_MINIROCKET_LENGTH, None, closed="left"),
            None,
        ],
        "max_length": [Interval(Integral, 1, None, closed="left"), None],
        "random_state": ["random_state"],
    }

    features: tuple = _DEFAULT_FEATURES
    sr: float = 1.0
    layout: str = "time_first"
    n_channels: int | None = None
    channel_names: list | tuple | None = None
    quantiles: tuple = (0.25, 0.5, 0.75)
    bands: int = 4
    nperseg: int = 256
    minirocket_kernels: int = 10_000
    minirocket_length: int | None = None
    max_length: int | None = 10_000_000
    random_state: object = None
    batch_size: int = 64

    # ---------------------------------------------------------------- checks

    def _validate_params(self):
        super()._validate_params()
        features = check_names(
            "features", self.features, _FEATURES, item="block", error=SignalEncoderError
        )
        levels = tuple(self.quantiles)
        if "quantiles" in features and (
            not levels
            or len(set(levels)) != len(levels)
            or any(
                not isinstance(q, Real) or isinstance(q, bool) or not 0 <= q <= 1
                for q in levels
            )
        ):
            raise SignalEncoderError(
                f"quantiles={self.quantiles!r} is not valid: expected distinct "
                "levels in [0, 1]"
            )
        if "band_power" in features:
            self._band_edges()

    def _band_edges(self):
        """The ``(low, high)`` bands in Hz, checked against ``sr / 2``."""
        nyquist = self.sr / 2
        if isinstance(self.bands, Integral):
            edges = np.linspace(0.0, nyquist, self.bands + 1)
            return [
                (float(lo), float(hi))
                for lo, hi in zip(edges[:-1], edges[1:], strict=True)
            ]
        bands = []
        for band in self.bands:
            try:
                low, high = (float(edge) for edge in band)
            except (TypeError, ValueError):
                low = high = np.nan
            if not 0 <= low < high <= nyquist:
                raise SignalEncoderError(
                    f"bands={self.bands!r} is not valid: expected an int or "
                    f"(low, high) pairs with 0 <= low < high <= sr / 2 = "
                    f"{nyquist!r}, got {band!r}"
                )
            bands.append((low, high))
        if not bands:
            raise SignalEncoderError("bands=() is not valid: expected some bands")
        return bands

    # ------------------------------------------------------------------- fit

    def fit(self, X, y=None):
        """Learn the channel count and, with ``"minirocket"``, fit MiniRocket.

        Parameters
        ----------
        X : Series, single-column DataFrame, list or ndarray of cells
            The training series.
        y : None
            Ignored.

        Returns
        -------
        self : object
            The fitted encoder.
        """
        self._validate_params()
        cells = as_cell_series(X)
        self.n_channels_ = self.n_channels
        needs_all = "minirocket" in self.features
        series = self._training_series(cells, everything=needs_all)
        if self.channel_names is not None and len(self.channel_names) != (
            self.n_channels_
        ):
            raise SignalEncoderError(
                f"channel_names={self.channel_names!r} names "
                f"{len(self.channel_names)} channels, the series have "
                f"{self.n_channels_}"
            )
        self.minirocket_length_ = None
        self.minirocket_ = None
        if needs_all:
            self._fit_minirocket(series)
        super().fit(X, y)
        if self.n_features_out_ == 0:
            raise SignalEncoderError(
                f"features={self.features!r} gives no feature for series of "
                f"{self.n_channels_} channel(s)"
            )
        return self

    def _training_series(self, cells, *, everything):
        """Decode training cells: all of them, or until the channel count is known.

        Bad cells raise (``on_error="raise"``) or are left out with a warning.
        """
        values = cells.to_numpy(dtype=object)
        labels = cells.index.tolist()
        present = list(np.flatnonzero(~missing_mask(cells)))
        series, errors = [], []

        def keep(result):
            if self._is_decoded(result, errors):
                series.append(result)

        while self.n_channels_ is None and present:
            position = present.pop(0)
            keep(self._decode_cell(values[position], labels[position], cells.name))
            if series:
                self.n_channels_ = series[0].shape[1]
        if self.n_channels_ is None:
            raise SignalEncoderError(
                f"no series of column {cells.name!r} could be decoded in fit, so "
                "the channel count is unknown; give n_channels"
            )
        if everything and present:
            with ThreadPoolExecutor(self._decode_threads()) as pool:
                for result in pool.map(
                    lambda position: self._decode_cell(
                        values[position], labels[position], cells.name
                    ),
                    present,
                ):
                    keep(result)
        if errors:
            warnings.warn(
                BadCellWarning(_bad_cells_message(errors), errors=errors),
                stacklevel=3,
            )
        return series

    def _fit_minirocket(self, series):
        if not series:
            raise SignalEncoderError(
                "MiniRocket needs at least one training series; none decoded"
            )
        convolution_based = import_optional(
            "aeon.transformations.collection.convolution_based", package="aeon"
        )
        longest = max(len(x) for x in series)
        self.minirocket_length_ = (
            max(longest, _MIN_MINIROCKET_LENGTH)
            if self.minirocket_length is None
            else self.minirocket_length
        )
        seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        minirocket = convolution_based.MiniRocket(
            n_kernels=self.minirocket_kernels, n_jobs=1, random_state=int(seed)
        )
        saved = np.random.get_state()  # aeon calls np.random.seed(random_state)
        try:
            minirocket.fit(self._padded(series))
        finally:
            np.random.set_state(saved)
        self.minirocket_ = minirocket
        self._minirocket_width = minirocket.transform(self._padded(series[:1])).shape[1]

    def _padded(self, series):
        """Stack series as MiniRocket's ``(n, channels, length)`` float32 array."""
        length = self.minirocket_length_
        out = np.zeros((len(series), self.n_channels_, length), dtype=np.float32)
        for row, x in enumerate(series):
            kept = x[:length]
            out[row, :, : len(kept)] = kept.T
        return out

    # ---------------------------------------------------------------- output

    def _feature_names(self):
        """``ch0_mean``, ``corr_ch0_ch1``..., in output order (see Notes)."""
        names = []
        for block in self.features:
            names.extend(self._block_names(block))
        return np.asarray(names, dtype=object)

    def _channel_names(self):
        if self.channel_names is not None:
            return [str(name) for name in self.channel_names]
        return [f"ch{k}" for k in range(self.n_channels_)]

    def _block_names(self, block):
        channels = self._channel_names()
        if block in ("mean", "std", "min", "max", "slope"):
            return [f"{channel}_{block}" for channel in channels]
        if block == "quantiles":
            return [
                f"{channel}_q{100 * q:g}"
                for q in self.quantiles
                for channel in channels
            ]
        if block == "band_power":
            return [
                f"{channel}_power_{low:g}-{high:g}Hz"
                for channel in channels
                for low, high in self._band_edges()
            ]
        if block == "correlation":
            i, j = np.triu_indices(len(channels), k=1)
            return [
                f"corr_{channels[a]}_{channels[b]}" for a, b in zip(i, j, strict=True)
            ]
        return [f"minirocket{k}" for k in range(self._minirocket_width)]

    def _output_width(self):
        return len(self._feature_names())

    @property
    def _libraries(self):
        return ("scipy", "aeon") if "minirocket" in self.features else ("scipy",)

    def _fingerprint_extra(self):
        extra = [f"n_channels={self.n_channels_}"]
        if self.minirocket_ is not None:
            digest = hashlib.blake2b(digest_size=16)
            for array in self.minirocket_.parameters:
                digest.update(np.ascontiguousarray(array).data)
            extra.append(f"minirocket={self.minirocket_length_}:{digest.hexdigest()}")
        return extra

    def __getstate__(self):
        # The fitted MiniRocket travels as its parameters and plain attributes
        # (arrays, numbers), so that mmensemble.save, which trusts no aeon
        # type, can write it; __setstate__ rebuilds the aeon object.
        state = super().__getstate__()
        minirocket = state.get("minirocket_")
        if minirocket is not None and not isinstance(minirocket, dict):
            state["minirocket_"] = {
                "params": minirocket.get_params(),
                "attributes": dict(vars(minirocket)),
            }
        return state

    def __setstate__(self, state):
        saved = state.get("minirocket_")
        if isinstance(saved, dict):
            convolution_based = import_optional(
                "aeon.transformations.collection.convolution_based", package="aeon"
            )
            minirocket = convolution_based.MiniRocket(**saved["params"])
            vars(minirocket).update(saved["attributes"])
            state = {**state, "minirocket_": minirocket}
        super().__setstate__(state)

    def _embed(self, decoded):
        bands = self._band_edges() if "band_power" in self.features else None
        blocks = []
        for block in self.features:
            if block == "minirocket":
                blocks.append(self.minirocket_.transform(self._padded(decoded)))
            else:
                rows = [self._block(block, x, bands) for x in decoded]
                blocks.append(np.stack(rows).reshape(len(decoded), -1))
        return np.concatenate(blocks, axis=1).astype(np.float32)

    def _block(self, block, x, bands):
        """One descriptive block of one ``(n_timesteps, n_channels)`` series."""
        if block == "mean":
            return x.mean(axis=0)
        if block == "std":
            return x.std(axis=0)
        if block == "min":
            return x.min(axis=0)
        if block == "max":
            return x.max(axis=0)
        if block == "quantiles":
            return np.quantile(x, list(self.quantiles), axis=0).ravel()
        if block == "slope":
            return _slopes(x, self.sr)
        if block == "band_power":
            return _band_shares(x, self.sr, self.nperseg, bands).ravel()
        return _correlations(x)

    # -------------------------------------------------------------- decoding

    def _decode(self, cell):
        """Turn one cell into a gap-free float64 ``(n_timesteps, n_channels)``."""
        sr = self.sr
        if isinstance(cell, tuple):
            if len(cell) != 2:
                raise TypeError(
                    f"a tuple cell must be (array, sr), got a tuple of {len(cell)} "
                    "items"
                )
            cell, sr = cell
            if not isinstance(sr, Real) or isinstance(sr, bool) or not 0 < sr < np.inf:
                raise ValueError(
                    f"the sampling rate of an (array, sr) cell must be a positive "
                    f"finite number, got {sr!r}"
                )
        if isinstance(cell, (str, os.PathLike)):
            array = self._read_file(os.fspath(cell))
        else:
            array = self._check_length(_numeric(cell))
        x = self._oriented(array)
        if self.n_channels_ is not None and x.shape[1] != self.n_channels_:
            origin = "n_channels" if self.n_channels is not None else "fit"
            raise ValueError(
                f"the series has {x.shape[1]} channel(s) (shape {array.shape}, "
                f"layout={self.layout!r}), expected {self.n_channels_} (from "
                f"{origin})"
            )
        x = _fill_gaps(x)
        if sr != self.sr:
            x = _resample(x, sr, self.sr)
        return x

    def _read_file(self, path):
        extension = os.path.splitext(path)[1].lower()
        if extension == ".npy":
            stored = np.load(path, mmap_mode="r", allow_pickle=False)
            return _numeric(np.array(self._check_length(stored)))
        if extension in _FILE_SEPARATORS:
            table = pd.read_csv(
                path, header=None, sep=_FILE_SEPARATORS[extension], dtype=str
            )
            if len(table) and _is_header(table.iloc[0]):
                table = table.iloc[1:]
            try:
                array = table.apply(pd.to_numeric).to_numpy(dtype=np.float64)
            except ValueError as exc:
                raise TypeError(f"the file holds non-numeric values ({exc})") from exc
            return self._check_length(_numeric(array))
        raise ValueError(
            f"cannot read a series from {path!r}: expected a .npy, .csv or .tsv file"
        )

    def _check_length(self, array):
        if array.ndim not in (1, 2):
            raise ValueError(
                f"expected a 1-D or 2-D series, got an array of shape {array.shape}"
            )
        time_axis = 0 if array.ndim == 1 or self.layout == "time_first" else 1
        length = array.shape[time_axis]
        if length == 0 or array.size == 0:
            raise ValueError(f"the series is empty (shape {array.shape})")
        if self.max_length is not None and length > self.max_length:
            raise ValueError(
                f"the series has {length} timesteps, more than max_length="
                f"{self.max_length}"
            )
        return array

    def _oriented(self, array):
        if array.ndim == 1:
            return array[:, None]
        return array if self.layout == "time_first" else array.T


def _is_header(row):
    """Whether a CSV row holds names only (some field, and no number)."""
    fields = row.dropna()
    return len(fields) > 0 and pd.to_numeric(fields, errors="coerce").isna().all()


def _numeric(values):
    """An array-like of real numbers as a float64 array (NaN kept).

    Infinite values are refused, and so are values beyond the float32 range:
    the features are float32, and squares of such values overflow.
    """
    array = np.asarray(values)
    if array.dtype.kind == "O":
        try:
            array = array.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"expected real numbers, got non-numeric values ({exc})"
            ) from exc
    elif array.dtype.kind not in "iuf":
        raise TypeError(f"expected real numbers, got an array of dtype {array.dtype}")
    array = array.astype(np.float64, copy=False)
    if np.isinf(array).any():
        raise ValueError(
            f"the series has {np.count_nonzero(np.isinf(array))} infinite value(s)"
        )
    huge = np.abs(array) > _MAX_VALUE
    if huge.any():
        raise ValueError(
            f"the series has {np.count_nonzero(huge)} value(s) beyond the float32 "
            f"range (|x| > {_MAX_VALUE:.3g}); rescale it"
        )
    return array


def _fill_gaps(x):
    """Fill NaN gaps of each channel linearly; an all-NaN channel is an error."""
    gaps = np.isnan(x)
    if not gaps.any():
        return x
    x = x.copy()
    steps = np.arange(len(x))
    for channel in np.flatnonzero(gaps.any(axis=0)):
        known = ~gaps[:, channel]
        if not known.any():
            raise ValueError(f"channel {channel} has no value (all NaN)")
        x[~known, channel] = np.interp(steps[~known], steps[known], x[known, channel])
    return x


def _resample(x, sr_from, sr_to):
    signal = import_optional("scipy.signal", package="scipy")
    ratio = Fraction(sr_to / sr_from).limit_denominator(_MAX_RESAMPLE_DENOMINATOR)
    if ratio.numerator == 0:
        raise ValueError(
            f"cannot resample from {sr_from!r} Hz to {sr_to!r} Hz (ratio too small)"
        )
    return signal.resample_poly(x, ratio.numerator, ratio.denominator, axis=0)


def _slopes(x, sr):
    """Least-squares slope of each channel against time in seconds."""
    t = np.arange(len(x)) / sr
    centred = t - t.mean()
    denominator = centred @ centred
    if denominator == 0:
        return np.zeros(x.shape[1])
    return centred @ (x - x.mean(axis=0)) / denominator


def _band_shares(x, sr, nperseg, bands):
    """``(n_channels, n_bands)`` shares of each channel's Welch power per band."""
    signal = import_optional("scipy.signal", package="scipy")
    frequencies, density = signal.welch(x, fs=sr, nperseg=min(nperseg, len(x)), axis=0)
    total = density.sum(axis=0)
    nyquist = sr / 2
    shares = np.zeros((x.shape[1], len(bands)))
    for k, (low, high) in enumerate(bands):
        inside = (frequencies >= low) & (
            (frequencies <= high) if high >= nyquist else (frequencies < high)
        )
        shares[:, k] = density[inside].sum(axis=0)
    positive = total > 0
    shares[positive] /= total[positive, None]
    shares[~positive] = 0.0
    return shares


def _correlations(x):
    """Pearson correlations of the channel pairs ``i < j`` (0 for a constant one)."""
    centred = x - x.mean(axis=0)
    norms = np.sqrt((centred**2).sum(axis=0))
    scale = np.outer(norms, norms)
    products = centred.T @ centred
    correlation = np.divide(
        products, scale, out=np.zeros_like(products), where=scale > 0
    )
    i, j = np.triu_indices(x.shape[1], k=1)
    return np.clip(correlation[i, j], -1.0, 1.0)
