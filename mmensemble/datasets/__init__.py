"""Datasets: the bundled spoken digits and a synthetic multimodal generator.

:func:`load_spoken_digits` loads a real three-modality dataset shipped with the
package (handwritten digit images, synthesised speech, typed words);
:func:`make_multimodal_classification` generates a synthetic one whose
modalities carry the class with a chosen strength.
"""

from ._moving_shapes import load_moving_shapes
from ._spoken_digits import get_data_home, load_spoken_digits
from ._synthetic import make_multimodal_classification

__all__ = [
    "get_data_home",
    "load_moving_shapes",
    "load_spoken_digits",
    "make_multimodal_classification",
]
