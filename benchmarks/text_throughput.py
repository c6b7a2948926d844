"""Throughput of TextEncoder against calling SentenceTransformer.encode directly.

Takes ``--n-texts`` texts (default 2,000): the Debian ``fortunes`` collection
when it is installed (``/usr/share/games/fortunes``, files read in name order),
otherwise generated sentences of varied length. Both sides run the same
all-MiniLM-L6-v2 model object, the same batch size and the same torch threads:

(a) the baseline: ``model.encode(texts, batch_size=..., normalize_embeddings=True)``
    (which also sorts the whole input by length);
(b) ``TextEncoder(batch_size=...).fit(texts).transform(texts)`` with an empty
    cache ("cold"): length-sorted batches plus the per-text cache keys and
    stores, and windows for texts longer than 256 tokens, which the baseline
    truncates (the count is printed);
(c) the same transform again ("cached"): every text comes from the in-process
    cache.

Each timed side runs ``--repeats`` times, interleaved, after a warm-up; the best
time of each is kept (the machine is shared). Prints texts per second, the
ratios, and the largest difference between (a) and (b) on the texts within
the model's length limit.

Run it with::

    python benchmarks/text_throughput.py --n-texts 2000
"""

import argparse
import random
import time
from pathlib import Path

import numpy as np
import torch

import mmensemble
from mmensemble import TextEncoder

FORTUNES = Path("/usr/share/games/fortunes")


def fortunes(n_texts):
    """The first ``n_texts`` fortunes, or None when the package is absent."""
    if not FORTUNES.is_dir():
        return None
    texts = []
    for path in sorted(FORTUNES.iterdir()):
        if path.suffix or not path.is_file():  # skip the .dat/.u8 indexes
            continue
        content = path.read_text(encoding="utf-8", errors="replace")
        texts.extend(text.strip() for text in content.split("\n%\n") if text.strip())
        if len(texts) >= n_texts:
            return texts[:n_texts]
    return texts if len(texts) >= n_texts else None


def generated(n_texts, seed=0):
    """Sentences of 3 to 120 words drawn from a small vocabulary."""
    words = (
        "the a cat dog market river city night rain music old new quick slow "
        "runs sleeps falls rises sings reads writes under over near after before "
        "because while green red bright dark people children history science"
    ).split()
    rng = random.Random(seed)
    return [
        " ".join(rng.choice(words) for _ in range(rng.randint(3, 120))) + "."
        for _ in range(n_texts)
    ]


def timed(function):
    start = time.perf_counter()
    result = function()
    return result, time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-texts", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    texts = fortunes(args.n_texts)
    source = "fortunes" if texts is not None else "generated sentences"
    if texts is None:
        texts = generated(args.n_texts)

    encoder = TextEncoder(batch_size=args.batch_size).fit(texts[:2])
    model = encoder._model  # the very model object the encoder runs
    tokenizer = model.tokenizer
    lengths = np.array([len(ids) for ids in tokenizer(texts)["input_ids"]])
    within = lengths <= encoder.max_seq_length_

    def baseline():
        return model.encode(
            texts, batch_size=args.batch_size, normalize_embeddings=True
        )

    def cold():
        mmensemble.clear_cache()
        return encoder.transform(texts)

    model.encode(texts[:64], batch_size=args.batch_size)  # warm-up
    encoder.transform(texts[:64])
    base_times, cold_times = [], []
    for repeat in range(args.repeats):
        expected, seconds = timed(baseline)
        base_times.append(seconds)
        out, seconds = timed(cold)
        cold_times.append(seconds)
        print(
            f"run {repeat + 1}: encode {base_times[-1]:.1f} s, "
            f"TextEncoder cold {cold_times[-1]:.1f} s",
            flush=True,
        )
    cached, cached_seconds = timed(lambda: encoder.transform(texts))
    assert np.array_equal(cached, out)

    n = len(texts)
    base, cold_best = min(base_times), min(cold_times)
    print(
        f"{n} texts ({source}), {int((~within).sum())} longer than "
        f"{encoder.max_seq_length_} tokens (median {int(np.median(lengths))} "
        f"tokens); batch size {args.batch_size}, {torch.get_num_threads()} torch "
        f"threads, best of {args.repeats}"
    )
    print(f"SentenceTransformer.encode : {n / base:8.1f} texts/s")
    print(
        f"TextEncoder cold           : {n / cold_best:8.1f} texts/s   "
        f"ratio {base / cold_best:.2f}"
    )
    print(
        f"TextEncoder cached         : {n / cached_seconds:8.1f} texts/s   "
        f"ratio {base / cached_seconds:.1f}"
    )
    difference = np.abs(out[within] - expected[within]).max()
    print(f"largest |difference| on texts within the limit: {difference:.2e}")


if __name__ == "__main__":
    main()
