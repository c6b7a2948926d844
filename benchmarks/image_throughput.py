"""ImageEncoder throughput against a plain per-image loop, measured in one run.

The baseline is what a user writes by hand: for each file, PIL open, the same
crop/resize/normalisation, and the same torch network on that one image. The
contender is ``ImageEncoder(...).fit_transform(paths)``: batches, decoding in
threads overlapped with inference, channels-last. Both run in this process on
the same files, so the ratio is meaningful on a noisy shared machine. A second
part measures the peak resident memory of encoding many files in a fresh
process, to show that memory stays O(batch), not O(files).

Usage::

    python benchmarks/image_throughput.py --n-files 500 --rss-files 5000
"""

import argparse
import os
import resource
import subprocess
import sys
import tempfile

import numpy as np
from _timing import machine, timed
from PIL import Image
from sklearn.datasets import load_sample_image


def make_files(directory, n_files, size=224, seed=0):
    """Write ``n_files`` JPEG/PNG photos (crops of the sample images) of ``size`` px."""
    rng = np.random.default_rng(seed)
    sources = [load_sample_image("china.jpg"), load_sample_image("flower.jpg")]
    paths = []
    for index in range(n_files):
        source = sources[index % 2]
        top = rng.integers(0, source.shape[0] - size)
        left = rng.integers(0, source.shape[1] - size)
        crop = source[top : top + size, left : left + size].astype(np.int16)
        crop = np.clip(crop + rng.integers(-20, 21, crop.shape), 0, 255)
        extension = "png" if index % 4 == 0 else "jpg"
        path = os.path.join(directory, f"image_{index:05d}.{extension}")
        Image.fromarray(crop.astype(np.uint8)).save(path)
        paths.append(path)
    return paths


def baseline(paths):
    """The hand-written loop: one image at a time through the same network."""
    import torch

    from mmensemble.encoders._efficientnet import load_efficientnet_lite
    from mmensemble.encoders._preprocessing import preprocess_pil

    model, size = load_efficientnet_lite("lite0")
    features = []
    with torch.no_grad():
        for path in paths:
            with Image.open(path) as image:
                array = preprocess_pil(image, size)
            batch = torch.from_numpy(array)[np.newaxis]
            features.append(model.forward_features(batch).numpy()[0])
    return np.stack(features)


def encoder(paths, **params):
    from mmensemble import ImageEncoder, config_context

    with config_context(memory_cache_bytes=0):
        return ImageEncoder(**params).fit_transform(paths)


def peak_rss(directory, n_files):
    """Peak RSS (MiB) of a fresh process encoding ``n_files`` files."""
    code = (
        "import glob, resource, sys\n"
        "from mmensemble import ImageEncoder, config_context\n"
        f"paths = sorted(glob.glob({directory!r} + '/*'))[:{n_files}]\n"
        "with config_context(memory_cache_bytes=0):\n"
        "    out = ImageEncoder().fit_transform(paths)\n"
        "print(out.shape[0], resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    rows, kib = result.stdout.split()
    return int(rows), int(kib) / 1024


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-files", type=int, default=500)
    parser.add_argument("--rss-files", type=int, default=5000)
    args = parser.parse_args()
    print(machine())
    with tempfile.TemporaryDirectory() as directory:
        paths = make_files(directory, max(args.n_files, args.rss_files))
        sample = paths[: args.n_files]
        encoder(sample[:8])  # warm-up: weights, thread pools
        reference, base_seconds, _ = timed(baseline, sample)
        ours, our_seconds, _ = timed(encoder, sample)
        difference = np.abs(ours - reference).max() / np.abs(reference).max()
        print(f"files: {len(sample)} at 224 px (JPEG and PNG)")
        print(f"baseline per-image loop : {len(sample) / base_seconds:8.1f} images/s")
        print(f"ImageEncoder            : {len(sample) / our_seconds:8.1f} images/s")
        print(f"speed-up                : {base_seconds / our_seconds:8.2f}x")
        print(f"max |difference| / max |feature|: {difference:.2e}")
        if args.rss_files:
            rows, mib = peak_rss(directory, args.rss_files)
            print(f"peak RSS encoding {rows} files in a fresh process: {mib:.0f} MiB")
    usage = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"(this process peaked at {usage:.0f} MiB)")


if __name__ == "__main__":
    main()
