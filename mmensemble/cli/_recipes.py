"""Ready-made estimators for columns with known roles (image, audio, text, ...).

The command line (``mmensemble fit``) and the demo build their models here, so
that a fusion strategy is put together in one place. A *role* says what a
column holds: ``"image"``, ``"audio"`` and ``"text"`` name one column each,
``"tabular"`` a list of numeric columns. Each role becomes one modality,
named after the role.
"""

import math

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, RidgeCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

__all__ = [
    "FUSIONS",
    "ROLES",
    "TASKS",
    "RoleModel",
    "build_estimator",
    "check_roles",
    "modality_encoder",
    "modality_model",
    "role_columns",
]

ROLES = ("image", "audio", "text", "tabular")
FUSIONS = ("early", "voting", "stacking", "net")
TASKS = ("classification", "regression")

# Inverse regularisation of the logistic regressions: standardised embeddings
# have many correlated features and need more regularisation than TF-IDF
# vectors, whose rows have unit norm and whose entries are small. Early fusion
# scales each block to unit total variance, so its features are small too.
_C = {"image": 0.1, "audio": 0.1, "text": 10.0, "tabular": 1.0}
_C_EARLY = 10.0


def modality_encoder(role, *, sr=16000, image_size=None):
    """Return the transformer turning the cells of ``role`` into features.

    Parameters
    ----------
    role : {"image", "audio", "text", "tabular"}
        What the modality's columns hold.
    sr : int, default=16000
        Sample rate the audio is analysed at; clips at other rates are
        resampled. The MFCC window is about 32 ms and the hop 10 ms.
    image_size : int, default=None
        Side of the square input of the image network; None takes the size
        its weights were trained for. Smaller is faster (small images gain
        nothing from being upscaled to 224 pixels).

    Returns
    -------
    encoder : transformer
        :class:`~mmensemble.ImageEncoder`, :class:`~mmensemble.MFCCEncoder`
        (MFCCs and deltas, mean, standard deviation, minimum and maximum over
        time), a
        character n-gram :class:`~sklearn.feature_extraction.text.TfidfVectorizer`
        (robust to typos and spelling variants), or mean imputation and
        standardisation of tabular columns.
    """
    from ..encoders._audio import MFCCEncoder
    from ..encoders._image import ImageEncoder

    _check_choice("role", role, ROLES)
    if role == "image":
        return ImageEncoder(image_size=image_size)
    if role == "audio":
        n_fft = 2 ** math.ceil(math.log2(0.032 * sr))
        return MFCCEncoder(
            sr=sr,
            n_mfcc=20,
            n_fft=n_fft,
            hop_length=max(1, sr // 100),
            n_mels=40,
            deltas=1,
            stats=("mean", "std", "min", "max"),
        )
    if role == "text":
        return TfidfVectorizer(
            analyzer="char_wb", ngram_range=(1, 3), sublinear_tf=True
        )
    return make_pipeline(SimpleImputer(), StandardScaler())


def modality_model(role, *, task="classification", sr=16000, image_size=None):
    """Return a single-modality model: the role's encoder and a linear model.

    Parameters
    ----------
    role : {"image", "audio", "text", "tabular"}
        What the modality's columns hold.
    task : {"classification", "regression"}, default="classification"
        Logistic regression or cross-validated ridge regression.
    sr : int, default=16000
        Sample rate of the audio encoder (see :func:`modality_encoder`).
    image_size : int, default=None
        Input size of the image network (see :func:`modality_encoder`).

    Returns
    -------
    model : Pipeline
        The encoder, a :class:`~sklearn.preprocessing.StandardScaler` for
        embeddings, and the linear model (logistic regression regularised
        more for embeddings than for TF-IDF vectors).
    """
    _check_choice("task", task, TASKS)
    steps = [modality_encoder(role, sr=sr, image_size=image_size)]
    if role in ("image", "audio"):
        steps.append(StandardScaler())
    steps.append(_linear_model(task, C=_C[role]))
    return make_pipeline(*steps)


def build_estimator(
    fusion,
    roles,
    *,
    task="classification",
    sr=16000,
    image_size=None,
    random_state=0,
    n_jobs=None,
):
    """Build the fusion estimator of ``fusion`` for columns with known roles.

    Parameters
    ----------
    fusion : {"early", "voting", "stacking", "net"}
        ``"early"``: :class:`~mmensemble.FeatureFusion` of the modality
        encoders followed by a linear model. ``"voting"``: soft voting
        (averaging for regression) over one :func:`modality_model` per
        modality. ``"stacking"``: a meta-learner over their out-of-fold
        predictions. ``"net"``: a shared-layer network over the encoders'
        blocks, with auxiliary per-modality heads (multi-task learning).
    roles : dict of str to str or list of str
        Column(s) of each role; see :data:`ROLES`. ``"tabular"`` takes a list.
    task : {"classification", "regression"}, default="classification"
        Which kind of estimator to build.
    sr : int, default=16000
        Sample rate of the audio encoder.
    image_size : int, default=None
        Input size of the image network.
    random_state : int, default=0
        Seed of the stacking and network estimators.
    n_jobs : int, default=None
        Parallel jobs of the fusion estimator (joblib).

    Returns
    -------
    estimator : estimator
        Unfitted; ``fit`` takes a DataFrame holding the role columns.

    Examples
    --------
    >>> import pandas as pd
    >>> from mmensemble.cli._recipes import build_estimator
    >>> X = pd.DataFrame({"review": ["great fun", "awful", None, "great value"],
    ...                   "stars": [5.0, 1.0, 4.0, 4.0]})
    >>> vote = build_estimator("voting", {"text": "review", "tabular": ["stars"]})
    >>> vote.fit(X, ["good", "bad", "good", "good"]).predict(X).tolist()
    ['good', 'bad', 'good', 'good']
    """
    from ..fusion._early import FeatureFusion
    from ..fusion._fusion_net import FusionNetClassifier, FusionNetRegressor
    from ..fusion._stacking import ModalityStackingClassifier, ModalityStackingRegressor
    from ..fusion._voting import ModalityVotingClassifier, ModalityVotingRegressor

    _check_choice("fusion", fusion, FUSIONS)
    _check_choice("task", task, TASKS)
    roles = check_roles(roles)
    options = {"sr": sr, "image_size": image_size}
    classification = task == "classification"
    if fusion in ("voting", "stacking"):
        models = [
            (role, modality_model(role, task=task, **options), columns)
            for role, columns in roles.items()
        ]
        if fusion == "voting":
            if classification:
                return ModalityVotingClassifier(models, voting="soft", n_jobs=n_jobs)
            return ModalityVotingRegressor(models, n_jobs=n_jobs)
        stacking = (
            ModalityStackingClassifier if classification else ModalityStackingRegressor
        )
        return stacking(models, cv=5, random_state=random_state, n_jobs=n_jobs)
    encoders = [
        (role, modality_encoder(role, **options), columns)
        for role, columns in roles.items()
    ]
    if fusion == "early":
        return make_pipeline(
            FeatureFusion(encoders, n_jobs=n_jobs), _linear_model(task, C=_C_EARLY)
        )
    network = FusionNetClassifier if classification else FusionNetRegressor
    return network(encoders, aux_weight=0.3, random_state=random_state)


def check_roles(roles):
    """Validate a role mapping; return it in :data:`ROLES` order.

    Parameters
    ----------
    roles : dict of str to str or list of str
        Column(s) of each role.

    Returns
    -------
    roles : dict
        The same mapping, ordered as :data:`ROLES`, without empty roles.

    Examples
    --------
    >>> from mmensemble.cli._recipes import check_roles
    >>> check_roles({"tabular": ["age"], "text": "review", "image": None})
    {'text': 'review', 'tabular': ['age']}
    """
    if not isinstance(roles, dict):
        raise TypeError(f"roles must be a dict of role to columns, got {roles!r}")
    unknown = sorted(set(roles) - set(ROLES), key=str)
    if unknown:
        raise ValueError(
            f"roles has keys {unknown!r} that are not roles; the roles are {ROLES!r}"
        )
    checked = {}
    for role in ROLES:
        columns = roles.get(role)
        if columns is None or (role == "tabular" and len(columns) == 0):
            continue
        if role == "tabular":
            if isinstance(columns, str):
                raise TypeError(
                    f"roles['tabular'] must be a list of column names, got {columns!r}"
                )
            columns = list(columns)
        elif not isinstance(columns, str):
            raise TypeError(
                f"roles[{role!r}] must be one column name (a str), got {columns!r}"
            )
        checked[role] = columns
    if not checked:
        raise ValueError(
            f"roles names no column; give at least one of {ROLES!r}, got {roles!r}"
        )
    return checked


class RoleModel:
    """A fitted estimator together with the columns it was built from.

    This is what ``mmensemble fit`` saves: ``predict`` and ``evaluate`` find in
    it which columns of a new table to use. It holds plain values only, so
    it goes through :func:`mmensemble.save` and :func:`mmensemble.load`.

    Parameters
    ----------
    estimator : estimator
        The fitted estimator.
    roles : dict of str to str or list of str
        Column(s) of each role.
    target : str
        Name of the target column it was fitted on.
    task : {"classification", "regression"}
        What the estimator predicts.
    fusion : str
        The fusion strategy it was built with.
    """

    def __init__(self, estimator, *, roles, target, task, fusion):
        self.estimator = estimator
        self.roles = roles
        self.target = target
        self.task = task
        self.fusion = fusion

    @property
    def columns(self):
        """The input columns, in role order."""
        return [column for _, column in role_columns(self.roles)]


def role_columns(roles):
    """Yield ``(role, column)`` for every column of a role mapping.

    Parameters
    ----------
    roles : dict of str to str or list of str
        Column(s) of each role.

    Yields
    ------
    role, column : str, str
    """
    for role, columns in roles.items():
        for column in [columns] if isinstance(columns, str) else columns:
            yield role, column


def _linear_model(task, *, C):
    if task == "classification":
        return LogisticRegression(C=C, max_iter=2000)
    return RidgeCV(alphas=np.logspace(-3, 3, 13))


def _check_choice(name, value, choices):
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices!r}, got {value!r}")
