"""Tests of FusionNetClassifier and FusionNetRegressor (CPU, small sizes)."""

import pickle
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss, recall_score
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

import mmensemble
from mmensemble import FeatureFusion, FusionNetClassifier, FusionNetRegressor

SMALL = {"branch_size": 16, "hidden_sizes": (16,), "lr": 0.01, "random_state": 0}


# Tiny networks run fastest (and steadiest on a shared machine) on one thread.
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _interaction_data(n, seed=0):
    """Two 3-column modalities; the label is the sign of a1 * b1 (an XOR)."""
    rng = np.random.RandomState(seed)
    X = pd.DataFrame(
        rng.normal(size=(n, 6)), columns=["a1", "a2", "a3", "b1", "b2", "b3"]
    )
    y = (X["a1"] * X["b1"] > 0).astype(int).to_numpy()
    modalities = [
        ("a", "passthrough", ["a1", "a2", "a3"]),
        ("b", "passthrough", ["b1", "b2", "b3"]),
    ]
    return X, y, modalities


def _noisy_modality_data(n, seed):
    """Modality a decides the label (an XOR of two of its columns); modality b
    holds a noisy copy of the label in one column plus pure-noise columns, an
    easy shortcut that starves a's branch of gradient without auxiliary heads.
    """
    rng = np.random.RandomState(seed)
    a = rng.normal(size=(n, 4))
    b = rng.normal(size=(n, 10))
    y = (a[:, 0] * a[:, 1] > 0).astype(int)
    b[:, 0] = (2 * y - 1) + 1.5 * rng.normal(size=n)
    a_columns = [f"a{i}" for i in range(4)]
    b_columns = [f"b{i}" for i in range(10)]
    X = pd.DataFrame(np.hstack([a, b]), columns=a_columns + b_columns)
    return X, y, [("a", "passthrough", a_columns), ("b", "passthrough", b_columns)]


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@parametrize_with_checks(
    [
        FusionNetClassifier(
            [("all", "passthrough", slice(None))], max_epochs=30, **SMALL
        ),
        FusionNetRegressor(
            [("all", "passthrough", slice(None))], max_epochs=30, **SMALL
        ),
    ]
)
def test_sklearn_compatible(estimator, check):
    # No exemptions: every check of sklearn's suite passes.
    check(estimator)


def test_interaction_needs_the_fusion_net():
    X, y, modalities = _interaction_data(1500)
    train, test = slice(0, 1000), slice(1000, None)
    net = FusionNetClassifier(modalities, lr=0.01, random_state=0)
    accuracy = net.fit(X[train], y[train]).score(X[test], y[test])
    baselines = {
        f"{name} alone, logistic": make_pipeline(
            FeatureFusion([(name, "passthrough", columns)]), LogisticRegression()
        )
        for name, _, columns in modalities
    }
    baselines["early fusion, logistic"] = make_pipeline(
        FeatureFusion(modalities), LogisticRegression()
    )
    baselines["a alone, fusion net"] = clone(net).set_params(b="drop")
    baselines["b alone, fusion net"] = clone(net).set_params(a="drop")
    scores = {
        name: model.fit(X[train], y[train]).score(X[test], y[test])
        for name, model in baselines.items()
    }
    # Measured: net 0.996; the baselines 0.466 to 0.510.
    assert accuracy > 0.95
    for name, score in scores.items():
        assert score < 0.6, name
        assert accuracy > score + 0.35, name


def test_multi_task_helps_when_one_modality_is_noisy():
    plain, multi_task = [], []
    for seed in range(3):
        X, y, modalities = _noisy_modality_data(1400, seed)
        train, test = slice(0, 400), slice(400, None)
        for aux_weight, scores in ((0.0, plain), (0.5, multi_task)):
            net = FusionNetClassifier(
                modalities, aux_weight=aux_weight, random_state=seed
            ).fit(X[train], y[train])
            proba = net.predict_proba(X[test])
            scores.append((net.score(X[test], y[test]), log_loss(y[test], proba)))
    plain, multi_task = np.mean(plain, axis=0), np.mean(multi_task, axis=0)
    # Measured: accuracy 0.914 -> 0.925, log loss 0.209 -> 0.192 (means of 3).
    assert multi_task[0] >= plain[0]
    assert multi_task[1] <= plain[1]


