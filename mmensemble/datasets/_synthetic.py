"""A fast synthetic multimodal classification dataset with tunable signal."""

from numbers import Integral, Real

import numpy as np
import pandas as pd
from sklearn.utils import Bunch, check_random_state

__all__ = ["make_multimodal_classification"]

MODALITIES = ("image", "audio", "text", "tabular")
_DEFAULT_SIGNAL = 0.5
_GRID = 4  # the image patterns are _GRID x _GRID blocks
_WORDS_PER_CLASS = 5
_SHARED_WORDS = 20
_SYLLABLES = (
    "ba be bi bo bu da de di do du ka ke ki ko ku la le li lo lu "
    "ma me mi mo mu na ne ni no nu pa pe pi po pu ra re ri ro ru "
    "sa se si so su ta te ti to tu va ve vi vo vu za ze zi zo zu"
).split()


def make_multimodal_classification(
    n_samples=200,
    *,
    n_classes=2,
    modalities=MODALITIES,
    signal=None,
    missing_rate=None,
    image_size=16,
    image_channels=1,
    audio_length=2000,
    sr=8000,
    text_length=8,
    n_tabular=4,
    random_state=None,
    return_X_y=True,
):
    """Generate a random multimodal classification problem.

    Every row has up to four modalities, each carrying the class with its own
    strength, so that fusing them pays off:

    - ``image``: an ``image_size`` x ``image_size`` ``uint8`` array (or
      ``image_size`` x ``image_size`` x 3 when ``image_channels=3``) made of
      4 x 4 blocks; the block pattern is a mix of the class's pattern and a
      random one.
    - ``audio``: a 1-D float32 waveform of ``audio_length`` samples at ``sr``:
      a tone at the class's frequency mixed with a tone at a random frequency
      and white noise.
    - ``text``: ``text_length`` pseudo-words, each drawn from the class's own
      vocabulary or from a pool shared by all classes.
    - ``tabular``: ``n_tabular`` float columns ``tabular_0``, ... drawn around
      the class's mean.

    ``signal`` sets how much of the class each modality shows: 0 makes it pure
    noise (independent of the class), 1 makes it as clean as it gets. Missing
    cells are None (NaN in the tabular columns).

    Parameters
    ----------
    n_samples : int, default=200
        Number of rows.

    n_classes : int, default=2
        Number of classes, at least 2. The classes are balanced (up to one row).

    modalities : sequence of {"image", "audio", "text", "tabular"}, \
            default=("image", "audio", "text", "tabular")
        The modalities to generate, in the order of the columns.

    signal : float or dict of str to float, default=None
        How predictive each modality is, in [0, 1]: a float applies to every
        modality, a dict maps modality names to their signal. Modalities left
        out (and ``None``) get 0.5.

    missing_rate : float or dict of str to float, default=None
        Fraction of the rows in which each modality is missing, in [0, 1]: a
        float applies to every modality, a dict maps modality names to their
        rate; ``None`` means no missing values. Exactly
        ``round(rate * n_samples)`` rows lack each modality, chosen so that
        every row keeps at least one modality whenever the rates allow it.

    image_size : int, default=16
        Height and width of the images, in pixels.

    image_channels : {1, 3}, default=1
        1 gives grayscale ``(image_size, image_size)`` arrays, 3 RGB
        ``(image_size, image_size, 3)`` arrays.

    audio_length : int, default=2000
        Number of samples of each waveform.

    sr : int, default=8000
        Sample rate of the waveforms, in Hz; the class frequencies lie between
        ``0.04 * sr`` and ``0.3 * sr``.

    text_length : int, default=8
        Number of words of each text.

    n_tabular : int, default=4
        Number of tabular columns.

    random_state : int, RandomState instance or None, default=None
        Determines the dataset. Pass an int for reproducible output. The data
        of a modality do not depend on which other modalities are generated.

    return_X_y : bool, default=True
        If True, return ``(X, y)``; otherwise a Bunch.

    Returns
    -------
    X : DataFrame of shape (n_samples, n_columns)
        The columns ``image``, ``audio``, ``text`` (object dtype) and
        ``tabular_0`` ... ``tabular_{n_tabular - 1}`` (float) of the requested
        modalities.

    y : ndarray of shape (n_samples,)
        The integer class of each row.

    data : :class:`~sklearn.utils.Bunch`
        If ``return_X_y`` is False: ``data`` (X), ``target`` (y), ``frame``
        (both in one DataFrame), ``feature_names``, ``target_names``,
        ``signal`` and ``missing_rate`` (dicts of the values used) and
        ``DESCR``.

    See Also
    --------
    sklearn.datasets.make_classification : The single-table counterpart.
    load_spoken_digits : A real multimodal dataset.

    Examples
    --------
    >>> from mmensemble.datasets import make_multimodal_classification
    >>> X, y = make_multimodal_classification(
    ...     100, signal={"image": 1.0, "text": 0.0}, missing_rate=0.1, random_state=0
    ... )
    >>> X.shape
    (100, 7)
    >>> list(X.columns[:3])
    ['image', 'audio', 'text']
    >>> X["image"].iloc[0].shape, X["audio"].iloc[0].dtype
    ((16, 16), dtype('float32'))
    >>> int(X["text"].isna().sum())
    10
    """
    _check_int("n_samples", n_samples, 1)
    _check_int("n_classes", n_classes, 2)
    modalities = _check_modalities(modalities)
    signal = _per_modality("signal", signal, modalities, _DEFAULT_SIGNAL)
    missing_rate = _per_modality("missing_rate", missing_rate, modalities, 0.0)
    for name, value, low in [
        ("image_size", image_size, 1),
        ("audio_length", audio_length, 1),
        ("sr", sr, 1),
        ("text_length", text_length, 1),
        ("n_tabular", n_tabular, 1),
    ]:
        _check_int(name, value, low)
    if image_channels not in (1, 3) or isinstance(image_channels, bool):
        raise ValueError(f"image_channels must be 1 or 3, got {image_channels!r}")

    rng = check_random_state(random_state)
    y = rng.permutation(np.arange(n_samples) % n_classes)
    # One seed per modality, drawn whatever the modalities asked for.
    seeds = dict(zip(MODALITIES, rng.randint(2**31 - 1, size=5), strict=False))
    missing_seed = rng.randint(2**31 - 1)
    makers = {
        "image": lambda r: _images(y, n_classes, signal, image_size, image_channels, r),
        "audio": lambda r: _audio(y, n_classes, signal, audio_length, sr, r),
        "text": lambda r: _texts(y, n_classes, signal, text_length, r),
        "tabular": lambda r: _tabular(y, n_classes, signal, n_tabular, r),
    }
    blocks = {m: makers[m](np.random.default_rng(seeds[m])) for m in modalities}
    missing = _missing_rows(n_samples, modalities, missing_rate, missing_seed)
    X = pd.concat([_blank(blocks[m], missing[m]) for m in modalities], axis=1)
    if return_X_y:
        return X, y
    return Bunch(
        data=X,
        target=y,
        frame=pd.concat([X, pd.Series(y, name="target")], axis=1),
        feature_names=list(X.columns),
        target_names=np.arange(n_classes),
        signal=signal,
        missing_rate=missing_rate,
        DESCR=make_multimodal_classification.__doc__.split("\n\n")[0],
    )


