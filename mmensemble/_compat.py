"""The private scikit-learn helpers mmensemble relies on, in one place.

scikit-learn does not promise to keep these names; importing them only here
means a future release that moves one breaks one module, and the supported
range of scikit-learn (``pyproject.toml``) is bounded by the releases these
imports were checked against.
"""

from sklearn.calibration import _TemperatureScaling
from sklearn.model_selection._validation import _enforce_prediction_order
from sklearn.utils import get_tags
from sklearn.utils._param_validation import (
    HasMethods,
    Interval,
    StrOptions,
    validate_params,
)
from sklearn.utils.metaestimators import _BaseComposition
from sklearn.utils.validation import _check_feature_names_in, _check_response_method

__all__ = [
    "HasMethods",
    "Interval",
    "StrOptions",
    "_BaseComposition",
    "_TemperatureScaling",
    "_check_feature_names_in",
    "_check_response_method",
    "_enforce_prediction_order",
    "get_tags",
    "validate_params",
]