def test_auxiliary_heads_only_when_multi_task():
    X, y, modalities = _interaction_data(200)
    plain = FusionNetClassifier(modalities, max_epochs=2, **SMALL)
    multi_task = clone(plain).set_params(aux_weight=0.3)
    with pytest.warns(ConvergenceWarning):
        plain.fit(X, y)
    with pytest.warns(ConvergenceWarning):
        multi_task.fit(X, y)
    assert len(plain.module_.aux_heads) == 0
    assert len(multi_task.module_.aux_heads) == 2
    # The reported training loss includes the auxiliary part.
    assert multi_task.loss_curve_[0] > plain.loss_curve_[0]


def test_same_seed_same_predictions_on_cpu():
    X, y, modalities = _interaction_data(300)
    rng_state = torch.get_rng_state()
    first = FusionNetClassifier(modalities, max_epochs=10, device="cpu", **SMALL)
    second = clone(first)
    with pytest.warns(ConvergenceWarning):
        first.fit(X, y)
    with pytest.warns(ConvergenceWarning):
        second.fit(X, y)
    np.testing.assert_array_equal(first.predict_proba(X), second.predict_proba(X))
    assert first.loss_curve_ == second.loss_curve_
    # torch's global random state is left as it was.
    assert torch.equal(torch.get_rng_state(), rng_state)
    other_seed = clone(first).set_params(random_state=1)
    with pytest.warns(ConvergenceWarning):
        other_seed.fit(X, y)
    assert not np.array_equal(other_seed.predict_proba(X), first.predict_proba(X))


def test_missing_modalities_degrade_gracefully():
    rng = np.random.RandomState(0)
    n = 1500
    X = pd.DataFrame(rng.normal(size=(n, 4)), columns=["a1", "a2", "b1", "b2"])
    y = (X["a1"] + X["b1"] > 0).astype(int).to_numpy()
    X_train = X[:1000].copy()
    X_train.loc[:99, ["b1", "b2"]] = np.nan  # b missing in some training rows
    X_train.loc[100:149, "a2"] = np.nan  # a partly present: a2 is imputed
    modalities = [
        ("a", "passthrough", ["a1", "a2"]),
        ("b", "passthrough", ["b1", "b2"]),
    ]
    net = FusionNetClassifier(modalities, modality_dropout=0.2, lr=0.01, random_state=0)
    net.fit(X_train, y[:1000])
    X_test, y_test = X[1000:].copy(), y[1000:]
    complete = net.score(X_test, y_test)
    X_test[["b1", "b2"]] = np.nan
    without_b = net.score(X_test, y_test)
    X_test[["a1", "a2"]] = np.nan
    proba_nothing = net.predict_proba(X_test)
    # Measured: 0.978 with both; 0.736 from a alone (the best possible is 0.75).
    assert complete > 0.95
    assert 0.7 < without_b < complete
    # With nothing known, every row gets the same, uncommitted prediction.
    assert np.ptp(proba_nothing, axis=0).max() < 1e-6
    assert np.all(np.abs(proba_nothing[:, 1] - 0.5) < 0.2)


def test_raw_columns_to_predictions_with_text():
    rng = np.random.RandomState(0)
    n = 240
    topic = rng.randint(2, size=n)
    words = np.array(["cats purr softly", "dogs bark loudly"])
    text = pd.Series(words[topic], dtype=object)
    text[rng.rand(n) < 0.1] = None
    X = pd.DataFrame({"text": text, "size": rng.normal(size=n)})
    y = np.where(topic == 1, "dog", "cat")
    net = FusionNetClassifier(
        [("text", TfidfVectorizer(), "text"), ("size", "passthrough", ["size"])],
        **SMALL,
    )
    net.fit(X, y)
    present = X["text"].notna().to_numpy()
    assert net.score(X[present], y[present]) == 1.0
    assert isinstance(net.named_modalities_["text"], TfidfVectorizer)
    assert set(net.predict(X)) <= {"cat", "dog"}


class _CountingScaler(StandardScaler):
    calls = []

    def fit_transform(self, X, y=None):
        type(self).calls.append("fit_transform")
        return StandardScaler.transform(self.fit(X), X)

    def transform(self, X, copy=None):
        type(self).calls.append("transform")
        return super().transform(X, copy=copy)


