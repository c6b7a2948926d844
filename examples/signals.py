"""Sensor signals with another modality: SignalEncoder inside FeatureFusion.

BasicMotions (bundled with aeon, real recordings): a smartwatch's accelerometer
and gyroscope (6 channels, 10 Hz, 10 s) while standing, walking, running or
playing badminton. ``SignalEncoder`` turns each series into per-channel
statistics, band-power shares and channel correlations: 87 readable columns
(the default, MiniRocket, gives 9,996 and is as accurate on this data). A
synthetic tabular column, a noisy heart rate that is higher for the brisk
activities, is the second modality. A fifth of the test series are then
dropped: the fused model falls back on the heart rate for those rows (their
signal block is zero-filled, the scaled block's mean) instead of failing, as a
signal-only model would. Needs ``aeon`` for the data.
"""

import numpy as np
import pandas as pd
from aeon.datasets import load_basic_motions
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from mmensemble import FeatureFusion, SignalEncoder

rng = np.random.default_rng(0)
resting_rate = {"standing": 70, "walking": 95, "running": 150, "badminton": 140}


def frame(split):
    series, labels = load_basic_motions(split=split)
    heart_rate = [resting_rate[label] + rng.normal(0, 5) for label in labels]
    cells = pd.Series(list(series), dtype=object)  # each (6 channels, 100 steps)
    return pd.DataFrame({"imu": cells, "heart_rate": heart_rate}), labels


X_train, y_train = frame("train")
X_test, y_test = frame("test")

DESCRIPTIVE = (
    "mean",
    "std",
    "min",
    "max",
    "quantiles",
    "slope",
    "band_power",
    "correlation",
)
signal = SignalEncoder(sr=10.0, layout="channels_first", features=DESCRIPTIVE)
fused = make_pipeline(
    FeatureFusion([("imu", signal, "imu"), ("heart", "passthrough", ["heart_rate"])]),
    LogisticRegression(max_iter=5000),
)
fused.fit(X_train, y_train)
imu_only = make_pipeline(clone(signal), LogisticRegression(max_iter=5000))
imu_only.fit(X_train["imu"], y_train)
heart_only = LogisticRegression(max_iter=5000).fit(X_train[["heart_rate"]], y_train)

dropped = X_test.copy()
lost = rng.choice(len(dropped), size=len(dropped) // 5, replace=False)
dropped.loc[lost, "imu"] = None

names = fused[0].get_feature_names_out()
print(f"{len(names)} fused features, e.g. {list(names[:2])} ... {list(names[-3:])}")
print(f"signal-only accuracy: {imu_only.score(X_test['imu'], y_test):.3f}")
print(
    f"heart-rate-only accuracy: {heart_only.score(X_test[['heart_rate']], y_test):.3f}"
)
print(f"fused accuracy: {fused.score(X_test, y_test):.3f}")
print(
    f"fused accuracy with 20% of the series missing: {fused.score(dropped, y_test):.3f}"
)