def _check_int(name, value, low):
    """Raise unless ``value`` is an int of at least ``low``."""
    if not isinstance(value, Integral) or isinstance(value, bool) or value < low:
        raise ValueError(f"{name} must be an int >= {low}, got {value!r}")


def _check_modalities(modalities):
    """Validate ``modalities``; return it as a tuple."""
    if isinstance(modalities, str):
        modalities = (modalities,)
    modalities = tuple(modalities)
    unknown = [m for m in modalities if m not in MODALITIES]
    if not modalities or unknown or len(set(modalities)) < len(modalities):
        raise ValueError(
            f"modalities must be distinct names among {MODALITIES!r}, at least "
            f"one, got {modalities!r}"
        )
    return modalities


def _per_modality(name, value, modalities, default):
    """Turn a float, dict or None into a dict of a value in [0, 1] per modality."""
    if value is None:
        value = {}
    if isinstance(value, Real) and not isinstance(value, bool):
        value = dict.fromkeys(modalities, value)
    if not isinstance(value, dict):
        raise TypeError(
            f"{name} must be None, a float or a dict of modality names to floats, "
            f"got {value!r}"
        )
    unknown = sorted(set(value) - set(modalities))
    if unknown:
        raise ValueError(
            f"{name} names modalities {unknown!r} that are not in modalities="
            f"{modalities!r}"
        )
    result = {m: value.get(m, default) for m in modalities}
    for modality, v in result.items():
        if not isinstance(v, Real) or isinstance(v, bool) or not 0 <= v <= 1:
            raise ValueError(
                f"{name}[{modality!r}] must be a float in [0, 1], got {v!r}"
            )
    return {m: float(v) for m, v in result.items()}


