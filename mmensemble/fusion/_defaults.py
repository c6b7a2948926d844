"""The default model of a modality: its encoder and a head that tunes itself.

A *role* says what a modality's columns hold (``"image"``, ``"audio"``,
``"text"``, ``"categorical"``, ``"tabular"``, ...; the role registry,
:mod:`mmensemble.roles`, lists them). :func:`default_encoder` gives the
role's encoder, :func:`default_head` the model on top: a linear model that
picks its own regularisation by internal cross-validation
(``TunedLogisticRegression``, ``RidgeCV``), or for the tabular and
categorical roles the better of it and gradient-boosted trees. Inside a
fusion estimator the encoder's outputs come from the embedding cache, so this
tuning costs no extra encoding. The command line's
recipes build their models here, so Python users and ``mmensemble fit`` get
the same defaults.
"""

import numpy as np
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
)
from sklearn.linear_model import RidgeCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from .._exceptions import MMEnsembleError
from ..roles import REGISTRY, ROLES
from ._categorical_trees import CategoricalTrees
from ._head_selection import HeadSelectionClassifier, HeadSelectionRegressor
from ._heads import TunedLogisticRegression

__all__ = [
    "AUDIO_ENCODERS",
    "ROLES",
    "TASKS",
    "TEXT_ENCODERS",
    "default_encoder",
    "default_head",
    "default_meta_learner",
    "default_modality_model",
]

TEXT_ENCODERS = tuple(REGISTRY["text"].encoders)
AUDIO_ENCODERS = tuple(REGISTRY["audio"].encoders)
TASKS = ("classification", "regression")

# The ridge penalties of the regression heads, as wide as the logistic heads'
# C grid (strong for standardised embeddings, weak for unit-variance blocks).
ALPHA_GRID = np.logspace(-3, 4, 15)


def default_encoder(
    role,
    *,
    text_encoder="sentence",
    audio_encoder="whisper",
    sr=16000,
    image_size=None,
):
    """Return the transformer turning the cells of ``role`` into features.

    Parameters
    ----------
    role : str
        What the modality's columns hold, one of
        :data:`mmensemble.roles.ROLES`: one column of images, videos, clips,
        sensor series, dates, token lists, codes or texts; a list of
        categorical or numeric columns.
    text_encoder : {"sentence", "tfidf"}, default="sentence"
        ``"sentence"``: :class:`~mmensemble.TextEncoder`, pretrained sentence
        embeddings (all-MiniLM-L6-v2, shipped on PyPI, offline).
        ``"tfidf"``: a character n-gram
        :class:`~sklearn.feature_extraction.text.TfidfVectorizer` (robust to
        typos and spelling variants).
    audio_encoder : {"whisper", "mfcc"}, default="whisper"
        ``"whisper"``: :class:`~mmensemble.WhisperEncoder`, pretrained speech
        embeddings (Whisper tiny.en encoder states, mean and standard
        deviation; shipped on PyPI, offline; English speech, though other
        audio gets features too). ``"mfcc"``: :class:`~mmensemble.MFCCEncoder`
        (MFCCs and deltas; mean, standard deviation, minimum and maximum over
        time).
    sr : int, default=16000
        Sample rate of bare-array audio cells; the MFCCs are computed at that
        rate (other clips are resampled; window about 32 ms, hop 10 ms),
        Whisper resamples everything to 16 kHz.
    image_size : int, default=None
        Side of the square input of the image network (also the one inside
        the video encoder); None takes the size its weights were trained
        for. Smaller is faster.

    Returns
    -------
    encoder : transformer
        The role's encoder from the registry
        (:data:`mmensemble.roles.REGISTRY`): :class:`~mmensemble.ImageEncoder`,
        :class:`~mmensemble.VideoEncoder` (sampled frames through the image
        network, pooled), the audio or text encoder chosen,
        :class:`~mmensemble.SignalEncoder`, a
        :class:`~sklearn.preprocessing.OneHotEncoder` ignoring unknown
        categories (after filling missing cells with the most frequent one),
        number parsing, mean imputation and standardisation of numeric
        columns, skrub's ``DatetimeEncoder`` for dates, a token TF-IDF for
        token lists or skrub's ``StringEncoder`` for codes and hosts.

    Examples
    --------
    >>> from mmensemble import default_encoder
    >>> default_encoder("categorical")
    Pipeline(steps=[('simpleimputer', SimpleImputer(strategy='most_frequent')),
                    ('onehotencoder', OneHotEncoder(handle_unknown='ignore'))])
    """
    check_choice("role", role, ROLES)
    check_choice("text_encoder", text_encoder, TEXT_ENCODERS)
    check_choice("audio_encoder", audio_encoder, AUDIO_ENCODERS)
    return _role_encoder(
        role, text_encoder=text_encoder, audio_encoder=audio_encoder
    ).build(sr=sr, image_size=image_size)


def _role_encoder(role, **choices):
    """The registry's encoder of ``role`` under the ``*_encoder`` choices."""
    entry = REGISTRY[role]
    return entry.encoder(choices.get(entry.encoder_option))