def test_encoders_run_once_per_fit():
    X, y, modalities = _interaction_data(200)
    _CountingScaler.calls.clear()
    net = FusionNetClassifier(
        [("a", _CountingScaler(), ["a1", "a2", "a3"]), modalities[1]],
        max_epochs=8,
        **SMALL,
    )
    with pytest.warns(ConvergenceWarning):
        net.fit(X, y)
    assert net.n_iter_ == 8
    assert _CountingScaler.calls == ["fit_transform"]
    net.predict(X)
    assert _CountingScaler.calls == ["fit_transform", "transform"]


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_grid_search_over_network_and_encoder_parameters():
    rng = np.random.RandomState(0)
    texts = np.array(["red apple", "green apple", "red car", "green car"])
    X = pd.DataFrame(
        {"text": texts[rng.randint(4, size=160)], "x": rng.normal(size=160)}
    )
    y = X["text"].str.contains("apple").to_numpy()
    net = FusionNetClassifier(
        [("text", TfidfVectorizer(), "text"), ("num", "passthrough", ["x"])],
        max_epochs=20,
        **SMALL,
    )
    assert net.get_params()["text__ngram_range"] == (1, 1)
    grid = [
        {"hidden_sizes": [(8,), (16, 8)], "aux_weight": [0.0, 0.5]},
        {"text__ngram_range": [(1, 2)]},
    ]
    search = GridSearchCV(net, grid, cv=2, error_score="raise").fit(X, y)
    assert search.best_score_ > 0.9
    assert len(search.cv_results_["params"]) == 5
    assert net.hidden_sizes == (16,)  # the parameter itself is never mutated


def test_pickle_keeps_trained_weights_on_cpu():
    X, y, modalities = _interaction_data(300)
    net = FusionNetClassifier(modalities, max_epochs=10, device="cpu", **SMALL)
    with pytest.warns(ConvergenceWarning):
        net.fit(X, y)
    expected = net.predict_proba(X)
    payload = pickle.dumps(net)
    assert "_module" in net.__dict__  # pickling did not strip the live network
    restored = pickle.loads(payload)
    state = restored.__dict__
    assert "_module" not in state
    # Plain arrays: a GPU-trained model unpickles without CUDA, and skops can
    # write it to a model file.
    assert all(isinstance(w, np.ndarray) for w in state["_module_state"].values())
    np.testing.assert_array_equal(restored.predict_proba(X), expected)
    # partial_fit continues from the restored weights and optimizer state.
    restored.partial_fit(X, y)
    assert restored.n_iter_ == net.n_iter_ + 1


def test_model_file_round_trip(tmp_path):
    X, y, modalities = _interaction_data(200)
    net = FusionNetClassifier(modalities, max_epochs=5, device="cpu", **SMALL)
    with pytest.warns(ConvergenceWarning):
        net.fit(X, y)
    mmensemble.save(net, tmp_path / "net.skops")
    restored = mmensemble.load(tmp_path / "net.skops")
    np.testing.assert_array_equal(restored.predict_proba(X), net.predict_proba(X))


def test_model_trained_on_gpu_loads_where_cuda_is_missing(monkeypatch):
    X, y, modalities = _interaction_data(200)
    net = FusionNetRegressor(modalities, max_epochs=5, device="cpu", **SMALL)
    with pytest.warns(ConvergenceWarning):
        net.fit(X, y.astype(float))
    expected = net.predict(X)
    net.device_ = "cuda"  # as recorded by a fit on a GPU machine
    payload = pickle.dumps(net)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    restored = pickle.loads(payload)
    with pytest.warns(RuntimeWarning, match="CUDA is not available"):
        predictions = restored.predict(X)
    np.testing.assert_array_equal(predictions, expected)
    assert restored.device_ == "cpu"


def test_early_stopping_keeps_the_best_epoch():
    X, y, modalities = _interaction_data(400)
    net = FusionNetClassifier(modalities, n_iter_no_change=3, **SMALL).fit(X, y)
    assert len(net.validation_loss_curve_) == len(net.loss_curve_) == net.n_iter_
    assert net.n_iter_ == net.best_epoch_ + 3
    assert net.best_loss_ == net.validation_loss_curve_[net.best_epoch_ - 1]
    assert min(net.validation_loss_curve_) >= net.best_loss_ - net.tol
    no_stopping = clone(net).set_params(early_stopping=False, max_epochs=300)
    no_stopping.fit(X, y)
    assert no_stopping.validation_loss_curve_ is None
    assert (
        no_stopping.best_loss_ == no_stopping.loss_curve_[no_stopping.best_epoch_ - 1]
    )
    assert no_stopping.n_iter_ < 300


