"""The bundled ``moving_shapes`` dataset: videos whose class needs picture and sound.

240 MP4 clips ship in ``data/moving_shapes`` next to ``metadata.csv``; they are
made by ``tools/make_video_dataset.py``, which documents every step.
"""

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.utils import Bunch

__all__ = ["load_moving_shapes"]

DATA_DIR = Path(__file__).parent / "data" / "moving_shapes"
CLASSES = (
    "circle+low",
    "circle+high",
    "square+low",
    "square+high",
    "triangle+low",
    "triangle+high",
)

DESCR = """\
.. _moving_shapes_dataset:

Moving shapes dataset (video with a soundtrack)
-----------------------------------------------

**Data Set Characteristics:**

:Number of Instances: 240 (40 per class)
:Number of Classes: 6, the pairs (shape, sound)
:Modalities: ``video`` (path of an MP4 file: 64x64 px, 1.5 s at 8 fps,
    H.264, with a 16 kHz mono AAC soundtrack)
:Creator: ``tools/make_video_dataset.py`` of mmensemble (seed 0)

Each clip shows one coloured shape (circle, square or triangle) moving in a
straight line over a grey background and bouncing off the edges, with a low
steady tone (180-360 Hz) or high beeps (900-1800 Hz) under white noise at a
signal-to-noise ratio of 0-20 dB. The class is the pair: the frames alone tell
the shape but not the sound (at best half the classes right), the soundtrack
alone the sound but not the shape (at best a third). Colour, size, motion,
background, pitch, beeps, loudness and noise are drawn at random per clip.

Use :func:`~mmensemble.video_soundtrack` to get the audio column, and
:class:`~mmensemble.VideoEncoder` for the frames. The ``details`` of the
returned Bunch hold each clip's ``shape``, ``sound``, pitch (``pitch_hz``)
and ``snr_db``.
"""


def load_moving_shapes(*, return_X_y=False, as_frame=True):
    """Load the moving shapes dataset: 240 short videos in 6 classes.

    The class of a clip is the pair (shape seen, sound heard), so a model needs
    both its frames and its soundtrack. Read more in the dataset's ``DESCR``.

    ================= ==============================================
    Classes           6
    Samples per class 40
    Samples total     240
    Modalities        video (64x64 px, 1.5 s, with sound)
    ================= ==============================================

    Parameters
    ----------
    return_X_y : bool, default=False
        If True, return ``(data, target)`` instead of a Bunch.

    as_frame : bool, default=True
        If True, ``data`` is a pandas DataFrame and ``target`` a Series; if
        False, an object ndarray with one column and an int ndarray.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object, with the following attributes.

        data : DataFrame of shape (240, 1)
            The column ``video``: the absolute path of each MP4 file (inside
            the installed package). An ndarray if ``as_frame=False``.
        target : Series of shape (240,)
            The class index, 0 to 5. An ndarray if ``as_frame=False``.
        frame : DataFrame of shape (240, 2)
            ``data`` and ``target`` together; None if ``as_frame=False``.
        feature_names : list of str
            ``["video"]``.
        target_names : ndarray of shape (6,)
            The classes, ``"circle+low"``, ``"circle+high"``, ...
        details : DataFrame of shape (240, 4)
            ``shape``, ``sound``, ``pitch_hz`` and ``snr_db`` of each clip.
        DESCR : str
            The full description of the dataset.

    (data, target) : tuple if ``return_X_y`` is True

    See Also
    --------
    load_spoken_digits : Images, speech and text of the digits.

    Examples
    --------
    >>> from mmensemble.datasets import load_moving_shapes
    >>> bunch = load_moving_shapes()
    >>> bunch.data.shape, bunch.target_names[:2].tolist()
    ((240, 1), ['circle+low', 'circle+high'])
    >>> bunch.data["video"].iloc[0].endswith(".mp4")
    True
    """
    meta = pd.read_csv(DATA_DIR / "metadata.csv")
    paths = [str(DATA_DIR / name) for name in meta["file"]]
    data = pd.DataFrame({"video": pd.Series(paths, dtype=object)})
    target = meta["target"].astype(np.int64).rename("target")
    frame = pd.concat([data, target], axis=1) if as_frame else None
    if not as_frame:
        data, target = data.to_numpy(dtype=object), target.to_numpy()
    if return_X_y:
        return data, target
    return Bunch(
        data=data,
        target=target,
        frame=frame,
        feature_names=["video"],
        target_names=np.asarray(CLASSES, dtype=object),
        details=meta[["shape", "sound", "pitch_hz", "snr_db"]].copy(),
        DESCR=DESCR,
    )
