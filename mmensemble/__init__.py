"""mmensemble: multimodal learning with scikit-learn estimators.

Per-modality encoders turn images, audio and text into arrays; fusion
estimators combine modalities at the feature level, the model level, or in a
small shared-layer network. Heavy dependencies (torch, librosa) load on first
use, so ``import mmensemble`` stays light.
"""

import importlib

__version__ = "0.1.0"

_PUBLIC = {
    "ImageEncoder": "._image",
    "MFCCEncoder": "._audio",
    "FeatureFusion": "._fusion",
    "ModalityVotingClassifier": "._voting",
    "ModalityVotingRegressor": "._voting",
    "ModalityStackingClassifier": "._stacking",
    "ModalityStackingRegressor": "._stacking",
    "FusionNetClassifier": "._fusion_net",
    "FusionNetRegressor": "._fusion_net",
    "modality_importance": "._importance",
    "plot_modality_importance": "._importance",
    "MMEnsembleError": "._exceptions",
    "ModelFileError": "._persistence",
    "load": "._persistence",
    "save": "._persistence",
    "cache_info": "._cache",
    "clear_cache": "._cache",
    "config_context": "._config",
    "get_config": "._config",
    "set_config": "._config",
    "CellDecodeError": "._exceptions",
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