def test_convergence_warning_and_verbose(capsys):
    X, y, modalities = _interaction_data(100)
    net = FusionNetClassifier(modalities, max_epochs=3, verbose=1, **SMALL)
    with pytest.warns(ConvergenceWarning, match="max_epochs=3"):
        net.fit(X, y)
    lines = capsys.readouterr().out.splitlines()
    assert "device cpu" in lines[0]
    assert [line.split(":")[0] for line in lines[1:]] == [
        "epoch 1",
        "epoch 2",
        "epoch 3",
    ]
    assert "validation loss" in lines[1]


def test_partial_fit():
    X, y, modalities = _interaction_data(400)
    net = FusionNetClassifier(modalities, **SMALL)
    with pytest.raises(ValueError, match="classes must be passed"):
        net.partial_fit(X, y)
    for _ in range(25):
        net.partial_fit(X, y, classes=[0, 1])
    assert net.n_iter_ == len(net.loss_curve_) == 25
    assert net.loss_curve_[-1] < 0.5 * net.loss_curve_[0]
    assert net.score(X, y) > 0.9
    with pytest.raises(ValueError, match=r"labels \[2\]"):
        net.partial_fit(X[:3], [0, 1, 2])
    balanced = clone(net).set_params(class_weight="balanced")
    with pytest.raises(ValueError, match="class_weight='balanced'"):
        balanced.partial_fit(X, y, classes=[0, 1])


def test_class_weight_balanced_favours_the_rare_class():
    rng = np.random.RandomState(0)
    X = pd.DataFrame(rng.normal(size=(600, 2)), columns=["x1", "x2"])
    y = (X["x1"] + 0.8 * rng.normal(size=600) > 1.3).astype(int).to_numpy()
    modalities = [("x", "passthrough", ["x1", "x2"])]
    plain = FusionNetClassifier(modalities, **SMALL).fit(X, y)
    balanced = clone(plain).set_params(class_weight="balanced").fit(X, y)
    assert recall_score(y, balanced.predict(X)) > recall_score(y, plain.predict(X))


def test_regressor_multi_output_and_target_scale():
    X, _, modalities = _interaction_data(600)
    y = np.column_stack([5000 + 1000 * X["a1"] * X["b1"], -3 * X["a2"] + 0.1 * X["b2"]])
    net = FusionNetRegressor(modalities, **SMALL).fit(X[:500], y[:500])
    predictions = net.predict(X[500:])
    assert predictions.shape == (100, 2)
    assert net.n_outputs_ == 2
    assert net.score(X[500:], y[500:]) > 0.85


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"hidden_sizes": (8, 0)}, r"hidden_sizes must be .* got \(8, 0\)"),
        ({"device": "tpu9"}, "device must be .* got 'tpu9'"),
        ({"aux_weight": -1.0}, "'aux_weight' parameter"),
        ({"modalities": [("a", "drop", ["a1"])]}, "every modality is 'drop'"),
    ],
)
def test_bad_parameters_are_named(params, message):
    X, y, modalities = _interaction_data(50)
    net = FusionNetClassifier(modalities, **SMALL).set_params(**params)
    with pytest.raises(ValueError, match=message):
        net.fit(X, y)


def test_bad_data_is_named():
    X, y, modalities = _interaction_data(50)
    net = FusionNetClassifier(modalities, max_epochs=2, **SMALL)
    infinite = X.copy()
    infinite.loc[3, "b2"] = np.inf
    with pytest.raises(ValueError, match="modality 'b' contains infinite values"):
        net.fit(infinite, y)
    absent = X.copy()
    absent[["a1", "a2", "a3"]] = np.nan
    with pytest.raises(ValueError, match="modality 'a' is missing in every row"):
        net.fit(absent, y)
    with pytest.raises(ValueError, match="at least 2 classes"):
        net.fit(X, np.zeros(len(X)))


def test_import_does_not_load_torch():
    code = (
        "import sys, mmensemble\n"
        "mmensemble.FusionNetClassifier, mmensemble.FusionNetRegressor\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
