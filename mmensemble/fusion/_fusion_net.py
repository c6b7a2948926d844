"""Shared-layer fusion networks, with optional multi-task auxiliary heads.

The estimators here take modality blocks as ``(name, encoder, columns)``
triples, encode each block once per fit with the same per-block machinery as
:class:`~mmensemble.FeatureFusion`, and train a small torch network on the
encoded blocks. Torch is imported by the methods that need it (through the
private ``_net`` module), never when this module is imported.
"""

import math
import threading
import warnings
from contextlib import nullcontext
from numbers import Integral, Real
from typing import ClassVar

import numpy as np
import scipy.sparse as sp
from scipy.special import softmax
from sklearn.base import ClassifierMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from sklearn.utils import check_random_state, compute_class_weight
from sklearn.utils.multiclass import check_classification_targets, unique_labels
from sklearn.utils.validation import (
    check_array,
    check_consistent_length,
    check_is_fitted,
    column_or_1d,
    validate_data,
)

from .._compat import Interval, StrOptions
from .._docstrings import fill_doc
from .._parameters import estimator_parameters
from .._torch_utils import resolve_device, torch, torch_threads
from ..encoders._base import concat_errors
from ._docs import MODEL_FUSION_DOCS
from ._modality import BaseModalityComposition, as_frame
from ._plumbing import block_statistics, encode, fit_encode, modality_rows, scale_block

__all__ = ["FusionNetClassifier", "FusionNetRegressor"]

# Rebuilding a loaded model's network on first use is done by one thread.
_REBUILD_LOCK = threading.Lock()


