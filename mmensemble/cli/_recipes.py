"""Ready-made estimators for columns with known roles (image, audio, text, ...).

The command line (``mmensemble fit``) and the demo build their models here, so
that a fusion strategy is put together in one place; the per-modality models
are those of :func:`mmensemble.default_modality_model`, so Python users and the
command line get the same self-tuning heads. A *role* says what a column
holds (the registry, :mod:`mmensemble.roles`, lists them): ``"image"``,
``"text"`` and the other per-column roles name one column (or a list of
columns, one modality each), the grouped roles ``"categorical"`` and
``"tabular"`` a list of columns (one modality for all of them, named after
the role).
"""

from sklearn.pipeline import make_pipeline

from ..fusion._defaults import (
    ROLES,
    TASKS,
    InvalidChoiceError,
    check_choice,
    default_encoder,
    default_head,
    default_meta_learner,
    default_modality_model,
)
from ..roles import REGISTRY
from ._errors import CommandError

__all__ = [
    "FUSIONS",
    "ROLES",
    "TASKS",
    "RoleModel",
    "build_estimator",
    "check_roles",
    "read_model",
    "role_columns",
]

FUSIONS = ("auto", "early", "voting", "stacking", "net")


def build_estimator(
    fusion,
    roles,
    *,
    task="classification",
    text_encoder="sentence",
    audio_encoder="whisper",
    sr=16000,
    image_size=None,
    random_state=0,
    n_jobs=None,
    time_limit=None,
    verbose=0,
):
    """Build the fusion estimator of ``fusion`` for columns with known roles.

    Parameters
    ----------
    fusion : {"auto", "early", "voting", "stacking", "net"}
        ``"early"``: :class:`~mmensemble.FeatureFusion` of the modality
        encoders followed by a self-tuning linear model
        (:func:`~mmensemble.default_head`). ``"voting"``: soft voting
        (averaging for regression) over one
        :func:`~mmensemble.default_modality_model` per modality.
        ``"stacking"``: the tuned meta-learner
        (:func:`~mmensemble.default_meta_learner`) over their out-of-fold
        predictions. ``"net"``: a shared-layer network over the encoders'
        blocks, with auxiliary per-modality heads (multi-task learning), its
        number of epochs set by early stopping. ``"auto"``:
        :class:`~mmensemble.AutoFusionClassifier` (or regressor), which scores
        the four out of fold on one encoding and keeps the best or a blend.
    roles : dict of str to str or list of str
        Column(s) of each role; see :data:`ROLES`.
    task : {"classification", "regression"}, default="classification"
        Which kind of estimator to build.
    text_encoder : {"sentence", "tfidf"}, default="sentence"
        Pretrained sentence embeddings (:class:`~mmensemble.TextEncoder`) or
        character n-gram TF-IDF.
    audio_encoder : {"whisper", "mfcc"}, default="whisper"
        Pretrained Whisper embeddings (:class:`~mmensemble.WhisperEncoder`)
        or MFCC statistics.
    sr : int, default=16000
        Sample rate of bare-array audio cells (and of the MFCCs).
    image_size : int, default=None
        Input size of the image network.
    random_state : int, default=0
        Seed of the stacking folds and of the network.
    n_jobs : int, default=None
        Parallel jobs of the fusion estimator (joblib).
    time_limit : float, default=None
        Seconds the automatic fusion may spend scoring methods (see
        :class:`~mmensemble.AutoFusionClassifier`); only for ``"auto"``.
    verbose : int, default=0
        Verbosity of the automatic fusion (a progress bar when positive).

    Returns
    -------
    estimator : estimator
        Unfitted; ``fit`` takes a DataFrame holding the role columns.

    Examples
    --------
    >>> import pandas as pd
    >>> from mmensemble.cli._recipes import build_estimator
    >>> X = pd.DataFrame({"review": ["great fun", "awful", None, "great value"] * 5,
    ...                   "stars": [5.0, 1.0, 4.0, 4.0] * 5})
    >>> y = ["good", "bad", "good", "good"] * 5
    >>> vote = build_estimator("voting", {"text": "review", "tabular": ["stars"]},
    ...                        text_encoder="tfidf")
    >>> vote.fit(X, y).predict(X.head(4)).tolist()
    ['good', 'bad', 'good', 'good']
    """
    from ..fusion._auto import AutoFusionClassifier, AutoFusionRegressor
    from ..fusion._early import FeatureFusion
    from ..fusion._fusion_net import FusionNetClassifier, FusionNetRegressor
    from ..fusion._stacking import ModalityStackingClassifier, ModalityStackingRegressor
    from ..fusion._voting import ModalityVotingClassifier, ModalityVotingRegressor

    check_choice("fusion", fusion, FUSIONS)
    check_choice("task", task, TASKS)
    if time_limit is not None and fusion != "auto":
        raise InvalidChoiceError(
            f"a time limit applies to the 'auto' fusion only, got fusion={fusion!r} "
            f"and time_limit={time_limit!r}"
        )
    roles = check_roles(roles)
    options = {
        "text_encoder": text_encoder,
        "audio_encoder": audio_encoder,
        "sr": sr,
        "image_size": image_size,
    }
    classification = task == "classification"
    if fusion in ("auto", "voting", "stacking"):
        models = [
            (name, default_modality_model(role, task=task, **options), columns)
            for name, role, columns in modalities(roles)
        ]
        if fusion == "auto":
            auto = AutoFusionClassifier if classification else AutoFusionRegressor
            return auto(
                models,
                time_limit=time_limit,
                random_state=random_state,
                n_jobs=n_jobs,
                verbose=verbose,
            )
        if fusion == "voting":
            if classification:
                return ModalityVotingClassifier(models, voting="soft", n_jobs=n_jobs)
            return ModalityVotingRegressor(models, n_jobs=n_jobs)
        stacking = (
            ModalityStackingClassifier if classification else ModalityStackingRegressor
        )
        return stacking(
            models,
            final_estimator=default_meta_learner(task),
            cv=5,
            random_state=random_state,
            n_jobs=n_jobs,
        )
    encoders = [
        (name, default_encoder(role, **options), columns)
        for name, role, columns in modalities(roles)
    ]
    if fusion == "early":
        return make_pipeline(FeatureFusion(encoders, n_jobs=n_jobs), default_head(task))
    network = FusionNetClassifier if classification else FusionNetRegressor
    # Early stopping on a validation split (the network's default) sets the
    # number of epochs; max_epochs only bounds it.
    return network(encoders, aux_weight=0.3, max_epochs=200, random_state=random_state)


