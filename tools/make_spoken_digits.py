"""Generate the ``spoken_digits`` dataset bundled with mmensemble.

What
----
A three-modality classification dataset: 1500 rows, 10 balanced classes (the
digits 0-9). Each row describes one digit three ways:

- ``image``: a real handwritten digit from :func:`sklearn.datasets.load_digits`
  (each row uses a distinct image of its class), upscaled from 8x8 to 32x32
  grayscale ``uint8`` (17 grey levels, like the 0-16 originals), slightly
  rotated and shifted. About 28% of the images are corrupted: heavy noise, a
  large occluding block, a digit of another class drawn over it, or a strong
  blur.
- ``audio``: the digit spoken by one of 45 synthetic voices: ``espeak-ng`` in
  24 languages (10 common ones, English in two accents, with 2-4 voice variants
  each, e.g. ``de+m3``; 14 rare ones with a single voice and about 1% of the
  rows each) and ``flite``'s 4 English voices. The word is the number spelled
  in that language by ``num2words``, at a random speed and pitch, with white,
  pink or brown noise at a per-row SNR (55% at 20-35 dB, 30% at 10-20 dB, 15%
  at 0-10 dB), random gain and padding; 8 kHz mono 16-bit, at most 1.5 s.
- ``text``: the number word in the spoken language with 0-4 random typos
  (swaps, drops, substitutions, insertions); exactly 15% of the rows have no
  text.

Plus ``language`` (num2words language code), ``voice`` (speaker id, e.g.
``"espeak-ng:de+m3"`` or ``"flite:slt"``; the rare languages have a single
voice, so holding out voices can also hold out a language), and two columns
describing the degradations: ``snr_db`` and ``image_corruption``.

How it is stored
----------------
The media are packed, to keep the file count and the size (about 5 MB) small::

    mmensemble/datasets/data/spoken_digits/
        metadata.csv   image, audio, text, language, voice, target, snr_db,
                       image_corruption, audio_start, audio_stop
        images.npz     "images": uint8 array (n_rows, 32, 32)
        audio.flac     all clips concatenated, 8 kHz mono 16-bit, stored at
                       1/16 of their level (the loader multiplies by 16)

``image`` and ``audio`` in ``metadata.csv`` are paths (``images/0000.png``,
``audio/0000.wav``) relative to the folder into which
:func:`mmensemble.datasets.load_spoken_digits` extracts the media on first use;
``audio_start`` and ``audio_stop`` are the sample offsets of each clip in
``audio.flac``.

Requirements
------------
Debian packages ``espeak-ng`` and ``flite`` (``apt-get install -y espeak-ng
flite``), and the Python packages ``num2words``, ``numpy``, ``scipy``,
``pandas``, ``pillow``, ``soundfile`` and ``scikit-learn``. The output is
deterministic for a given seed and given versions of the synthesisers (it was
made with espeak-ng 1.51 and flite 2.2 of Debian 12).

Regenerate (from the repository root)::

    python tools/make_spoken_digits.py --seed 0
"""

import argparse
import io
import os
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from math import gcd
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
from num2words import num2words
from PIL import Image, ImageFilter
from scipy.signal import resample_poly
from sklearn.datasets import load_digits

DEFAULT_OUT = (
    Path(__file__).resolve().parents[1]
    / "mmensemble"
    / "datasets"
    / "data"
    / "spoken_digits"
)
SR = 8000
MAX_SECONDS = 1.5
IMAGE_SIZE = 32
MISSING_TEXT_RATE = 0.15
# Peak level of a stored clip relative to full scale. Low levels keep the FLAC
# small (about one bit per sample for each halving); the loader multiplies the
# samples by 16, which brings the peaks to 0.32-0.96 without loss.
GAIN_RANGE = (0.02, 0.06)

# espeak-ng voice -> (num2words language, number of voice variants, share of
# the rows). English and a few big languages carry most rows, so the audio is
# learnable; the rare languages below get a single voice and 1% of the rows each.
COMMON_LANGUAGES = {
    "en-us": ("en", 4, 0.18),
    "en": ("en", 2, 0.08),
    "de": ("de", 3, 0.09),
    "fr": ("fr", 3, 0.09),
    "es": ("es", 3, 0.09),
    "it": ("it", 2, 0.05),
    "nl": ("nl", 2, 0.05),
    "pt": ("pt", 2, 0.05),
    "sv": ("sv", 2, 0.05),
    "pl": ("pl", 2, 0.05),
    "fi": ("fi", 2, 0.04),
}
RARE_LANGUAGES = {
    "da": "da",
    "cs": "cs",
    "ro": "ro",
    "tr": "tr",
    "id": "id",
    "hu": "hu",
    "nb": "no",
    "lt": "lt",
    "lv": "lv",
    "sk": "sk",
    "sl": "sl",
    "ca": "ca",
    "eo": "eo",
    "is": "is",
}
RARE_SHARE = 0.01
FLITE_SHARE = 0.01
# Candidate espeak-ng variants; the ones not installed, or that do not change a
# language's voice (a wrong name silently falls back to the default), are skipped.
VARIANT_POOL = (
    "m1 m2 m3 m4 m5 m6 m7 m8 f1 f2 f3 f4 f5 klatt klatt2 klatt3 klatt4 croak "
    "whisper whisperf grandma grandpa Annie Andy steph linda max adam belinda "
    "john paul robert edward quincy zac norbert travis victor"
).split()
FLITE_VOICES = ("kal", "awb", "rms", "slt")


