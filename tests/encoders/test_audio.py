"""Tests of MFCCEncoder: parity with librosa, cells, errors, sklearn integration."""

import pickle
import wave
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import librosa
import numpy as np
import pandas as pd
import pytest
import soundfile
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import mmensemble
from mmensemble import BadCellWarning, CellDecodeError, MFCCEncoder

ALL_STATS = ("mean", "std", "min", "max", "median")
# A small configuration that keeps the tests fast.
SMALL = dict(sr=8000, n_mfcc=13, n_fft=256, hop_length=64, n_mels=40)
# A speech front end: 16 kHz, 32 ms windows, 10 ms hops, 20 Hz to 7.6 kHz.
SPEECH = dict(
    sr=16000, n_mfcc=13, n_fft=512, hop_length=160, n_mels=40, fmin=20.0, fmax=7600.0
)


@pytest.fixture(autouse=True)
def no_memory_cache():
    """Compute every transform afresh: a cache hit would hide a wrong result."""
    with mmensemble.config_context(memory_cache_bytes=0):
        yield


def reference_features(y, *, sr=22050, deltas=0, stats=("mean", "std"), **kwargs):
    """Pooled features written out with librosa, as the encoder documents them."""
    mfcc = librosa.feature.mfcc(y=y, sr=sr, **kwargs)
    blocks = [mfcc]
    n_frames = mfcc.shape[1]
    width = min(9, n_frames if n_frames % 2 else n_frames - 1)
    for order in range(1, deltas + 1):
        if width < 3:
            blocks.append(np.zeros_like(mfcc))
        else:
            blocks.append(librosa.feature.delta(mfcc, width=width, order=order))
    features = np.concatenate(blocks).astype(np.float64)
    funcs = {
        "mean": np.mean,
        "std": np.std,
        "min": np.min,
        "max": np.max,
        "median": np.median,
    }
    pooled = np.concatenate([funcs[stat](features, axis=1) for stat in stats])
    return pooled.astype(np.float32)


def relative_difference(actual, expected):
    """Elementwise |a - b| / max(|b|, 1): MFCCs are in dB, where a value near 0
    carries float32 rounding noise of about 1e-5 dB in librosa itself."""
    return np.abs(actual - expected) / np.maximum(np.abs(expected), 1.0)


