"""Generate the ``moving_shapes`` video dataset bundled with mmensemble.

What
----
Short video clips, each of one coloured shape moving over a plain background,
with a tonal soundtrack. The class is the *pair* (shape, sound):

- shape: ``circle``, ``square`` or ``triangle``;
- sound: ``low`` (a steady tone between 180 and 360 Hz) or ``high`` (a tone
  between 900 and 1800 Hz, in 2-4 beeps).

That makes 6 classes, ``circle+low``, ``circle+high``, ..., ``triangle+high``.
Neither modality is enough: the picture tells the shape (at best 1 class in 2
right), the sound tells low from high (at best 1 in 3); both together tell the
class. Everything else is drawn at random per clip and carries no class
information: the shape's colour, size, starting point and straight-line motion
(bouncing off the edges), the background grey level, the exact pitch, the
number and timing of the beeps, the loudness and a white-noise floor at a
signal-to-noise ratio between 0 and 20 dB.

Format
------
Each clip is an MP4 file: 64x64 pixels, 1.5 s at 8 frames per second (12
frames), H.264 (libx264, a keyframe every 4 frames) and 16 kHz mono AAC audio
at 24 kbit/s, written with PyAV (whose wheels carry FFmpeg and libx264). The
files are about 6-9 kB each, 240 clips (40 per class) about 2 MB in all::

    mmensemble/datasets/data/moving_shapes/
        metadata.csv    file, target, shape, sound, pitch_hz, snr_db
        clip_000.mp4 ... clip_239.mp4

:func:`mmensemble.datasets.load_moving_shapes` reads them.

Requirements
------------
``av``, ``numpy``, ``pandas`` and ``pillow``. The output is deterministic for a
given seed (libx264 runs on one thread).

Regenerate (from the repository root)::

    python tools/make_video_dataset.py --seed 0
"""

import argparse
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pandas as pd
from PIL import Image, ImageDraw

SHAPES = ("circle", "square", "triangle")
SOUNDS = ("low", "high")
CLASSES = [f"{shape}+{sound}" for shape in SHAPES for sound in SOUNDS]
SIZE = 64
FPS = 8
DURATION = 1.5
SR = 16000
GOP = 4
OUT = Path(__file__).parents[1] / "mmensemble" / "datasets" / "data" / "moving_shapes"


def render_frames(shape, rng):
    """The clip's frames: ``(n_frames, SIZE, SIZE, 3)`` uint8."""
    n_frames = int(round(DURATION * FPS))
    background = int(rng.integers(20, 120))
    colour = tuple(int(c) for c in rng.integers(130, 256, 3))
    radius = rng.uniform(8, 14)
    position = rng.uniform(radius, SIZE - radius, 2)
    velocity = rng.uniform(-5, 5, 2)
    frames = []
    for _ in range(n_frames):
        image = Image.new("RGB", (SIZE, SIZE), (background,) * 3)
        draw = ImageDraw.Draw(image)
        x, y = position
        box = (x - radius, y - radius, x + radius, y + radius)
        if shape == "circle":
            draw.ellipse(box, fill=colour)
        elif shape == "square":
            draw.rectangle(box, fill=colour)
        else:
            draw.polygon(
                [(x, y - radius), (x - radius, y + radius), (x + radius, y + radius)],
                fill=colour,
            )
        frames.append(np.asarray(image))
        position = position + velocity
        for axis in range(2):  # bounce off the edges
            if not radius <= position[axis] <= SIZE - radius:
                velocity[axis] = -velocity[axis]
                position[axis] = np.clip(position[axis], radius, SIZE - radius)
    return np.stack(frames)


def render_sound(sound, rng):
    """The soundtrack: float32 mono at ``SR``, and its pitch and SNR."""
    t = np.arange(int(DURATION * SR)) / SR
    if sound == "low":
        pitch = rng.uniform(180, 360)
        envelope = np.ones_like(t)
    else:
        pitch = rng.uniform(900, 1800)
        envelope = np.zeros_like(t)
        n_beeps = int(rng.integers(2, 5))
        for start in np.sort(rng.uniform(0, DURATION - 0.2, n_beeps)):
            envelope[(t >= start) & (t < start + rng.uniform(0.1, 0.25))] = 1.0
    tone = np.sin(2 * np.pi * pitch * t + rng.uniform(0, 2 * np.pi)) * envelope
    snr_db = rng.uniform(0, 20)
    power = np.mean(tone**2)
    noise = rng.normal(scale=np.sqrt(power / 10 ** (snr_db / 10)), size=t.shape)
    signal = tone + noise
    signal *= rng.uniform(0.2, 0.6) / np.max(np.abs(signal))
    return signal.astype(np.float32), pitch, snr_db


def write_clip(path, frames, audio):
    """Write frames and sound as an H.264 + AAC MP4 file with PyAV."""
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=FPS)
        video.width = video.height = SIZE
        video.pix_fmt = "yuv420p"
        video.codec_context.gop_size = GOP
        video.codec_context.max_b_frames = 0
        video.codec_context.options = {"preset": "medium", "crf": "28", "threads": "1"}
        sound = container.add_stream("aac", rate=SR)
        sound.layout = "mono"
        sound.bit_rate = 24000
        for index, array in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(array, format="rgb24")
            frame.pts, frame.time_base = index, Fraction(1, FPS)
            container.mux(video.encode(frame))
        container.mux(video.encode())
        for start in range(0, len(audio), 1024):
            chunk = audio[np.newaxis, start : start + 1024]
            frame = av.AudioFrame.from_ndarray(chunk, format="flt", layout="mono")
            frame.sample_rate, frame.pts = SR, start
            frame.time_base = Fraction(1, SR)
            container.mux(sound.encode(frame))
        container.mux(sound.encode())


def make_dataset(out, *, n_per_class, seed):
    """Render ``n_per_class`` clips per class into ``out``; return the metadata."""
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("clip_*.mp4"):
        old.unlink()
    targets = rng.permutation(np.repeat(np.arange(len(CLASSES)), n_per_class))
    rows = []
    for index, target in enumerate(targets):
        shape, sound = CLASSES[target].split("+")
        audio, pitch, snr_db = render_sound(sound, rng)
        name = f"clip_{index:03d}.mp4"
        write_clip(out / name, render_frames(shape, rng), audio)
        rows.append(
            {
                "file": name,
                "target": int(target),
                "shape": shape,
                "sound": sound,
                "pitch_hz": round(pitch, 1),
                "snr_db": round(snr_db, 2),
            }
        )
    metadata = pd.DataFrame(rows)
    metadata.to_csv(out / "metadata.csv", index=False)
    return metadata


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-per-class", type=int, default=40)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    metadata = make_dataset(args.out, n_per_class=args.n_per_class, seed=args.seed)
    size = sum(path.stat().st_size for path in args.out.iterdir())
    print(f"wrote {len(metadata)} clips, {size / 1e6:.2f} MB, to {args.out}")


if __name__ == "__main__":
    main()
