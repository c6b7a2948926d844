"""Accuracy and speed of SignalEncoder on real recorded series shipped with aeon.

Data sets (UCR/UEA archive files bundled in the ``aeon`` wheel, train/test split
as shipped):

- BasicMotions: a smartwatch's 3-axis accelerometer and 3-axis gyroscope
  (6 channels, 10 Hz, 100 timesteps), 4 activities, 40 / 40 series;
- JapaneseVowels: 12 LPC cepstrum coefficients of uttered vowels, 7 to 29
  frames, 9 speakers, 270 / 370 series;
- PickupGestureWiimoteZ: a Wii remote's Z-axis accelerometer, 29 to 361
  timesteps, 10 gestures, 50 / 50 series;
- GunPoint: the hand's X position in a video of drawing a gun (150
  timesteps), 2 classes, 50 / 150 series.

Methods, all in the same run:

- SignalEncoder with each feature set (the descriptive blocks, their subsets,
  MiniRocket with 10,000 kernels (the default) and with 1,000, both kinds
  together), then ``StandardScaler`` and ``RidgeClassifierCV`` (alphas
  ``logspace(-3, 3, 10)``, MiniRocket's usual head); the descriptive
  features also with ``ExtraTreesClassifier(500)``;
- baseline 1: aeon's ``KNeighborsTimeSeriesClassifier(distance="dtw")``
  (1-NN, full-window DTW; unequal lengths as they are);
- baseline 2: aeon's own parts, ``Padder`` and ``Truncator`` (zero padding
  to the longest training series, longer test series cut) then ``MiniRocket``
  and the same head.

Every method runs ``--n-seeds`` times (MiniRocket with ``random_state=0``,
1, ..., and 10,000 kernels): accuracies are means (± the standard deviation
where the runs differ); seconds are the medians of the wall clock and of the
process's CPU time (all threads; steadier than the wall clock on a shared
machine) for fitting on the training split and predicting the test split, with
the encoder's in-memory cache off, so that every run encodes afresh. numba's
compilation of MiniRocket and DTW is done by a warm-up before the clocks start
(numba caches it on disk; the first run of a fresh installation compiles for
about 20 s).

Run it with::

    python benchmarks/signal_accuracy.py            # about 3 minutes on 2 busy cores
    python benchmarks/signal_accuracy.py --n-seeds 1 --datasets BasicMotions
"""

import argparse
import time

import numpy as np
from aeon.classification.distance_based import KNeighborsTimeSeriesClassifier
from aeon.datasets import load_classification
from aeon.transformations.collection.convolution_based import MiniRocket
from aeon.transformations.collection.unequal_length import Padder, Truncator
from sklearn.ensemble import ExtraTreesClassifier
from sklearn.linear_model import RidgeClassifierCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import mmensemble
from mmensemble import SignalEncoder

DATASETS = {  # name: sampling rate in Hz (1.0 where the archive gives none)
    "BasicMotions": 10.0,
    "JapaneseVowels": 1.0,
    "PickupGestureWiimoteZ": 1.0,
    "GunPoint": 1.0,
}
STATISTICS = ("mean", "std", "min", "max", "quantiles", "slope")
DESCRIPTIVE = (*STATISTICS, "band_power", "correlation")


def head(seed):
    return make_pipeline(
        StandardScaler(), RidgeClassifierCV(alphas=np.logspace(-3, 3, 10))
    )


def trees(seed):
    return ExtraTreesClassifier(500, random_state=seed)


# label: SignalEncoder parameters (besides sr and layout) and the head
VARIANTS = {
    "statistics": ({"features": STATISTICS}, head),
    "band powers": ({"features": ("band_power",)}, head),
    "correlations": ({"features": ("correlation",)}, head),
    "descriptive (stats+bands+corr)": ({"features": DESCRIPTIVE}, head),
    "descriptive, ExtraTrees head": ({"features": DESCRIPTIVE}, trees),
    "minirocket (default)": ({}, head),
    "minirocket, 1,000 kernels": ({"minirocket_kernels": 1000}, head),
    "descriptive + minirocket": ({"features": (*DESCRIPTIVE, "minirocket")}, head),
}


