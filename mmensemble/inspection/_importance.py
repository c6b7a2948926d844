"""What each modality contributes to a fitted fusion estimator."""

from itertools import combinations
from math import factorial

import numpy as np
import pandas as pd
from sklearn.metrics import check_scoring
from sklearn.utils.parallel import Parallel, delayed
from sklearn.utils.validation import check_is_fitted

from .._docstrings import fill_doc
from .._exceptions import MMEnsembleError
from ..fusion._modality import as_frame, resolve_columns
from ._docs import FIGURE_DOCS
from ._plots import figure_title

__all__ = ["modality_importance", "plot_modality_importance"]

_MAX_MODALITIES = 12


def modality_importance(estimator, X, y, *, scoring=None, modalities=None, n_jobs=None):
    """Leave-one-modality-out score drops and exact Shapley values of modalities.

    The fitted ``estimator`` is scored on ``X`` with every subset ``S`` of the
    modalities present and the others masked as missing (their columns set to
    NaN in a copy of ``X``): ``v(S)``. From these ``2 ** n_modalities`` scores:

    - ``score_drop`` of modality ``i`` is ``v(all) - v(all but i)``, what is
      lost when only ``i`` is missing;
    - ``shapley`` is its exact Shapley value, the average over every order of
      adding the modalities of the score gained when ``i`` is added. The
      Shapley values sum to ``v(all) - v(none)`` (efficiency).

    The estimator must handle missing modalities, as every fusion estimator of
    this package does: voting and stacking fall back to the prior prediction
    with no modality, :class:`~mmensemble.FeatureFusion` zero-fills.

    Parameters
    ----------
    estimator : fitted estimator
        A fitted :class:`~mmensemble.ModalityVotingClassifier`,
        :class:`~mmensemble.ModalityVotingRegressor`,
        :class:`~mmensemble.ModalityStackingClassifier`,
        :class:`~mmensemble.ModalityStackingRegressor`, or a pipeline or search
        (``best_estimator_``) holding one or a
        :class:`~mmensemble.FeatureFusion`. Any other fitted estimator works
        with ``modalities`` given.

    X : DataFrame, dict of columns or 2-D array-like
        Evaluation data, with the columns the estimator was fitted on.

    y : array-like of shape (n_samples,)
        Evaluation target.

    scoring : str or callable, default=None
        Scorer, as in :func:`~sklearn.model_selection.cross_validate`; None
        uses the estimator's ``score`` (accuracy, R²). Higher must be better.

    modalities : dict of str to columns, default=None
        The modalities by name and column spec (name, list, slice, callable).
        None takes them from the estimator (``modalities_``). Modalities
        sharing columns are masked together.

    n_jobs : int, default=None
        Number of jobs scoring the subsets in parallel (joblib).

    Returns
    -------
    importance : DataFrame
        Indexed by modality name, with columns ``score_alone`` (``v({i})``),
        ``score_without`` (``v(all but i)``), ``score_drop`` and ``shapley``.
        ``importance.attrs`` holds ``full_score`` (``v(all)``),
        ``empty_score`` (``v(none)``) and ``scoring``.

    See Also
    --------
    sklearn.inspection.permutation_importance : Importance of single columns
        by permuting them.
    plot_modality_importance : Bar plot of the result.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LinearRegression
    >>> from mmensemble import ModalityVotingRegressor, modality_importance
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(100, 2))
    >>> y = X[:, 0] + 0.1 * rng.normal(size=100)
    >>> vote = ModalityVotingRegressor(
    ...     [("signal", LinearRegression(), [0]), ("noise", LinearRegression(), [1])],
    ...     weights="auto").fit(X, y)
    >>> importance = modality_importance(vote, X, y)
    >>> importance.index.tolist()
    ['signal', 'noise']
    >>> bool(importance.loc["signal", "shapley"] > importance.loc["noise", "shapley"])
    True
    >>> total = importance.attrs["full_score"] - importance.attrs["empty_score"]
    >>> bool(np.isclose(importance["shapley"].sum(), total))
    True
    """
    check_is_fitted(estimator)
    frame = as_frame(X)
    columns = resolve_modalities(estimator, frame, modalities)
    names = list(columns)
    scorer = check_scoring(estimator, scoring=scoring)
    subsets = all_subsets(names)
    scores = Parallel(n_jobs=n_jobs)(
        delayed(_score_subset)(
            estimator, scorer, masked_copy(frame, columns, keep=subset), y
        )
        for subset in subsets
    )
    value = dict(zip(subsets, scores, strict=True))
    everything, nothing = frozenset(names), frozenset()
    shapley = shapley_values(names, value)
    rows = {}
    for name in names:
        without = value[everything - {name}]
        rows[name] = {
            "score_alone": value[frozenset([name])],
            "score_without": without,
            "score_drop": value[everything] - without,
            "shapley": shapley[name],
        }
    importance = pd.DataFrame.from_dict(rows, orient="index")
    importance.index.name = "modality"
    importance.attrs.update(
        full_score=value[everything],
        empty_score=value[nothing],
        scoring=scoring if isinstance(scoring, str) else None,
    )
    return importance


