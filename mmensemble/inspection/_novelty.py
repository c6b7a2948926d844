"""Per-modality novelty: is a row's image, clip or text unlike the training data?

:class:`ModalityNovelty` keeps, for every modality encoded by a cell encoder
(those of a fitted fusion model, through :meth:`ModalityNovelty.from_estimator`),
a compact summary of the training rows' embeddings, and scores new rows
against it: a score per modality, and a flag when the score is beyond the 99th
percentile of the training rows' scores, measured on held-out rows
(cross-validated within the summarised sample).
"""

import warnings
from numbers import Integral, Real
from typing import ClassVar

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import KFold
from sklearn.utils import check_random_state
from sklearn.utils.extmath import randomized_svd
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits

from .._compat import Interval
from .._parameters import estimator_parameters
from ..fusion._modality import BaseModalityComposition, as_frame, resolve_columns
from ..fusion._plumbing import encode, fit_encode, modality_encoder, modality_rows
from ._importance import InspectionError, find_fusion_step

__all__ = ["ModalityNovelty"]

# The smallest number of present rows a modality's summary is fitted on.
_MIN_ROWS = 10
# A dimension's scale is at least this share of the mean scale, so that
# (nearly) constant embedding dimensions do not blow up.
_SCALE_FLOOR = 1e-2