def default_head(task="classification", *, cv=3, trees=False, categorical=False):
    """Return a linear model that tunes its regularisation by cross-validation.

    Parameters
    ----------
    task : {"classification", "regression"}, default="classification"
        :class:`~mmensemble.fusion.TunedLogisticRegression` (``C`` from
        its ``Cs``, 0.001 to 10, walked from the strongest regularisation
        and stopped when the log loss over ``cv`` stratified folds stops
        improving) or :class:`~sklearn.linear_model.RidgeCV` (``alpha`` from
        :data:`ALPHA_GRID`, by efficient leave-one-out).
    cv : int, default=3
        Folds of the logistic regression's internal search, and of the
        choice between the linear model and the trees.
    trees : bool, default=False
        Return instead a :class:`~mmensemble.fusion.HeadSelectionClassifier`
        (or regressor) keeping the better, by ``cv``-fold score, of that
        linear model and sklearn's
        :class:`~sklearn.ensemble.HistGradientBoostingClassifier` (or
        regressor; 15 leaves a tree, early stopping on a tenth of the rows).
    categorical : bool, default=False
        Whether the head's input is a one-hot block of categories (the
        categorical role's encoding): the trees then split the categories
        natively, on the category codes that
        :class:`~mmensemble.fusion._categorical_trees.CategoricalTrees`
        recovers from the block, while the linear model keeps the one-hot
        columns. Only used with ``trees=True``.

    Returns
    -------
    head : estimator
        Unfitted. Its ``score`` is the criterion it tunes by (negative log
        loss for the classifier, R² for the regressor).

    Examples
    --------
    >>> from mmensemble import default_head
    >>> float(default_head("regression").fit([[0.0], [1.0], [2.0]], [0, 1, 2]).alpha_)
    0.001
    """
    check_choice("task", task, TASKS)
    classification = task == "classification"
    linear = (
        TunedLogisticRegression(cv=cv) if classification else RidgeCV(alphas=ALPHA_GRID)
    )
    if not trees:
        return linear
    boosting = (
        HistGradientBoostingClassifier
        if classification
        else HistGradientBoostingRegressor
    )
    trees = boosting(
        early_stopping=True, max_leaf_nodes=15, n_iter_no_change=5, random_state=0
    )
    if categorical:
        trees = CategoricalTrees(trees)
    selection = HeadSelectionClassifier if classification else HeadSelectionRegressor
    return selection([("linear", linear), ("trees", trees)], cv=cv)


def default_modality_model(
    role,
    *,
    task="classification",
    text_encoder="sentence",
    audio_encoder="whisper",
    sr=16000,
    image_size=None,
):
    """Return the default model of one modality: its encoder and a tuned head.

    The encoder is :func:`default_encoder`'s for ``role`` and the head is
    :func:`default_head`'s for ``task``: the single-modality model that
    :class:`~mmensemble.AutoFusionClassifier` expects of each modality.

    Parameters
    ----------
    role : str
        What the modality's columns hold (see :func:`default_encoder`).
    task : {"classification", "regression"}, default="classification"
        Which head (see :func:`default_head`).
    text_encoder : {"sentence", "tfidf"}, default="sentence"
        The text encoder (see :func:`default_encoder`).
    audio_encoder : {"whisper", "mfcc"}, default="whisper"
        The audio encoder (see :func:`default_encoder`).
    sr : int, default=16000
        Sample rate of bare-array audio cells.
    image_size : int, default=None
        Input size of the image network.

    Returns
    -------
    model : Pipeline
        The encoder, a :class:`~sklearn.preprocessing.StandardScaler` for
        dense embeddings, and the self-tuning head (for a role whose
        registry entry says so, tabular and categorical, the better of the
        linear head and gradient-boosted trees: ``default_head(trees=True)``,
        splitting the categories natively for the categorical role).
        Its first step is the encoder and its last the head; fusion
        estimators encode each cell once (the embedding cache), so the
        head's internal search re-encodes nothing.

    See Also
    --------
    sklearn.linear_model.LogisticRegressionCV : The classification head's
        full-grid counterpart.

    Examples
    --------
    >>> import pandas as pd
    >>> from mmensemble import ModalityVotingClassifier, default_modality_model
    >>> X = pd.DataFrame({"colour": ["red", "blue", "red", "blue"] * 5})
    >>> y = ["warm", "cold", "warm", "cold"] * 5
    >>> vote = ModalityVotingClassifier(
    ...     [("colour", default_modality_model("categorical"), ["colour"])])
    >>> vote.fit(X, y).predict(X.head(2)).tolist()
    ['warm', 'cold']
    """
    steps = [
        default_encoder(
            role,
            text_encoder=text_encoder,
            audio_encoder=audio_encoder,
            sr=sr,
            image_size=image_size,
        )
    ]
    if _role_encoder(
        role, text_encoder=text_encoder, audio_encoder=audio_encoder
    ).standardised:
        steps.append(StandardScaler())
    tree_head = REGISTRY[role].tree_head
    steps.append(
        default_head(
            task,
            trees=tree_head is not None,
            categorical=tree_head == "categorical",
        )
    )
    return make_pipeline(*steps)


def default_meta_learner(task="classification"):
    """Return the tuned meta-learner of stacking.

    Parameters
    ----------
    task : {"classification", "regression"}, default="classification"
        What the stacking estimator predicts.

    Returns
    -------
    final_estimator : estimator
        :func:`default_head` of the task: the meta-features (per-modality
        probabilities or predictions and missing-modality indicators) are few
        and on one scale, so they need no standardisation.

    Examples
    --------
    >>> from mmensemble import default_meta_learner
    >>> type(default_meta_learner("regression")).__name__
    'RidgeCV'
    """
    return default_head(task)


class InvalidChoiceError(MMEnsembleError, ValueError):
    """An argument is not one of the values it may take."""


def check_choice(name, value, choices):
    """Raise :class:`InvalidChoiceError` unless ``value`` is in ``choices``."""
    if value not in choices:
        raise InvalidChoiceError(f"{name} must be one of {choices!r}, got {value!r}")
