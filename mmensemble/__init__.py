"""mmensemble: multimodal learning with scikit-learn estimators.

Per-modality encoders turn images, audio and text into arrays; fusion
estimators combine modalities at the feature level, the model level, or in a
small shared-layer network. Heavy dependencies (torch, librosa) load on first
use, so ``import mmensemble`` stays light.

Layers, each importing only from those before it: the base modules
(``_config``, ``_exceptions``, ``_deps``, ``_compat``, ``_torch_utils``,
``_persistence``), :mod:`~mmensemble.encoders`, :mod:`~mmensemble.roles` (the
role registry and column-role inference), :mod:`~mmensemble.fusion`,
:mod:`~mmensemble.inspection`, :mod:`~mmensemble.cli`;
:mod:`~mmensemble.datasets` stands apart.
"""

import importlib

__version__ = "0.1.0"

_PUBLIC = {
    "ImageEncoder": ".encoders",
    "MFCCEncoder": ".encoders",
    "WhisperEncoder": ".encoders",
    "TextEncoder": ".encoders",
    "SignalEncoder": ".encoders",
    "VideoEncoder": ".encoders",
    "video_soundtrack": ".encoders",
    "cache_info": ".encoders",
    "clear_cache": ".encoders",
    "FeatureFusion": ".fusion",
    "ModalityVotingClassifier": ".fusion",
    "ModalityVotingRegressor": ".fusion",
    "ModalityStackingClassifier": ".fusion",
    "ModalityStackingRegressor": ".fusion",
    "FusionNetClassifier": ".fusion",
    "FusionNetRegressor": ".fusion",
    "TunedLogisticRegression": ".fusion",
    "AutoFusionClassifier": ".fusion",
    "AutoFusionRegressor": ".fusion",
    "default_encoder": ".fusion",
    "default_head": ".fusion",
    "default_meta_learner": ".fusion",
    "default_modality_model": ".fusion",
    "conformalize": ".inspection",
    "explain_modalities": ".inspection",
    "infer_column_roles": ".roles",
    "modality_importance": ".inspection",
    "ModalityNovelty": ".inspection",
    "plot_modality_importance": ".inspection",
    "BadCellWarning": "._exceptions",
    "CellDecodeError": "._exceptions",
    "MMEnsembleError": "._exceptions",
    "ModelFileError": "._persistence",
    "load": "._persistence",
    "save": "._persistence",
    "config_context": "._config",
    "get_config": "._config",
    "set_config": "._config",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name):
    if name in _PUBLIC:
        value = getattr(importlib.import_module(_PUBLIC[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