@estimator_parameters
class ModalityNovelty(BaseModalityComposition):
    """Per-modality "unlike training" scores and flags for a model's rows.

    For every modality, a ``(name, cell encoder, columns)`` triple as the
    fusion estimators take them, ``fit`` encodes a sample of the training
    rows (a cache hit when a model was just fitted on them) and keeps a
    compact summary of the embeddings: their per-dimension mean and scale and
    a principal subspace of ``n_components`` dimensions. A row's raw score is
    its squared Mahalanobis distance in that subspace plus its squared
    residual off the subspace over the mean variance of the dimensions left
    out (the negative log-likelihood of probabilistic PCA, up to constants),
    so that a row unlike training in a direction the training rows hardly
    vary along counts too. :meth:`from_estimator` takes the modalities, and
    their fitted encoders, from a fitted fusion model.

    The flag threshold is the ``quantile`` of the training rows' raw scores
    measured honestly: the sample is split into ``cv`` folds, each fold is
    scored by a summary fitted on the others, and the quantile is taken over
    those held-out scores (in-sample scores are smaller, and would flag far
    more than ``1 - quantile`` of new normal rows). The reported novelty is
    the raw score over that threshold: above 1 is flagged.

    Parameters
    ----------
    modalities : list of (str, encoder, columns) tuples
        Each modality's name, cell encoder (:class:`~mmensemble.ImageEncoder`,
        :class:`~mmensemble.TextEncoder`, ...) and column. A fitted encoder
        is used as it is; an unfitted one is cloned and fitted on the sampled
        training rows. An empty list scores nothing.

    n_components : int, default=32
        Dimensions of each modality's principal subspace (at most the
        embedding width and half the number of rows).

    max_samples : int, default=2000
        Training rows, drawn at random, each modality's summary and threshold
        are fitted on (all of them when there are fewer).

    quantile : float, default=0.99
        The share of held-out training rows' scores below the flag
        threshold.

    cv : int, default=5
        Folds of the held-out scores the threshold is the quantile of.

    random_state : int, RandomState instance or None, default=0
        Draws the sample and the folds.

    Attributes
    ----------
    modalities_ : list of (str, encoder, columns)
        Each summarised modality's name, fitted cell encoder and columns.

    summaries_ : dict of str to summary
        Each modality's summary of its training embeddings; its
        ``threshold_`` is the raw score a novelty of 1 stands for, its
        ``n_rows_`` the number of rows it was fitted on.

    See Also
    --------
    sklearn.covariance.EllipticEnvelope : Mahalanobis outlier detection on
        numeric features.
    sklearn.decomposition.PCA.score_samples : The probabilistic PCA
        log-likelihood of each row.

    Notes
    -----
    A row whose modality is missing (or whose cell could not be decoded under
    the encoder's ``on_error="missing"``) gets a NaN score and no flag for
    that modality. A modality present in fewer than 10 sampled training rows
    is not summarised (with a warning).

    Examples
    --------
    >>> import numpy as np
    >>> import pandas as pd
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.pipeline import make_pipeline
    >>> from mmensemble import ModalityNovelty, ModalityVotingClassifier
    >>> from mmensemble import SignalEncoder
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"series": [rng.normal(size=50) for _ in range(200)]})
    >>> y = np.arange(200) % 2
    >>> model = make_pipeline(SignalEncoder(), LogisticRegression())
    >>> vote = ModalityVotingClassifier([("series", model, "series")]).fit(X, y)
    >>> novelty = ModalityNovelty.from_estimator(vote).fit(X)
    >>> new = pd.DataFrame({"series": [rng.normal(size=50), 50 + rng.normal(size=50),
    ...                                None]})
    >>> novelty.score_rows(new)["series_unlike_training"].tolist()
    [False, True, False]
    """

    _parameter_constraints: ClassVar[dict] = {
        "modalities": [list],
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "max_samples": [Interval(Integral, _MIN_ROWS, None, closed="left")],
        "quantile": [Interval(Real, 0, 1, closed="neither")],
        "cv": [Interval(Integral, 2, None, closed="left")],
        "random_state": ["random_state"],
    }

    n_components: int = 32
    max_samples: int = 2000
    quantile: float = 0.99
    cv: int = 5
    random_state: object = 0

    @classmethod
    def from_estimator(cls, estimator, **params):
        """The novelty summaries of a fitted fusion model's encoded modalities.

        Parameters
        ----------
        estimator : fitted estimator
            A fusion estimator (:class:`~mmensemble.AutoFusionClassifier`,
            voting, stacking, the fusion network, :class:`~mmensemble.FeatureFusion`),
            or a pipeline or search holding one. Its modalities whose model
            is or starts with a cell encoder are taken, with their fitted
            encoders; the others (numeric or categorical columns, a TF-IDF
            text model) are not.
        **params
            The other parameters of :class:`ModalityNovelty`.

        Returns
        -------
        novelty : ModalityNovelty
            Unfitted: fit it on the rows the estimator was fitted on.
        """
        fusion = find_fusion_step(estimator)
        if fusion is None:
            raise InspectionError(
                f"could not find the modalities of {type(estimator).__name__}: pass "
                "a fitted fusion estimator, or a pipeline or search holding one; "
                f"got estimator={estimator!r}"
            )
        modalities = []
        for name, model, columns in fusion.modalities_:
            encoder = modality_encoder(model)
            if encoder is not None:
                modalities.append((name, encoder, columns))
        return cls(modalities, **params)

    def fit(self, X, y=None):
        """Summarise each modality's training embeddings.

        Parameters
        ----------
        X : DataFrame, dict of columns or 2-D array-like
            The training rows.
        y : None
            Ignored.

        Returns
        -------
        self : object
            The fitted summaries.
        """
        self._validate_params()
        frame = as_frame(X)
        rng = check_random_state(self.random_state)
        rows = np.sort(
            rng.choice(len(frame), min(len(frame), self.max_samples), replace=False)
        )
        sample = frame.iloc[rows]
        self.modalities_, self.summaries_ = [], {}
        # A model with no encoded modality gives an empty list: nothing to score.
        triples = self._check_modalities(allow=()) if self.modalities else []
        for name, encoder, columns in triples:
            columns = resolve_columns(columns, frame)
            encoder, embeddings = _fitted_embeddings(name, encoder, columns, sample)
            embeddings = embeddings[~np.isnan(embeddings).all(axis=1)]
            if len(embeddings) < _MIN_ROWS:
                warnings.warn(
                    f"modality {name!r} is present in {len(embeddings)} of the "
                    f"{len(sample)} sampled training rows, fewer than the "
                    f"{_MIN_ROWS} a novelty summary needs; its rows get no "
                    "novelty score",
                    UserWarning,
                    stacklevel=2,
                )
                continue
            self.modalities_.append((name, encoder, columns))
            self.summaries_[name] = self._summary(embeddings, rng)
        return self

    def score_rows(self, X):
        """The novelty score and flag of every summarised modality of each row.

        Parameters
        ----------
        X : DataFrame, dict of columns or 2-D array-like
            The rows, with the modalities' columns.

        Returns
        -------
        table : DataFrame
            Indexed as ``X``; for each modality (in the order of
            ``modalities_``) ``<modality>_novelty``, the row's raw score over
            the training threshold (NaN where the modality is missing), and
            ``<modality>_unlike_training``, True where it is above 1.
        """
        check_is_fitted(self, "summaries_")
        frame = as_frame(X)
        table = pd.DataFrame(index=frame.index)
        for name, encoder, columns in self.modalities_:
            embeddings = _embeddings(name, encoder, columns, frame)
            summary = self.summaries_[name]
            novelty = summary.raw_scores(embeddings) / summary.threshold_
            table[f"{name}_novelty"] = novelty
            table[f"{name}_unlike_training"] = novelty > 1.0  # NaN: False
        return table

    def _summary(self, embeddings, rng):
        """The summary of ``embeddings`` with its honestly measured threshold."""
        n_splits = min(self.cv, len(embeddings) // 2)
        folds = KFold(n_splits, shuffle=True, random_state=rng.randint(2**31))
        held_out = np.empty(len(embeddings))
        # Small products: one BLAS thread is faster, much more so on a busy machine.
        with threadpool_limits(limits=1, user_api="blas"):
            for train, test in folds.split(embeddings):
                fold = _EmbeddingSummary(self.n_components).fit(embeddings[train])
                held_out[test] = fold.raw_scores(embeddings[test])
            summary = _EmbeddingSummary(self.n_components).fit(embeddings)
        summary.threshold_ = float(np.quantile(held_out, self.quantile))
        return summary


class _EmbeddingSummary:
    """Mean, scale and principal subspace of one modality's embeddings.

    Parameters
    ----------
    n_components : int
        Dimensions of the subspace (capped by the width and half the rows).
    """

    def __init__(self, n_components):
        self.n_components = n_components

    def fit(self, embeddings):
        """Fit the summary on the rows of ``embeddings`` (no NaN row)."""
        embeddings = np.asarray(embeddings, dtype=np.float64)
        self.mean_ = embeddings.mean(axis=0)
        scale = embeddings.std(axis=0)
        self.scale_ = np.maximum(scale, _SCALE_FLOOR * max(scale.mean(), 1e-12))
        standard = (embeddings - self.mean_) / self.scale_
        n_rows, width = standard.shape
        self.n_rows_ = n_rows
        # At most half the rows' dimensions, so that the rows' variance off the
        # subspace (the residual's scale) is measured on the rows too.
        rank = max(1, min(self.n_components, width, (n_rows - 1) // 2))
        _, singular, components = randomized_svd(standard, rank, random_state=0)
        variances = singular**2 / max(n_rows - 1, 1)
        total = (standard**2).sum() / max(n_rows - 1, 1)
        floor = 1e-6 * max(total / width, 1e-12)
        self.components_ = components.astype(np.float32)
        self.variances_ = np.maximum(variances, floor)
        # The mean variance of the dimensions left out; infinite when none is
        # (a full-rank subspace leaves no residual to score).
        left = (total - variances.sum()) / (width - rank) if width > rank else np.inf
        self.residual_variance_ = float(max(left, floor))
        return self

    def project(self, embeddings):
        """Whitened subspace coordinates and scaled squared residuals of rows.

        Parameters
        ----------
        embeddings : ndarray of shape (n_rows, width)
            Rows without NaN.

        Returns
        -------
        whitened : ndarray of shape (n_rows, n_components)
            Coordinates in the subspace over their training standard deviation.
        residual : ndarray of shape (n_rows,)
            Squared distance to the subspace over the mean variance of the
            dimensions left out.
        """
        standard = (np.asarray(embeddings, dtype=np.float64) - self.mean_) / self.scale_
        components = self.components_.astype(np.float64)
        projected = standard @ components.T
        residual = ((standard - projected @ components) ** 2).sum(axis=1)
        return projected / np.sqrt(self.variances_), residual / self.residual_variance_

    def raw_scores(self, embeddings):
        """Raw scores of the rows of ``embeddings``; NaN for all-NaN rows."""
        embeddings = np.asarray(embeddings, dtype=np.float64)
        scores = np.full(len(embeddings), np.nan)
        present = ~np.isnan(embeddings).all(axis=1)
        if present.any():
            whitened, residual = self.project(embeddings[present])
            scores[present] = ((whitened**2).sum(axis=1) + residual) / len(self.mean_)
        return scores


def _fitted_embeddings(name, encoder, columns, frame):
    """The encoder (fitted on ``frame`` when it was not) and its embeddings."""
    try:
        check_is_fitted(encoder)
    except NotFittedError:
        cells, missing, _ = modality_rows(name, frame, columns, encoder, None, fit=True)
        encoder = clone(encoder)
        block, missing, _ = fit_encode(name, encoder, cells, missing)
        return encoder, _with_nan_rows(block, missing)
    return encoder, _embeddings(name, encoder, columns, frame)


def _embeddings(name, encoder, columns, frame):
    """A modality's embeddings of the rows of ``frame``; NaN rows where missing."""
    cells, missing, _ = modality_rows(name, frame, columns, encoder, None, fit=False)
    width = len(encoder.get_feature_names_out())
    return _with_nan_rows(*encode(name, encoder, cells, missing, width))


def _with_nan_rows(block, missing):
    block = np.asarray(block, dtype=np.float64)
    block[missing] = np.nan
    return block
