"""SignalEncoder: cell forms, gaps, features against NumPy/SciPy, bad cells, MiniRocket.

sklearn's ``parametrize_with_checks`` does not apply: its checks feed numeric
matrices and expect one output column per input column (or a transformer of
``n_features`` columns), whereas a SignalEncoder reads each row of a matrix as
one whole series and summarises it; the encoder declares
``two_d_array=False`` and is checked by the encoder contract test instead.
"""

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import signal
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline

import mmensemble
from mmensemble import (
    BadCellWarning,
    CellDecodeError,
    FeatureFusion,
    MMEnsembleError,
    SignalEncoder,
)

STATS = ("mean", "std", "min", "max", "quantiles", "slope")
DESCRIPTIVE = (*STATS, "band_power", "correlation")


def series(n=64, channels=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, channels)).cumsum(axis=0)


def encode(cells, **params):
    return SignalEncoder(**{"features": DESCRIPTIVE, **params}).fit_transform(cells)


# ------------------------------------------------------------------ cell forms


def test_layouts_1d_and_files_give_the_same_features(tmp_path):
    x = series()
    npy = tmp_path / "a.npy"
    np.save(npy, x)
    csv = tmp_path / "a.csv"
    pd.DataFrame(x, columns=["ax", "ay", "az"]).to_csv(csv, index=False)
    bare_csv = tmp_path / "b.csv"
    np.savetxt(bare_csv, x, delimiter=",")
    tsv = tmp_path / "a.tsv"
    np.savetxt(tsv, x, delimiter="\t")
    expected = encode([x])
    for cell in (npy, str(csv), bare_csv, tsv):
        np.testing.assert_allclose(encode([cell]), expected, rtol=1e-6)
    channels_first = encode([x.T], layout="channels_first")
    np.testing.assert_allclose(channels_first, expected, rtol=1e-6)
    np.save(tmp_path / "t.npy", x.T)
    np.testing.assert_allclose(
        encode([tmp_path / "t.npy"], layout="channels_first"), expected, rtol=1e-6
    )
    one = x[:, 0]
    np.testing.assert_allclose(encode([one]), encode([one[:, None]]), rtol=1e-6)
    assert encode([list(one)]).shape == encode([one]).shape


def test_a_3d_stack_is_one_series_per_row_as_aeon_lays_it_out():
    stack = np.stack([series(seed=k).T for k in range(3)])  # (cases, channels, time)
    encoder = SignalEncoder(layout="channels_first", random_state=0)  # MiniRocket
    np.testing.assert_allclose(
        encoder.fit_transform(stack), encoder.fit_transform(list(stack))
    )


def test_variable_lengths_give_one_width_and_per_row_features():
    cells = [series(n, seed=n) for n in (5, 40, 300)]
    out = encode(cells)
    assert out.shape[0] == 3 and np.isfinite(out).all()
    for row, cell in enumerate(cells):
        np.testing.assert_allclose(out[row], encode([cell])[0], rtol=1e-6)


def test_a_single_sample_series_is_encoded():
    out = encode([np.array([[1.0, 2.0]])], n_channels=2)
    assert np.isfinite(out).all()


def test_array_sr_cells_are_resampled_to_sr():
    t10 = np.arange(400) / 10.0
    t20 = np.arange(800) / 20.0
    slow = np.sin(2 * np.pi * 1.0 * t10)
    fast = np.sin(2 * np.pi * 1.0 * t20)
    encoder = SignalEncoder(sr=10.0, features=("std", "band_power"), bands=5)
    out = encoder.fit_transform([slow, (fast, 20.0)])
    np.testing.assert_allclose(out[1], out[0], atol=0.02)


# ---------------------------------------------------------------------- gaps


def test_nan_gaps_are_interpolated_linearly():
    ramp = np.arange(20, dtype=float)
    gappy = ramp.copy()
    gappy[5:9] = np.nan
    params = {"features": ("mean", "slope", "quantiles")}
    np.testing.assert_allclose(encode([gappy], **params), encode([ramp], **params))
    ends = ramp.copy()
    ends[:3] = np.nan
    ends[-2:] = np.nan
    filled = np.concatenate([[3.0] * 3, ramp[3:-2], [17.0] * 2])
    np.testing.assert_allclose(encode([ends], **params), encode([filled], **params))


def test_an_all_nan_channel_is_a_bad_cell():
    x = series()
    x[:, 1] = np.nan
    with pytest.raises(CellDecodeError, match="channel 1 has no value"):
        encode([series(), x])


# ------------------------------------------------------------------ features


