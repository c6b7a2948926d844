"""VideoEncoder throughput against a plain decode-every-frame loop, in one run.

The clips are made here with PyAV: H.264 MP4 files of a moving textured
pattern, ``--seconds`` long at ``--fps`` frames per second, a keyframe every
``--gop`` frames (1 s by default, as phone cameras write). Three ways embed the
same ``--n-frames`` frames of each clip (the first frame at or after the
centres of equal slices of its duration) with the same fitted ``ImageEncoder``
and mean-pool them:

- baseline: the loop a user writes by hand: for each file, decode every frame
  with PyAV, keep (as RGB) the frames at the sampled times, then
  ``image_encoder.transform`` on them;
- ``VideoEncoder(seek=False)``: decodes every frame too, but in threads while
  the previous batch is embedded;
- ``VideoEncoder()``: seeks to the keyframe before each sampled time and
  decodes only from there.

It also times the decoding alone (the sampled frames to RGB, no network),
every frame against keyframe seeking.

The embedding cache is off, the encoders are fitted (network loaded) before
timing, and all three run on the same files in this process, so the ratios
hold on a noisy shared machine. The script checks that the three give the same
features.

Usage::

    python benchmarks/video_throughput.py --n-videos 12 --seconds 30
"""

import argparse
import os
import tempfile
from fractions import Fraction

import av
import numpy as np
from _timing import timed


def make_clips(directory, n_videos, seconds, fps, size, gop, seed=0):
    """Write ``n_videos`` H.264 clips of a drifting noise texture."""
    rng = np.random.default_rng(seed)
    paths = []
    for index in range(n_videos):
        texture = rng.integers(0, 256, (2 * size, 2 * size, 3), dtype=np.uint8)
        path = os.path.join(directory, f"clip_{index:03d}.mp4")
        with av.open(path, "w") as container:
            stream = container.add_stream("libx264", rate=fps)
            stream.width = stream.height = size
            stream.pix_fmt = "yuv420p"
            stream.codec_context.gop_size = gop
            stream.codec_context.options = {"preset": "veryfast", "sc_threshold": "0"}
            for i in range(int(seconds * fps)):
                shift = i % size
                pixels = texture[shift : shift + size, shift : shift + size]
                frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
                frame.pts, frame.time_base = i, Fraction(1, fps)
                container.mux(stream.encode(frame))
            container.mux(stream.encode())
        paths.append(path)
    return paths


def baseline(paths, image_encoder, n_frames):
    """Decode every frame; embed the sampled ones with ``image_encoder``."""
    features = []
    for path in paths:
        with av.open(path) as container:
            stream = container.streams.video[0]
            duration = float(stream.duration * stream.time_base)
            targets = list((np.arange(n_frames) + 0.5) * duration / n_frames)
            picked, last = [], None
            for frame in container.decode(stream):
                last = frame
                while targets and frame.time >= targets[0]:
                    picked.append(frame.to_ndarray(format="rgb24"))
                    targets.pop(0)
            picked.extend(last.to_ndarray(format="rgb24") for _ in targets)
        features.append(image_encoder.transform(picked).mean(axis=0))
    return np.stack(features)


def decode_only(paths, n_frames, seek):
    """The sampled frames as RGB arrays, without embedding them."""
    from mmensemble.encoders._video_io import (
        frame_rgb,
        read_frames,
        sample_times,
        stream_span,
        video_stream,
    )

    for path in paths:
        with av.open(path) as container:
            stream = video_stream(container)
            times = sample_times(*stream_span(container, stream), n_frames=n_frames)
            for frame in read_frames(container, stream, times, seek=seek):
                frame_rgb(frame)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-videos", type=int, default=12)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--fps", type=int, default=25)
    parser.add_argument("--gop", type=int, default=25)
    parser.add_argument("--size", type=int, default=128, help="clip side, pixels")
    parser.add_argument("--n-frames", type=int, default=8)
    parser.add_argument("--image-size", type=int, default=224)
    args = parser.parse_args()

    from mmensemble import ImageEncoder, VideoEncoder, config_context

    with (
        tempfile.TemporaryDirectory() as directory,
        config_context(memory_cache_bytes=0),
    ):
        paths = make_clips(
            directory, args.n_videos, args.seconds, args.fps, args.size, args.gop
        )
        image_encoder = ImageEncoder(image_size=args.image_size).fit([])
        seeking = VideoEncoder(image_encoder, n_frames=args.n_frames).fit([])
        decoding = VideoEncoder(image_encoder, n_frames=args.n_frames, seek=False)
        decoding.fit([])
        base, base_s, _ = timed(baseline, paths, image_encoder, args.n_frames)
        full, full_s, _ = timed(decoding.transform, paths)
        seek, seek_s, _ = timed(seeking.transform, paths)
        _, decode_full_s, _ = timed(decode_only, paths, args.n_frames, False)
        _, decode_seek_s, _ = timed(decode_only, paths, args.n_frames, True)

    frames = args.n_videos * args.n_frames
    total = int(args.seconds * args.fps)
    print(
        f"{args.n_videos} clips of {args.seconds:g} s at {args.fps} fps "
        f"({total} frames, a keyframe every {args.gop}), {args.size} px; "
        f"{args.n_frames} frames per clip embedded at {args.image_size} px; "
        f"{os.cpu_count()} CPUs\n"
    )
    print("| method | videos/s | sampled frames/s | ratio to baseline |")
    print("|---|---|---|---|")
    for name, seconds in [
        ("baseline: PyAV decodes every frame, ImageEncoder.transform", base_s),
        ("VideoEncoder(seek=False)", full_s),
        ("VideoEncoder() (keyframe seeking)", seek_s),
    ]:
        print(
            f"| {name} | {args.n_videos / seconds:.2f} | {frames / seconds:.1f} | "
            f"{base_s / seconds:.2f}x |"
        )
    print(
        f"\ndecoding alone (the sampled frames to RGB, no embedding): every frame "
        f"{args.n_videos / decode_full_s:.1f} videos/s, keyframe seeking "
        f"{args.n_videos / decode_seek_s:.1f} videos/s "
        f"({decode_full_s / decode_seek_s:.1f}x)"
    )
    scale = np.abs(base).max()
    print(
        "\nmax |difference| / max |feature|: "
        f"seek=False {np.abs(full - base).max() / scale:.1e}, "
        f"seek=True {np.abs(seek - base).max() / scale:.1e}"
    )


if __name__ == "__main__":
    main()
