"""Tests of ImageEncoder: pretrained weights, every cell type, errors, pickling."""

import io
import pickle
import struct
import warnings
import zlib

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from sklearn.base import clone
from sklearn.datasets import load_sample_image

import mmensemble
from mmensemble import BadCellWarning, CellDecodeError, ImageEncoder

PALACE_FAMILY = {698, 663, 442, 483, 668, 832, 538}  # palace, monastery, bell cote...
DAISY = 985

SMALL = {"image_size": 64}


def imagenet_top5(encoder, cells):
    """Top-5 ImageNet classes of the full network on the encoder's own inputs."""
    from mmensemble.encoders._efficientnet import load_efficientnet_lite

    decoded = np.stack([encoder._decode(cell) for cell in cells])
    network, _ = load_efficientnet_lite(encoder.backbone)  # with its classifier
    with torch.inference_mode():
        logits = network(torch.from_numpy(decoded))
    return logits.topk(5).indices.numpy()


def test_pretrained_weights_and_preprocessing_recognise_the_sample_images(tmp_path):
    china, flower = load_sample_image("china.jpg"), load_sample_image("flower.jpg")
    path = tmp_path / "flower.jpg"
    Image.fromarray(flower).save(path, quality=95)
    encoder = ImageEncoder().fit([china])
    top5 = imagenet_top5(encoder, [china, str(path)])
    assert top5[0, 0] in PALACE_FAMILY
    assert {698, 663, 442} & set(top5[0])
    assert top5[1, 0] == DAISY


def test_embeddings_shape_and_cell_types_agree(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 256, size=(40, 50, 3), dtype=np.uint8)
    png = tmp_path / "image.png"
    Image.fromarray(rgb).save(png)
    cells = pd.Series(
        [str(png), png, png.read_bytes(), Image.fromarray(rgb), rgb, rgb / 255.0],
        name="photo",
    )
    out = ImageEncoder(**SMALL).fit_transform(cells)
    assert out.shape == (6, 1280) and out.dtype == np.float32
    for row in range(1, 6):
        np.testing.assert_allclose(out[row], out[0], rtol=1e-4, atol=1e-4)


def test_grayscale_and_transparency_are_converted_to_rgb():
    gray = np.full((30, 30), 90, dtype=np.uint8)
    gray_rgb = np.repeat(gray[:, :, np.newaxis], 3, axis=2)
    transparent = Image.new("RGBA", (30, 30), (0, 0, 0, 0))
    white = np.full((30, 30, 3), 255, dtype=np.uint8)
    out = ImageEncoder(**SMALL).fit_transform([gray, gray_rgb, transparent, white])
    np.testing.assert_allclose(out[0], out[1], atol=1e-5)
    np.testing.assert_allclose(out[2], out[3], atol=1e-5)


def test_missing_cells_give_nan_rows():
    cells = [np.zeros((16, 16), np.uint8), None, np.nan, np.ones((16, 16), np.uint8)]
    out = ImageEncoder(**SMALL).fit_transform(cells)
    assert np.isnan(out[[1, 2]]).all() and np.isfinite(out[[0, 3]]).all()


def png_header(width, height):
    """A PNG file claiming ``width x height`` pixels, with no pixel data."""

    def chunk(kind, data=b""):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT") + chunk(b"IEND")
    )


@pytest.fixture
def bad_cells(tmp_path):
    good = tmp_path / "good.jpg"
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(good)
    zero = tmp_path / "zero.jpg"
    zero.write_bytes(b"")
    truncated = tmp_path / "truncated.jpg"
    buffer = io.BytesIO()
    Image.fromarray(
        np.random.default_rng(0).integers(0, 256, (256, 256, 3), dtype=np.uint8)
    ).save(buffer, format="JPEG")
    truncated.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    text = tmp_path / "notes.jpg"
    text.write_text("this is not an image")
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_header(100_000, 100_000))
    return {
        "zero-byte file": str(zero),
        "truncated file": str(truncated),
        "not an image": str(text),
        "path that does not exist": str(tmp_path / "absent.png"),
        "a number": 3.5,
        "a list": [1, 2, 3],
        "bad array shape": np.zeros((4, 4, 7)),
        "out-of-range floats": np.full((4, 4), 300.0),
        "NaN pixels": np.full((4, 4), np.nan),
        "decompression bomb": Image.new("L", (2000, 2000)),
        "bomb file header": str(bomb),
    }, str(good)