def modalities(roles):
    """Yield ``(name, role, columns)`` for every modality of a role mapping.

    A role holding one column is one modality named after the role; an
    image, audio or text role holding several columns is one modality per
    column, named ``<role>_<column>``; the categorical and tabular columns
    form one modality each.

    Parameters
    ----------
    roles : dict of str to str or list of str
        Checked column(s) of each role (see :func:`check_roles`).

    Yields
    ------
    name, role, columns : str, str, str or list of str

    Examples
    --------
    >>> from mmensemble.cli._recipes import modalities
    >>> list(modalities({"image": ["front", "back"], "tabular": ["age"]}))
    [('image_front', 'image', 'front'), ('image_back', 'image', 'back'), \
('tabular', 'tabular', ['age'])]
    """
    for role, columns in roles.items():
        if REGISTRY[role].grouped:
            yield role, role, list(columns)
        elif isinstance(columns, str):
            yield role, role, columns
        elif len(columns) == 1:
            yield role, role, columns[0]
        else:
            for column in columns:
                yield f"{role}_{column}", role, column


def check_roles(roles):
    """Validate a role mapping; return it in :data:`ROLES` order.

    Parameters
    ----------
    roles : dict of str to str or list of str
        Column(s) of each role: a column name or a list of names (image,
        audio, text); a list of names (categorical, tabular).

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
        if columns is None or (not isinstance(columns, str) and len(columns) == 0):
            continue
        if isinstance(columns, str):
            if REGISTRY[role].grouped:
                raise TypeError(
                    f"roles[{role!r}] must be a list of column names, got {columns!r}"
                )
        else:
            columns = list(columns)
            if not all(isinstance(column, str) for column in columns):
                raise TypeError(
                    f"roles[{role!r}] must be column names (str), got {columns!r}"
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
    conformal : ConformalScores, default=None
        The estimator's out-of-fold conformity scores
        (:func:`~mmensemble.conformalize`), from which ``predict --coverage``
        draws prediction sets or intervals.
    novelty : ModalityNovelty, default=None
        The fitted summaries of the training rows' embeddings that
        ``predict --novelty`` and the report score new rows against.
    """

    # Files written before the conformity scores and the novelty summaries
    # existed have neither.
    conformal = None
    novelty = None

    def __init__(
        self,
        estimator,
        *,
        roles,
        target,
        task,
        fusion,
        conformal=None,
        novelty=None,
    ):
        self.estimator = estimator
        self.roles = roles
        self.target = target
        self.task = task
        self.fusion = fusion
        self.conformal = conformal
        self.novelty = novelty

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


def read_model(path):
    """Load a model file written by ``mmensemble fit``.

    Parameters
    ----------
    path : str
        The model file.

    Returns
    -------
    model : RoleModel
        The fitted estimator with its column roles.
    """
    from .._persistence import load

    model = load(path)  # says what is wrong with a missing or damaged file
    if not isinstance(model, RoleModel):
        raise CommandError(
            f"{path} holds a {type(model).__name__}, not a model written by "
            "'mmensemble fit' (which records the column of each modality)"
        )
    return model