def test_statistics_match_numpy():
    x = series(n=101)
    encoder = SignalEncoder(sr=4.0, features=STATS, quantiles=(0.1, 0.5, 0.9))
    out = encoder.fit_transform([x])[0]
    t = np.arange(len(x)) / 4.0
    slopes = [np.polyfit(t, x[:, c], 1)[0] for c in range(3)]
    expected = np.concatenate(
        [
            x.mean(0),
            x.std(0),
            x.min(0),
            x.max(0),
            np.quantile(x, [0.1, 0.5, 0.9], axis=0).ravel(),
            slopes,
        ]
    )
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)
    names = encoder.get_feature_names_out().tolist()
    assert names[:4] == ["ch0_mean", "ch1_mean", "ch2_mean", "ch0_std"]
    assert names[12:16] == ["ch0_q10", "ch1_q10", "ch2_q10", "ch0_q50"]
    assert names[-1] == "ch2_slope"


def test_slope_of_a_ramp_is_its_rate_per_second():
    ramp = 0.5 * np.arange(50) + 7.0  # 0.5 per sample, 10 samples per second
    out = encode([ramp], sr=10.0, features=("slope",))
    np.testing.assert_allclose(out, [[5.0]], rtol=1e-6)


def test_band_power_of_a_sine_peaks_in_its_band_as_welch_says():
    sr = 16.0
    t = np.arange(512) / sr
    x = np.column_stack([np.sin(2 * np.pi * 3.0 * t), np.sin(2 * np.pi * 7.0 * t)])
    encoder = SignalEncoder(sr=sr, features=("band_power",), bands=4)
    shares = encoder.fit_transform([x])[0].reshape(2, 4)
    assert shares[0].argmax() == 1 and shares[0, 1] > 0.95  # 3 Hz in [2, 4)
    assert shares[1].argmax() == 3 and shares[1, 3] > 0.95  # 7 Hz in [6, 8]
    f, density = signal.welch(x[:, 0], fs=sr, nperseg=256)
    expected = density[(f >= 2) & (f < 4)].sum() / density.sum()
    np.testing.assert_allclose(shares[0, 1], expected, rtol=1e-5)
    assert encoder.get_feature_names_out()[:2].tolist() == [
        "ch0_power_0-2Hz",
        "ch0_power_2-4Hz",
    ]
    custom = SignalEncoder(sr=sr, features=("band_power",), bands=[(2.5, 3.5)])
    assert custom.fit_transform([x])[0, 0] > 0.9


def test_constant_channels_give_zero_shares_and_correlations():
    x = np.column_stack([np.ones(30), np.arange(30.0)])
    out = encode([x], features=("band_power", "correlation"), bands=2)
    np.testing.assert_allclose(out[0, :2], 0.0)
    np.testing.assert_allclose(out[0, -1], 0.0)


def test_correlations_match_corrcoef():
    x = series(channels=4)
    encoder = SignalEncoder(
        features=("correlation",), channel_names=["ax", "ay", "az", "g"]
    )
    out = encoder.fit_transform([x])[0]
    i, j = np.triu_indices(4, k=1)
    np.testing.assert_allclose(out, np.corrcoef(x.T)[i, j], rtol=1e-5)
    assert encoder.get_feature_names_out()[:2].tolist() == [
        "corr_ax_ay",
        "corr_ax_az",
    ]


def test_feature_names_count_and_order_follow_features():
    encoder = SignalEncoder(features=("max", "mean"), n_channels=2).fit([None])
    assert encoder.get_feature_names_out().tolist() == [
        "ch0_max",
        "ch1_max",
        "ch0_mean",
        "ch1_mean",
    ]


# ----------------------------------------------------------------- bad cells


def bad_cells(tmp_path):
    corrupt = tmp_path / "corrupt.npy"
    corrupt.write_bytes(b"not an npy file")
    text = tmp_path / "text.csv"
    text.write_text("1,2,3\n4,oops,6\n")
    infinite_csv = tmp_path / "inf.csv"
    infinite_csv.write_text("1,2,3\n4,inf,6\n")
    unknown = tmp_path / "a.wav"
    unknown.write_bytes(b"RIFF")
    return {
        "wrong channel count": series(channels=2),
        "non-numeric": np.array([["a", "b", "c"]] * 5),
        "all-NaN channel": np.column_stack(
            [np.ones(5), np.ones(5), np.full(5, np.nan)]
        ),
        "infinite": np.full((5, 3), np.inf),
        "beyond float32": np.full((5, 3), 1e300),
        "3-D": np.zeros((2, 5, 3)),
        "empty": np.zeros((0, 3)),
        "missing file": str(tmp_path / "nowhere.npy"),
        "corrupt npy": corrupt,
        "non-numeric csv": text,
        "infinite csv": infinite_csv,
        "unknown extension": unknown,
        "bad sr": (series(), -1.0),
        "ragged": [[1.0, 2.0, 3.0], [1.0]],
    }


