"""Inspection of fitted fusion models: which modality matters, and how much.

Works on any fitted fusion estimator by masking modalities as missing; imports
from :mod:`mmensemble.fusion` and below, never from the command line.
"""

from ._importance import modality_importance, plot_modality_importance

__all__ = ["modality_importance", "plot_modality_importance"]