def _mix(strength, class_part, noise_part):
    """``strength`` of the class part, the rest noise, at constant variance."""
    return strength * class_part + np.sqrt(1 - strength**2) * noise_part


def _images(y, n_classes, signal, size, channels, rng):
    """Block-pattern images: class pattern mixed with a random pattern."""
    n = len(y)
    templates = rng.standard_normal((n_classes, _GRID, _GRID, channels))
    patterns = _mix(
        signal["image"], templates[y], rng.standard_normal((n, _GRID, _GRID, channels))
    )
    rows = (np.arange(size) * _GRID) // size
    field = patterns[:, rows][:, :, rows] + 0.3 * rng.standard_normal(
        (n, size, size, channels)
    )
    images = np.clip(np.round(128 + 45 * field), 0, 255).astype(np.uint8)
    if channels == 1:
        images = images[..., 0]
    return pd.Series(list(images), name="image", dtype=object)


def _audio(y, n_classes, signal, length, sr, rng):
    """Waveforms: a class tone, a random distracting tone and white noise."""
    n = len(y)
    low, high = 0.04 * sr, 0.3 * sr
    class_freqs = np.geomspace(low, high, n_classes)[y]
    class_freqs *= 1 + 0.01 * rng.standard_normal(n)
    random_freqs = np.exp(rng.uniform(np.log(low), np.log(high), n))
    t = np.arange(length) / sr
    phases = rng.uniform(0, 2 * np.pi, (2, n, 1))
    class_tone = np.sin(2 * np.pi * class_freqs[:, None] * t + phases[0])
    random_tone = np.sin(2 * np.pi * random_freqs[:, None] * t + phases[1])
    waves = _mix(signal["audio"], class_tone, random_tone)
    waves += 0.5 * rng.standard_normal((n, length))
    waves *= 0.9 / np.abs(waves).max(axis=1, keepdims=True)
    return pd.Series(list(waves.astype(np.float32)), name="audio", dtype=object)


def _vocabulary(n_words, rng):
    """``n_words`` distinct pseudo-words of two or three syllables."""
    words = []
    seen = set()
    while len(words) < n_words:
        n_syllables = 2 + int(rng.random() < 0.5)
        word = "".join(rng.choice(_SYLLABLES, size=n_syllables))
        if word not in seen:
            seen.add(word)
            words.append(word)
    return np.array(words)


def _texts(y, n_classes, signal, length, rng):
    """Texts whose words come from the class vocabulary with probability signal."""
    n = len(y)
    n_class_words = n_classes * _WORDS_PER_CLASS
    pool = _vocabulary(n_class_words + _SHARED_WORDS, rng)
    own = y[:, None] * _WORDS_PER_CLASS + rng.integers(
        _WORDS_PER_CLASS, size=(n, length)
    )
    anywhere = rng.integers(len(pool), size=(n, length))
    picks = np.where(rng.random((n, length)) < signal["text"], own, anywhere)
    texts = [" ".join(words) for words in pool[picks]]
    return pd.Series(texts, name="text", dtype=object)


def _tabular(y, n_classes, signal, n_columns, rng):
    """Gaussian columns around class means scaled by the signal."""
    means = rng.standard_normal((n_classes, n_columns))
    values = 2 * signal["tabular"] * means[y] + rng.standard_normal((len(y), n_columns))
    columns = [f"tabular_{j}" for j in range(n_columns)]
    return pd.DataFrame(values, columns=columns)


def _missing_rows(n_samples, modalities, missing_rate, seed):
    """Boolean mask of missing rows per modality, keeping a modality per row.

    Exactly ``round(rate * n_samples)`` rows of each modality are missing. A
    row already missing every earlier modality is not picked for the last one,
    when enough other rows remain.
    """
    rng = np.random.default_rng(seed)
    missing = {}
    all_missing = np.ones(n_samples, dtype=bool)
    for i, modality in enumerate(modalities):
        k = int(round(missing_rate[modality] * n_samples))
        allowed = np.ones(n_samples, dtype=bool)
        if i == len(modalities) - 1 and (~all_missing).sum() >= k:
            allowed = ~all_missing
        mask = np.zeros(n_samples, dtype=bool)
        mask[rng.choice(np.flatnonzero(allowed), size=k, replace=False)] = True
        missing[modality] = mask
        all_missing &= mask
    return missing


def _blank(block, mask):
    """``block`` with the rows in ``mask`` made missing (None, or NaN)."""
    block = block.copy()
    if isinstance(block, pd.Series):
        block[mask] = None
        return block
    block.loc[mask, :] = np.nan
    return block
