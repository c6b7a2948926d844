"""Throughput of MFCCEncoder against a plain librosa loop, on WAV files.

Writes ``--n-files`` WAV files of 1 to 4 s (tones plus noise, 16-bit PCM, at
``--sr``) into a temporary directory, then times

(a) the baseline: for each path, ``librosa.load(path, sr=sr)``,
    ``librosa.feature.mfcc`` and the mean and standard deviation over time;
(b) ``MFCCEncoder(sr=sr).fit_transform(paths)`` (torch backend, files read
    with soundfile in threads, clips of similar length batched).

The files are written at ``sr``, so neither side resamples. Both sides get a
short warm-up (imports, FFT plans) before the clock starts, and the encoder's
in-memory cache is off. The baseline runs with numpy's BLAS on one thread: its
matrices are small, and on a busy machine OpenBLAS's threads slow it down
several-fold, which would flatter the encoder.

Prints clips per second, the speed ratio and the largest difference between
the two feature matrices, as ``|a - b| / max(|b|, 1)`` (features are in dB).

Run it with::

    python benchmarks/mfcc_throughput.py --n-files 1000
"""

import argparse
import os
import tempfile
from pathlib import Path

import librosa
import numpy as np
import soundfile
from _timing import machine, timed
from threadpoolctl import threadpool_limits

import mmensemble
from mmensemble import MFCCEncoder


def write_clips(directory, n_files, sr, seed):
    """Write random tones-plus-noise WAV files; return their paths."""
    rng = np.random.default_rng(seed)
    paths = []
    for index in range(n_files):
        n = int(rng.uniform(1.0, 4.0) * sr)
        t = np.arange(n) / sr
        y = rng.normal(0, rng.uniform(0.001, 0.05), n)
        for _ in range(rng.integers(1, 4)):
            frequency = rng.uniform(80, sr / 4)
            y += rng.uniform(0.05, 0.3) * np.sin(2 * np.pi * frequency * t)
        path = Path(directory) / f"clip{index:05d}.wav"
        soundfile.write(path, np.clip(y, -1, 1), sr, subtype="PCM_16")
        paths.append(str(path))
    return paths


def baseline(paths, sr):
    """The plain loop: load, MFCC, mean and std, one file after the other."""
    rows = []
    for path in paths:
        y, _ = librosa.load(path, sr=sr)
        mfcc = librosa.feature.mfcc(y=y, sr=sr).astype(np.float64)
        rows.append(np.concatenate([mfcc.mean(axis=1), mfcc.std(axis=1)]))
    return np.asarray(rows, dtype=np.float32)


def encoder(paths, sr):
    return MFCCEncoder(sr=sr).fit_transform(paths)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-files", type=int, default=1000)
    parser.add_argument("--sr", type=int, default=22050, choices=[16000, 22050])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    print(f"{machine()}, librosa {librosa.__version__}")
    with tempfile.TemporaryDirectory() as directory:
        paths, seconds, _ = timed(
            write_clips, directory, args.n_files, args.sr, args.seed
        )
        print(
            f"wrote {len(paths)} WAV files of 1-4 s at {args.sr} Hz in {seconds:.1f} s"
        )
        with mmensemble.config_context(memory_cache_bytes=0):
            with threadpool_limits(limits=1, user_api="blas"):
                baseline(paths[:4], args.sr)
                expected, baseline_seconds, baseline_cpu = timed(
                    baseline, paths, args.sr
                )
            encoder(paths[:4], args.sr)
            features, encoder_seconds, encoder_cpu = timed(encoder, paths, args.sr)

    n = len(paths)
    difference = np.abs(features - expected) / np.maximum(np.abs(expected), 1.0)
    for name, seconds, cpu in [
        (
            "baseline (librosa.load + librosa.feature.mfcc loop)",
            baseline_seconds,
            baseline_cpu,
        ),
        (
            f"MFCCEncoder(sr={args.sr}).fit_transform(paths)",
            encoder_seconds,
            encoder_cpu,
        ),
    ]:
        print(
            f"{name:52s} {n / seconds:7.1f} clips/s ({seconds:.1f} s wall, "
            f"{1000 * cpu / n:.2f} ms CPU per clip)"
        )
    print(f"speed ratio (wall clock): {baseline_seconds / encoder_seconds:.2f}x")
    print(f"CPU time ratio:           {baseline_cpu / encoder_cpu:.2f}x")
    print(f"load average during the run: {os.getloadavg()[0]:.1f}")
    print(f"max relative difference of the features: {difference.max():.2e}")


if __name__ == "__main__":
    main()
