"""Tests of the default per-modality models and their self-tuning heads."""

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression, RidgeCV
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

import mmensemble
from mmensemble import (
    ImageEncoder,
    MFCCEncoder,
    MMEnsembleError,
    ModalityStackingClassifier,
    ModalityVotingClassifier,
    TunedLogisticRegression,
    default_encoder,
    default_head,
    default_meta_learner,
    default_modality_model,
)
from mmensemble.encoders._whisper import WhisperEncoder
from mmensemble.fusion import HeadSelectionClassifier, HeadSelectionRegressor
from mmensemble.fusion._categorical_trees import CategoricalTrees


def test_each_role_gets_its_encoder_and_a_tuned_head():
    expected = {
        "image": (ImageEncoder, True),
        "audio": (WhisperEncoder, True),
        "tokens": (TfidfVectorizer, False),
        "string": (None, True),
        "datetime": (None, True),
    }
    for role, (encoder_type, scaled) in expected.items():
        model = default_modality_model(role)
        if encoder_type is not None:
            assert isinstance(model[0], encoder_type)
        assert isinstance(model[-1], TunedLogisticRegression)
        assert isinstance(model[-2], StandardScaler) is scaled
    # The tabular and categorical heads: the linear head or trees, by CV score.
    for role in ("categorical", "tabular"):
        model = default_modality_model(role)
        assert not isinstance(model[-2], StandardScaler)
        assert isinstance(model[-1], HeadSelectionClassifier)
        linear, trees = dict(model[-1].estimators).values()
        assert isinstance(linear, TunedLogisticRegression)
        # The categorical block's trees split its categories natively.
        if role == "categorical":
            assert isinstance(trees, CategoricalTrees)
            trees = trees.estimator
        assert isinstance(trees, HistGradientBoostingClassifier)
    mfcc = default_modality_model("audio", audio_encoder="mfcc")
    assert isinstance(mfcc[0], MFCCEncoder) and isinstance(mfcc[1], StandardScaler)
    tfidf = default_modality_model("text", text_encoder="tfidf")
    assert isinstance(tfidf[0], TfidfVectorizer) and len(tfidf) == 2
    regression = default_modality_model("tabular", task="regression")[-1]
    assert isinstance(regression, HeadSelectionRegressor)
    assert isinstance(dict(regression.estimators)["linear"], RidgeCV)
    assert isinstance(default_modality_model("text", task="regression")[-1], RidgeCV)


def test_sentence_embeddings_are_the_default_text_encoder():
    from mmensemble.encoders._text import TextEncoder

    model = default_modality_model("text")
    assert isinstance(model[0], TextEncoder)
    assert isinstance(model[1], StandardScaler)


def test_bad_choices_name_the_argument():
    for call, name in [
        (lambda: default_encoder("video-ish"), "role"),
        (lambda: default_encoder("text", text_encoder="bert"), "text_encoder"),
        (lambda: default_head("ranking"), "task"),
    ]:
        with pytest.raises(MMEnsembleError, match=name):
            call()


@parametrize_with_checks([TunedLogisticRegression()])
def test_tuned_head_is_an_sklearn_classifier(estimator, check):
    check(estimator)


def test_head_tunes_its_regularisation():
    rng = np.random.default_rng(0)
    y = np.arange(200) % 2
    # Many noisy features, one informative: strong regularisation wins.
    noisy = np.column_stack([y + rng.normal(size=200), rng.normal(size=(200, 150))])
    head = default_head().fit(noisy, y)
    assert head.C_ < 1.0
    # One clean feature: weak regularisation wins.
    clean = (y + 0.05 * rng.normal(size=200)).reshape(-1, 1)
    assert default_head().fit(clean, y).C_ > head.C_
    ridge = default_head("regression").fit(noisy, noisy[:, 0])
    assert ridge.alpha_ == min(ridge.alphas)


def test_categorical_model_ignores_unknown_and_missing_categories():
    X = pd.DataFrame({"colour": ["red", "blue", None, "red", "blue", "red"] * 4})
    y = (X["colour"] == "red").to_numpy()
    model = default_modality_model("categorical").fit(X, y)
    unseen = pd.DataFrame({"colour": ["green", "red", None]})
    assert model.predict_proba(unseen).shape == (3, 2)
    assert model.predict(unseen)[1]


def test_tuned_heads_match_hand_tuned_ones_in_stacking():
    rng = np.random.default_rng(1)
    n = 240
    y = np.arange(n) % 3
    X = pd.DataFrame(
        {
            "a": y + rng.normal(scale=1.5, size=n),
            "b": (y == 1) + rng.normal(scale=1.0, size=n),
        }
    )
    train, test = np.arange(n) < 160, np.arange(n) >= 160
    modalities = [
        (name, default_modality_model("tabular"), [name]) for name in ("a", "b")
    ]
    tuned = ModalityStackingClassifier(
        modalities, final_estimator=default_meta_learner(), random_state=0
    ).fit(X[train], y[train])
    scores = []
    for C in (0.01, 1.0, 100.0):
        hand = ModalityStackingClassifier(
            [
                (
                    name,
                    clone(model).set_params(
                        headselectionclassifier=LogisticRegression(C=C)
                    ),
                    cols,
                )
                for name, model, cols in modalities
            ],
            random_state=0,
        ).fit(X[train], y[train])
        scores.append(hand.score(X[test], y[test]))
    assert tuned.score(X[test], y[test]) >= np.median(scores) - 0.02


def test_tuning_encodes_nothing_twice(monkeypatch):
    mmensemble.clear_cache()
    rng = np.random.default_rng(2)
    images = [rng.integers(0, 255, size=(12, 12, 3), dtype=np.uint8) for _ in range(30)]
    y = np.arange(30) % 2
    for image, label in zip(images, y, strict=True):
        image[2:10, 2:10] = 250 * label
    X = pd.DataFrame({"photo": pd.Series(images, dtype=object)})
    model = default_modality_model("image", image_size=32)
    embeds = []
    original_embed = type(model[0])._embed

    def counting_embed(self, decoded):
        embeds.append(len(decoded))
        return original_embed(self, decoded)

    monkeypatch.setattr(type(model[0]), "_embed", counting_embed)
    vote = ModalityVotingClassifier([("photo", model, "photo")]).fit(X, y)
    assert vote.predict(X).shape == (30,)
    # The head's 5-fold search over 7 values of C ran on the encoded rows:
    # each image went through the network once.
    assert sum(embeds) == 30


def test_tree_head_too_big_for_the_rows_leaves_the_linear_one():
    # Early stopping holds out a tenth of a fold's rows, here too few to hold
    # both classes: the trees cannot be fitted, the linear head is kept.
    X = np.arange(8.0).reshape(-1, 1)
    y = np.array([0, 1] * 4)
    head = default_head(trees=True).fit(X, y)
    assert head.chosen_ == "linear"
    assert head.cv_scores_["trees"] == -np.inf
    assert np.isfinite(head.cv_scores_["linear"])
    assert head.predict_proba(X).shape == (8, 2)