def varied_clips(sr=22050, seed=0):
    """Tones with noise, chirps, decaying noise, quiet and loud noise."""
    rng = np.random.default_rng(seed)
    clips = []
    for frequency, n in zip(
        rng.uniform(100, 3000, 8), rng.integers(sr // 4, 3 * sr, 8), strict=True
    ):
        t = np.arange(n) / sr
        clips.append(np.sin(2 * np.pi * frequency * t) / 2 + rng.normal(0, 0.01, n))
    clips += [
        librosa.chirp(fmin=100, fmax=sr / 3, sr=sr, duration=d) for d in (0.4, 1.7)
    ]
    clips += [rng.normal(size=n) * np.exp(-np.arange(n) / 4000) for n in (3000, 30000)]
    clips += [1e-4 * rng.normal(size=sr // 2), 100 * rng.normal(size=sr // 3)]
    return [clip.astype(np.float32) for clip in clips]


# ----------------------------------------------------------------- numerics


@pytest.mark.parametrize(
    "params",
    [{}, SPEECH],
    ids=["defaults", "speech"],
)
def test_librosa_backend_equals_librosa_mfcc_exactly(params):
    clips = varied_clips(sr=params.get("sr", 22050))[::3]
    encoder = MFCCEncoder(backend="librosa", stats=ALL_STATS, **params)
    out = encoder.fit_transform(clips)
    expected = np.stack(
        [reference_features(y, stats=ALL_STATS, **params) for y in clips]
    )
    np.testing.assert_array_equal(out, expected)


@pytest.mark.filterwarnings("ignore:n_fft=256 is too large:UserWarning")
def test_deltas_equal_librosa_delta_with_narrower_widths_for_few_frames():
    rng = np.random.default_rng(1)
    hop = SMALL["hop_length"]
    # 1 + n // hop frames: 40 (width 9), 6 (width 5), 4 (width 3), 2 (zeros).
    clips = [
        rng.normal(size=n).astype(np.float32) for n in (39 * hop, 5 * hop, 3 * hop, hop)
    ]
    expected = np.stack(
        [reference_features(y, deltas=2, stats=ALL_STATS, **SMALL) for y in clips]
    )
    exact = MFCCEncoder(backend="librosa", deltas=2, stats=ALL_STATS, **SMALL)
    np.testing.assert_array_equal(exact.fit_transform(clips), expected)
    batched = MFCCEncoder(backend="torch", deltas=2, stats=ALL_STATS, **SMALL)
    out = batched.fit_transform(clips)
    assert relative_difference(out, expected).max() < 1e-4
    names = batched.get_feature_names_out()
    delta_mean = np.flatnonzero(names == "delta_mfcc0_mean")[0]
    assert np.all(out[3, delta_mean : delta_mean + 2 * SMALL["n_mfcc"]] == 0)


def test_torch_backend_matches_librosa_on_a_variable_length_batch():
    clips = varied_clips()
    # batch_size=5: several batches, each split into groups of similar length.
    encoder = MFCCEncoder(backend="torch", deltas=2, stats=ALL_STATS, batch_size=5)
    out = encoder.fit_transform(clips)
    expected = np.stack(
        [reference_features(y, deltas=2, stats=ALL_STATS) for y in clips]
    )
    difference = relative_difference(out, expected)
    names = encoder.get_feature_names_out()
    mean_std = np.array([name.endswith(("_mean", "_std")) for name in names])
    assert difference[:, mean_std].max() < 1e-4
    # Order statistics come from single frames, not averages: torch's float32
    # FFT (MKL) rounds a little more than numpy's, seen up to ~5e-5.
    assert difference[:, ~mean_std].max() < 2e-4
    # The default backend is the torch one.
    auto = MFCCEncoder(deltas=2, stats=ALL_STATS, batch_size=64).fit_transform(clips)
    np.testing.assert_allclose(auto, out, rtol=1e-5, atol=1e-5)


@pytest.mark.filterwarnings("ignore:n_fft=.* is too large:UserWarning")
@pytest.mark.parametrize(("n_fft", "hop_length"), [(511, 100), (256, 300)])
def test_torch_backend_matches_librosa_for_odd_windows_and_hops_past_them(
    n_fft, hop_length
):
    rng = np.random.default_rng(12)
    clips = [rng.normal(size=n).astype(np.float32) for n in (1, 50, 511, 700, 12345)]
    params = dict(sr=16000, n_fft=n_fft, hop_length=hop_length, n_mels=40)
    out = MFCCEncoder(deltas=2, stats=ALL_STATS, **params).fit_transform(clips)
    expected = np.stack(
        [reference_features(y, deltas=2, stats=ALL_STATS, **params) for y in clips]
    )
    assert relative_difference(out, expected).max() < 1e-4


def test_length_groups_and_their_size_limit_do_not_change_the_features(monkeypatch):
    import mmensemble.encoders._audio

    rng = np.random.default_rng(13)
    lengths = [100, 30000, 900, 4000, 4100, 12000, 950, 20000, 1, 5000]
    clips = [rng.normal(size=n).astype(np.float32) for n in lengths]
    whole = MFCCEncoder(deltas=1, stats=ALL_STATS, **SMALL).fit_transform(clips)
    # Groups of at most 5000 samples: the long clips alone, the others split.
    small = {"cpu": 5000, "other": 5000}
    monkeypatch.setattr(mmensemble.encoders._audio, "_MAX_GROUP_SAMPLES", small)
    split = MFCCEncoder(deltas=1, stats=ALL_STATS, **SMALL).fit_transform(clips)
    np.testing.assert_allclose(split, whole, rtol=1e-5, atol=1e-5)
    with pytest.warns(UserWarning, match="too large"):
        expected = np.stack(
            [reference_features(y, deltas=1, stats=ALL_STATS, **SMALL) for y in clips]
        )
    assert relative_difference(split, expected).max() < 2e-4


@pytest.mark.parametrize("backend", ["librosa", "torch"])
def test_silent_and_very_short_clips_give_finite_features_like_librosa(backend):
    rng = np.random.default_rng(2)
    clips = [
        np.zeros(22050, dtype=np.float32),
        rng.normal(size=1).astype(np.float32),
        rng.normal(size=300).astype(np.float32),
        np.zeros(1, dtype=np.float32),
        rng.normal(size=30000).astype(np.float32),
    ]
    out = MFCCEncoder(backend=backend, deltas=2, stats=ALL_STATS).fit_transform(clips)
    assert np.isfinite(out).all()
    with pytest.warns(UserWarning, match="too large"):
        expected = np.stack(
            [reference_features(y, deltas=2, stats=ALL_STATS) for y in clips]
        )
    assert relative_difference(out, expected).max() < 1e-4
    # Silence: -100 dB everywhere, so only the 0th coefficient is non-zero (up
    # to librosa's float32 rounding, ~1e-5 in its deltas).
    np.testing.assert_allclose(out[0], expected[0], rtol=1e-6, atol=1e-4)
    assert out[0, 0] == pytest.approx(-100 * np.sqrt(128), rel=1e-6)


def test_torch_thread_count_is_restored_after_concurrent_transforms():
    import torch

    before = torch.get_num_threads()
    clips = varied_clips(sr=SMALL["sr"])
    encoder = MFCCEncoder(backend="torch", batch_size=3, **SMALL).fit(clips)
    expected = encoder.transform(clips)
    with ThreadPoolExecutor(3) as pool:
        results = list(
            pool.map(lambda _: clone(encoder).fit(clips).transform(clips), range(3))
        )
    assert torch.get_num_threads() == before
    for result in results:
        np.testing.assert_array_equal(result, expected)


def test_torch_thread_counts_of_other_threads_are_left_alone():
    import threading

    import torch

    clips = varied_clips(sr=SMALL["sr"])
    encoder = MFCCEncoder(backend="torch", batch_size=16, **SMALL).fit(clips)
    before = torch.get_num_threads()
    seen, stop = set(), threading.Event()

    def watch():  # a thread already using torch
        torch.get_num_threads()
        while not stop.is_set():
            seen.add(torch.get_num_threads())

    def fresh():  # a thread first using torch after a transform
        seen.add(("fresh", torch.get_num_threads()))

    watcher = threading.Thread(target=watch)
    watcher.start()
    for _ in range(3):
        encoder.transform(clips)
        thread = threading.Thread(target=fresh)
        thread.start()
        thread.join()
    stop.set()
    watcher.join()
    assert seen == {before, ("fresh", before)}
    assert torch.get_num_threads() == before


def test_torch_features_do_not_depend_on_the_thread_count():
    import torch

    clips = varied_clips()
    encoder = MFCCEncoder(backend="torch", deltas=2, stats=ALL_STATS).fit(clips)
    threads = torch.get_num_threads()
    try:
        outputs = []
        for n_threads in (1, 2, 3):
            torch.set_num_threads(n_threads)
            with mmensemble.config_context(memory_cache_bytes=0):
                outputs.append(encoder.transform(clips))
    finally:
        torch.set_num_threads(threads)
    for out in outputs[1:]:
        np.testing.assert_array_equal(out, outputs[0])


# -------------------------------------------------------------------- cells


def test_array_sr_tuple_is_resampled_like_librosa_resample():
    rng = np.random.default_rng(3)
    y = rng.normal(size=44100 // 2).astype(np.float32)
    encoder = MFCCEncoder(**SMALL).fit([y])
    by_hand = librosa.resample(y, orig_sr=44100, target_sr=SMALL["sr"])
    np.testing.assert_array_equal(
        encoder.transform([(y, 44100)]), encoder.transform([by_hand])
    )
    # A tuple at the encoder's rate is taken as it is.
    np.testing.assert_array_equal(
        encoder.transform([(by_hand, SMALL["sr"])]), encoder.transform([by_hand])
    )


def test_multichannel_arrays_are_averaged_to_mono():
    rng = np.random.default_rng(4)
    stereo = rng.normal(size=(2, 4000)).astype(np.float32)
    encoder = MFCCEncoder(**SMALL).fit([stereo])
    mono = encoder.transform([stereo.mean(axis=0)])
    np.testing.assert_array_equal(encoder.transform([stereo]), mono)
    np.testing.assert_array_equal(encoder.transform([stereo.T]), mono)


# librosa.load lists audioread's backends first, which imports the stdlib's
# deprecated aifc, audioop and sunau (Python 3.11-3.12); the encoder does not.
@pytest.mark.filterwarnings(
    "ignore:.* is deprecated and slated for removal:DeprecationWarning"
)
def test_wav_and_flac_files_match_librosa_load(tmp_path):
    rng = np.random.default_rng(5)
    sr = SMALL["sr"]
    t = np.arange(sr) / sr
    tone = (0.3 * np.sin(2 * np.pi * 440 * t) + rng.normal(0, 0.01, sr)).astype(
        np.float32
    )
    stereo = np.stack([tone, tone[::-1]], axis=1)
    soundfile.write(tmp_path / "mono.wav", tone, sr, subtype="FLOAT")
    soundfile.write(tmp_path / "stereo.flac", stereo, sr, subtype="PCM_16")
    soundfile.write(tmp_path / "fast.wav", tone, 2 * sr, subtype="PCM_16")
    paths = [
        str(tmp_path / "mono.wav"),
        tmp_path / "stereo.flac",
        tmp_path / "fast.wav",
    ]
    out = MFCCEncoder(backend="librosa", **SMALL).fit_transform(paths)
    expected = np.stack(
        [reference_features(librosa.load(p, sr=sr)[0], **SMALL) for p in paths]
    )
    np.testing.assert_array_equal(out, expected)
    batched = MFCCEncoder(**SMALL).fit_transform(paths)
    assert relative_difference(batched, expected).max() < 1e-4


def test_formats_soundfile_cannot_read_go_to_ffmpeg(tmp_path, monkeypatch):
    """The ffmpeg fallback, with a stand-in decoder (ffmpeg may not be installed)."""
    import audioread.ffdec

    source = tmp_path / "source.wav"
    rng = np.random.default_rng(6)
    pcm = (rng.normal(0, 3000, size=(4000, 2))).astype("<i2")
    with wave.open(str(source), "wb") as file:
        file.setnchannels(2)
        file.setsampwidth(2)
        file.setframerate(16000)
        file.writeframes(pcm.tobytes())

    class FakeFFmpegAudioFile:
        """Decodes our WAV, whatever the path, in audioread's interface."""

        def __init__(self, path):
            self._wave = wave.open(str(source), "rb")
            self.samplerate = self._wave.getframerate()
            self.channels = self._wave.getnchannels()
            self.duration = self._wave.getnframes() / self.samplerate

        def __iter__(self):
            while block := self._wave.readframes(1024):
                yield block

        def __enter__(self):
            return self

        def __exit__(self, *exc_info):
            self._wave.close()

    monkeypatch.setattr(audioread.ffdec, "FFmpegAudioFile", FakeFFmpegAudioFile)
    clip = tmp_path / "clip.m4a"
    clip.write_bytes(b"\x00\x00\x00\x20ftypM4A not something libsndfile reads")
    encoder = MFCCEncoder(**SMALL).fit([clip])
    mono = (pcm.astype(np.float32) / 32768).T.mean(axis=0)
    expected = encoder.transform([(mono, 16000)])
    np.testing.assert_array_equal(encoder.transform([clip]), expected)


def test_missing_cells_give_nan_rows_and_are_never_decoded():
    y = np.random.default_rng(7).normal(size=2000).astype(np.float32)
    cells = pd.Series([y, None, np.nan, pd.NA, (y, 8000)], index=list("abcde"))
    out = MFCCEncoder(**SMALL).fit_transform(cells)
    assert out.shape == (5, 26) and out.dtype == np.float32
    assert np.isnan(out[1:4]).all()
    assert np.isfinite(out[[0, 4]]).all()
    np.testing.assert_array_equal(out[0], out[4])


def bad_cells(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("this is not audio\n" * 20)
    rng = np.random.default_rng(8)
    with_nan = rng.normal(size=1000)
    with_nan[17] = np.nan
    return {
        "nan sample": (with_nan, "non-finite sample.*first at sample 17"),
        "inf sample": (np.array([0.1, np.inf]), "non-finite"),
        "float32 overflow": (np.array([0.1, 1e300, 0.2]), "beyond the float32 range"),
        "empty array": (np.array([], dtype=np.float32), "empty"),
        "square 2-D": (np.zeros((100, 100)), r"shape \(100, 100\) is not a multi"),
        "too many channels": (np.zeros((20, 1000)), "at most 8 channels"),
        "3-D": (np.zeros((2, 3, 100)), "1-D waveform"),
        "integers": (np.arange(100), "integers"),
        "number": (3.5, "got float 3.5"),
        "strings": (["a", "b"], "float samples"),
        "bytes": (b"RIFF....WAVE", "raw bytes"),
        "non-audio file": (str(text), "is not an audio file soundfile"),
        "no such file": (str(tmp_path / "nope.wav"), "no such audio file"),
        "directory": (str(tmp_path), "is a directory, not a file"),
        "bad sr": ((np.zeros(100), -1), "positive finite number, got -1"),
        "infinite sr": ((np.zeros(100), np.inf), "positive finite number, got inf"),
        "sub-sample clip": ((np.zeros(3), 1e9), "shorter than one sample"),
        "long tuple": ((np.zeros(100), 8000, 1), "tuple of 3 items"),
        "too long": (np.zeros(8000 * 3, dtype=np.float32), "lasts 3.0 s.*max_duration"),
    }


@pytest.mark.parametrize(
    "case",
    [
        "nan sample",
        "inf sample",
        "float32 overflow",
        "empty array",
        "square 2-D",
        "too many channels",
        "3-D",
        "integers",
        "number",
        "strings",
        "bytes",
        "non-audio file",
        "no such file",
        "directory",
        "bad sr",
        "infinite sr",
        "sub-sample clip",
        "long tuple",
        "too long",
    ],
)
def test_bad_cell_raises_naming_row_and_column(case, tmp_path):
    cell, reason = bad_cells(tmp_path)[case]
    good = np.zeros(800, dtype=np.float32)
    cells = pd.Series([good, good, cell], index=[10, 11, 12], name="clip")
    encoder = MFCCEncoder(max_duration=2.0, **SMALL).fit(cells)
    with pytest.raises(CellDecodeError, match="row 12, column 'clip'") as info:
        encoder.transform(cells)
    assert info.match(reason)


def test_on_error_missing_gives_nan_rows_a_warning_and_an_errors_table(tmp_path):
    cases = bad_cells(tmp_path)
    y = np.random.default_rng(9).normal(size=2000).astype(np.float32)
    cells = pd.Series(
        [y, cases["non-audio file"][0], None, cases["nan sample"][0], y],
        index=["a", "b", "c", "d", "e"],
        name="voice",
    )
    encoder = MFCCEncoder(on_error="missing", **SMALL)
    with pytest.warns(BadCellWarning, match="2 cell"):
        out = encoder.fit_transform(cells)
    assert np.isnan(out[1:4]).all() and np.isfinite(out[[0, 4]]).all()
    assert encoder.errors_["row"].tolist() == ["b", "d"]
    assert (encoder.errors_["column"] == "voice").all()
    assert encoder.errors_["reason"].str.contains("non-finite").tolist() == [
        False,
        True,
    ]


# ------------------------------------------------------------ sklearn side


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (dict(stats=("mean", "mode")), r"stats=\('mean', 'mode'\)"),
        (dict(stats=()), r"stats=\(\)"),
        (dict(stats=("mean", "mean")), "twice"),
        (dict(stats="mean"), "'stats' parameter"),
        (dict(n_mfcc=50, n_mels=40), "n_mfcc=50 is larger than n_mels=40"),
        (dict(fmin=5000.0, fmax=4000.0), "fmin=5000.0 must be below fmax=4000.0"),
        (dict(deltas=3), "'deltas' parameter"),
        (dict(backend="numpy"), "'backend' parameter"),
        (dict(device="gpu9"), "device='gpu9' is not a torch device"),
    ],
)
def test_invalid_parameters_are_named_in_fit(params, message):
    with pytest.raises(ValueError, match=message):
        MFCCEncoder(**params).fit([np.zeros(100)])


def test_feature_names_are_stat_major_and_match_the_columns():
    y = np.random.default_rng(10).normal(size=4000).astype(np.float32)
    encoder = MFCCEncoder(deltas=2, stats=("std", "max"), backend="librosa", **SMALL)
    out = encoder.fit_transform([y])
    names = encoder.get_feature_names_out()
    n = SMALL["n_mfcc"]
    assert len(names) == out.shape[1] == encoder.n_features_out_ == n * 3 * 2
    assert names[[0, n, 2 * n, 3 * n, -1]].tolist() == [
        "mfcc0_std",
        "delta_mfcc0_std",
        "delta2_mfcc0_std",
        "mfcc0_max",
        f"delta2_mfcc{n - 1}_max",
    ]
    mfcc = librosa.feature.mfcc(y=y, **SMALL).astype(np.float64)
    assert out[0, list(names).index("mfcc3_max")] == np.float32(mfcc[3].max())


@pytest.mark.parametrize("backend", ["librosa", "torch"])
def test_clone_and_pickle_round_trip(backend):
    clips = varied_clips(sr=SMALL["sr"])[:4]
    encoder = MFCCEncoder(backend=backend, deltas=1, **SMALL)
    assert clone(encoder).get_params() == encoder.get_params()
    fitted = encoder.fit(clips)
    expected = fitted.transform(clips)
    payload = pickle.dumps(fitted)
    assert b"_torch_mfcc" not in payload
    restored = pickle.loads(payload)
    np.testing.assert_array_equal(restored.transform(clips), expected)
    assert restored.get_params() == encoder.get_params()


def test_pandas_output():
    clips = pd.Series(varied_clips(sr=SMALL["sr"])[:3], index=[7, 8, 9], name="clip")
    encoder = MFCCEncoder(**SMALL).set_output(transform="pandas")
    frame = encoder.fit_transform(clips)
    assert isinstance(frame, pd.DataFrame)
    assert frame.index.tolist() == [7, 8, 9]
    assert frame.columns.tolist() == encoder.get_feature_names_out().tolist()


def test_pipeline_classifies_tones_by_frequency():
    rng = np.random.default_rng(11)
    sr = SMALL["sr"]
    clips, labels = [], []
    for label, frequency in enumerate((300.0, 900.0, 2000.0)):
        for _ in range(20):
            n = int(rng.integers(sr // 4, sr))
            t = np.arange(n) / sr
            f = frequency * rng.uniform(0.95, 1.05)
            phase = rng.uniform(0, 2 * np.pi)
            y = rng.uniform(0.1, 0.8) * np.sin(2 * np.pi * f * t + phase)
            clips.append((y + rng.normal(0, 0.05, n)).astype(np.float32))
            labels.append(label)
    X = pd.Series(clips, name="clip")
    model = make_pipeline(
        MFCCEncoder(**SMALL), StandardScaler(), LogisticRegression(max_iter=1000)
    )
    scores = cross_val_score(model, X, np.array(labels), cv=3)
    assert scores.mean() > 0.9


def test_path_objects_and_strings_give_the_same_features(tmp_path):
    y = np.random.default_rng(12).normal(0, 0.1, 3000).astype(np.float32)
    path = tmp_path / "clip.wav"
    soundfile.write(path, y, SMALL["sr"], subtype="FLOAT")
    encoder = MFCCEncoder(**SMALL).fit([path])
    np.testing.assert_array_equal(
        encoder.transform([Path(path)]), encoder.transform([str(path)])
    )
    np.testing.assert_array_equal(encoder.transform([path]), encoder.transform([y]))
