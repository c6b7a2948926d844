"""One-row ``MFCCEncoder.transform`` time against the size of the disk cache.

For each size (0, 50,000 and 200,000 entries by default) a fresh on-disk cache
is filled through the cache's own API (``EmbeddingCache.put_many``, batches of
1,000 in one transaction each) with entries shaped like the encoder's: its
fingerprint, 20-byte cell digests, rows of ``n_features_out_`` float32. Then,
with the in-process cache off so that every lookup goes to the disk store, it
times a one-row ``transform`` of

- a new clip (a disk miss: decode, MFCC, store), and
- a clip already stored (a disk hit),

each ``--repeats`` times, round-robin over the sizes (a busy machine then
slows every size alike), and prints the medians and their ratios to the empty
cache measured in the same run (target: 200,000 within 2x of empty). It also
prints the disk footprint per entry of the store against the former layout,
one ``.npy`` file per entry (measured on ``--old-layout-sample`` such files).

Run it with::

    python benchmarks/cache_scale.py
"""

import argparse
import hashlib
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

import mmensemble
from mmensemble import MFCCEncoder
from mmensemble.encoders._cache import EmbeddingCache


def fill(directory, encoder, n_entries, seed, chunk=1000):
    """Store ``n_entries`` realistic entries for ``encoder`` in ``directory``."""
    rng = np.random.default_rng(seed)
    width = encoder.n_features_out_
    cache = EmbeddingCache(encoder.fingerprint_, directory, width=width)
    for start in range(0, n_entries, chunk):
        size = min(chunk, n_entries - start)
        keys = [
            hashlib.blake2b(f"{seed}:{start + i}".encode(), digest_size=20).hexdigest()
            for i in range(size)
        ]
        cache.put_many(keys, rng.normal(size=(size, width)).astype(np.float32))


def clip(rng, sr, seconds=0.5):
    """A new in-memory clip (a tone plus noise): a cell not seen before."""
    t = np.arange(int(seconds * sr)) / sr
    tone = 0.2 * np.sin(2 * np.pi * rng.uniform(100, 2000) * t)
    return (tone + rng.normal(0, 0.01, t.size)).astype(np.float32)


def time_one_row(encoder, cell):
    """Seconds of ``encoder.transform([cell])``."""
    start = time.perf_counter()
    encoder.transform([cell])
    return time.perf_counter() - start


def footprint(directory):
    """Bytes allocated on disk and number of inodes under ``directory``."""
    allocated = inodes = 0
    for dirpath, dirnames, filenames in os.walk(directory):
        for name in dirnames + filenames:
            allocated += os.lstat(os.path.join(dirpath, name)).st_blocks * 512
            inodes += 1
    return allocated, inodes


def old_layout_footprint(directory, width, n_files):
    """Per-entry bytes and inodes of the former one-``.npy``-per-entry layout."""
    root = Path(directory) / "fingerprint"
    value = np.zeros(width, dtype=np.float32)
    for index in range(n_files):
        key = hashlib.blake2b(str(index).encode(), digest_size=20).hexdigest()
        path = root / key[:2] / f"{key}.npy"
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, value, allow_pickle=False)
    allocated, inodes = footprint(directory)
    return allocated / n_files, inodes / n_files


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[0, 50_000, 200_000])
    parser.add_argument("--repeats", type=int, default=51)
    parser.add_argument("--old-layout-sample", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    with tempfile.TemporaryDirectory() as scratch:
        encoders, fills = [], []
        for size in args.sizes:
            encoder = MFCCEncoder(memory=Path(scratch) / f"cache{size}", n_jobs=1)
            encoder.fit([clip(rng, encoder.sr)])
            start = time.perf_counter()
            fill(encoder.memory, encoder, size, args.seed)
            fills.append(time.perf_counter() - start)
            encoders.append(encoder)
        with mmensemble.config_context(memory_cache_bytes=0):
            stored = [clip(rng, encoders[0].sr) for _ in range(args.repeats)]
            for encoder in encoders:
                encoder.transform(stored)  # warm-up, and the cells of the hits
            # Round-robin over the sizes, so that a busy machine slows all alike.
            misses = [[] for _ in encoders]
            hits = [[] for _ in encoders]
            for cell in stored:
                new = clip(rng, encoders[0].sr)
                for index, encoder in enumerate(encoders):
                    misses[index].append(time_one_row(encoder, new))
                    hits[index].append(time_one_row(encoder, cell))
        rows = []
        for size, fill_seconds, encoder, miss, hit in zip(
            args.sizes, fills, encoders, misses, hits, strict=True
        ):
            allocated, inodes = footprint(encoder.memory)
            entries = size + 2 * args.repeats
            rows.append(
                (
                    size,
                    fill_seconds,
                    statistics.median(miss),
                    statistics.median(hit),
                    allocated / entries,
                    inodes,
                )
            )
        old_bytes, old_inodes = old_layout_footprint(
            Path(scratch) / "old", encoder.n_features_out_, args.old_layout_sample
        )

    base_miss, base_hit = rows[0][2], rows[0][3]
    print(
        f"one-row MFCCEncoder.transform, width {encoder.n_features_out_}, "
        f"median of {args.repeats}, in-process cache off"
    )
    print(
        f"{'entries':>8} {'fill s':>7} {'miss ms':>8} {'x empty':>8} "
        f"{'hit ms':>7} {'x empty':>8} {'disk B/entry':>13} {'inodes':>7}"
    )
    for size, fill_seconds, miss, hit, per_entry, inodes in rows:
        print(
            f"{size:>8} {fill_seconds:>7.1f} {miss * 1e3:>8.2f} "
            f"{miss / base_miss:>8.2f} {hit * 1e3:>7.2f} {hit / base_hit:>8.2f} "
            f"{per_entry:>13.0f} {inodes:>7}"
        )
    print(
        f"former layout (one .npy per entry, {args.old_layout_sample} entries): "
        f"{old_bytes:.0f} B/entry on disk, {old_inodes:.2f} inodes/entry"
    )


if __name__ == "__main__":
    main()