def test_bad_cells_raise_naming_row_and_column(tmp_path):
    encoder = SignalEncoder().fit(pd.Series([series()], name="imu"))
    for label, cell in bad_cells(tmp_path).items():
        cells = pd.Series([series(), cell], index=[10, 11], name="imu")
        with pytest.raises(CellDecodeError, match=r"row 11, column 'imu'") as info:
            encoder.transform(cells)
        assert isinstance(info.value, MMEnsembleError), label


def test_bad_cells_become_missing_rows_under_missing_policy(tmp_path):
    cases = bad_cells(tmp_path)
    cells = pd.Series([series(), *cases.values(), None], name="imu")
    encoder = SignalEncoder(on_error="missing")
    with pytest.warns(BadCellWarning):
        out = encoder.fit_transform(cells)
    assert np.isfinite(out[0]).all()
    assert np.isnan(out[1:]).all()
    assert encoder.errors_["row"].tolist() == list(range(1, len(cases) + 1))
    reasons = dict(zip(cases, encoder.errors_["reason"], strict=True))
    assert "2 channel(s)" in reasons["wrong channel count"]
    assert "non-numeric" in reasons["non-numeric csv"]


FUZZED = SignalEncoder(
    features=("mean", "quantiles", "slope", "band_power", "correlation", "minirocket"),
    minirocket_kernels=84,
    random_state=0,
).fit([series()])
ARRAYS = hnp.arrays(
    dtype=hnp.floating_dtypes() | hnp.integer_dtypes() | hnp.boolean_dtypes(),
    shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=12),
)
CELLS = (
    ARRAYS
    | st.tuples(ARRAYS, st.floats(allow_nan=True, allow_infinity=True))
    | st.lists(st.floats() | st.none() | st.text(max_size=2), max_size=10)
    | st.text(max_size=8)
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(cell=CELLS)
def test_any_cell_gives_a_finite_row_or_a_named_bad_cell(cell):
    cells = pd.Series([series(), None], name="imu")
    cells[1] = cell
    try:
        out = FUZZED.transform(cells)
    except CellDecodeError as exc:
        assert exc.row == 1 and exc.column == "imu"
        lenient = clone(FUZZED).set_params(on_error="missing").fit([series()])
        with pytest.warns(BadCellWarning):
            out = lenient.transform(cells)
        assert np.isnan(out[1]).all()
    else:
        assert np.isfinite(out[1]).all() or np.isnan(out[1]).all()
    assert np.isfinite(out[0]).all()


def test_max_length_refuses_long_series_before_reading(tmp_path):
    path = tmp_path / "long.npy"
    np.save(path, np.zeros((100, 3)))
    encoder = SignalEncoder(max_length=50).fit([series(n=10)])
    with pytest.raises(CellDecodeError, match="more than max_length=50"):
        encoder.transform([path])


def test_missing_cells_give_nan_rows_and_never_decode():
    cells = pd.Series([None, series(), np.nan, pd.NA])
    out = encode(cells)
    assert np.isnan(out[[0, 2, 3]]).all() and np.isfinite(out[1]).all()


def test_channel_count_comes_from_the_first_series_of_fit():
    encoder = SignalEncoder(on_error="missing").fit([None, series(channels=4)])
    assert encoder.n_channels_ == 4
    with pytest.warns(BadCellWarning):
        out = encoder.transform([series(channels=3)])
    assert np.isnan(out).all()


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"features": ("mean", "median")}, "features="),
        ({"features": ("mean", "mean")}, "twice"),
        ({"features": ()}, "features="),
        ({"quantiles": (0.5, 1.5)}, "quantiles="),
        ({"bands": [(0.1, 0.9)]}, "sr / 2"),
        ({"bands": [(0.3, 0.2)]}, "low < high"),
        ({"channel_names": ["a", "b"]}, "names 2 channels"),
        ({"features": ("correlation",), "n_channels": 1}, "gives no feature"),
    ],
)
def test_invalid_parameters_name_the_parameter(params, match):
    with pytest.raises(MMEnsembleError, match=match):
        SignalEncoder(**{"features": DESCRIPTIVE, **params}).fit(
            [series()[:, :1] if "n_channels" in params else series()]
        )


def test_fit_without_any_decodable_series_says_so():
    with pytest.raises(MMEnsembleError, match="give n_channels"):
        SignalEncoder(on_error="missing").fit([None, "nowhere.npy"])


# --------------------------------------------------------------- MiniRocket


def minirocket(**params):
    params = {"minirocket_kernels": 168, "random_state": 0, **params}
    return SignalEncoder(features=("minirocket",), **params)