@estimator_parameters
class _BaseFusionNet(BaseModalityComposition):
    """What the fusion-network classifier and regressor share.

    Subclasses set ``_task`` and implement ``_check_y``, ``_fit_targets``,
    ``_targets`` and ``_stratify``.
    """

    _parameter_constraints: ClassVar[dict] = {
        "modalities": [list],
        "branch_size": [Interval(Integral, 1, None, closed="left")],
        "hidden_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions({"relu", "gelu", "tanh"})],
        "normalization": [StrOptions({"layer"}), None],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "modality_dropout": [Interval(Real, 0, 1, closed="left")],
        "aux_weight": [Interval(Real, 0, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "on_error": [StrOptions({"raise", "missing"}), None],
        "device": "no_validation",
        "mixed_precision": ["boolean"],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    branch_size: int = 64
    hidden_sizes: tuple = (64,)
    activation: str = "relu"
    normalization: str | None = "layer"
    dropout: float = 0.1
    modality_dropout: float = 0.1
    aux_weight: float = 0.0
    lr: float = 1e-3
    weight_decay: float = 1e-4
    batch_size: int = 64
    max_epochs: int = 100
    early_stopping: bool = True
    validation_fraction: float = 0.1
    n_iter_no_change: int = 10
    tol: float = 1e-4
    on_error: str | None = None
    device: str = "auto"
    mixed_precision: bool = True
    random_state: object = None
    verbose: int = 0

    # -- fitting ----------------------------------------------------------------

    def fit(self, X, y):
        """Fit the encoders, then train the network.

        With ``early_stopping``, ``validation_fraction`` of the rows are held
        out to choose the epoch whose weights are kept.

        Parameters
        ----------
        X : DataFrame, dict of columns or 2-D array-like
            The input table.
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            The class labels (classifier), or the target values (regressor;
            2-D for several targets).

        Returns
        -------
        self : object
            The fitted estimator.
        """
        self._validate_params()
        frame, y = self._check_X_y(X, y, reset=True)
        rng = check_random_state(self.random_state)
        self._seed = int(rng.randint(np.iinfo(np.int32).max))
        targets = self._fit_targets(y, classes=None)
        blocks, missing = self._fit_modalities(frame, y)
        self._initialise_network()
        train, valid = self._split(targets, int(rng.randint(np.iinfo(np.int32).max)))
        self._train(blocks, missing, targets, train, valid)
        return self

    def _partial_fit(self, X, y, classes):
        first_call = not hasattr(self, "modalities_")
        if first_call:
            self._validate_params()
        frame, y = self._check_X_y(X, y, reset=first_call)
        if first_call:
            rng = check_random_state(self.random_state)
            self._seed = int(rng.randint(np.iinfo(np.int32).max))
            targets = self._fit_targets(y, classes=classes)
            blocks, missing = self._fit_modalities(frame, y)
            self._initialise_network()
        else:
            targets = self._targets(y, classes=classes)
            blocks, missing = self._encode_modalities(frame)
        from . import _net

        self._ensure_module()
        device = self._device()
        data = _net.to_device(blocks, device), _net.to_device([missing], device)[0]
        (target_tensor,) = _net.to_device([targets], device)
        self.loss_curve_.append(self._epoch(data, target_tensor, device))
        if self.verbose:
            print(f"epoch {self.n_iter_}: loss {self.loss_curve_[-1]:.4f}")
        return self

    def _check_X_y(self, X, y, *, reset):
        frame = as_frame(X)
        validate_data(self, frame, y, reset=reset, skip_check_array=True)
        y = self._check_y(y)
        check_consistent_length(frame, y)
        if frame.shape[0] == 0:
            raise ValueError(
                f"{type(self).__name__} needs at least one sample; X has 0 rows"
            )
        return frame, y

    def _fit_modalities(self, frame, y):
        """Fit the encoders, learn the block standardisation, encode every row."""
        fitted, encoded, errors = [], [], []
        self._standardisation = {}
        for name, estimator, columns in self._kept_modalities(frame):
            data, missing, bad_cells = modality_rows(
                name, frame, columns, estimator, self.on_error, fit=True
            )
            block, missing, encoder_errors = fit_encode(
                name, estimator, data, missing, y
            )
            errors.extend([bad_cells, encoder_errors])
            _check_block(name, block, columns)
            self._standardisation[name] = _standardisation(block[~missing])
            fitted.append((name, estimator, columns))
            encoded.append((block, missing))
        self._set_fitted_modalities(fitted)
        self.errors_ = concat_errors(errors)
        self._block_widths = [block.shape[1] for block, _ in encoded]
        return self._standardised(encoded)

    def _encode_modalities(self, frame):
        """Encode every modality of ``frame`` with the fitted encoders."""
        encoded = []
        for (name, estimator, columns), width in zip(
            self.modalities_, self._block_widths, strict=True
        ):
            data, missing, _ = modality_rows(
                name, frame, columns, estimator, self.on_error, fit=False
            )
            block, missing = encode(name, estimator, data, missing, width)
            _check_block(name, block, columns)
            encoded.append((block, missing))
        return self._standardised(encoded)

    def _standardised(self, encoded):
        """Standardise the blocks into dense float32 arrays; stack the masks."""
        blocks = []
        for (name, _, _), (block, missing) in zip(
            self.modalities_, encoded, strict=True
        ):
            mean, scale = self._standardisation[name]
            scaled = scale_block(block, missing, mean, scale)
            if sp.issparse(scaled):
                scaled = scaled.toarray()
            blocks.append(np.nan_to_num(scaled, nan=0.0).astype(np.float32))
        missing = np.column_stack([missing for _, missing in encoded])
        return blocks, missing

    def _initialise_network(self):
        """Build a fresh network and optimizer; reset the training history."""
        from . import _net

        device = _resolve_device_parameter(self.device)
        self.device_ = str(device)
        self._net_config = {
            "block_widths": list(self._block_widths),
            "branch_size": self.branch_size,
            "hidden_sizes": self._hidden_sizes(),
            "n_outputs": self.n_outputs_,
            "activation": self.activation,
            "normalization": self.normalization,
            "dropout": float(self.dropout),
            "modality_dropout": float(self.modality_dropout),
            "aux_heads": self.aux_weight > 0,
        }
        with _net.seeded(self._seed, device):
            self._module, self._optimizer = _net.build(
                self._net_config, device, lr=self.lr, weight_decay=self.weight_decay
            )
        for stale in ("_module_state", "_optimizer_state"):
            self.__dict__.pop(stale, None)
        self.n_iter_ = 0
        self.loss_curve_ = []
        self.validation_loss_curve_ = None
        self.best_loss_ = None
        self.best_epoch_ = None

    def _hidden_sizes(self):
        sizes = self.hidden_sizes
        sizes = (sizes,) if isinstance(sizes, Integral) else tuple(sizes)
        if not all(
            isinstance(size, Integral) and not isinstance(size, bool) and size >= 1
            for size in sizes
        ):
            raise ValueError(
                "hidden_sizes must be a positive int or a sequence of positive ints, "
                f"got {self.hidden_sizes!r}"
            )
        return tuple(int(size) for size in sizes)

    def _split(self, targets, seed):
        """Rows to train on and rows held out for early stopping (or None)."""
        rows = np.arange(len(targets))
        if not self.early_stopping:
            return rows, None
        train, valid = train_test_split(
            rows,
            test_size=self.validation_fraction,
            random_state=seed,
            stratify=self._stratify(targets),
        )
        return np.sort(train), np.sort(valid)

    def _train(self, blocks, missing, targets, train, valid):
        """Train for up to ``max_epochs``, stopping when the loss stalls."""
        from . import _net

        device = self._device()
        data = (
            _net.to_device([block[train] for block in blocks], device),
            _net.to_device([missing[train]], device)[0],
        )
        (train_targets,) = _net.to_device([targets[train]], device)
        if valid is not None:
            (valid_targets,) = _net.to_device([targets[valid]], device)
            self.validation_loss_curve_ = []
        if self.verbose:
            print(
                f"{type(self).__name__}: {len(train)} training rows"
                + (f", {len(valid)} validation rows" if valid is not None else "")
                + f", device {self.device_}"
            )
        best, stalled, best_state = np.inf, 0, None
        # On the CPU the mini-batch products are too small for threads to pay:
        # on a busy 2-core machine two threads made training 10-20x slower.
        with torch_threads(1) if device.type == "cpu" else nullcontext():
            for _ in range(self.max_epochs):
                loss = self._epoch(data, train_targets, device)
                self.loss_curve_.append(loss)
                message = f"epoch {self.n_iter_}: loss {loss:.4f}"
                if valid is not None:
                    loss = _net.validation_loss(
                        self._module,
                        [block[valid] for block in blocks],
                        missing[valid],
                        valid_targets,
                        loss=self._loss(device),
                        mixed_precision=self.mixed_precision,
                    )
                    self.validation_loss_curve_.append(loss)
                    message += f", validation loss {loss:.4f}"
                if loss < best - self.tol:
                    best, stalled = loss, 0
                    self.best_loss_, self.best_epoch_ = loss, self.n_iter_
                    if valid is not None:
                        best_state = _net.copy_state(self._module)
                else:
                    stalled += 1
                if self.verbose:
                    print(message + (" (best)" if stalled == 0 else ""))
                if stalled >= self.n_iter_no_change:
                    break
            else:
                warnings.warn(
                    f"{type(self).__name__} stopped after max_epochs={self.max_epochs} "
                    "epochs while its loss was still improving; consider increasing "
                    "max_epochs",
                    ConvergenceWarning,
                    stacklevel=3,
                )
        if best_state is not None:
            self._module.load_state_dict(best_state)

    def _epoch(self, data, targets, device):
        """One seeded epoch of mini-batch AdamW steps; returns the mean loss."""
        from . import _net

        self.n_iter_ += 1
        with _net.seeded(self._seed + self.n_iter_, device):
            return _net.train_epoch(
                self._module,
                self._optimizer,
                data,
                targets,
                loss=self._loss(device),
                aux_weight=self.aux_weight,
                batch_size=self.batch_size,
                mixed_precision=self.mixed_precision,
            )

    def _loss(self, device):
        from . import _net

        return _net.loss_function(self._task, self._class_weight, device)

    # -- the trained network ----------------------------------------------------

    def _device(self):
        return torch().device(self.device_)

    def _ensure_module(self):
        """The trained network, rebuilt from its pickled weights on first use.

        A model trained on a GPU and loaded where CUDA is not available falls
        back to the CPU with a warning. Threads predicting with a freshly
        loaded model rebuild it once.
        """
        if hasattr(self, "_module"):
            return self._module
        with _REBUILD_LOCK:
            if not hasattr(self, "_module"):
                from . import _net

                device = resolve_device(self.device_)
                module, optimizer = _net.build(
                    self._net_config,
                    device,
                    lr=self.lr,
                    weight_decay=self.weight_decay,
                    state=self._module_state,
                    optimizer_state=self._optimizer_state,
                )
                self.device_ = str(device)
                self._optimizer = optimizer
                self._module = module
                del self._module_state, self._optimizer_state
        return self._module

    @property
    def module_(self):
        """The trained :class:`torch.nn.Module` (branches, trunk and heads)."""
        check_is_fitted(self, "modalities_")
        return self._ensure_module()

    def _outputs(self, X):
        """The main head's raw outputs for ``X``, float64 of (n_samples, n_out)."""
        check_is_fitted(self, "modalities_")
        frame = as_frame(X)
        validate_data(self, frame, reset=False, skip_check_array=True)
        blocks, missing = self._encode_modalities(frame)
        module = self._ensure_module()
        from . import _net

        return _net.predict(
            module,
            blocks,
            missing,
            self._device(),
            mixed_precision=self.mixed_precision,
        )

    def __getstate__(self):
        state = dict(super().__getstate__())
        module = state.pop("_module", None)
        optimizer = state.pop("_optimizer", None)
        if module is not None:
            from . import _net

            state["_module_state"] = _net.state_to_numpy(module.state_dict())
            state["_optimizer_state"] = _net.state_to_numpy(optimizer.state_dict())
        return state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.allow_nan = True
        return tags


_SHARED_PARAMETERS = f"""
    modalities : list of (str, estimator or {{"passthrough", "drop"}}, columns)
        The modality blocks, as in :class:`~mmensemble.FeatureFusion`.
        ``columns`` is a column name (the encoder receives a 1-D Series, as
        ``TfidfVectorizer`` expects), a list of names, a slice, a boolean mask
        or a callable such as :func:`~sklearn.compose.make_column_selector`.
        ``"passthrough"`` takes numeric columns as they are; ``"drop"`` leaves
        the modality out. Each encoder is fitted on the rows where its modality
        is present, and every block is encoded once per fit (the epochs reuse
        the encoded blocks). A dense block is standardised feature by feature
        on its present rows (a NaN cell of a partly present row becomes the
        feature's mean); a sparse block (TF-IDF) is scaled to unit mean squared
        row norm and made dense ``float32``, which suits vocabularies of a few
        thousand terms (use ``max_features`` for larger ones).

    branch_size : int, default=64
        Width of each modality's branch: ``Linear``, layer normalisation,
        activation and dropout, mapping the block to an embedding.

    hidden_sizes : int or tuple of int, default=(64,)
        Widths of the shared trunk's layers, applied to the concatenated branch
        embeddings. ``()`` puts the head directly on the embeddings.

    activation : {"relu", "gelu", "tanh"}, default="relu"
        Activation of the branches and of the trunk's layers.

    normalization : {"layer"} or None, default="layer"
        ``"layer"`` puts a ``LayerNorm`` after each hidden linear layer (batch
        normalisation is not offered: a mini-batch may hold few rows of a
        modality). ``None`` leaves it out.

    dropout : float, default=0.1
        Dropout probability after each hidden layer.

    modality_dropout : float, default=0.1
        During training, probability that a present modality of a row is
        replaced by that modality's learned "missing" embedding, independently
        per modality (a row may lose all of them, which teaches the network
        what to predict when nothing is known). The same embedding stands in
        for the modality wherever it is missing, so rows with missing
        modalities at predict time get sensible predictions.

    aux_weight : float, default=0.0
        Weight of the auxiliary heads in the joint loss: ``loss = main +
        aux_weight * mean(auxiliary losses)``. A value above 0 turns on
        multi-task learning: one linear head per modality predicts the target
        from that modality's embedding alone (on the rows where it is
        present), so that every branch learns features useful on their own.
        ``0`` builds no auxiliary heads.

    lr : float, default=1e-3
        Learning rate of the AdamW optimizer.

    weight_decay : float, default=1e-4
        Decoupled weight decay of AdamW.

    batch_size : int, default=64
        Rows per mini-batch.

    max_epochs : int, default=100
        Maximum number of passes over the training rows.

    early_stopping : bool, default=True
        Hold out ``validation_fraction`` of the rows (stratified for a
        classifier when every class has enough rows), stop when the validation
        loss has not improved by ``tol`` for ``n_iter_no_change`` epochs, and
        keep the weights of the best epoch. When False, stop when the training
        loss stalls the same way.

    validation_fraction : float, default=0.1
        Share of the rows held out for early stopping.

    n_iter_no_change : int, default=10
        Epochs without improvement before training stops.

    tol : float, default=1e-4
        Smallest decrease of the monitored loss that counts as an improvement.

    {MODEL_FUSION_DOCS["on_error"]}
        The network replaces a modality missing this way by its learned
        "missing" embedding.

    device : {"auto", "cpu", "cuda"}, str or torch.device, default="auto"
        Where to train. ``"auto"`` takes CUDA when present, else the CPU. A
        model trained on a GPU and loaded on a machine without CUDA falls back
        to the CPU with a warning.

    mixed_precision : bool, default=True
        On a CUDA device that supports bfloat16, run the forward passes under
        ``torch.autocast`` in bfloat16. Ignored on the CPU.

    random_state : int, RandomState instance or None, default=None
        Seeds the validation split, the weight initialisation, the shuffling
        and both dropouts. With an int, two fits on the CPU give identical
        models. Torch's global random state is left untouched.

    verbose : int, default=0
        Print one line of progress per epoch when above 0.
"""

# The extended summary, up to the head (which each estimator describes).
_ARCHITECTURE = """Each modality block gets its own branch; the branch embeddings are
    concatenated and go through a shared trunk into the head, so the network
    can learn interactions between modalities that no single modality shows.
    With ``aux_weight > 0`` every branch also gets an auxiliary head that
    predicts the target from that modality alone, trained jointly (multi-task
    learning). A learned "missing" embedding stands in for absent modalities,
    and modality dropout trains the network to use it. Trained with AdamW on
    mini-batches, on a GPU when one is present."""

_SHARED_ATTRIBUTES = """
    modalities_ : list of (str, estimator or "passthrough", columns)
        The fitted encoders and their resolved columns (dropped ones excluded).

    named_modalities_ : Bunch
        The fitted encoders by name.

    errors_ : DataFrame
        The cells found bad during ``fit`` (or the first ``partial_fit``) and
        treated as missing, one line each: ``row`` (index label), ``column``,
        ``reason``. Empty when every cell could be decoded.

    module_ : torch.nn.Module
        The trained network. After unpickling it is rebuilt on first use.

    device_ : str
        The device the network lives on.

    n_outputs_ : int
        Number of outputs of the network's heads.

    n_iter_ : int
        Number of epochs run, over all calls to ``fit`` and ``partial_fit``.

    loss_curve_ : list of float
        Training loss (including the auxiliary part) of each epoch.

    validation_loss_curve_ : list of float or None
        Validation loss of the main head at each epoch of ``fit``; None
        without early stopping.

    best_loss_ : float or None
        Lowest monitored loss (validation loss with early stopping, training
        loss otherwise) reached by ``fit``; None after ``partial_fit`` only.

    best_epoch_ : int or None
        Epoch at which ``best_loss_`` was reached.

    n_features_in_ : int
        Number of columns seen during fit.

    feature_names_in_ : ndarray of shape (n_features_in_,)
        Column names seen during fit, when they are all strings.
"""


@estimator_parameters
class FusionNetClassifier(ClassifierMixin, _BaseFusionNet):
    __doc__ = f"""Shared-layer fusion network classifier, optionally multi-task.

    {_ARCHITECTURE}

    The head, and each auxiliary head, is a softmax over the classes.

    Parameters
    ----------{_SHARED_PARAMETERS}
    class_weight : dict, "balanced" or None, default=None
        Weights of the classes in the losses, as in
        :class:`~sklearn.linear_model.LogisticRegression`. ``"balanced"`` uses
        ``n_samples / (n_classes * np.bincount(y))``.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels.
{_SHARED_ATTRIBUTES}
    See Also
    --------
    sklearn.neural_network.MLPClassifier : A single-input multi-layer perceptron.
    FeatureFusion : Early fusion of the same modality blocks.
    ModalityStackingClassifier : Model-level fusion of per-modality models.

    Examples
    --------
    >>> import numpy as np
    >>> import pandas as pd
    >>> from mmensemble import FusionNetClassifier
    >>> rng = np.random.RandomState(0)
    >>> X = pd.DataFrame(rng.normal(size=(400, 4)), columns=["a1", "a2", "b1", "b2"])
    >>> y = (X["a1"] * X["b1"] > 0).astype(int)  # needs both modalities
    >>> net = FusionNetClassifier([("a", "passthrough", ["a1", "a2"]),
    ...                            ("b", "passthrough", ["b1", "b2"])],
    ...                           lr=0.01, random_state=0)
    >>> net.fit(X, y).score(X, y) > 0.9
    True
    >>> X.loc[0, ["b1", "b2"]] = np.nan  # modality "b" missing for row 0
    >>> net.predict_proba(X.iloc[:3]).shape
    (3, 2)
    """

    _parameter_constraints: ClassVar[dict] = {
        **_BaseFusionNet._parameter_constraints,
        "class_weight": [dict, StrOptions({"balanced"}), None],
    }
    _task = "classification"

    class_weight: dict | str | None = None

    @fill_doc(MODEL_FUSION_DOCS)
    def partial_fit(self, X, y, classes=None):
        """Train the network for one epoch on ``(X, y)``.

        The first call (on an unfitted classifier) fits the encoders and the
        block standardisation on this data and builds the network; later calls
        reuse them and continue training (also after ``fit``). No rows are held
        out: early stopping is for ``fit``.

        %(parameters_X)s
        y : array-like of shape (n_samples,)
            The class labels.
        classes : array-like of shape (n_classes,), default=None
            Every class of the problem; required on the first call.

        Returns
        -------
        self : object
            The classifier.
        """
        if classes is None and not hasattr(self, "classes_"):
            raise ValueError(
                "classes must be passed on the first call to partial_fit, got "
                "classes=None"
            )
        return self._partial_fit(X, y, classes)

    @fill_doc(MODEL_FUSION_DOCS)
    def predict_proba(self, X):
        """Predict class probabilities.

        The softmax of the network's main head. A modality missing in a row
        is represented by its learned "missing" embedding.

        %(parameters_X)s

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            The probability of each class, in the order of ``classes_``.
        """
        return softmax(self._outputs(X), axis=1)

    @fill_doc(MODEL_FUSION_DOCS)
    def predict(self, X):
        """Predict class labels.

        The class of highest probability under :meth:`predict_proba`.

        %(parameters_X)s

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            The most probable class of each row.
        """
        outputs = self._outputs(X)
        return self.classes_[np.argmax(outputs, axis=1)]

    def _check_y(self, y):
        y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        return y

    def _fit_targets(self, y, *, classes):
        if classes is None:
            self.classes_ = unique_labels(y)
        else:
            if self.class_weight == "balanced":
                raise ValueError(
                    "class_weight='balanced' is not supported by partial_fit; pass "
                    "class_weight=compute_class_weight('balanced', classes=classes, "
                    "y=y) computed on a large enough sample of y instead"
                )
            self.classes_ = unique_labels(classes)
        if len(self.classes_) < 2:
            raise ValueError(
                f"{type(self).__name__} needs at least 2 classes in y; got "
                f"{len(self.classes_)} class: {self.classes_.tolist()!r}"
            )
        self.n_outputs_ = len(self.classes_)
        self._class_weight = None
        if self.class_weight is not None:
            self._class_weight = compute_class_weight(
                self.class_weight, classes=self.classes_, y=y
            )
        return self._targets(y, classes=None)

    def _targets(self, y, *, classes):
        if classes is not None and not np.array_equal(
            unique_labels(classes), self.classes_
        ):
            raise ValueError(
                f"classes={classes!r} differs from the classes of the first call "
                f"to partial_fit, {self.classes_.tolist()!r}"
            )
        unknown = np.setdiff1d(y, self.classes_)
        if unknown.size:
            raise ValueError(
                f"y contains labels {unknown.tolist()!r} that are not in classes_ "
                f"{self.classes_.tolist()!r}"
            )
        return np.searchsorted(self.classes_, y).astype(np.int64)

    def _stratify(self, targets):
        counts = np.bincount(targets)
        counts = counts[counts > 0]
        n_valid = math.ceil(self.validation_fraction * len(targets))
        feasible = (
            counts.min() >= 2
            and n_valid >= len(counts)
            and len(targets) - n_valid >= len(counts)
        )
        return targets if feasible else None


class FusionNetRegressor(RegressorMixin, _BaseFusionNet):
    __doc__ = f"""Shared-layer fusion network regressor, optionally multi-task.

    {_ARCHITECTURE}

    The heads are linear. The target is standardised internally; several
    targets (2-D ``y``) share one network.

    Parameters
    ----------{_SHARED_PARAMETERS}
    Attributes
    ----------{_SHARED_ATTRIBUTES}
    See Also
    --------
    sklearn.neural_network.MLPRegressor : A single-input multi-layer perceptron.
    FeatureFusion : Early fusion of the same modality blocks.
    ModalityStackingRegressor : Model-level fusion of per-modality models.

    Examples
    --------
    >>> import numpy as np
    >>> import pandas as pd
    >>> from mmensemble import FusionNetRegressor
    >>> rng = np.random.RandomState(0)
    >>> X = pd.DataFrame(rng.normal(size=(400, 4)), columns=["a1", "a2", "b1", "b2"])
    >>> y = X["a1"] * X["b1"] + 0.1 * rng.normal(size=400)
    >>> net = FusionNetRegressor([("a", "passthrough", ["a1", "a2"]),
    ...                           ("b", "passthrough", ["b1", "b2"])],
    ...                          lr=0.01, random_state=0)
    >>> net.fit(X, y).score(X, y) > 0.8
    True
    """

    _task = "regression"
    _class_weight = None

    @fill_doc(MODEL_FUSION_DOCS)
    def partial_fit(self, X, y):
        """Train the network for one epoch on ``(X, y)``.

        The first call (on an unfitted regressor) fits the encoders, the block
        standardisation and the target standardisation on this data and builds
        the network; later calls reuse them and continue training (also after
        ``fit``). No rows are held out: early stopping is for ``fit``.

        %(parameters_X)s
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            The target values.

        Returns
        -------
        self : object
            The regressor.
        """
        return self._partial_fit(X, y, None)

    @fill_doc(MODEL_FUSION_DOCS)
    def predict(self, X):
        """Predict the target.

        The network's main head, mapped back from the standardised target
        to the scale of ``y``. A modality missing in a row is represented by
        its learned "missing" embedding.

        %(parameters_X)s

        Returns
        -------
        y_pred : ndarray of shape (n_samples,) or (n_samples, n_targets)
            The predictions, shaped like the ``y`` seen in fit.
        """
        outputs = self._outputs(X)
        predictions = self._y_scaler.inverse_transform(outputs)
        return predictions.ravel() if self._y_ndim == 1 else predictions

    def _check_y(self, y):
        y = check_array(
            y, ensure_2d=False, dtype=np.float64, input_name="y", estimator=self
        )
        if y.ndim > 2:
            raise ValueError(f"y must be 1-D or 2-D, got shape {y.shape!r}")
        return y

    def _fit_targets(self, y, *, classes):
        self._y_ndim = y.ndim
        targets = y.reshape(len(y), -1)
        self.n_outputs_ = targets.shape[1]
        self._y_scaler = StandardScaler().fit(targets)
        return self._targets(y, classes=None)

    def _targets(self, y, *, classes):
        targets = y.reshape(len(y), -1)
        if targets.shape[1] != self.n_outputs_:
            raise ValueError(
                f"y has {targets.shape[1]} targets, but {self.n_outputs_} during fit"
            )
        return self._y_scaler.transform(targets).astype(np.float32)

    def _stratify(self, targets):
        return None

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


def _resolve_device_parameter(device):
    """Resolve the ``device`` parameter, naming it when it is not a device."""
    try:
        return resolve_device(device)
    except (RuntimeError, TypeError, ValueError) as exc:
        raise ValueError(
            "device must be 'auto', 'cpu', 'cuda', 'cuda:<index>' or a torch.device, "
            f"got {device!r}"
        ) from exc


def _check_block(name, block, columns):
    """Reject empty blocks and infinite values, naming the modality."""
    if block.shape[1] == 0:
        raise ValueError(
            f"modality {name!r} has no features (its columns are {columns!r})"
        )
    values = block.data if sp.issparse(block) else block
    if np.issubdtype(values.dtype, np.floating) and np.isinf(values).any():
        raise ValueError(
            f"modality {name!r} contains infinite values; replace them by finite "
            "values or by NaN (missing)"
        )


def _standardisation(present_rows):
    """Per-feature mean and inverse scale of a dense block; one scale if sparse."""
    if sp.issparse(present_rows):
        return block_statistics(present_rows, "variance")
    scaler = StandardScaler().fit(present_rows)
    return scaler.mean_, 1.0 / scaler.scale_
