"""Speech encoding at predict time needs neither librosa nor its numba start-up."""

import subprocess
import sys

import librosa
import numpy as np
import pytest

from mmensemble.encoders._audio_io import _resample
from mmensemble.encoders._whisper import _mel_filters


@pytest.mark.parametrize(
    ("orig_sr", "target_sr", "n"),
    [(8000, 16000, 4001), (44100, 16000, 9999), (22050, 8000, 777)],
)
def test_resampling_equals_librosa(orig_sr, target_sr, n):
    waveform = np.random.default_rng(n).normal(size=n).astype(np.float32)
    ours = _resample(waveform, orig_sr, target_sr)
    theirs = librosa.resample(waveform, orig_sr=orig_sr, target_sr=target_sr)
    assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
    np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("n_mels", [80, 128])
def test_shipped_mel_filters_are_librosas(n_mels):
    expected = librosa.filters.mel(sr=16000, n_fft=400, n_mels=n_mels)
    np.testing.assert_array_equal(_mel_filters(n_mels).toarray(), expected)


def test_whisper_encoding_in_a_fresh_process_imports_no_librosa():
    code = (
        "import sys, numpy as np\n"
        "from mmensemble import WhisperEncoder\n"
        "clip = (np.sin(np.arange(8000) / 5.0), 8000)\n"
        "out = WhisperEncoder().fit_transform([clip])\n"
        "assert np.isfinite(out).all()\n"
        "print(sorted(m for m in ('librosa', 'numba', 'torch') if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"