def test_minirocket_is_fitted_on_the_training_series_as_aeon_fits_it():
    from aeon.transformations.collection.convolution_based import MiniRocket

    train = [series(n, seed=n) for n in (30, 50, 40)]
    encoder = minirocket().fit(train)
    assert encoder.minirocket_length_ == 50
    padded = np.zeros((3, 3, 50), dtype=np.float32)
    for row, x in enumerate(train):
        padded[row, :, : len(x)] = x.T
    reference = MiniRocket(
        n_kernels=168, random_state=encoder.minirocket_.random_state
    ).fit(padded)
    test = [series(45, seed=7), series(80, seed=8)]
    expected = reference.transform(
        np.stack([np.pad(test[0], ((0, 5), (0, 0))), test[1][:50]]).transpose(0, 2, 1)
    )
    np.testing.assert_allclose(encoder.transform(test), expected, rtol=1e-6)
    other = minirocket().fit([x * 10 for x in train])
    assert not np.allclose(other.transform(test), encoder.transform(test))
    assert encoder.get_feature_names_out()[-1] == f"minirocket{expected.shape[1] - 1}"


def test_bad_training_series_raise_or_are_left_out_of_the_minirocket_fit():
    train = pd.Series([series(), series(channels=2), series(seed=1)], name="imu")
    with pytest.raises(CellDecodeError, match=r"row 1, column 'imu'"):
        minirocket().fit(train)
    with pytest.warns(BadCellWarning, match="row 1") as caught:
        lenient = minirocket(on_error="missing").fit(train)
    assert [error.row for error in caught[0].message.errors] == [1]
    strict = minirocket().fit(train.drop(index=1))
    test = [series(seed=5)]
    np.testing.assert_array_equal(lenient.transform(test), strict.transform(test))


def test_minirocket_is_reproducible_and_leaves_global_random_state_alone():
    train = [series(seed=k) for k in range(4)]
    state = np.random.get_state()
    first = minirocket().fit_transform(train)
    after = np.random.get_state()
    assert state[0] == after[0] and np.array_equal(state[1], after[1])
    np.testing.assert_array_equal(minirocket().fit_transform(train), first)


def test_minirocket_transform_does_not_change_fitted_state():
    encoder = minirocket(minirocket_length=20).fit([series(seed=k) for k in range(3)])
    biases = encoder.minirocket_.parameters[-1].copy()
    encoder.transform([series(100, seed=9)])
    np.testing.assert_array_equal(encoder.minirocket_.parameters[-1], biases)
    assert encoder.minirocket_length_ == 20


def test_minirocket_and_descriptive_features_combine():
    train = [series(seed=k) for k in range(3)]
    both = SignalEncoder(
        features=("mean", "minirocket"), minirocket_kernels=84, random_state=0
    ).fit(train)
    out = both.transform(train)
    np.testing.assert_allclose(out[:, :3], encode(train, features=("mean",)))
    np.testing.assert_allclose(
        out[:, 3:], minirocket(minirocket_kernels=84).fit(train).transform(train)
    )


def test_minirocket_encoder_survives_pickle_and_model_files(tmp_path):
    train = [series(seed=k) for k in range(3)]
    encoder = minirocket().fit(train)
    expected = encoder.transform(train)
    restored = pickle.loads(pickle.dumps(encoder))
    np.testing.assert_array_equal(restored.transform(train), expected)
    path = tmp_path / "signal.mmen"
    mmensemble.save(encoder, path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded = mmensemble.load(path)
    np.testing.assert_array_equal(loaded.transform(train), expected)


def test_clone_gives_an_unfitted_copy():
    encoder = minirocket().fit([series()])
    cloned = clone(encoder)
    assert cloned.get_params() == encoder.get_params()
    assert not hasattr(cloned, "minirocket_")


# ------------------------------------------------------------------- fusion


def test_nested_features_in_grid_search_through_feature_fusion():
    rng = np.random.default_rng(0)
    y = np.tile([0, 1], 12)
    cells = [
        np.column_stack([rng.normal(size=40) + label, rng.normal(size=40)])
        for label in y
    ]
    cells[3] = None
    X = pd.DataFrame(
        {"sig": pd.Series(cells, dtype=object), "size": rng.normal(size=24)}
    )
    model = make_pipeline(
        FeatureFusion(
            [("s", SignalEncoder(), "sig"), ("size", "passthrough", ["size"])]
        ),
        LogisticRegression(),
    )
    grid = GridSearchCV(
        model,
        {"featurefusion__s__features": [("mean",), ("std", "correlation")]},
        cv=2,
    ).fit(X, y)
    assert grid.best_params_["featurefusion__s__features"] == ("mean",)
    assert grid.best_score_ > 0.9
