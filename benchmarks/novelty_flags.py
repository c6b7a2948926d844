"""Per-modality "unlike training" flags on the spoken digits with foreign images.

``mmensemble fit train.csv --target label`` (no other flag: roles inferred,
pretrained encoders, auto fusion) on the bundled spoken digits' training
voices, then ``mmensemble predict test.csv --novelty`` on the held-out voices
with the images of 30% of the test rows replaced by images of another
distribution: Fashion-MNIST test images (the Debian package
``dataset-fashion-mnist``), or uniform noise when it is not installed. For
each modality it prints the share of rows flagged unlike training among the
normal test rows and, for the image, among the replaced ones, for the
summary ``fit`` stores (Mahalanobis distance in a principal subspace plus the
residual off it) and for the other option (the distance to the 5th nearest
of 1000 stored training rows projected on the same subspace, its threshold
measured on held-out rows the same way), and the size of each modality's
summary; for the image, the same on a harder shift
(the normal test rows' digits turned a quarter turn) and the AUROC of the
scores telling both shifted sets from the normal rows. The audio and text
flags on normal rows show how the new voices (speakers never heard in
training) look to each summary.

Usage::

    python benchmarks/novelty_flags.py
    python benchmarks/novelty_flags.py --quick
    python benchmarks/novelty_flags.py --cache-dir /tmp/mmensemble-cache
"""

import argparse
import contextlib
import io
import os
import tempfile
import time

import numpy as np
import pandas as pd
from fusion_accuracy import FASHION_DIR, QUICK_ROWS, read_idx, subsample
from PIL import Image
from sklearn.model_selection import KFold

from mmensemble import save
from mmensemble.cli._main import main as mmensemble_main
from mmensemble.cli._main import read_model, read_table
from mmensemble.cli._recipes import RoleModel
from mmensemble.datasets import load_spoken_digits
from mmensemble.inspection._novelty import _embeddings, _EmbeddingSummary

REPLACED = 0.3
# The k-NN baseline's stored training rows, and the neighbour it measures.
STORED_ROWS = 1000
N_NEIGHBORS = 5


def foreign_images(n_rows, fashion_dir, rng):
    """``n_rows`` images from another distribution, and what they are."""
    path = os.path.join(fashion_dir, "t10k-images-idx3-ubyte.gz")
    if os.path.exists(path):
        images = read_idx(path)
        return images[rng.choice(len(images), n_rows, replace=False)], "Fashion-MNIST"
    noise = rng.integers(0, 256, size=(n_rows, 32, 32), dtype=np.uint8)
    return noise, "uniform noise (dataset-fashion-mnist is not installed)"


class KNNBaseline:
    """The other option: distance to the 5th nearest stored training row.

    Each modality's rows are projected on the principal subspace of its
    summary (whitened, as in the Mahalanobis score); at most ``STORED_ROWS``
    projected training rows are kept, and a row's score is its distance to
    the ``N_NEIGHBORS``-th nearest of them. The threshold is the 99th
    percentile of held-out distances, measured as ``ModalityNovelty`` does
    (each of 5 folds scored by a baseline fitted on the others).
    """

    def fit(self, novelty, train):
        self.novelty_ = novelty
        self.fitted_ = {}
        rng = np.random.default_rng(0)
        for name, encoder, columns in novelty.modalities_:
            rows = _embeddings(name, encoder, columns, train)
            rows = rows[~np.isnan(rows).all(axis=1)]
            held_out = np.empty(len(rows))
            for fold_train, fold_test in KFold(5, shuffle=True, random_state=0).split(
                rows
            ):
                summary, stored = self._fit_rows(
                    rows[fold_train], novelty.n_components, rng
                )
                held_out[fold_test] = self._distances(summary, stored, rows[fold_test])
            summary, stored = self._fit_rows(rows, novelty.n_components, rng)
            threshold = np.quantile(held_out, novelty.quantile)
            self.fitted_[name] = (summary, stored, threshold)
        return self

    @staticmethod
    def _fit_rows(rows, n_components, rng):
        summary = _EmbeddingSummary(n_components).fit(rows)
        kept = rng.choice(len(rows), min(len(rows), STORED_ROWS), replace=False)
        return summary, summary.project(rows[kept])[0]

    @staticmethod
    def _distances(summary, stored, rows):
        whitened = summary.project(rows)[0]
        squared = (
            (whitened**2).sum(axis=1)[:, None]
            - 2 * whitened @ stored.T
            + (stored**2).sum(axis=1)[None, :]
        )
        nearest = np.partition(squared, N_NEIGHBORS - 1, axis=1)[:, N_NEIGHBORS - 1]
        return np.sqrt(np.maximum(nearest, 0.0))

    def novelty(self, frame):
        """Each modality's distances over its threshold (NaN where missing)."""
        scores = {}
        for name, encoder, columns in self.novelty_.modalities_:
            rows = _embeddings(name, encoder, columns, frame)
            present = ~np.isnan(rows).all(axis=1)
            scores[name] = np.full(len(rows), np.nan)
            summary, stored, threshold = self.fitted_[name]
            scores[name][present] = (
                self._distances(summary, stored, rows[present]) / threshold
            )
        return scores

    @property
    def kilobytes(self):
        return {
            name: array_kb(summary) + stored.astype(np.float32).nbytes / 1024
            for name, (summary, stored, _) in self.fitted_.items()
        }


