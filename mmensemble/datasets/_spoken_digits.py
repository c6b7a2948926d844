"""The bundled ``spoken_digits`` dataset: images, audio and text of the digits.

The media ship packed (``images.npz``, ``audio.flac``) next to ``metadata.csv``
in ``data/spoken_digits``; ``image_format="path"`` and ``audio_format="path"``
extract them once into PNG and WAV files under a cache folder. The data are made
by ``tools/make_spoken_digits.py``, which documents every step.
"""

import hashlib
import os
import shutil
import tempfile
import wave
from functools import lru_cache
from numbers import Integral, Real
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.utils import Bunch, check_random_state

__all__ = ["load_spoken_digits", "get_data_home"]

DATA_DIR = Path(__file__).parent / "data" / "spoken_digits"
_FEATURE_NAMES = ["image", "audio", "text", "language", "voice"]
_DEFAULT_TEST_FRACTION = 0.25
_AUDIO_GAIN = 16  # audio.flac stores the clips at 1/16 of their level
# Bump when _write_media changes what it writes: the cache folder name changes.
_EXTRACTION_VERSION = 1

DESCR = """\
.. _spoken_digits_dataset:

Spoken digits dataset (image, audio, text)
------------------------------------------

**Data Set Characteristics:**

:Number of Instances: 1500 (150 per class)
:Number of Classes: 10 (the digits 0-9)
:Modalities: ``image`` (32x32 grayscale), ``audio`` (8 kHz mono, at most
    1.5 s), ``text`` (a word, or None)
:Other columns: ``language`` (num2words language code), ``voice``
    (synthetic speaker id, 45 voices)
:Missing values: ``text`` is missing (None) in 15% of the rows
:Creator: ``tools/make_spoken_digits.py`` of mmensemble (seed 0)

Each row shows one digit three ways. The image is a real handwritten digit of
scikit-learn's ``load_digits`` (each row its own image), upscaled to 32x32;
28% of them are corrupted (heavy noise, a large occluding block, a digit of
another class drawn over it, or a strong blur). The audio is the number word
spoken by ``espeak-ng`` (24 languages, several voice variants) or ``flite``
(English), at a random speed and pitch, with white, pink or brown noise at a
per-row SNR between 0 and 35 dB. The text is the written number word of the
spoken language with 0-4 typos. The ``details`` of the returned Bunch hold the
SNR (``snr_db``) and the image corruption (``image_corruption``) of each row.

No modality is enough on its own; together they are. Cross-validated accuracy
(5 folds, stratified) of simple models on one modality:

- image, logistic regression on the pixels: 0.76 (RBF SVM: 0.82)
- audio, MFCC mean and std over time, logistic regression: 0.43 (RBF SVM:
  0.74); mean, std, min and max of MFCCs and deltas, logistic regression: 0.62
- text, character 1-3-gram TF-IDF, logistic regression: 0.71
- soft vote of the three logistic regressions: 0.91 (of the SVMs and the text
  model: 0.96)

With the folds grouped by voice (test voices unseen in training) the audio
models fall to 0.31-0.42, the fused ones to 0.86-0.91.

``held_out_voices`` splits the rows by voice, for measuring how a model copes
with speakers (and, for the rarer languages, languages) never seen in
training.
"""


def get_data_home(data_home=None):
    """Return the folder where mmensemble extracts its bundled datasets.

    Parameters
    ----------
    data_home : str or path-like, default=None
        The folder to use. ``None`` means the environment variable
        ``MMENSEMBLE_DATA_HOME`` if set, else ``~/.cache/mmensemble``, else
        (when that cannot be created) a folder under ``tempfile.gettempdir()``.

    Returns
    -------
    data_home : pathlib.Path
        The folder, created if needed.
    """
    if data_home is None:
        data_home = os.environ.get("MMENSEMBLE_DATA_HOME")
    if data_home is not None:
        path = Path(data_home).expanduser()
        path.mkdir(parents=True, exist_ok=True)
        return path
    for path in (
        Path.home() / ".cache" / "mmensemble",
        Path(tempfile.gettempdir()) / "mmensemble",
    ):
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        if os.access(path, os.W_OK):
            return path
    raise OSError("found no writable folder to extract the dataset into")