class InspectionError(MMEnsembleError, ValueError):
    """The modalities of an estimator cannot be found or inspected."""


def resolve_modalities(estimator, frame, modalities=None):
    """The columns of each modality of ``estimator`` in ``frame``.

    Parameters
    ----------
    estimator : fitted estimator
        A fusion estimator, or a pipeline or search holding one.
    frame : DataFrame
        The input table.
    modalities : dict of str to columns, default=None
        Modality name to column spec; None takes them from the estimator.

    Returns
    -------
    columns : dict of str to list
        Modality name to the list of its column labels in ``frame``.
    """
    if modalities is None:
        modalities = find_modalities(estimator)
        if modalities is None:
            raise InspectionError(
                f"could not find the modalities of {type(estimator).__name__}: pass "
                "a fitted fusion estimator (ModalityVotingClassifier, "
                "ModalityStackingClassifier, ...), a pipeline or search holding one "
                "or a FeatureFusion, or give modalities={name: columns}; got "
                f"estimator={estimator!r}"
            )
    elif not isinstance(modalities, dict) or not modalities:
        raise InspectionError(
            "modalities must be a non-empty dict of modality name to columns, got "
            f"modalities={modalities!r}"
        )
    names = list(modalities)
    if len(names) > _MAX_MODALITIES:
        raise InspectionError(
            f"exact Shapley values need 2 ** n_modalities evaluations; {len(names)} "
            f"modalities are more than the {_MAX_MODALITIES} supported: {names!r}"
        )
    return {name: as_list(resolve_columns(modalities[name], frame)) for name in names}


def all_subsets(names):
    """Every subset of ``names`` as a frozenset, from the empty one to all."""
    return [
        frozenset(subset)
        for size in range(len(names) + 1)
        for subset in combinations(names, size)
    ]


def masked_copy(frame, columns, *, keep, rows=None):
    """A copy of ``frame`` with every modality not in ``keep`` set missing (NaN).

    Parameters
    ----------
    frame : DataFrame
        The input table.
    columns : dict of str to list
        Modality name to its columns, as :func:`resolve_modalities` returns.
        Columns shared by a kept and a masked modality are masked.
    keep : collection of str
        The modalities left as they are.
    rows : ndarray of bool of shape (n_samples,), default=None
        The rows where the modalities are masked; None masks every row.

    Returns
    -------
    masked : DataFrame
    """
    masked = frame.copy()
    for name, names_columns in columns.items():
        if name not in keep:
            for column in names_columns:
                masked[column] = (
                    np.nan if rows is None else masked[column].mask(rows, np.nan)
                )
    return masked