@dataclass(frozen=True)
class Voice:
    """One speaker: a synthesiser, its voice name and the language it speaks."""

    engine: str
    name: str
    language: str
    share: float

    @property
    def voice_id(self):
        return f"{self.engine}:{self.name}"


def _run(cmd):
    """Run a synthesiser command and return its stdout bytes."""
    return subprocess.run(cmd, check=True, capture_output=True).stdout


def espeak_variants():
    """Return the voice variants that ``espeak-ng`` really has installed."""
    out = _run(["espeak-ng", "--voices=variant"]).decode()
    names = set()
    for line in out.splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 5 and fields[4].startswith("!v/"):
            names.add(fields[4][3:])
    return names


def espeak_wave(voice, text, *, speed=175, pitch=50):
    """Synthesise ``text`` with espeak-ng; return (float32 samples, sr)."""
    cmd = ["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "--stdout"]
    return _read_wav_stream(_run([*cmd, text]))


def _read_wav_stream(data):
    """Decode a WAV byte string whose header sizes may be wrong."""
    data = bytearray(data)
    data[4:8] = (len(data) - 8).to_bytes(4, "little")
    pos = data.find(b"data", 12)
    data[pos + 4 : pos + 8] = (len(data) - pos - 8).to_bytes(4, "little")
    wave, sr = sf.read(io.BytesIO(bytes(data)), dtype="float32")
    return wave, sr


def flite_wave(voice, text, *, stretch=1.0, f0=None, tmpdir):
    """Synthesise ``text`` with flite; return (float32 samples, sr)."""
    fd, name = tempfile.mkstemp(suffix=".wav", dir=tmpdir)
    os.close(fd)
    out = Path(name)
    cmd = ["flite", "-voice", voice, "--setf", f"duration_stretch={stretch:.3f}"]
    if f0 is not None:
        cmd += ["--setf", f"int_f0_target_mean={f0:.1f}"]
    _run([*cmd, "-t", text, "-o", str(out)])
    wave, sr = sf.read(out, dtype="float32")
    out.unlink()
    return wave, sr


def check_variant(lang, variant):
    """Return True when ``lang+variant`` sounds different from plain ``lang``."""
    plain = _run(["espeak-ng", "-v", lang, "--stdout", "one two"])
    varied = _run(["espeak-ng", "-v", f"{lang}+{variant}", "--stdout", "one two"])
    return plain != varied


def build_voices(rng):
    """Return the list of :class:`Voice` used in the dataset."""
    available = [v for v in VARIANT_POOL if v in espeak_variants()]
    voices = []
    for lang, (n2w, n_variants, share) in COMMON_LANGUAGES.items():
        for variant in _pick_variants(rng, lang, available, n_variants):
            name = f"{lang}+{variant}"
            voices.append(Voice("espeak-ng", name, n2w, share / n_variants))
    for lang, n2w in RARE_LANGUAGES.items():
        (variant,) = _pick_variants(rng, lang, available, 1)
        voices.append(Voice("espeak-ng", f"{lang}+{variant}", n2w, RARE_SHARE))
    if shutil.which("flite"):
        voices += [Voice("flite", name, "en", FLITE_SHARE) for name in FLITE_VOICES]
    return voices


def _pick_variants(rng, lang, available, n):
    """Pick ``n`` distinct variants that really change the voice of ``lang``."""
    picked = []
    for variant in rng.permutation(available):
        if check_variant(lang, variant):
            picked.append(str(variant))
        if len(picked) == n:
            return picked
    raise RuntimeError(f"not enough espeak-ng variants for {lang!r}")


def synthesise(voice, word, rng, tmpdir):
    """Speak ``word`` with ``voice`` at a random speed and pitch."""
    speed_factor = rng.uniform(1.0, 1.45)
    pitch = int(rng.integers(30, 71))
    if voice.engine == "flite":
        f0 = rng.uniform(90, 200)
        wave, sr = flite_wave(
            voice.name, word, stretch=1 / speed_factor, f0=f0, tmpdir=tmpdir
        )
    else:
        speed = int(175 * speed_factor)
        wave, sr = espeak_wave(voice.name, word, speed=speed, pitch=pitch)
    return resample(wave, sr, SR)


def resample(wave, sr_in, sr_out):
    """Polyphase resampling from ``sr_in`` to ``sr_out``."""
    if sr_in == sr_out:
        return wave.astype(np.float32)
    g = gcd(sr_in, sr_out)
    return resample_poly(wave, sr_out // g, sr_in // g).astype(np.float32)


def trim(wave, top_db=35.0, frame=160):
    """Cut leading and trailing frames quieter than ``top_db`` below the peak."""
    n = len(wave) // frame
    if n == 0:
        return wave
    energy = (wave[: n * frame].reshape(n, frame) ** 2).mean(axis=1)
    level = 10 * np.log10(energy + 1e-12)
    keep = np.flatnonzero(level > level.max() - top_db)
    return wave[keep[0] * frame : (keep[-1] + 1) * frame]


def coloured_noise(rng, n, colour):
    """Return ``n`` samples of white, pink or brown noise with unit RMS."""
    white = rng.standard_normal(n)
    if colour == "white":
        noise = white
    else:
        spectrum = np.fft.rfft(white)
        freqs = np.arange(len(spectrum), dtype=float)
        freqs[0] = 1.0
        exponent = 0.5 if colour == "pink" else 1.0
        noise = np.fft.irfft(spectrum / freqs**exponent, n)
    return noise / (np.sqrt(np.mean(noise**2)) + 1e-12)


def draw_snr(rng):
    """Signal-to-noise ratio in dB: mostly clean, some noisy, a few very noisy."""
    kind = rng.choice(3, p=[0.55, 0.3, 0.15])
    low, high = [(20.0, 35.0), (10.0, 20.0), (0.0, 10.0)][kind]
    return float(rng.uniform(low, high))


def finish_audio(speech, rng):
    """Trim, pad, add noise and scale a clip; return int16 samples and its SNR."""
    speech = trim(speech)
    max_len = int(MAX_SECONDS * SR)
    lead = int(rng.uniform(0.01, 0.1) * SR)
    tail = int(rng.uniform(0.01, 0.06) * SR)
    speech = speech[: max_len - lead - tail]
    fade = min(80, len(speech))
    speech[len(speech) - fade :] *= np.linspace(1, 0, fade, dtype=np.float32)
    clip = np.concatenate([np.zeros(lead), speech, np.zeros(tail)])
    snr = draw_snr(rng)
    speech_rms = np.sqrt(np.mean(speech**2)) + 1e-12
    colour = rng.choice(["white", "pink", "brown"], p=[0.25, 0.35, 0.4])
    noise = coloured_noise(rng, len(clip), colour) * speech_rms / 10 ** (snr / 20)
    clip = clip + noise
    clip *= rng.uniform(*GAIN_RANGE) / np.max(np.abs(clip))
    return np.round(clip * 32767).astype(np.int16), snr


def add_typos(word, rng):
    """Return ``word`` with a random number of character-level typos."""
    n_typos = rng.choice(5, p=[0.30, 0.30, 0.22, 0.12, 0.06])
    chars = list(word)
    for _ in range(n_typos):
        chars = _typo(chars, rng)
    return "".join(chars) if chars else word[:1]


def _typo(chars, rng):
    """Apply one swap, drop, substitution or insertion to ``chars``."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    kind = rng.choice(["swap", "drop", "sub", "insert"])
    if not chars:
        return chars
    i = int(rng.integers(len(chars)))
    if kind == "swap" and len(chars) > 1:
        j = min(i + 1, len(chars) - 1)
        i = j - 1
        chars[i], chars[j] = chars[j], chars[i]
    elif kind == "drop" and len(chars) > 2:
        del chars[i]
    elif kind == "insert":
        chars.insert(i, letters[rng.integers(26)])
    else:
        chars[i] = letters[rng.integers(26)]
    return chars


def upscale(img8, rng):
    """Turn an 8x8 digit (0-16) into a jittered 32x32 ``uint8`` image."""
    img = Image.fromarray((img8 * 255 / 16).astype(np.uint8))
    img = img.resize((IMAGE_SIZE, IMAGE_SIZE), Image.BILINEAR)
    angle = rng.uniform(-12, 12)
    shift = rng.integers(-2, 3, size=2)
    img = img.rotate(angle, resample=Image.BILINEAR, translate=tuple(shift.tolist()))
    return np.asarray(img, dtype=np.float64)


def corrupt(img, other, rng):
    """Apply one heavy corruption to a 32x32 float image; return (image, kind)."""
    kind = rng.choice(["noise", "occlusion", "overlay", "blur"])
    if kind == "noise":
        img = img + rng.normal(0, rng.uniform(90, 140), img.shape)
    elif kind == "occlusion":
        size = int(rng.integers(16, 23))
        top, left = rng.integers(0, IMAGE_SIZE - size + 1, size=2)
        img = img.copy()
        img[top : top + size, left : left + size] = rng.choice([0.0, 255.0])
    elif kind == "overlay":
        img = np.maximum(0.55 * img, rng.uniform(0.9, 1.0) * other)
    else:
        small = Image.fromarray(img.clip(0, 255).astype(np.uint8)).resize((6, 6))
        img = np.asarray(
            small.resize((IMAGE_SIZE, IMAGE_SIZE), Image.BILINEAR).filter(
                ImageFilter.GaussianBlur(2)
            ),
            dtype=np.float64,
        )
    return img, str(kind)


def make_images(digit_images, digit_targets, rng, corrupt_rate):
    """Return the (n, 32, 32) uint8 images and each one's corruption kind."""
    images = np.empty((len(digit_images), IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)
    kinds = ["none"] * len(digit_images)
    for i, (img8, target) in enumerate(zip(digit_images, digit_targets, strict=True)):
        img = upscale(img8, rng)
        if rng.random() < corrupt_rate:
            others = np.flatnonzero(digit_targets != target)
            other = upscale(digit_images[rng.choice(others)], rng)
            img, kinds[i] = corrupt(img, other, rng)
        # 17 grey levels, like the 0-16 originals: compresses 3x better.
        images[i] = (np.round(img.clip(0, 255) / 17) * 17).astype(np.uint8)
    return images, kinds


def make_audio(words, voices, rng, tmpdir, jobs):
    """Synthesise and finish every clip; return a list of (int16 array, SNR)."""
    seeds = rng.integers(2**32, size=(len(words), 2))

    def speak(i):
        wave = synthesise(
            voices[i], words[i], np.random.default_rng(seeds[i, 0]), tmpdir
        )
        return finish_audio(wave, np.random.default_rng(seeds[i, 1]))

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(speak, range(len(words))))


def make_texts(words, rng):
    """Typo-ridden copies of ``words`` with a fraction of missing entries."""
    texts = [add_typos(w, rng) for w in words]
    n_missing = int(round(MISSING_TEXT_RATE * len(words)))
    for i in rng.choice(len(words), size=n_missing, replace=False):
        texts[i] = None
    return texts


def pick_rows(targets, n_per_class, rng):
    """Shuffled indices of ``n_per_class`` distinct digits of every class."""
    chosen = [
        rng.permutation(np.flatnonzero(targets == c))[:n_per_class]
        for c in np.unique(targets)
    ]
    return rng.permutation(np.concatenate(chosen))


def generate(out, seed=0, jobs=2, n_per_class=150, corrupt_rate=0.28):
    """Build the dataset and write it under ``out``."""
    rng = np.random.default_rng(seed)
    digits = load_digits()
    order = pick_rows(digits.target, n_per_class, rng)
    targets = digits.target[order]
    voice_list = build_voices(rng)
    shares = np.array([v.share for v in voice_list])
    picks = rng.choice(len(voice_list), size=len(order), p=shares / shares.sum())
    voices = [voice_list[j] for j in picks]
    words = [
        num2words(int(d), lang=v.language) for d, v in zip(targets, voices, strict=True)
    ]
    images, kinds = make_images(digits.images[order], targets, rng, corrupt_rate)
    tmpdir = out.parent / ".tmp-spoken-digits"
    tmpdir.mkdir(parents=True, exist_ok=True)
    try:
        clips, snrs = zip(*make_audio(words, voices, rng, tmpdir, jobs), strict=True)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    meta = pd.DataFrame(
        {
            "text": make_texts(words, rng),
            "language": [v.language for v in voices],
            "voice": [v.voice_id for v in voices],
            "target": targets,
            "snr_db": np.round(snrs, 1),
            "image_corruption": kinds,
        }
    )
    write(out, images, clips, meta)


def write(out, images, clips, meta):
    """Write metadata.csv, images.npz and audio.flac into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    lengths = np.array([len(c) for c in clips])
    ids = [f"{i:04d}" for i in range(len(meta))]
    meta.insert(0, "image", [f"images/{i}.png" for i in ids])
    meta.insert(1, "audio", [f"audio/{i}.wav" for i in ids])
    meta["audio_start"] = np.cumsum(lengths) - lengths
    meta["audio_stop"] = np.cumsum(lengths)
    meta.to_csv(out / "metadata.csv", index=False)
    np.savez_compressed(out / "images.npz", images=images)
    sf.write(out / "audio.flac", np.concatenate(clips), SR, subtype="PCM_16")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(argv)
    generate(args.out, seed=args.seed, jobs=args.jobs)


if __name__ == "__main__":
    main()
