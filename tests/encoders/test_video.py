"""Tests of VideoEncoder, the PyAV frame reader and video_soundtrack."""

import os
import pickle
import re
from fractions import Fraction

import av
import numpy as np
import pandas as pd
import pytest
from PIL import Image
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline

import mmensemble
from mmensemble import (
    BadCellWarning,
    CellDecodeError,
    ImageEncoder,
    MFCCEncoder,
    VideoEncoder,
    video_soundtrack,
)
from mmensemble.datasets import load_moving_shapes
from mmensemble.encoders._video_io import (
    frame_rgb,
    open_video,
    read_frames,
    sample_times,
    stream_span,
    video_stream,
)

SR = 8000


def write_clip(
    path,
    n_frames=20,
    *,
    fps=10,
    size=(32, 24),
    codec="libx264",
    gop=5,
    times=None,
    rotation=None,
    tone_hz=None,
    container_format=None,
    bframes=0,
):
    """Write a test clip; frame ``i`` is a grey level ``10 * i`` with a white corner.

    ``times`` (seconds) gives each frame's timestamp (a variable frame rate);
    ``tone_hz`` adds a sine soundtrack at ``SR``.
    """
    width, height = size
    with av.open(str(path), "w", format=container_format) as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.gop_size = gop
        stream.codec_context.max_b_frames = bframes
        if codec == "libx264":  # keyframes every gop frames, not at each change
            stream.codec_context.options = {"sc_threshold": "0"}
        if times is not None:
            stream.codec_context.time_base = Fraction(1, 1000)
        if rotation is not None:
            stream.set_display_rotation(rotation)
        audio = None
        if tone_hz is not None:
            audio = container.add_stream("aac", rate=SR)
            audio.layout = "mono"
        for index in range(n_frames):
            pixels = np.full((height, width, 3), 10 * index, dtype=np.uint8)
            pixels[: height // 3, : width // 4] = 255
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            if times is None:
                frame.pts, frame.time_base = index, Fraction(1, fps)
            else:
                frame.pts = round(times[index] * 1000)
                frame.time_base = Fraction(1, 1000)
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
        if audio is not None:
            duration = n_frames / fps if times is None else times[-1] + 0.1
            t = np.arange(int(duration * SR)) / SR
            wave = (0.5 * np.sin(2 * np.pi * tone_hz * t)).astype(np.float32)
            for start in range(0, len(wave), 1024):
                chunk = av.AudioFrame.from_ndarray(
                    wave[np.newaxis, start : start + 1024], format="flt", layout="mono"
                )
                chunk.sample_rate, chunk.pts = SR, start
                chunk.time_base = Fraction(1, SR)
                container.mux(audio.encode(chunk))
            container.mux(audio.encode())
    return str(path)


def write_audio_only(path):
    with av.open(str(path), "w") as container:
        audio = container.add_stream("aac", rate=SR)
        audio.layout = "mono"
        wave = np.zeros((1, 4096), dtype=np.float32)
        chunk = av.AudioFrame.from_ndarray(wave, format="flt", layout="mono")
        chunk.sample_rate = SR
        container.mux(audio.encode(chunk))
        container.mux(audio.encode())
    return str(path)


def all_frames(path):
    """Every frame of a file, decoded in order: ``[(time, rgb), ...]``."""
    with av.open(path) as container:
        return [(frame.time, frame_rgb(frame)) for frame in container.decode(video=0)]


def picked(path, times, *, seek):
    with open_video(path) as container:
        stream = video_stream(container)
        frames = read_frames(container, stream, times, seek=seek)
        return [(frame.time, frame_rgb(frame)) for frame in frames]


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("videos")
    paths = {
        "plain": write_clip(folder / "plain.mp4", tone_hz=440),
        "silent": write_clip(folder / "silent.mp4"),
        "bframes": write_clip(folder / "bframes.mp4", n_frames=25, bframes=2),
        "mkv": write_clip(folder / "plain.mkv", container_format="matroska"),
        "vfr": write_clip(
            folder / "vfr.mp4",
            n_frames=8,
            times=[0.0, 0.05, 0.1, 0.15, 1.0, 1.05, 1.9, 1.95],
        ),
        "rotated": write_clip(folder / "rotated.mp4", n_frames=6, rotation=90),
        "audio_only": write_audio_only(folder / "audio_only.m4a"),
        "raw_stream": write_clip(folder / "raw.h264", container_format="h264"),
    }
    data = open(paths["plain"], "rb").read()
    truncated = folder / "truncated.mp4"
    truncated.write_bytes(data[: len(data) // 2])
    paths["truncated"] = str(truncated)
    corrupt = bytearray(data)
    corrupt[len(data) // 3 : 2 * len(data) // 3] = bytes(len(data) // 3)
    (folder / "corrupt.mp4").write_bytes(bytes(corrupt))
    paths["corrupt"] = str(folder / "corrupt.mp4")
    # A Matroska file cut inside its first Cluster: a video stream, no frames.
    header_only = open(paths["mkv"], "rb").read()
    cut = header_only.index(b"\x1f\x43\xb6\x75") + 12  # the first Cluster
    (folder / "no_frames.mkv").write_bytes(header_only[:cut])
    paths["no_frames"] = str(folder / "no_frames.mkv")
    transcript = folder / "transcript.txt"
    transcript.write_text("Hello, and thank you for calling the help desk.\n" * 60)
    paths["text_file"] = str(transcript)
    Image.fromarray(np.zeros((24, 32, 3), dtype=np.uint8)).save(folder / "still.png")
    paths["still_image"] = str(folder / "still.png")
    return paths


def small_encoder(**params):
    return VideoEncoder(ImageEncoder(image_size=32, batch_size=4), **params)


@pytest.fixture(scope="module")
def fitted():
    return small_encoder(n_frames=4, pooling=("mean", "max", "std")).fit([])


# ------------------------------------------------------------------ sampling


def test_sample_times_uniform_by_time_and_every_k_seconds():
    np.testing.assert_allclose(
        sample_times(1.0, 2.0, n_frames=4), [1.25, 1.75, 2.25, 2.75]
    )
    np.testing.assert_allclose(
        sample_times(0.0, 2.0, n_frames=None, every_seconds=0.5), [0, 0.5, 1, 1.5]
    )
    np.testing.assert_allclose(
        sample_times(0.0, 2.2, n_frames=None, every_seconds=0.5),
        [0, 0.5, 1, 1.5, 2.0],
    )
    # a cap keeps that many of the times, evenly spaced
    np.testing.assert_allclose(
        sample_times(0.0, 10.0, n_frames=3, every_seconds=1.0), [0, 4, 9]
    )
    assert len(sample_times(0.0, 0.1, n_frames=None, every_seconds=1.0)) == 1


def test_uniform_sampling_takes_the_first_frame_at_or_after_each_time(clips):
    # 20 frames at 10 fps: the times 0.25, 0.75, 1.25, 1.75 fall on frames 3, 8, 13, 18
    with open_video(clips["plain"]) as container:
        start, duration = stream_span(container, video_stream(container))
    assert (start, duration) == (0.0, 2.0)
    times = sample_times(start, duration, n_frames=4)
    got = picked(clips["plain"], times, seek=True)
    np.testing.assert_allclose([time for time, _ in got], [0.3, 0.8, 1.3, 1.8])
    grey = [int(np.median(rgb)) for _, rgb in got]
    np.testing.assert_allclose(grey, [30, 80, 130, 180], atol=3)


def test_every_seconds_sampling_in_the_encoder(clips, fitted):
    encoder = clone(fitted).set_params(n_frames=None, every_seconds=0.5).fit([])
    frames = all_frames(clips["plain"])
    expected = [frames[i][1] for i in (0, 5, 10, 15)]  # t = 0, 0.5, 1, 1.5
    inner = encoder.image_encoder_
    np.testing.assert_allclose(
        encoder._decode(clips["plain"]), np.stack([inner._decode(e) for e in expected])
    )


def test_variable_frame_rate_is_sampled_by_timestamps(clips):
    # 8 frames bunched in three bursts over 2 s: by index the 4 uniform picks
    # would be frames 1, 3, 5, 7; by time (0.25, 0.75, 1.25, 1.75) they are
    # the first frames at or after those times, frames 4, 4, 6, 6.
    with open_video(clips["vfr"]) as container:
        stream = video_stream(container)
        start, duration = stream_span(container, stream)
        times = sample_times(start, duration, n_frames=4)
    got = picked(clips["vfr"], times, seek=True)
    np.testing.assert_allclose([time for time, _ in got], [1.0, 1.0, 1.9, 1.9])
    grey = [int(np.median(rgb)) for _, rgb in got]
    np.testing.assert_allclose(grey, [40, 40, 60, 60], atol=3)


@pytest.mark.parametrize("clip", ["plain", "bframes", "mkv", "vfr"])
def test_seeking_gives_the_frames_of_a_full_decode(clips, clip):
    rng = np.random.default_rng(0)
    times = np.concatenate([rng.uniform(0, 3.2, 12), [0.0, 0.31, 0.31, 5.0]])
    with_seek = picked(clips[clip], times, seek=True)
    decoded = all_frames(clips[clip])
    for target, (time, rgb) in zip(times, with_seek, strict=True):
        later = [(t, f) for t, f in decoded if t >= target]
        expected_time, expected = later[0] if later else decoded[-1]
        assert time == expected_time
        np.testing.assert_array_equal(rgb, expected)
    without_seek = picked(clips[clip], times, seek=False)
    assert [t for t, _ in without_seek] == [t for t, _ in with_seek]


class CountingContainer:
    """A container that counts the frames decoded through it."""

    def __init__(self, container):
        self.container = container
        self.decoded = 0

    def seek(self, *args, **kwargs):
        return self.container.seek(*args, **kwargs)

    def decode(self, stream):
        for frame in self.container.decode(stream):
            self.decoded += 1
            yield frame


@pytest.mark.parametrize("clip", ["plain", "mkv"])
def test_seeking_decodes_only_from_the_keyframe_before_each_time(clips, clip):
    # 20 frames at 10 fps, a keyframe every 5: the times 0.1 and 1.6 need
    # frames 0-1, then 15-16 from the keyframe at 1.5
    counts = {}
    for seek in (True, False):
        with open_video(clips[clip]) as container:
            counting = CountingContainer(container)
            frames = read_frames(
                counting, video_stream(container), [0.1, 1.6], seek=seek
            )
            assert [frame.time for frame in frames] == [0.1, 1.6]
            counts[seek] = counting.decoded
    assert counts == {True: 4, False: 17}


def test_seek_parameter_does_not_change_the_embeddings(clips, fitted):
    paths = [clips["plain"], clips["bframes"], clips["mkv"]]
    seeking = fitted.transform(paths)
    decoding = clone(fitted).set_params(seek=False).fit([]).transform(paths)
    np.testing.assert_array_equal(seeking, decoding)


def test_rotation_metadata_is_applied(clips, fitted):
    raw = all_frames(clips["silent"])[2][1]
    with av.open(clips["rotated"]) as container:
        frame = next(container.decode(video=0))
        assert frame.rotation == 90
        assert frame.to_ndarray(format="rgb24").shape == (24, 32, 3)
    upright = picked(clips["rotated"], [0.2], seek=True)[0][1]
    assert upright.shape == (32, 24, 3)
    np.testing.assert_array_equal(upright, np.rot90(raw))
    # the white corner, top-left in the coded frame, is bottom-left upright
    assert upright[-2, 1].min() > 200 and upright[1, 1].max() < 100


@pytest.mark.parametrize(("rotation", "quarter_turns"), [(180, 2), (-90, 3)])
def test_other_rotations_reach_the_encoder(fitted, tmp_path, rotation, quarter_turns):
    path = write_clip(tmp_path / "turned.mp4", n_frames=6, rotation=rotation)
    with av.open(path) as container:
        coded = [
            frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)
        ]
    # 6 frames at 10 fps: the times 0.075, 0.225, 0.375, 0.525 take frames 1, 3, 4, 5
    expected = [np.rot90(coded[i], quarter_turns) for i in (1, 3, 4, 5)]
    inner = fitted.image_encoder_
    np.testing.assert_array_equal(
        fitted._decode(path), np.stack([inner._decode(e) for e in expected])
    )


# ------------------------------------------------------------------ encoder


def test_output_pools_the_frame_embeddings(clips, fitted):
    frames = fitted._decode(clips["plain"])
    assert frames.shape == (4, 3, 32, 32)
    embeddings = fitted.image_encoder_._embed(list(frames))
    out = fitted.transform([clips["plain"]])[0]
    width = fitted.image_encoder_.n_features_out_
    assert fitted.n_features_out_ == out.shape[0] == 3 * width
    expected = [embeddings.mean(0), embeddings.max(0), embeddings.std(0)]
    np.testing.assert_allclose(out, np.concatenate(expected), rtol=1e-5, atol=1e-6)
    names = fitted.get_feature_names_out()
    assert [names[0], names[width], names[2 * width]] == [
        "frames_mean0",
        "frames_max0",
        "frames_std0",
    ]


def test_bytes_cells_equal_path_cells_and_missing_cells_are_nan(clips, fitted):
    with open(clips["plain"], "rb") as file:
        data = file.read()
    cells = pd.Series([clips["plain"], None, data, np.nan], index=[7, 8, 9, 10])
    out = fitted.transform(cells)
    np.testing.assert_allclose(out[0], out[2], rtol=1e-6)
    assert np.isnan(out[[1, 3]]).all() and np.isfinite(out[[0, 2]]).all()


BAD_CELLS = {
    "truncated": "not a video file FFmpeg can read",
    "corrupt": "Invalid data",
    "audio_only": "no video stream",
    "no_frames": "no decodable frames",
    "raw_stream": "carries no timestamps",
    "missing_file": "no such video file",
    "not_a_cell": "expected a video path or encoded bytes",
    # FFmpeg opens a long text file as text-mode art, an image as one frame
    "text_file": "the file is text, not a video",
    "still_image": "the file is a still image (png_pipe), not a video",
    "directory": "is a directory, not a file",
}


def bad_cell(clips, name):
    if name == "missing_file":
        return clips["plain"] + ".gone"
    if name == "not_a_cell":
        return 42
    if name == "directory":
        return os.path.dirname(clips["plain"])
    return clips[name]


@pytest.mark.parametrize("name", list(BAD_CELLS))
def test_bad_cells_raise_an_error_naming_row_and_column(clips, fitted, name):
    cells = pd.Series([clips["plain"], bad_cell(clips, name)], index=[5, 6], name="v")
    with pytest.raises(CellDecodeError, match=re.escape(BAD_CELLS[name])) as info:
        fitted.transform(cells)
    assert (info.value.row, info.value.column) == (6, "v")
    assert "row 6, column 'v'" in str(info.value)


@pytest.mark.parametrize("name", list(BAD_CELLS))
def test_bad_cells_become_missing_under_on_error_missing(clips, fitted, name):
    encoder = clone(fitted).set_params(on_error="missing")
    cells = pd.Series([clips["plain"], bad_cell(clips, name)], index=[5, 6], name="v")
    with pytest.warns(BadCellWarning, match="row 6"):
        out = encoder.fit_transform(cells)
    assert np.isfinite(out[0]).all() and np.isnan(out[1]).all()
    assert encoder.errors_["row"].tolist() == [6]
    assert BAD_CELLS[name] in encoder.errors_["reason"].iloc[0]


def test_huge_frames_are_refused_from_the_header(clips, fitted):
    # the header-only file has frames of 32x24 pixels and none decodable: the
    # size limit answers before any decoding is tried
    encoder = clone(fitted).set_params(image_encoder__max_pixels=32 * 24 - 1).fit([])
    for clip in ("plain", "no_frames"):
        with pytest.raises(CellDecodeError, match=r"32x24 pixels exceed max_pixels"):
            encoder.transform([clips[clip]])
    limit = clone(fitted).set_params(image_encoder__max_pixels=32 * 24).fit([])
    assert np.isfinite(limit.transform([clips["plain"]])).all()


def test_parameters_are_validated():
    with pytest.raises(ValueError, match="n_frames=None needs every_seconds"):
        small_encoder(n_frames=None).fit([])
    with pytest.raises(ValueError, match="pooling"):
        small_encoder(pooling=("mean", "median")).fit([])
    with pytest.raises(ValueError, match="twice"):
        small_encoder(pooling=["max", "max"]).fit([])
    with pytest.raises(ValueError, match="image_encoder"):
        VideoEncoder(image_encoder=MFCCEncoder()).fit([])


def test_nested_params_in_grid_search_and_the_inner_encoder_is_cloned():
    bunch = load_moving_shapes()
    rows = np.flatnonzero(bunch.target.isin([0, 2]).to_numpy())[:8]
    X, y = bunch.data["video"].iloc[rows], bunch.target.iloc[rows]
    inner = ImageEncoder(image_size=32)
    model = make_pipeline(VideoEncoder(inner, n_frames=2), LogisticRegression())
    assert model.get_params()["videoencoder__image_encoder__image_size"] == 32
    search = GridSearchCV(
        model, {"videoencoder__image_encoder__image_size": [32, 40]}, cv=2
    )
    search.fit(X, y)
    assert set(search.cv_results_["param_videoencoder__image_encoder__image_size"]) == {
        32,
        40,
    }
    fitted_inner = search.best_estimator_[0].image_encoder_
    assert fitted_inner is not inner and not hasattr(inner, "n_features_out_")
    assert (
        fitted_inner.image_size
        == search.best_params_["videoencoder__image_encoder__image_size"]
    )


def test_pickle_keeps_no_network_and_reloads_it(clips, fitted):
    expected = fitted.transform([clips["plain"]])
    state = fitted.__getstate__()
    assert "_frames_ready" not in state
    assert "_session" not in state["image_encoder_"].__getstate__()
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_allclose(restored.transform([clips["plain"]]), expected, 1e-5)
    np.testing.assert_allclose(
        clone(fitted).fit([]).transform([clips["plain"]]), expected, 1e-5
    )


def test_clips_are_cached_per_cell_by_the_inner_encoder_identity(clips, fitted):
    first = fitted.transform([clips["plain"], clips["mkv"]])
    hits = mmensemble.cache_info()["memory_hits"]
    np.testing.assert_array_equal(fitted.transform([clips["mkv"]]), first[[1]])
    assert mmensemble.cache_info()["memory_hits"] == hits + 1
    other = clone(fitted).set_params(image_encoder__image_size=40).fit([])
    assert other.fingerprint_ != fitted.fingerprint_


def test_model_file_round_trip(clips, fitted, tmp_path):
    expected = fitted.transform([clips["plain"]])
    mmensemble.save(fitted, tmp_path / "video.skops")
    restored = mmensemble.load(tmp_path / "video.skops")
    np.testing.assert_allclose(restored.transform([clips["plain"]]), expected, 1e-5)


def test_transform_changes_no_fitted_state(clips, fitted):
    before = {k: v for k, v in vars(fitted).items() if k.endswith("_")}
    fitted.transform([clips["plain"], None])
    after = {k: v for k, v in vars(fitted).items() if k.endswith("_")}
    assert before.keys() == after.keys()
    assert all(before[k] is after[k] for k in before)


# ------------------------------------------------------------------ soundtrack


def test_soundtrack_is_an_audio_column(clips):
    cells = pd.Series(
        [clips["plain"], clips["silent"], None, open(clips["plain"], "rb").read()],
        index=[4, 5, 6, 7],
        name="clip",
    )
    audio = video_soundtrack(cells, sr=SR)
    assert audio.name == "clip" and list(audio.index) == [4, 5, 6, 7]
    assert audio.isna().tolist() == [False, True, True, False]
    waveform, sr = audio[4]
    assert sr == SR and waveform.dtype == np.float32 and waveform.ndim == 1
    assert abs(len(waveform) / SR - 2.0) < 0.2
    spectrum = np.abs(np.fft.rfft(waveform))
    assert abs(np.argmax(spectrum) * SR / len(waveform) - 440) < 5
    np.testing.assert_array_equal(audio[7][0], waveform)
    resampled, rate = video_soundtrack([clips["plain"]], sr=4000).iloc[0]
    assert rate == 4000 and abs(len(resampled) - len(waveform) / 2) < 64
    assert video_soundtrack([clips["plain"]], sr=None).iloc[0][1] == SR
    features = MFCCEncoder(sr=SR, n_fft=256, hop_length=128).fit_transform(audio)
    assert np.isfinite(features[[0, 3]]).all() and np.isnan(features[[1, 2]]).all()


def test_soundtrack_bad_cells_follow_on_error(clips):
    cells = pd.Series([clips["plain"], clips["truncated"]], index=[1, 2], name="v")
    with pytest.raises(CellDecodeError, match="row 2, column 'v'"):
        video_soundtrack(cells)
    with pytest.warns(BadCellWarning, match="row 2") as record:
        audio = video_soundtrack(cells, on_error="missing")
    assert audio.isna().tolist() == [False, True]
    assert [error.row for error in record[0].message.errors] == [2]
    # an audio-only file is a fine soundtrack
    assert video_soundtrack([clips["audio_only"]]).notna().all()


@pytest.mark.parametrize("name", ["text_file", "still_image", "directory"])
def test_soundtrack_of_a_file_that_is_no_video_is_a_bad_cell(clips, name):
    # not a silent soundtrack (NaN without a word): an error, or a recorded one
    cells = pd.Series([clips["plain"], bad_cell(clips, name)], index=[1, 2], name="v")
    with pytest.raises(CellDecodeError, match="row 2, column 'v'") as info:
        video_soundtrack(cells)
    assert info.match(re.escape(BAD_CELLS[name]))
    with pytest.warns(BadCellWarning, match="row 2") as record:
        audio = video_soundtrack(cells, on_error="missing")
    assert audio.isna().tolist() == [False, True]
    assert [error.row for error in record[0].message.errors] == [2]


def test_soundtrack_parameters_are_validated(clips):
    cells = pd.Series([clips["plain"]], index=[1], name="v")
    with pytest.raises(ValueError, match="on_error"):
        video_soundtrack(cells, on_error="ignore")
    with pytest.raises(ValueError, match="sr="):
        video_soundtrack(cells, sr=0)
