"""Column roles inferred from the data: image, audio, text, categorical, ...

:func:`infer_column_roles` looks at each column of a table and says what it
holds, with the reason, so that ``mmensemble fit`` needs no flag but the
target. Media columns are recognised by opening a sample of their present
cells; the other rules look at the types and the number of distinct values.
"""

import io
import numbers
import os

import numpy as np
import pandas as pd

from ..encoders._cells import missing_mask

__all__ = ["INFERRED_ROLES", "infer_column_roles", "roles_from_table"]

INFERRED_ROLES = (
    "image",
    "video",
    "audio",
    "signal",
    "text",
    "categorical",
    "numeric",
    "ignored",
)

# A string column with at most this many distinct values, or this share of
# its present rows (each value in four rows or more on average), is
# categorical; one with more is free text.
_MAX_CATEGORIES = 5
_MAX_CATEGORY_SHARE = 0.25
# A cell longer than this is not taken for a file path.
_MAX_PATH_LENGTH = 4096


def infer_column_roles(frame, *, base_dir=None, sample=20):
    """Decide the role of every column of a table, with the reason.

    The rules, in order, for the present cells of each column (missing cells,
    None or NaN, are not looked at):

    - ``"ignored"``: no present cell, a single distinct value (constant), or
      an id: every row has its own value and the values are integers (also
      when written as numeric strings) or single words;
    - ``"image"``, ``"video"``, ``"audio"``, ``"signal"``: every one of
      ``sample`` present cells, taken evenly over the column, opens as an
      image (PIL), a video (a video stream that PyAV decodes), audio
      (soundfile) or a sensor series (a numeric ``.npy``, ``.csv`` or
      ``.tsv`` file of one or two dimensions), tried in that order. Cells may
      be paths (relative ones taken relative to ``base_dir``), raw encoded
      bytes, PIL images or arrays (3-D arrays and 2-D ``uint8`` arrays are
      images, other 2-D arrays sensor series, 1-D arrays and ``(array, sr)``
      tuples audio);
    - ``"numeric"``: numbers;
    - ``"categorical"``: strings with few distinct values (at most 5, or at
      most a quarter of the present rows), one-hot encoded;
    - ``"text"``: other strings (many distinct values).

    Parameters
    ----------
    frame : DataFrame
        The table, without its target column.
    base_dir : str or path-like, default=None
        Folder that relative paths are taken from (that of the CSV file);
        None means the current folder.
    sample : int, default=20
        How many present cells of a column are opened to recognise media.

    Returns
    -------
    roles : DataFrame
        One row per column of ``frame``: ``column``, ``role`` (one of
        :data:`INFERRED_ROLES`) and ``reason``.

    Examples
    --------
    >>> import pandas as pd
    >>> from mmensemble import infer_column_roles
    >>> table = pd.DataFrame({
    ...     "id": [101, 102, 103, 104, 105, 106],
    ...     "colour": ["red", "blue", "red", None, "blue", "red"],
    ...     "review": ["loved it", "meh", "great value", "broke at once",
    ...                "as described", "too small"],
    ...     "price": [9.5, 3.0, 4.25, 8.0, 3.0, 1.5],
    ...     "shop": ["A"] * 6})
    >>> roles = infer_column_roles(table)
    >>> roles["role"].tolist()
    ['ignored', 'categorical', 'text', 'numeric', 'ignored']
    >>> roles["reason"].iloc[0]
    'an id: 6 distinct integers, one per row'
    """
    base_dir = os.getcwd() if base_dir is None else os.fspath(base_dir)
    rows = [
        {"column": column, **_column_role(frame[column], base_dir, sample)}
        for column in frame.columns
    ]
    return pd.DataFrame(rows, columns=["column", "role", "reason"])


def roles_from_table(table):
    """Turn a role table into the role mapping of the recipes.

    Parameters
    ----------
    table : DataFrame
        As returned by :func:`infer_column_roles`.

    Returns
    -------
    roles : dict of str to list of str
        ``image``, ``audio`` and ``text`` columns; ``categorical`` columns;
        numeric columns under ``tabular``. Ignored columns are left out.
    """
    names = {"numeric": "tabular"}
    roles = {}
    for column, role in zip(table["column"], table["role"], strict=True):
        if role != "ignored":
            roles.setdefault(names.get(role, role), []).append(column)
    return roles


