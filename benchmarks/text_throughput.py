"""Throughput of TextEncoder against calling SentenceTransformer.encode directly.

Takes ``--n-texts`` texts (default 2,000): the Debian ``fortunes`` collection
when it is installed (``/usr/share/games/fortunes``, files read in name order),
otherwise generated sentences of varied length. Both sides run the same
all-MiniLM-L6-v2 model object, the same batch size and the same torch threads:

(a) the baseline: ``model.encode(texts, batch_size=..., normalize_embeddings=True)``
    (which also sorts the whole input by length);
(b) ``TextEncoder(batch_size=...).fit(texts).transform(texts)`` with an empty
    cache ("cold"), default runtime (ONNX Runtime on a CPU): length-sorted
    batches, per-text cache keys and stores, and windows for texts longer than
    256 tokens, which the baseline truncates (the count is printed);
(c) the same with ``runtime="torch"`` (the machinery's own overhead);
(d) the transform of (b) again ("cached"): every text from the in-process cache.

Each timed side runs ``--repeats`` times, interleaved, after a warm-up; the best
wall-clock and the best CPU time (all threads) of each are kept: the CPU time
is the steadier figure on a shared machine. Prints texts per second, the
ratios against (a), and the largest difference from (a) on the texts within
the model's length limit.

Run it with::

    python benchmarks/text_throughput.py --n-texts 2000
"""

import argparse
import random
from pathlib import Path

import numpy as np
import torch
from _timing import timed
from sklearn.base import clone

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


def best(measured):
    """The best wall-clock and the best CPU time of ``(wall, cpu)`` pairs."""
    return min(wall for wall, _ in measured), min(cpu for _, cpu in measured)


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
    torch_encoder = clone(encoder).set_params(runtime="torch").fit(texts[:2])
    model = encoder._model  # the very model object both encoders run
    lengths = np.array([len(ids) for ids in model.tokenizer(texts)["input_ids"]])
    within = lengths <= encoder.max_seq_length_

    def cold(fitted):
        def run():
            mmensemble.clear_cache()
            return fitted.transform(texts)

        return run

    sides = {
        "SentenceTransformer.encode": lambda: model.encode(
            texts, batch_size=args.batch_size, normalize_embeddings=True
        ),
        "TextEncoder cold (onnxruntime)": cold(encoder),
        "TextEncoder cold (torch)": cold(torch_encoder),
    }
    model.encode(texts[:64], batch_size=args.batch_size)  # warm-up
    encoder.transform(texts[:64])
    torch_encoder.transform(texts[:64])
    times = {name: [] for name in sides}
    outputs = {}
    for repeat in range(args.repeats):
        for name, run in sides.items():
            outputs[name], wall, cpu = timed(run)
            times[name].append((wall, cpu))
            print(
                f"run {repeat + 1}: {name} {wall:.1f} s ({cpu:.1f} s CPU)", flush=True
            )
    encoder.transform(texts)  # refill: the torch side's cold runs emptied the cache
    cached, wall, cpu = timed(lambda: encoder.transform(texts))
    times["TextEncoder cached"] = [(wall, cpu)]
    assert np.array_equal(cached, outputs["TextEncoder cold (onnxruntime)"])

    n = len(texts)
    print(
        f"{n} texts ({source}), {int((~within).sum())} longer than "
        f"{encoder.max_seq_length_} tokens (median {int(np.median(lengths))} "
        f"tokens); batch size {args.batch_size}, {torch.get_num_threads()} torch "
        f"threads, best of {args.repeats}"
    )
    base_wall, base_cpu = best(times["SentenceTransformer.encode"])
    for name, measured in times.items():
        wall, cpu = best(measured)
        print(
            f"{name:32s} {n / wall:10.1f} texts/s   ratio {base_wall / wall:7.2f} "
            f"wall, {base_cpu / max(cpu, 1e-9):7.2f} CPU"
        )
    expected = outputs["SentenceTransformer.encode"]
    for name in list(sides)[1:]:
        difference = np.abs(outputs[name][within] - expected[within]).max()
        print(f"largest |difference| from encode, {name}: {difference:.2e}")


if __name__ == "__main__":
    main()
