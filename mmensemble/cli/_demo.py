"""``mmensemble demo``: unimodal against fused models on the spoken digits.

The bundled dataset describes each digit three ways (a handwritten image, a
synthesised voice saying it, its written word with typos); the test rows come
from voices never heard in training. Every method runs twice, once with the
classic text and audio features (character n-gram TF-IDF, MFCC statistics)
and once with the pretrained encoders (sentence embeddings, Whisper), and the
automatic fusion picks among the pretrained ones. Every method uses encoders
with the same parameters, so each image and clip is encoded once per encoder
(the embedding cache) and the fit and predict times compare the models, not
the encoding. ``benchmarks/fusion_accuracy.py`` scores the same methods, built
by :func:`unimodal_methods` and :func:`fused_methods`.
"""

import sys
import time
import warnings

import numpy as np
import pandas as pd
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import train_test_split

__all__ = ["run_demo"]

# Encoder settings shared by every method: the clips are 8 kHz, the images
# 32x32 pixels, which gain nothing from being upscaled to 224.
SR = 8000
IMAGE_SIZE = 96
ROLES = {"image": "image", "audio": "audio", "text": "text"}
# The text and audio encoders of each run of the methods, by display name.
ENCODER_SETS = {
    "TF-IDF/MFCC": {"text_encoder": "tfidf", "audio_encoder": "mfcc"},
    "sentence/Whisper": {"text_encoder": "sentence", "audio_encoder": "whisper"},
}
_ENCODER_NAMES = {"tfidf": "TF-IDF", "mfcc": "MFCC", "sentence": "sentence"}
_ENCODER_NAMES["whisper"] = "Whisper"
_QUICK_ROWS = {"train": 150, "test": 60}
_SCORE_FORMATS = {
    "accuracy": ("accuracy", ".3f"),
    "macro_f1": ("macro-F1", ".3f"),
    "fit_seconds": ("fit s", ".2f"),
    "predict_seconds": ("predict s", ".2f"),
}


def run_demo(*, quick=False, n_jobs=None, random_state=0, file=None):
    """Fit and score unimodal and fused models on the spoken digits.

    Parameters
    ----------
    quick : bool, default=False
        Use a small stratified subsample, fewer folds and epochs (a smoke test).
    n_jobs : int, default=None
        Parallel jobs of the fusion estimators, run in threads so that they
        share the embedding cache.
    random_state : int, default=0
        Seed of the subsample and of the estimators.
    file : file-like, default=None
        Where to print the report; None means standard output. Progress bars
        go to standard error.

    Returns
    -------
    scores : DataFrame
        One row per method: ``accuracy``, ``macro_f1``, ``fit_seconds``,
        ``predict_seconds``.
    """
    from joblib import parallel_config
    from threadpoolctl import threadpool_limits

    from .._torch_utils import torch

    # One thread per job. Multithreaded torch and BLAS gain little on two
    # cores for a small CNN and small models, and lose tenfold when the cores
    # are busy. Parallelism comes from ``n_jobs``, in threads that share the
    # embedding cache. Torch is loaded first so that the limit reaches it.
    torch()
    with (
        parallel_config(backend="threading"),
        threadpool_limits(limits=1),
        warnings.catch_warnings(),
    ):
        # The demo's epoch and iteration budgets are deliberate.
        warnings.simplefilter("ignore", ConvergenceWarning)
        return _run(quick, n_jobs, random_state, sys.stdout if file is None else file)


def _run(quick, n_jobs, random_state, file):
    from tqdm.auto import tqdm

    from ..inspection._importance import modality_importance
    from ._tables import format_table

    X_train, X_test, y_train, y_test = _load(quick, random_state)
    print(
        f"spoken digits: {len(X_train)} training rows, {len(X_test)} test rows "
        f"spoken by {X_test['voice'].nunique()} voices unseen in training",
        file=file,
    )
    X_train, X_test = X_train[list(ROLES)], X_test[list(ROLES)]
    encode_once(X_train, X_test, file=file)
    fused = fused_methods(quick=quick, n_jobs=n_jobs, random_state=random_state)
    rows, fitted = [], {}
    methods = tqdm([*unimodal_methods(), *fused], desc="fitting", unit="model")
    for name, estimator in methods:
        methods.set_postfix_str(name)
        start = time.perf_counter()
        estimator.fit(X_train, y_train)
        fit_seconds = time.perf_counter() - start
        start = time.perf_counter()
        prediction = estimator.predict(X_test)
        predict_seconds = time.perf_counter() - start
        fitted[name] = estimator
        rows.append(
            {
                "method": name,
                "accuracy": accuracy_score(y_test, prediction),
                "macro_f1": f1_score(y_test, prediction, average="macro"),
                "fit_seconds": fit_seconds,
                "predict_seconds": predict_seconds,
            }
        )
    scores = pd.DataFrame(rows).set_index("method")
    print(file=file)
    print(format_table(scores, _SCORE_FORMATS), file=file)
    best = scores.loc[[name for name, _ in fused], "accuracy"].idxmax()
    importance = modality_importance(fitted[best], X_test, y_test)
    print(file=file)
    print(
        f"modality importance for {best}, on the test rows\n"
        "(score_alone: accuracy with that modality alone; score_drop: accuracy "
        "lost without it;\n shapley: its Shapley value over all subsets of "
        "modalities):",
        file=file,
    )
    columns = ("score_alone", "score_drop", "shapley")
    print(
        format_table(importance, {column: (column, ".3f") for column in columns}),
        file=file,
    )
    return scores