def _column_role(column, base_dir, sample):
    values = column[~missing_mask(column)]
    n_present = len(values)
    if n_present == 0:
        return _role("ignored", "every cell is empty")
    scalar = all(
        isinstance(value, str | numbers.Number) and not isinstance(value, bool)
        for value in values
    )
    n_distinct = values.nunique() if scalar else n_present
    empty = f", {len(column) - n_present} empty" if n_present < len(column) else ""
    if n_distinct == 1 and n_present > 1:
        return _role("ignored", f"constant: every present cell is {values.iloc[0]!r}")
    media = _media_role(values, base_dir, sample)
    if media is not None:
        return media
    if not scalar:
        kinds = sorted({type(value).__name__ for value in values})
        return _role("ignored", f"cells of types {kinds!r}, neither media nor text")
    numbers_ = pd.to_numeric(values, errors="coerce")
    numeric = not numbers_.isna().any()
    unique = n_distinct == n_present and n_present > 1
    if unique and numeric and (numbers_ % 1 == 0).all():
        return _role("ignored", f"an id: {n_present} distinct integers, one per row")
    if numeric:
        return _role("numeric", f"numbers ({n_distinct} distinct{empty})")
    if not all(isinstance(value, str) for value in values):
        return _role("ignored", "mixes strings with numbers")
    if unique and not values.str.contains(r"\s").any():
        return _role(
            "ignored", f"an id: {n_present} distinct single words, one per row"
        )
    if n_distinct <= max(_MAX_CATEGORIES, _MAX_CATEGORY_SHARE * n_present):
        return _role(
            "categorical", f"{n_distinct} distinct strings in {n_present} rows{empty}"
        )
    return _role(
        "text",
        f"{n_distinct} distinct strings in {n_present} rows, "
        f"{values.str.len().mean():.0f} characters on average{empty}",
    )


def _role(role, reason):
    return {"role": role, "reason": reason}


def _media_role(values, base_dir, sample):
    """The media role every sampled cell opens as, or None."""
    positions = np.unique(np.linspace(0, len(values) - 1, min(sample, len(values))))
    cells = [values.iloc[int(position)] for position in positions]
    for role, opens in (
        ("image", _opens_as_image),
        ("video", _opens_as_video),
        ("audio", _opens_as_audio),
        ("signal", _opens_as_signal),
    ):
        if all(opens(cell, base_dir) for cell in cells):
            what = "files" if isinstance(cells[0], str) else "cells"
            return _role(
                role,
                f"all {len(cells)} sampled {what} open as {role} "
                f"({len(values)} present)",
            )
    return None


def _source(cell, base_dir):
    """A file path or a byte stream to open ``cell`` from, or None."""
    if isinstance(cell, bytes):
        return io.BytesIO(cell)
    if isinstance(cell, str | os.PathLike):
        path = os.fspath(cell)
        if not path or len(path) > _MAX_PATH_LENGTH or "\n" in path:
            return None
        path = os.path.join(base_dir, path)
        return path if os.path.isfile(path) else None
    return None


def _opens_as_image(cell, base_dir):
    from PIL import Image, UnidentifiedImageError

    if isinstance(cell, Image.Image):
        return True
    if isinstance(cell, np.ndarray):
        return (cell.ndim == 2 and cell.dtype == np.uint8) or (
            cell.ndim == 3 and cell.shape[-1] in (1, 3, 4)
        )
    source = _source(cell, base_dir)
    if source is None:
        return False
    try:
        with Image.open(source) as image:
            image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        return False
    return True


def _opens_as_audio(cell, base_dir):
    import soundfile

    if isinstance(cell, np.ndarray):
        return cell.ndim == 1
    if isinstance(cell, tuple):
        return len(cell) == 2 and np.ndim(cell[0]) == 1 and np.isscalar(cell[1])
    source = _source(cell, base_dir)
    if source is None:
        return False
    try:
        soundfile.info(source)
    except (soundfile.LibsndfileError, RuntimeError, OSError, TypeError):
        return False
    return True


def _opens_as_video(cell, base_dir):
    import av

    source = _source(cell, base_dir)
    if source is None:
        return False
    try:
        with av.open(source) as container:
            return len(container.streams.video) > 0
    except (av.error.FFmpegError, OSError, ValueError):
        return False


def _opens_as_signal(cell, base_dir):
    if isinstance(cell, np.ndarray):
        return cell.ndim == 2 and np.issubdtype(cell.dtype, np.number)
    if not isinstance(cell, str | os.PathLike):
        return False
    path = _source(cell, base_dir)
    extension = os.path.splitext(os.fspath(cell))[1].lower()
    if path is None or extension not in (".npy", ".csv", ".tsv"):
        return False
    try:
        if extension == ".npy":
            array = np.load(path, mmap_mode="r", allow_pickle=False)
            return array.ndim in (1, 2) and np.issubdtype(array.dtype, np.number)
        separator = "\t" if extension == ".tsv" else ","
        head = pd.read_csv(path, sep=separator, header=None, nrows=5, dtype=str)
    except (OSError, ValueError, pd.errors.ParserError):
        return False
    numeric = head.apply(pd.to_numeric, errors="coerce").notna().all(axis=1)
    # A header line may precede the numbers.
    return bool(len(head) > 1 and numeric.iloc[1:].all())