def load_spoken_digits(
    *,
    return_X_y=False,
    as_frame=True,
    held_out_voices=None,
    random_state=0,
    image_format="path",
    audio_format="path",
    data_home=None,
):
    """Load the spoken digits dataset: images, audio and text of 10 digits.

    1500 rows, 150 per digit. Each has a handwritten digit image, a clip of a
    synthetic voice saying the number in one of 24 languages, and the number
    word with typos (missing in 15% of the rows). Every modality is degraded so
    that none is enough alone. Read more in the dataset's ``DESCR``.

    ================= ==============================================
    Classes           10
    Samples per class 150
    Samples total     1500
    Modalities        image (32x32 uint8), audio (8 kHz), text
    Voices            45 (24 languages)
    ================= ==============================================

    Parameters
    ----------
    return_X_y : bool, default=False
        If True, return ``(data, target)`` instead of a Bunch, or
        ``(X_train, X_test, y_train, y_test)`` when ``held_out_voices`` is set.

    as_frame : bool, default=True
        If True, ``data`` is a pandas DataFrame and ``target`` a Series; if
        False, ``data`` is an object ndarray with the columns of
        ``feature_names`` and ``target`` an int ndarray.

    held_out_voices : bool, int, float, list of str or None, default=None
        Split the rows into a training and a test set whose voices do not
        overlap, so that the test speakers are unseen during training.

        - None or False: no split.
        - True: the same as ``0.25``.
        - float in (0, 1): voices drawn at random until the test set holds at
          least that fraction of the rows.
        - int: that many voices drawn at random.
        - list of str: these voices (values of the ``voice`` column).

    random_state : int, RandomState instance or None, default=0
        Draws the held-out voices. Pass an int for reproducible splits.

    image_format : {"path", "array"}, default="path"
        ``"path"``: each image cell is the absolute path of a PNG file (the
        images are extracted under ``data_home`` on first use). ``"array"``: a
        32x32 ``uint8`` ndarray.

    audio_format : {"path", "array"}, default="path"
        ``"path"``: each audio cell is the absolute path of a WAV file (8 kHz
        mono, extracted under ``data_home`` on first use). ``"array"``: a
        ``(waveform, sr)`` tuple of a float32 ndarray in [-1, 1] and the sample
        rate 8000.

    data_home : str or path-like, default=None
        Where the media are extracted for the ``"path"`` formats; see
        :func:`get_data_home`.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object, with the following attributes.

        data : DataFrame of shape (1500, 5)
            The columns ``image``, ``audio``, ``text`` (str, or None when
            missing), ``language`` and ``voice``. An ndarray if
            ``as_frame=False``.
        target : Series of shape (1500,)
            The digits. An ndarray if ``as_frame=False``.
        frame : DataFrame of shape (1500, 6)
            ``data`` and ``target`` together; None if ``as_frame=False``.
        feature_names : list of str
            The columns of ``data``.
        target_names : ndarray of shape (10,)
            The classes, 0 to 9.
        details : DataFrame of shape (1500, 2)
            How each row was degraded: ``snr_db`` (signal-to-noise ratio of
            the audio, in dB) and ``image_corruption`` (``"none"``,
            ``"noise"``, ``"occlusion"``, ``"overlay"`` or ``"blur"``).
        media_dir : pathlib.Path or None
            The folder of the extracted files; None when both formats are
            ``"array"``.
        DESCR : str
            The full description of the dataset.
        data_train, data_test, target_train, target_test
            Only with ``held_out_voices``: the two sets of rows.
        test_voices : list of str
            Only with ``held_out_voices``: the voices of the test set.

    (data, target) : tuple if ``return_X_y`` is True
        Without ``held_out_voices``.

    (X_train, X_test, y_train, y_test) : tuple if ``return_X_y`` is True
        With ``held_out_voices``. The DataFrames keep the row labels of the full
        dataset.

    See Also
    --------
    sklearn.datasets.load_digits : The handwritten digits the images come from.
    make_multimodal_classification : A synthetic multimodal dataset.

    Examples
    --------
    >>> from mmensemble.datasets import load_spoken_digits
    >>> X, y = load_spoken_digits(
    ...     return_X_y=True, image_format="array", audio_format="array"
    ... )
    >>> X.shape
    (1500, 5)
    >>> list(X.columns)
    ['image', 'audio', 'text', 'language', 'voice']
    >>> X["image"].iloc[0].shape, X["audio"].iloc[0][1]
    ((32, 32), 8000)
    >>> X_train, X_test, y_train, y_test = load_spoken_digits(
    ...     return_X_y=True,
    ...     held_out_voices=True,
    ...     image_format="array",
    ...     audio_format="array",
    ... )
    >>> set(X_train["voice"]) & set(X_test["voice"])
    set()
    """
    _check_format("image_format", image_format)
    _check_format("audio_format", audio_format)
    meta = _read_metadata()
    test_voices = _test_voices(meta["voice"], held_out_voices, random_state)
    media_dir = None
    if "path" in (image_format, audio_format):
        media_dir = _extracted_media(data_home)
    data = pd.DataFrame(
        {
            "image": _image_cells(meta, image_format, media_dir),
            "audio": _audio_cells(meta, audio_format, media_dir),
            "text": pd.Series(_text_cells(meta["text"]), dtype=object),
            "language": meta["language"],
            "voice": meta["voice"],
        }
    )
    target = meta["target"].astype(np.int64).rename("target")
    return _package(data, target, meta, media_dir, test_voices, return_X_y, as_frame)