def novelty_columns(novelty, frame):
    """``ModalityNovelty.score_rows``'s novelty of each modality, by name."""
    table = novelty.score_rows(frame)
    return {
        name: table[f"{name}_novelty"].to_numpy() for name, _, _ in novelty.modalities_
    }


def array_kb(summary):
    """Kilobytes of the arrays a summary stores."""
    arrays = [value for value in vars(summary).values() if hasattr(value, "nbytes")]
    return sum(array.nbytes for array in arrays) / 1024


def auroc(normal, shifted):
    """Area under the ROC curve of the scores telling shifted rows from normal ones."""
    from sklearn.metrics import roc_auc_score

    labels = np.r_[np.zeros(len(normal)), np.ones(len(shifted))]
    return roc_auc_score(labels, np.r_[normal, shifted])


def write_split(folder, name, X, y):
    path = os.path.join(folder, f"{name}.csv")
    X.assign(label=np.asarray(y)).to_csv(path, index=False)
    return path


def run(quick, random_state, fashion_dir):
    X_train, X_test, y_train, y_test = load_spoken_digits(
        return_X_y=True, held_out_voices=True, random_state=random_state
    )
    X_train, X_test = X_train.drop(columns="voice"), X_test.drop(columns="voice")
    if quick:
        X_train, y_train = subsample(
            X_train, np.asarray(y_train), QUICK_ROWS["train"], random_state
        )
        X_test, y_test = subsample(
            X_test, np.asarray(y_test), QUICK_ROWS["test"], random_state
        )
    rng = np.random.default_rng(random_state)
    folder = tempfile.mkdtemp()
    replaced = np.zeros(len(X_test), dtype=bool)
    replaced[rng.choice(len(X_test), round(REPLACED * len(X_test)), False)] = True
    images, source = foreign_images(int(replaced.sum()), fashion_dir, rng)
    X_test = X_test.reset_index(drop=True)
    for position, image in zip(np.flatnonzero(replaced), images, strict=True):
        path = os.path.join(folder, f"foreign_{position}.png")
        Image.fromarray(image).save(path)
        X_test.loc[position, "image"] = path
    paths = {
        "train": write_split(folder, "train", X_train, y_train),
        "test": write_split(folder, "test", X_test, y_test),
        "model": os.path.join(folder, "model.mmen"),
        "predictions": os.path.join(folder, "predictions.csv"),
    }
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        fit = ["fit", paths["train"], "--target", "label", "-o", paths["model"]]
        if mmensemble_main(fit) != 0:
            raise RuntimeError("mmensemble fit failed")
        fit_seconds = time.perf_counter() - start
        predict = ["predict", paths["model"], paths["test"], "--novelty"]
        if mmensemble_main([*predict, "-o", paths["predictions"]]) != 0:
            raise RuntimeError("mmensemble predict --novelty failed")
    model = read_model(paths["model"])
    predictions = pd.read_csv(paths["predictions"])
    accuracy = np.mean(predictions["prediction"].to_numpy() == np.asarray(y_test))
    print(
        f"spoken digits, held-out voices: {len(X_train)} training rows, "
        f"{len(X_test)} test rows, the images of {replaced.sum()} of them "
        f"({REPLACED:.0%}) replaced by {source}"
    )
    print(
        f"mmensemble fit (no flag, {model.fusion} fusion): {fit_seconds:.0f} s; "
        f"test accuracy with the replaced images: {accuracy:.3f}"
    )
    without = os.path.join(folder, "without_novelty.mmen")
    save(RoleModel(**{**vars(model), "novelty": None}), without)
    print(
        f"model file: {os.path.getsize(paths['model']) / 1024:.0f} KB, "
        f"{os.path.getsize(without) / 1024:.0f} KB without the novelty summaries"
    )
    train = read_table(paths["train"], model.roles, target="label")[model.columns]
    test = read_table(paths["test"], model.roles)[model.columns]
    start = time.perf_counter()
    knn = KNNBaseline().fit(model.novelty, train)
    knn_seconds = time.perf_counter() - start
    methods = {
        "mahalanobis + residual (fit's)": (
            lambda frame: novelty_columns(model.novelty, frame),
            {
                name: array_kb(summary)
                for name, summary in model.novelty.summaries_.items()
            },
        ),
        "k-NN in the subspace": (knn.novelty, knn.kilobytes),
    }
    # A harder shift: the normal test rows' own digits, turned a quarter turn.
    normal = test[~replaced]
    turned = normal.assign(
        image=pd.Series(
            [np.rot90(np.asarray(Image.open(path))) for path in normal["image"]],
            index=normal.index,
            dtype=object,
        )
    )
    rows = []
    for method, (score, kilobytes) in methods.items():
        scores, turned_scores = score(test), score(turned)
        for name, novelty in scores.items():
            present = ~np.isnan(novelty)
            row = {
                "method": method,
                "modality": name,
                "normal flagged": np.mean(novelty[~replaced & present] > 1),
                "replaced flagged": np.nan,
                "AUROC replaced": np.nan,
                "turned flagged": np.nan,
                "AUROC turned": np.nan,
                "summary KB": kilobytes[name],
            }
            if name == "image":
                row["replaced flagged"] = np.mean(novelty[replaced] > 1)
                row["AUROC replaced"] = auroc(novelty[~replaced], novelty[replaced])
                row["turned flagged"] = np.mean(turned_scores["image"] > 1)
                row["AUROC turned"] = auroc(novelty[~replaced], turned_scores["image"])
            rows.append(row)
    # predict --novelty wrote the first summary's columns: the same flags
    for name, _, _ in model.novelty.modalities_:
        column = f"{name}_unlike_training"
        np.testing.assert_array_equal(
            predictions[column].to_numpy(),
            model.novelty.score_rows(test)[column].to_numpy(),
        )
    table = pd.DataFrame(rows)
    print(table.to_string(index=False, float_format=lambda value: f"{value:.3f}"))
    print(f"(the k-NN baseline took {knn_seconds:.1f} s to fit, encodings cached)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small subsample")
    parser.add_argument("--random-state", type=int, default=0)
    parser.add_argument("--fashion-dir", default=FASHION_DIR)
    parser.add_argument(
        "--cache-dir",
        default=None,
        help="embedding cache folder (MMENSEMBLE_CACHE_DIR), reused across runs",
    )
    args = parser.parse_args()
    if args.cache_dir is not None:
        from mmensemble import set_config

        set_config(cache_dir=args.cache_dir)
    print(f"load average: {os.getloadavg()[0]:.2f}")
    run(args.quick, args.random_state, args.fashion_dir)


if __name__ == "__main__":
    main()
