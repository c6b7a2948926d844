"""Tests of the bundled moving shapes videos and their generator script."""

import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pandas as pd

from mmensemble.datasets import load_moving_shapes

TOOL = Path(__file__).parents[2] / "tools" / "make_video_dataset.py"


def test_bunch_layout_and_balanced_classes():
    bunch = load_moving_shapes()
    assert list(bunch.data.columns) == ["video"] == bunch.feature_names
    assert bunch.data.shape == (240, 1) and bunch.frame.shape == (240, 2)
    assert bunch.target.dtype == np.int64
    assert np.bincount(bunch.target).tolist() == [40] * 6
    assert list(bunch.details.columns) == ["shape", "sound", "pitch_hz", "snr_db"]
    assert "Moving shapes" in bunch.DESCR
    paths = bunch.data["video"]
    assert all(Path(path).is_absolute() and Path(path).is_file() for path in paths)


def test_the_class_is_the_pair_shape_and_sound():
    bunch = load_moving_shapes()
    pairs = bunch.details["shape"] + "+" + bunch.details["sound"]
    assert (pairs == bunch.target_names[bunch.target]).all()
    # each shape comes with both sounds, each sound with every shape
    counts = pd.crosstab(bunch.details["shape"], bunch.details["sound"])
    assert counts.shape == (3, 2) and (counts.to_numpy() == 40).all()
    low = bunch.details["sound"] == "low"
    assert bunch.details["pitch_hz"][low].max() < bunch.details["pitch_hz"][~low].min()


def test_return_x_y_and_arrays():
    X, y = load_moving_shapes(return_X_y=True)
    assert isinstance(X, pd.DataFrame) and isinstance(y, pd.Series)
    X, y = load_moving_shapes(return_X_y=True, as_frame=False)
    assert X.shape == (240, 1) and X.dtype == object and y.shape == (240,)


def test_clips_have_the_documented_format():
    for path in load_moving_shapes().data["video"].iloc[[0, 119, 239]]:
        with av.open(path) as container:
            video, audio = container.streams.video[0], container.streams.audio[0]
            assert (video.codec_context.name, audio.codec_context.name) == (
                "h264",
                "aac",
            )
            assert (video.width, video.height, audio.rate) == (64, 64, 16000)
            frames = [frame.time for frame in container.decode(video)]
        np.testing.assert_allclose(frames, np.arange(12) / 8)


def test_the_generator_script_makes_the_clips(tmp_path):
    result = subprocess.run(
        [sys.executable, str(TOOL), "--n-per-class", "1", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "wrote 6 clips" in result.stdout
    metadata = pd.read_csv(tmp_path / "metadata.csv")
    assert sorted(metadata["target"]) == list(range(6))
    for name in metadata["file"]:
        with av.open(str(tmp_path / name)) as container:
            assert len(container.streams.video) == len(container.streams.audio) == 1