def _check_format(name, value):
    """Raise a ValueError unless ``value`` is "path" or "array"."""
    if not isinstance(value, str) or value not in ("path", "array"):
        raise ValueError(f'{name} must be "path" or "array", got {value!r}')


def _read_metadata():
    """Read metadata.csv, keeping words such as "null" or "nan" as text."""
    return pd.read_csv(
        DATA_DIR / "metadata.csv", keep_default_na=False, na_values={"text": [""]}
    )


def _text_cells(column):
    """The text column as a list of str and None."""
    return [None if pd.isna(value) else str(value) for value in column]


def _image_cells(meta, image_format, media_dir):
    """Absolute PNG paths, or one 32x32 uint8 array per row."""
    if image_format == "path":
        return pd.Series([str(media_dir / p) for p in meta["image"]], dtype=object)
    images = _packed_images()
    return pd.Series([images[i].copy() for i in range(len(meta))], dtype=object)


def _audio_cells(meta, audio_format, media_dir):
    """Absolute WAV paths, or one ``(float32 waveform, sr)`` tuple per row."""
    if audio_format == "path":
        return pd.Series([str(media_dir / p) for p in meta["audio"]], dtype=object)
    samples, sr = _packed_audio()
    bounds = zip(meta["audio_start"], meta["audio_stop"], strict=True)
    cells = [(samples[a:b].astype(np.float32) / 32768.0, sr) for a, b in bounds]
    # pd.Series would try to make a 2-D array of a list of tuples.
    column = pd.Series([None] * len(cells), dtype=object)
    column[:] = cells
    return column


def _packed_images():
    """The (n_rows, 32, 32) uint8 array of images.npz."""
    with np.load(DATA_DIR / "images.npz") as npz:
        return npz["images"]


@lru_cache(maxsize=1)
def _packed_audio():
    """All clips as one int16 array (read-only, cached) and the sample rate.

    audio.flac holds the clips at 1/16 of their level, which makes it smaller;
    the exact power of two brings them back without loss.
    """
    import soundfile as sf

    samples, sr = sf.read(DATA_DIR / "audio.flac", dtype="int16")
    samples = np.clip(samples.astype(np.int32) * _AUDIO_GAIN, -32768, 32767)
    samples = samples.astype(np.int16)
    samples.setflags(write=False)
    return samples, sr


def _data_fingerprint():
    """A short hash of the shipped files and of the extraction code."""
    digest = hashlib.sha1(f"extraction {_EXTRACTION_VERSION}".encode())
    for name in ("metadata.csv", "images.npz", "audio.flac"):
        digest.update((DATA_DIR / name).read_bytes())
    return digest.hexdigest()[:12]


