"""Tests of ModalityNovelty: per-modality "unlike training" scores and flags."""

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

import mmensemble
from mmensemble import MFCCEncoder, ModalityNovelty, ModalityVotingClassifier
from mmensemble.cli._recipes import build_estimator
from mmensemble.inspection._importance import InspectionError

SR = 8000
ENCODER = {"sr": SR, "n_fft": 256, "hop_length": 80, "n_mels": 32}


def clips(rng, n, *, low=300, high=600, noise=0.02):
    """``n`` quarter-second tones between ``low`` and ``high`` Hz, and their pitch."""
    time = np.arange(SR // 4) / SR
    pitch = rng.uniform(low, high, size=n)
    amplitude = rng.uniform(0.2, 0.5, size=n)
    cells = [
        a * np.sin(2 * np.pi * f * time + rng.uniform(0, 6))
        + noise * rng.normal(size=time.size)
        for f, a in zip(pitch, amplitude, strict=True)
    ]
    return cells, pitch


def table(rng, n, **clip_options):
    """Clips and a numeric column; the label is whether the tone is high."""
    cells, pitch = clips(rng, n, **clip_options)
    X = pd.DataFrame({"clip": cells, "size": rng.normal(size=n)})
    return X, (pitch > 450).astype(int)


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(0)
    X, y = table(rng, 400)
    vote = ModalityVotingClassifier(
        [
            (
                "audio",
                make_pipeline(MFCCEncoder(**ENCODER), LogisticRegression()),
                "clip",
            ),
            ("size", LogisticRegression(), ["size"]),
        ],
        voting="soft",
    ).fit(X, y)
    normal, _ = table(rng, 400)
    # loud noise, and tones far above the training pitches
    noise = pd.DataFrame(
        {"clip": list(0.5 * rng.normal(size=(60, SR // 4))), "size": np.zeros(60)}
    )
    high, _ = table(rng, 60, low=2500, high=3500)
    return vote, X, y, normal, pd.concat([noise, high], ignore_index=True)


@pytest.mark.parametrize("n_components", [4, 32])
def test_flags_fire_on_other_data_and_rarely_on_normal_rows(fitted, n_components):
    vote, X, _, normal, other = fitted
    novelty = ModalityNovelty.from_estimator(vote, n_components=n_components).fit(X)
    # the numeric modality has no cell encoder: it is not summarised
    assert [name for name, _, _ in novelty.modalities_] == ["audio"]
    on_normal = novelty.score_rows(normal)["audio_unlike_training"]
    on_other = novelty.score_rows(other)["audio_unlike_training"]
    # the threshold is the 99th percentile of held-out training rows
    assert on_normal.mean() <= 0.04
    assert on_other.mean() >= 0.95


def test_missing_cells_get_no_score_and_no_flag(fitted):
    vote, X, _, _, other = fitted
    novelty = ModalityNovelty.from_estimator(vote).fit(X)
    rows = other.iloc[:4].copy()
    rows.index = ["a", "b", "c", "d"]
    rows.loc[["b", "d"], "clip"] = None
    table = novelty.score_rows(rows)
    assert table.columns.tolist() == ["audio_novelty", "audio_unlike_training"]
    assert table.index.tolist() == ["a", "b", "c", "d"]
    assert table["audio_novelty"].isna().tolist() == [False, True, False, True]
    assert table["audio_unlike_training"].tolist() == [True, False, True, False]
    assert (table.loc[["a", "c"], "audio_novelty"] > 1).all()


def test_save_load_and_clone_round_trips(fitted, tmp_path):
    vote, X, _, normal, other = fitted
    novelty = ModalityNovelty.from_estimator(vote, n_components=8, max_samples=300)
    novelty.fit(X)
    rows = pd.concat([normal.iloc[:20], other.iloc[:20]])
    expected = novelty.score_rows(rows)
    path = tmp_path / "novelty.mmen"
    mmensemble.save(novelty, path)
    pd.testing.assert_frame_equal(mmensemble.load(path).score_rows(rows), expected)
    # the file holds the encoders and summaries, not the fusion model
    assert path.stat().st_size < 100_000
    # a clone holds unfitted copies of the encoders, fitted again on the sample
    copy = clone(novelty)
    assert copy.get_params()["audio__n_fft"] == 256
    assert (copy.n_components, copy.max_samples) == (8, 300)
    assert not hasattr(copy.modalities[0][1], "n_features_in_")
    pd.testing.assert_frame_equal(copy.fit(X).score_rows(rows), expected)


def test_unfitted_encoders_are_fitted_on_the_sample(fitted):
    vote, X, _, normal, _ = fitted
    novelty = ModalityNovelty([("audio", MFCCEncoder(**ENCODER), "clip")]).fit(X)
    pd.testing.assert_frame_equal(
        novelty.score_rows(normal),
        ModalityNovelty.from_estimator(vote).fit(X).score_rows(normal),
    )


def test_summary_is_compact(fitted):
    vote, X, _, _, _ = fitted
    summary = ModalityNovelty.from_estimator(vote).fit(X).summaries_["audio"]
    arrays = [value for value in vars(summary).values() if hasattr(value, "nbytes")]
    width = len(vote.named_estimators_["audio"][0].get_feature_names_out())
    assert summary.components_.shape == (32, width)
    assert summary.n_rows_ == len(X)
    assert sum(array.nbytes for array in arrays) < 100_000


def test_from_estimator_needs_a_fusion_model():
    with pytest.raises(InspectionError, match="could not find the modalities of"):
        ModalityNovelty.from_estimator(LogisticRegression())


def test_a_modality_in_too_few_rows_is_left_out_with_a_warning(fitted):
    vote, X, _, _, _ = fitted
    sparse = X.copy()
    sparse.loc[sparse.index[5:], "clip"] = None
    with pytest.warns(UserWarning, match="'audio' is present in 5 of the 400"):
        novelty = ModalityNovelty.from_estimator(vote).fit(sparse)
    assert novelty.modalities_ == []
    assert novelty.score_rows(X).shape == (len(X), 0)


@pytest.mark.filterwarnings("ignore:FusionNetClassifier stopped after")
@pytest.mark.parametrize("fusion", ["early", "voting", "stacking", "net", "auto"])
def test_every_fusion_of_the_command_line_is_summarised(fusion):
    rng = np.random.default_rng(1)
    X, y = table(rng, 120)
    roles = {"audio": "clip", "tabular": ["size"]}
    model = build_estimator(fusion, roles, audio_encoder="mfcc", sr=SR)
    if fusion == "net":
        model.set_params(max_epochs=5)
    novelty = ModalityNovelty.from_estimator(model.fit(X, y)).fit(X)
    far, _ = table(rng, 20, low=2500, high=3500)
    flags = novelty.score_rows(far)["audio_unlike_training"]
    assert flags.mean() >= 0.9