def shapley_values(names, value):
    """Exact Shapley values of ``names`` from the value of every subset.

    Parameters
    ----------
    names : list of str
        The players (modalities).
    value : dict of frozenset to float or ndarray
        ``v(S)`` for every subset ``S`` of ``names``; arrays give one Shapley
        value per element (per row).

    Returns
    -------
    shapley : dict of str to float or ndarray
        They sum to ``v(all) - v(none)`` (efficiency).
    """
    n_players = len(names)
    return {
        name: sum(
            factorial(len(subset))
            * factorial(n_players - len(subset) - 1)
            / factorial(n_players)
            * (value[subset | {name}] - value[subset])
            for subset in value
            if name not in subset
        )
        for name in names
    }


def find_fusion_step(estimator):
    """The fitted fusion estimator (with ``modalities_``) in ``estimator``, or None.

    ``estimator`` itself, or the first one found in a pipeline's steps or a
    search's ``best_estimator_``, recursively.
    """
    if hasattr(estimator, "modalities_"):
        return estimator
    inner = [getattr(estimator, "best_estimator_", None)]
    inner.extend(step for _, step in getattr(estimator, "steps", []))
    for candidate in inner:
        if candidate is not None and not isinstance(candidate, str):
            found = find_fusion_step(candidate)
            if found is not None:
                return found
    return None


def find_modalities(estimator):
    """Modality name to columns of the fusion step of ``estimator``, or None."""
    step = find_fusion_step(estimator)
    if step is None:
        return None
    return {name: columns for name, _, columns in step.modalities_}


def as_list(columns):
    return [columns] if np.isscalar(columns) else list(columns)


def _score_subset(estimator, scorer, masked, y):
    return float(scorer(estimator, masked, y))


@fill_doc(FIGURE_DOCS)
def plot_modality_importance(
    importance,
    *,
    columns=("shapley", "score_drop"),
    title=None,
    dataset_name=None,
    ax=None,
):
    """Horizontal bar plot of modality importances.

    Parameters
    ----------
    importance : DataFrame
        The result of :func:`modality_importance`.

    columns : sequence of str, default=("shapley", "score_drop")
        Columns of ``importance`` drawn side by side for each modality.

    title : str, default=None
        The figure's title; None gives the score with every modality and
        with none (from ``importance.attrs``), or "Modality importance".

    %(figure)s

    See Also
    --------
    modality_importance : Computes the importances.
    sklearn.inspection.permutation_importance : Column-level importances.

    Examples
    --------
    >>> import pandas as pd
    >>> from mmensemble import plot_modality_importance
    >>> importance = pd.DataFrame(
    ...     {"shapley": [0.3, 0.1], "score_drop": [0.2, 0.05]},
    ...     index=pd.Index(["image", "text"], name="modality"))
    >>> ax = plot_modality_importance(importance)
    >>> [label.get_text() for label in ax.get_yticklabels()]
    ['image', 'text']
    """
    unknown = [column for column in columns if column not in importance.columns]
    if unknown:
        raise ValueError(
            f"columns {unknown!r} are not in the importance table; its columns are "
            f"{list(importance.columns)!r}"
        )
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(
            figsize=(6.5, 2 + 0.6 * len(importance)), layout="constrained"
        )
    positions = np.arange(len(importance))
    height = 0.8 / len(columns)
    for offset, column in enumerate(columns):
        ax.barh(
            positions + (offset - (len(columns) - 1) / 2) * height,
            importance[column],
            height=height,
            label=column,
        )
    ax.set_yticks(positions, [str(name) for name in importance.index])
    ax.invert_yaxis()
    ax.axvline(0.0, color="black", linewidth=0.8)
    scoring = importance.attrs.get("scoring") or "score"
    ax.set_xlabel(f"contribution to {scoring}")
    ax.set_ylabel("modality")
    if title is None:
        title = "Modality importance"
        if "full_score" in importance.attrs:
            title = (
                f"{scoring}: {importance.attrs['full_score']:.3g} with every "
                f"modality, {importance.attrs['empty_score']:.3g} with none"
            )
    ax.set_title(figure_title(title, dataset_name))
    ax.legend()
    return ax