def _load(quick, random_state):
    """Training and test rows, the test voices unseen in training."""
    from ..datasets import load_spoken_digits

    X_train, X_test, y_train, y_test = load_spoken_digits(
        return_X_y=True,
        held_out_voices=True,
        image_format="array",
        audio_format="array",
    )
    if quick:
        X_train, y_train = _subsample(
            X_train, y_train, _QUICK_ROWS["train"], random_state
        )
        X_test, y_test = _subsample(X_test, y_test, _QUICK_ROWS["test"], random_state)
    return X_train, X_test, np.asarray(y_train), np.asarray(y_test)


def _subsample(X, y, n_rows, random_state):
    """A stratified random subsample of ``n_rows`` rows of ``X`` and ``y``."""
    X, _, y, _ = train_test_split(
        X, y, train_size=n_rows, stratify=y, random_state=random_state
    )
    return X, y


def encode_once(X_train, X_test, *, file=None):
    """Fill the embedding cache with every cell of every encoder.

    Prints the seconds each encoder took to ``file`` (None: standard output)
    and returns them, by encoder name.
    """
    from ..fusion._defaults import default_encoder

    seconds = {}
    encoders = [("image", "image", {})]
    for options in ENCODER_SETS.values():
        encoders.append(("audio", options["audio_encoder"], options))
        if options["text_encoder"] != "tfidf":
            encoders.append(("text", options["text_encoder"], options))
    for role, name, options in encoders:
        cells = pd.concat([X_train[role], X_test[role]], ignore_index=True).dropna()
        encoder = default_encoder(role, sr=SR, image_size=IMAGE_SIZE, **options)
        start = time.perf_counter()
        encoder.set_params(verbose=1).fit(cells).transform(cells)
        seconds[_ENCODER_NAMES.get(name, name)] = time.perf_counter() - start
    print(
        "encoding, once for all methods: "
        + ", ".join(f"{name} {value:.1f} s" for name, value in seconds.items()),
        file=file,
        flush=True,
    )
    return seconds


def unimodal_methods():
    """One model per modality and encoder, by display name."""
    from ..fusion._defaults import default_modality_model
    from ..fusion._voting import ModalityVotingClassifier

    methods, seen = [], set()
    for options in ENCODER_SETS.values():
        for role, column in ROLES.items():
            name = {"text": options["text_encoder"], "audio": options["audio_encoder"]}
            label = f"{role} only" + (
                f" [{_ENCODER_NAMES[name[role]]}]" if role in name else ""
            )
            if label in seen:
                continue
            seen.add(label)
            model = default_modality_model(
                role, sr=SR, image_size=IMAGE_SIZE, **options
            )
            # A single modality in the voting classifier: the rows without it
            # (some texts are missing) get the class prior.
            methods.append(
                (
                    label,
                    ModalityVotingClassifier([(role, model, column)], voting="soft"),
                )
            )
    return methods


def fused_methods(*, quick=False, n_jobs=None, random_state=0):
    """The fusion strategies of ``mmensemble fit`` with each encoder set.

    Unfitted, by display name; ``quick`` gives fewer stacking folds and network
    epochs. The automatic fusion runs with the pretrained encoders only.
    """
    from ._recipes import build_estimator

    labels = {
        "early": "fused: early (FeatureFusion)",
        "voting": "fused: soft voting",
        "stacking": "fused: stacking",
        "net": "fused: fusion network",
        "auto": "fused: auto (best by CV)",
    }
    methods = []
    for encoders, options in ENCODER_SETS.items():
        for fusion, label in labels.items():
            if fusion == "auto" and encoders != "sentence/Whisper":
                continue
            estimator = build_estimator(
                fusion,
                ROLES,
                sr=SR,
                image_size=IMAGE_SIZE,
                random_state=random_state,
                n_jobs=n_jobs,
                **options,
            )
            if quick and fusion in ("stacking", "auto"):
                estimator.set_params(cv=3)
            if quick and fusion == "net":
                estimator.set_params(max_epochs=20)
            if quick and fusion == "auto":
                estimator.set_params(net_params={"max_epochs": 20})
            methods.append((f"{label} [{encoders}]", estimator))
    return methods