@pytest.mark.parametrize(
    "case",
    [
        "zero-byte file",
        "truncated file",
        "not an image",
        "path that does not exist",
        "a number",
        "a list",
        "bad array shape",
        "out-of-range floats",
        "NaN pixels",
        "decompression bomb",
        "bomb file header",
    ],
)
def test_bad_cells_raise_or_become_missing(bad_cells, case):
    cells, good = bad_cells
    column = pd.Series([good, cells[case], good], index=[10, 17, 30], name="photo")
    encoder = ImageEncoder(max_pixels=1_000_000, **SMALL).fit(column)
    with pytest.raises(CellDecodeError, match=r"row 17, column 'photo'"):
        encoder.transform(column)
    lenient = ImageEncoder(max_pixels=1_000_000, on_error="missing", **SMALL).fit(
        column
    )
    with pytest.warns(BadCellWarning, match="row 17") as record:
        out = lenient.transform(column)
    assert np.isnan(out[1]).all() and np.isfinite(out[[0, 2]]).all()
    assert [error.row for error in record[0].message.errors] == [17]
    assert lenient.errors_.empty  # transform changes no fitted attribute
    with pytest.warns(BadCellWarning, match="row 17"):
        lenient.fit_transform(column)
    assert lenient.errors_["row"].tolist() == [17]


def test_custom_backbone_is_used_and_never_modified():
    torch.manual_seed(0)
    backbone = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU())
    before = {k: v.clone() for k, v in backbone.state_dict().items()}
    encoder = ImageEncoder(backbone, image_size=32)
    out = encoder.fit_transform([np.zeros((8, 8, 3), np.uint8), np.eye(8) * 255])
    assert out.shape == (2, 4) and encoder.n_features_out_ == 4
    assert len(encoder.get_feature_names_out()) == 4
    for key, value in backbone.state_dict().items():
        assert torch.equal(value, before[key])
    assert encoder._model is not backbone


def test_weights_are_not_pickled_and_reload_lazily():
    images = [np.zeros((20, 20, 3), np.uint8), np.full((20, 20), 200, np.uint8)]
    encoder = ImageEncoder(**SMALL).fit(images)
    expected = encoder.transform(images)
    payload = pickle.dumps(encoder)
    assert len(payload) < 20_000
    restored = pickle.loads(payload)
    assert not hasattr(restored, "_model")
    np.testing.assert_allclose(restored.transform(images), expected, atol=1e-6)
    np.testing.assert_allclose(
        clone(encoder).fit_transform(images), expected, atol=1e-6
    )


def _runtime_images():
    rng = np.random.default_rng(3)
    return [rng.integers(0, 256, (48, 40, 3), dtype=np.uint8) for _ in range(5)]


@pytest.mark.parametrize("backbone", ["lite0", "custom"])
def test_onnxruntime_gives_the_torch_embeddings(backbone):
    if backbone == "custom":
        torch.manual_seed(0)
        backbone = torch.nn.Sequential(
            torch.nn.Conv2d(3, 6, 3, stride=2), torch.nn.BatchNorm2d(6).eval()
        )
    images = _runtime_images()
    # batch_size=4 over 5 images: a full batch cut into parts, and a remainder
    params = {"backbone": backbone, "image_size": 64, "batch_size": 4}
    reference = ImageEncoder(runtime="torch", **params).fit(images)
    fast = ImageEncoder(runtime="onnxruntime", **params).fit(images)
    auto = ImageEncoder(**params).fit(images)
    assert reference._session is None
    assert fast._session is not None and auto._session is not None
    expected = reference.transform(images)
    scale = np.abs(expected).max()
    np.testing.assert_allclose(fast.transform(images), expected, atol=1e-5 * scale)
    np.testing.assert_array_equal(auto.transform(images), fast.transform(images))
    assert fast.fingerprint_ != reference.fingerprint_  # separate cache entries


def test_onnxruntime_features_depend_on_neither_batch_nor_threads():
    images = _runtime_images()
    reference = ImageEncoder(image_size=64, batch_size=1).fit_transform(images)
    threads = torch.get_num_threads()
    try:
        for n_threads, batch_size in [(1, 4), (2, 5), (3, 2)]:
            torch.set_num_threads(n_threads)
            encoder = ImageEncoder(image_size=64, batch_size=batch_size)
            with mmensemble.config_context(memory_cache_bytes=0):
                np.testing.assert_array_equal(encoder.fit_transform(images), reference)
    finally:
        torch.set_num_threads(threads)