def load(name):
    """Train and test series as lists of ``(n_channels, n_timesteps)`` arrays."""
    splits = []
    for split in ("train", "test"):
        X, y = load_classification(name, split=split)
        splits.append(([np.asarray(x, dtype=np.float64) for x in X], np.asarray(y)))
    return splits


def run_encoder(params, classifier, sr, seed, train, test):
    encoder = SignalEncoder(sr=sr, layout="channels_first", random_state=seed, **params)
    model = make_pipeline(encoder, classifier(seed))
    model.fit(train[0], train[1])
    return model.predict(test[0])


def run_dtw(seed, train, test):
    knn = KNeighborsTimeSeriesClassifier(distance="dtw", n_neighbors=1)
    knn.fit(train[0], train[1])
    return knn.predict(test[0])


def run_aeon_minirocket(seed, train, test):
    length = max(x.shape[1] for x in train[0])
    padder = Padder(padded_length=length, error_on_long=False)
    truncator = Truncator(truncated_length=length, error_on_short=False)

    def equal_length(series):
        return truncator.fit_transform(padder.fit_transform(series))

    rocket = MiniRocket(random_state=seed).fit(equal_length(train[0]))
    classifier = head(seed).fit(rocket.transform(equal_length(train[0])), train[1])
    return classifier.predict(rocket.transform(equal_length(test[0])))


def timed(run, seeds, train, test):
    """Accuracy, wall-clock and CPU seconds of each seed's run."""
    runs = []
    for seed in seeds:
        wall, cpu = time.perf_counter(), time.process_time()
        predicted = run(seed, train, test)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        runs.append((float(np.mean(predicted == test[1])), wall, cpu))
    return runs


def warm_up():
    """Compile (or load from numba's cache) MiniRocket's and DTW's functions."""
    rng = np.random.default_rng(0)
    labels = np.array([0, 1, 0, 1])
    for channels in (1, 2):
        series = rng.normal(size=(4, channels, 20)).astype(np.float32)
        MiniRocket(n_kernels=84, random_state=0).fit(series).transform(series)
        knn = KNeighborsTimeSeriesClassifier(distance="dtw")
        knn.fit(series, labels).predict(series)
        knn.fit(list(series), labels).predict(list(series))


def benchmark(name, sr, n_seeds):
    train, test = load(name)
    lengths = [x.shape[1] for x in train[0] + test[0]]
    print(
        f"\n{name}: {len(train[0])} train / {len(test[0])} test series, "
        f"{train[0][0].shape[0]} channel(s), {min(lengths)}-{max(lengths)} "
        f"timesteps, {len(np.unique(train[1]))} classes"
    )
    rows = []
    seeds = range(n_seeds)
    univariate = train[0][0].shape[0] == 1
    with mmensemble.config_context(memory_cache_bytes=0):
        for label, (params, classifier) in VARIANTS.items():
            if params.get("features") == ("correlation",) and univariate:
                continue  # no pair of channels

            def run(seed, train, test, params=params, classifier=classifier):
                return run_encoder(params, classifier, sr, seed, train, test)

            rows.append((f"SignalEncoder {label}", timed(run, seeds, train, test)))
    rows.append(("baseline: 1-NN DTW (aeon)", timed(run_dtw, seeds, train, test)))
    rows.append(
        (
            "baseline: pad + MiniRocket + ridge (aeon)",
            timed(run_aeon_minirocket, seeds, train, test),
        )
    )
    print("| method | accuracy | wall s | CPU s |")
    print("|---|---|---|---|")
    for label, runs in rows:
        accuracy, wall, cpu = np.array(runs).T
        spread = f" ± {np.std(accuracy):.3f}" if np.ptp(accuracy) > 0 else ""
        print(
            f"| {label} | {np.mean(accuracy):.3f}{spread} | {np.median(wall):.2f} "
            f"| {np.median(cpu):.2f} |"
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-seeds", type=int, default=3)
    parser.add_argument(
        "--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS)
    )
    args = parser.parse_args()
    warm_up()
    for name in args.datasets:
        benchmark(name, DATASETS[name], args.n_seeds)


if __name__ == "__main__":
    main()
