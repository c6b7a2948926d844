"""Fusion estimators: modalities combined by features, by models or by a network.

``_modality`` holds the ``(name, estimator, columns)`` triples and the input
table, ``_plumbing`` the per-modality steps all fusion families share (select a
modality's columns, fit on its present rows, check widths and weights),
``_defaults`` the default (self-tuning) model of each modality, ``_auto`` the
automatic choice among the fusion families, ``_head_selection`` the
linear-or-trees head of the tabular roles, and each remaining module one
fusion family. Imports only from :mod:`mmensemble.roles`,
:mod:`mmensemble.encoders` and the package's base modules.
"""

from ._auto import AutoFusionClassifier, AutoFusionRegressor
from ._defaults import (
    default_encoder,
    default_head,
    default_meta_learner,
    default_modality_model,
)
from ._early import FeatureFusion
from ._fusion_net import FusionNetClassifier, FusionNetRegressor
from ._head_selection import HeadSelectionClassifier, HeadSelectionRegressor
from ._heads import TunedLogisticRegression
from ._stacking import ModalityStackingClassifier, ModalityStackingRegressor
from ._voting import ModalityVotingClassifier, ModalityVotingRegressor

__all__ = [
    "AutoFusionClassifier",
    "AutoFusionRegressor",
    "FeatureFusion",
    "FusionNetClassifier",
    "FusionNetRegressor",
    "HeadSelectionClassifier",
    "HeadSelectionRegressor",
    "ModalityStackingClassifier",
    "ModalityStackingRegressor",
    "ModalityVotingClassifier",
    "ModalityVotingRegressor",
    "TunedLogisticRegression",
    "default_encoder",
    "default_head",
    "default_meta_learner",
    "default_modality_model",
]