def test_a_backbone_that_does_not_export_runs_in_torch(monkeypatch):
    from mmensemble.encoders import _onnx

    def refuse(model, input_size):
        raise _onnx.ExportError("this module cannot be exported")

    monkeypatch.setattr(_onnx, "pooled_features_graph", refuse)
    images = _runtime_images()
    backbone = torch.nn.Conv2d(3, 2, 3)
    auto = ImageEncoder(backbone, image_size=32).fit(images)
    assert auto._session is None and auto.transform(images).shape == (5, 2)
    with pytest.raises(_onnx.ExportError, match="cannot be exported"):
        ImageEncoder(backbone, image_size=32, runtime="onnxruntime").fit(images)


def test_onnxruntime_runs_on_the_cpu_in_float32():
    encoder = ImageEncoder(runtime="onnxruntime", precision="bfloat16", **SMALL)
    with pytest.raises(ValueError, match="on the CPU in float32"):
        encoder.fit([np.zeros((8, 8), np.uint8)])
    # auto picks torch for a precision ONNX Runtime does not run
    auto = ImageEncoder(precision="bfloat16", **SMALL).fit([np.zeros((8, 8), np.uint8)])
    assert auto._session is None


def test_vanished_cuda_device_falls_back_to_cpu():
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA; the fallback path cannot be exercised")
    with pytest.warns(RuntimeWarning, match="falling back to the CPU"):
        encoder = ImageEncoder(device="cuda", **SMALL).fit([np.zeros((8, 8), np.uint8)])
    assert encoder._device.type == "cpu"


def test_invalid_parameters_are_named():
    with pytest.raises(ValueError, match="'backbone' parameter"):
        ImageEncoder("resnet").fit([np.zeros((8, 8), np.uint8)])
    with pytest.raises(ValueError, match="device must be"):
        ImageEncoder(device="gpu").fit([np.zeros((8, 8), np.uint8)])


@pytest.mark.parametrize(("variant", "size"), [("lite1", 240), ("lite2", 260)])
def test_larger_variants_load_and_recognise_the_palace(variant, size):
    # flower.jpg is a dahlia, which ImageNet lacks: only lite0 calls it a daisy
    china = load_sample_image("china.jpg")
    encoder = ImageEncoder(variant).fit([china])
    assert encoder._input_size == size and encoder.n_features_out_ == 1280
    assert imagenet_top5(encoder, [china])[0, 0] == 698


def test_progress_bar_is_silent_when_not_verbose(capsys):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ImageEncoder(batch_size=2, **SMALL).fit_transform(
            [np.zeros((8, 8), np.uint8)] * 6
        )
    assert capsys.readouterr().err == ""


def test_exif_orientation_is_applied_to_files_and_bytes(tmp_path):
    upright = load_sample_image("china.jpg")[100:196, 200:264]  # 96 x 64, portrait
    sideways = Image.fromarray(upright).transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 degrees clockwise to display
    path = tmp_path / "phone.jpg"
    sideways.save(path, quality=95, exif=exif)
    # the pixels as stored, then turned upright by hand: what the camera saw
    with Image.open(path) as stored:
        stored_pixels = np.asarray(stored.convert("RGB"))
    assert stored_pixels.shape[:2] == (64, 96)
    turned = np.ascontiguousarray(np.rot90(stored_pixels, k=-1))
    encoder = ImageEncoder(**SMALL).fit([turned])
    out = encoder.transform(
        pd.Series([str(path), path.read_bytes(), turned, stored_pixels], name="photo")
    )
    np.testing.assert_allclose(out[0], out[2], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out[1], out[2], rtol=1e-5, atol=1e-5)
    assert not np.allclose(out[0], out[3], rtol=1e-2, atol=1e-2)


def test_draft_decodes_large_jpegs_downscaled(tmp_path):
    from PIL import Image

    photo = Image.fromarray(load_sample_image("china.jpg")).resize((1708, 1281))
    path = tmp_path / "large.jpg"
    photo.save(path, quality=92)
    exact = ImageEncoder(**SMALL).fit([path])
    fast = ImageEncoder(draft=True, **SMALL).fit([path])
    decoded = fast._decode(path)
    assert decoded.shape == exact._decode(path).shape
    # the decoder downscaled (the pixels differ), the features barely do
    assert not np.array_equal(decoded, exact._decode(path))
    a, b = exact.transform([path])[0], fast.transform([path])[0]
    assert a @ b / np.linalg.norm(a) / np.linalg.norm(b) > 0.98