def _extracted_media(data_home):
    """Folder of the PNG and WAV files, extracted on first use."""
    target = get_data_home(data_home) / f"spoken_digits-{_data_fingerprint()}"
    if target.is_dir():
        return target
    staging = Path(tempfile.mkdtemp(prefix=".spoken_digits-", dir=target.parent))
    try:
        _write_media(staging)
        try:
            staging.rename(target)
        except OSError:
            # Another process extracted it first: keep theirs.
            if not target.is_dir():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _write_media(folder):
    """Write every image as PNG and every clip as 16-bit WAV under ``folder``."""
    from PIL import Image

    meta = _read_metadata()
    (folder / "images").mkdir()
    (folder / "audio").mkdir()
    for path, image in zip(meta["image"], _packed_images(), strict=True):
        Image.fromarray(image).save(folder / path)
    samples, sr = _packed_audio()
    bounds = zip(meta["audio"], meta["audio_start"], meta["audio_stop"], strict=True)
    for path, start, stop in bounds:
        # The standard library's writer: soundfile syncs every file to disk.
        with wave.open(str(folder / path), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(sr)
            out.writeframes(samples[start:stop].astype("<i2").tobytes())


def _test_voices(voices, held_out_voices, random_state):
    """The voices of the test set, or None when no split is asked for."""
    if held_out_voices is None or held_out_voices is False:
        return None
    names = sorted(voices.unique())
    rng = check_random_state(random_state)
    if held_out_voices is True:
        held_out_voices = _DEFAULT_TEST_FRACTION
    if isinstance(held_out_voices, Integral):
        if not 1 <= held_out_voices < len(names):
            raise ValueError(
                f"held_out_voices={held_out_voices!r} must be between 1 and "
                f"{len(names) - 1}, the number of voices less one"
            )
        chosen = rng.choice(names, size=int(held_out_voices), replace=False)
        return sorted(str(name) for name in chosen)
    if isinstance(held_out_voices, Real):
        return _voices_for_fraction(voices, names, float(held_out_voices), rng)
    return _check_voice_list(held_out_voices, names)


def _voices_for_fraction(voices, names, fraction, rng):
    """Voices in random order until they hold ``fraction`` of the rows."""
    if not 0 < fraction < 1:
        raise ValueError(
            f"held_out_voices={fraction!r} must be in (0, 1) when it is a float"
        )
    counts = voices.value_counts()
    chosen, n_rows = [], 0
    for name in rng.permutation(names):
        if n_rows >= fraction * len(voices):
            break
        chosen.append(str(name))
        n_rows += counts[name]
    if len(chosen) == len(names):
        chosen.pop()
    return sorted(chosen)


def _check_voice_list(held_out_voices, names):
    """Validate a list of voice names."""
    if isinstance(held_out_voices, str) or not hasattr(held_out_voices, "__iter__"):
        raise TypeError(
            "held_out_voices must be None, a bool, an int, a float or a list of "
            f"voice names, got {held_out_voices!r}"
        )
    chosen = sorted({str(name) for name in held_out_voices})
    unknown = sorted(set(chosen) - set(names))
    if unknown:
        raise ValueError(
            f"held_out_voices names unknown voices {unknown!r}; the voices are "
            f"{names!r}"
        )
    if not chosen or len(chosen) == len(names):
        raise ValueError(
            f"held_out_voices={held_out_voices!r} must name at least one voice and "
            "leave at least one for training"
        )
    return chosen


def _package(data, target, meta, media_dir, test_voices, return_X_y, as_frame):
    """Assemble the Bunch or tuple that ``load_spoken_digits`` returns."""
    frame = pd.concat([data, target], axis=1) if as_frame else None
    if not as_frame:
        data, target = data.to_numpy(dtype=object), target.to_numpy()
    if test_voices is None:
        if return_X_y:
            return data, target
        splits = {}
    else:
        test = meta["voice"].isin(test_voices).to_numpy()
        parts = [data[~test], data[test], target[~test], target[test]]
        if return_X_y:
            return tuple(parts)
        splits = dict(zip(["data_train", "data_test"], parts[:2], strict=True))
        splits.update(target_train=parts[2], target_test=parts[3])
        splits["test_voices"] = list(test_voices)
    return Bunch(
        data=data,
        target=target,
        frame=frame,
        feature_names=list(_FEATURE_NAMES),
        target_names=np.arange(10),
        details=meta[["snr_db", "image_corruption"]].copy(),
        media_dir=media_dir,
        DESCR=DESCR,
        **splits,
    )
