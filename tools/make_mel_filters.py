"""Write Whisper's mel filter banks, shipped in the package, from librosa.

Whisper computes its log-mel features with the Slaney-style mel filters of
``librosa.filters.mel(sr=16000, n_fft=400, n_mels=n)`` (80 bands, 128 for
large-v3) and ships them as an ``.npz`` file so that feature extraction needs
no librosa; mmensemble does the same, so that a ``WhisperEncoder`` predicting
in a fresh process does not pay librosa's (numba's) import.
``tests/encoders/test_whisper.py`` checks the shipped banks against librosa.

Run: ``python tools/make_mel_filters.py``.
"""

from pathlib import Path

import librosa
import numpy as np

OUT = Path(__file__).parents[1] / "mmensemble" / "encoders" / "data" / "mel_filters.npz"


def main():
    banks = {
        f"mel_{n_mels}": librosa.filters.mel(sr=16000, n_fft=400, n_mels=n_mels)
        for n_mels in (80, 128)
    }
    np.savez_compressed(
        OUT, **{name: bank.astype(np.float32) for name, bank in banks.items()}
    )
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
