"""Inspection of fitted fusion models: which modality matters, how much, how sure.

Works on any fitted fusion estimator by masking modalities as missing; imports
from :mod:`mmensemble.fusion` and below, never from the command line.
"""

from ._conformal import ConformalScores, conformalize
from ._explain import explain_modalities
from ._importance import modality_importance, plot_modality_importance
from ._novelty import ModalityNovelty
from ._plots import (
    plot_confusion_matrix,
    plot_prediction_error,
    plot_reliability_diagram,
    plot_robustness,
)

__all__ = [
    "ConformalScores",
    "ModalityNovelty",
    "conformalize",
    "explain_modalities",
    "modality_importance",
    "plot_confusion_matrix",
    "plot_modality_importance",
    "plot_prediction_error",
    "plot_reliability_diagram",
    "plot_robustness",
]
