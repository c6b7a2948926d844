"""How each role recognises a column: one detector per role.

A detector takes the :class:`ColumnFacts` of a column (its present cells and
what is known about them) and returns the reason the column has its role, or
None. Media detectors open a sample of the cells: a cell counts when it
decodes (an image verifies, a video stream gives a frame, audio has a
readable header, a sensor file holds numbers), not when a container merely
opens. The registry (``_registry``) lists them in the order they are tried.
"""

import io
import numbers
import os
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

__all__ = ["ColumnFacts", "column_facts", "missing_files", "parse_numbers"]

# A string column with at most this many distinct values, or this share of
# its present rows (each value in four rows or more on average), is
# categorical; integers are codes under the same bounds.
MAX_CATEGORIES = 5
MAX_CATEGORY_SHARE = 0.25
# A cell longer than this is not taken for a file path.
_MAX_PATH_LENGTH = 4096
# A number as people write it: optional sign, thousands groups, decimals.
_WRITTEN_NUMBER = re.compile(r"[+-]?(\d{1,3}(,\d{3})+|\d+)(\.\d+)?")
# Words split on whitespace and list separators.
_TOKEN_SEPARATORS = re.compile(r"[\s,;|]+")
# A token list: at most this share of its words are English stop words
# (prose has a third or more), and at least this share of its cells hold two
# tokens or more.
_MAX_STOP_WORD_SHARE = 0.02
_MIN_MULTI_TOKEN_SHARE = 0.5


@dataclass(frozen=True)
class ColumnFacts:
    """What the detectors know of one column.

    Attributes
    ----------
    name : str
        The column's name.
    values : Series
        Its present cells.
    n_rows : int
        Rows of the table, missing cells included.
    n_distinct : int
        Distinct present values (every cell counts as distinct when the
        cells are not strings, numbers or booleans).
    scalar : bool
        Whether every present cell is a str or a number (not a bool).
    numbers : Series or None
        The cells as floats when every one is a number or a string written
        as one (``"1,200"`` included); None otherwise.
    base_dir : str
        Folder of relative paths.
    sample : int
        How many present cells the media detectors open.
    """

    name: str
    values: pd.Series
    n_rows: int
    n_distinct: int
    scalar: bool
    numbers: pd.Series | None
    base_dir: str
    sample: int

    @property
    def n_present(self):
        return len(self.values)

    @property
    def empty_note(self):
        """``", 3 empty"`` when some cells are missing, else ``""``."""
        n_empty = self.n_rows - self.n_present
        return f", {n_empty} empty" if n_empty else ""

    @property
    def strings(self):
        """Whether every present cell is a str."""
        return all(isinstance(value, str) for value in self.values)

    @property
    def few_distinct(self):
        """At most 5 distinct values, or at most a quarter of the present rows."""
        return self.n_distinct <= max(
            MAX_CATEGORIES, MAX_CATEGORY_SHARE * self.n_present
        )


def column_facts(name, values, n_rows, *, base_dir, sample):
    """The :class:`ColumnFacts` of a column's present cells."""
    hashable = all(isinstance(value, str | numbers.Number) for value in values)
    scalar = hashable and not any(isinstance(value, bool) for value in values)
    return ColumnFacts(
        name=name,
        values=values,
        n_rows=n_rows,
        n_distinct=values.nunique() if hashable else len(values),
        scalar=scalar,
        numbers=parse_numbers(values) if scalar else None,
        base_dir=base_dir,
        sample=sample,
    )


def parse_numbers(values):
    """The cells as floats, thousands separators removed; None if one is not.

    Parameters
    ----------
    values : Series
        Present cells (numbers or strings).

    Returns
    -------
    numbers : Series of float or None

    Examples
    --------
    >>> import pandas as pd
    >>> from mmensemble.roles._detectors import parse_numbers
    >>> parse_numbers(pd.Series(["1,200", "35", "-2.5"])).tolist()
    [1200.0, 35.0, -2.5]
    >>> parse_numbers(pd.Series(["1,2", "3"])) is None
    True
    """
    if pd.api.types.is_numeric_dtype(values.dtype) and values.dtype != bool:
        return values.astype(np.float64)
    texts = values.map(lambda value: value.strip() if isinstance(value, str) else "")
    written = texts.map(lambda text: _WRITTEN_NUMBER.fullmatch(text) is not None)
    plain = values.map(lambda value: isinstance(value, numbers.Number))
    plain &= ~values.map(lambda value: isinstance(value, bool))
    if not (written | plain).all():
        return None
    parsed = pd.to_numeric(
        texts.str.replace(",", "", regex=False).where(written, values),
        errors="coerce",
    )
    return None if parsed.isna().any() else parsed.astype(np.float64)


# -- media --------------------------------------------------------------------


def media_detector(role, opens):
    """A detector for a media role: most sampled cells open, the rest are absent.

    A column is of the media role when every sampled cell opens as it, or
    when at least half do and every other one is a path to a file that does
    not exist (a missing file is a missing cell, reported).
    """

    def detect(facts):
        positions = np.unique(
            np.linspace(0, facts.n_present - 1, min(facts.sample, facts.n_present))
        )
        cells = [facts.values.iloc[int(position)] for position in positions]
        opened = [opens(cell, facts.base_dir) for cell in cells]
        what = "files" if isinstance(cells[0], str) else "cells"
        present = f"({facts.n_present} present)"
        if all(opened):
            return f"all {len(cells)} sampled {what} open as {role} {present}"
        absent = [
            cell
            for cell, ok in zip(cells, opened, strict=True)
            if not ok and _absent_file(cell, facts.base_dir)
        ]
        n_open = sum(opened)
        if 2 * n_open < len(cells) or n_open + len(absent) < len(cells):
            return None
        return (
            f"{n_open} of {len(cells)} sampled files open as {role}, "
            f"{len(absent)} do not exist (e.g. {absent[0]!r}): missing files are "
            f"missing cells {present}"
        )

    detect.__name__ = f"detect_{role}"
    return detect


def missing_files(values, base_dir):
    """The index labels of the path cells whose file does not exist.

    Parameters
    ----------
    values : Series
        A media column.
    base_dir : str
        Folder of relative paths.

    Returns
    -------
    rows : list
    """
    return [
        row
        for row, cell in values.items()
        if isinstance(cell, str) and _absent_file(cell, base_dir)
    ]


def _absent_file(cell, base_dir):
    if not isinstance(cell, str | os.PathLike):
        return False
    path = os.fspath(cell)
    if not path or len(path) > _MAX_PATH_LENGTH or "\n" in path:
        return False
    return not os.path.exists(os.path.join(base_dir, path))


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


def opens_as_image(cell, base_dir):
    """Whether a cell is an image: a PIL image, pixels, or a file PIL verifies."""
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


def opens_as_audio(cell, base_dir):
    """Whether a cell is audio: a 1-D array, ``(array, sr)``, or a sound file."""
    import soundfile

    if isinstance(cell, np.ndarray):
        return cell.ndim == 1
    if isinstance(cell, tuple):
        return len(cell) == 2 and np.ndim(cell[0]) == 1 and np.isscalar(cell[1])
    source = _source(cell, base_dir)
    if source is None:
        return False
    try:
        info = soundfile.info(source)
    except (soundfile.LibsndfileError, RuntimeError, OSError, TypeError):
        return False
    return info.frames > 0


def opens_as_video(cell, base_dir):
    """Whether a cell is a video: the video encoder's checks pass, a frame decodes.

    Text files and still images, which FFmpeg opens too, are refused
    (:func:`~mmensemble.encoders._video_io.check_video_container`).
    """
    import av

    from ..encoders._video_io import open_video, video_stream

    source = cell if isinstance(cell, bytes) else _source(cell, base_dir)
    if source is None:
        return False
    try:
        with open_video(source) as container:
            stream = video_stream(container)
            return next(container.decode(stream), None) is not None
    except (av.error.FFmpegError, OSError, ValueError):
        return False


def opens_as_signal(cell, base_dir):
    """Whether a cell is a sensor series: a numeric 2-D array or NPY/CSV/TSV file."""
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


# -- the other columns ----------------------------------------------------------


def detect_categorical(facts):
    """Booleans; integer codes with few values; strings with few values."""
    kinds = {type(value) for value in facts.values}
    if kinds <= {bool, np.bool_}:
        return f"booleans ({facts.n_distinct} values{facts.empty_note})"
    if not facts.scalar or not facts.few_distinct:
        return None
    if facts.numbers is not None:
        if (facts.numbers % 1 != 0).any():
            return None
        return (
            f"integer codes: {facts.n_distinct} distinct values in "
            f"{facts.n_present} rows{facts.empty_note}"
        )
    if not facts.strings:
        return None
    return (
        f"{facts.n_distinct} distinct strings in {facts.n_present} rows"
        f"{facts.empty_note}"
    )


def detect_numbers(facts):
    """Numbers, also when written with thousands separators."""
    if facts.numbers is None:
        return None
    written = facts.strings and facts.values.str.contains(",", regex=False).any()
    how = ", written with thousands separators" if written else ""
    return f"numbers ({facts.n_distinct} distinct{how}{facts.empty_note})"


def detect_datetime(facts):
    """Dates or date-times (datetime cells, or strings that all parse as dates)."""
    if pd.api.types.is_datetime64_any_dtype(facts.values.dtype):
        return f"date-times ({facts.n_distinct} distinct{facts.empty_note})"
    if facts.numbers is not None or facts.few_distinct or not facts.strings:
        return None
    if not facts.values.str.contains(r"\d[-/.:]\d").all():
        return None
    import skrub

    parsed = skrub.ToDatetime().fit_transform(facts.values.rename(facts.name))
    if parsed.isna().any():
        return None
    return f"dates ({facts.n_distinct} distinct strings{facts.empty_note})"


def detect_tokens(facts):
    """Lists of short tokens (tags, keywords, dependencies), not prose."""
    if not facts.strings or facts.few_distinct or facts.numbers is not None:
        return None
    cells = [_TOKEN_SEPARATORS.split(value.strip().lower()) for value in facts.values]
    words = [word for cell in cells for word in cell if word]
    if not words:
        return None
    stop_share = sum(word in ENGLISH_STOP_WORDS for word in words) / len(words)
    multi_share = np.mean([len(cell) > 1 for cell in cells])
    if stop_share > _MAX_STOP_WORD_SHARE or multi_share < _MIN_MULTI_TOKEN_SHARE:
        return None
    return (
        f"token lists: {len(words) / len(cells):.1f} tokens a row, "
        f"{len(set(words))} distinct, {100 * stop_share:.0f}% stop words"
        f"{facts.empty_note}"
    )


def detect_string(facts):
    """High-cardinality codes, hosts or names: single tokens with non-letters."""
    if facts.few_distinct or not facts.strings or facts.numbers is not None:
        return None
    if facts.values.str.contains(r"\s").any():
        return None
    coded = facts.values.str.contains(r"[\d._/:@-]").mean()
    if coded < 0.5:
        return None
    return (
        f"{facts.n_distinct} distinct codes or names in {facts.n_present} rows "
        f"({100 * coded:.0f}% hold digits or punctuation){facts.empty_note}"
    )


def detect_text(facts):
    """Other strings, with many distinct values: free text."""
    if not facts.strings or facts.few_distinct or facts.numbers is not None:
        return None
    return (
        f"{facts.n_distinct} distinct strings in {facts.n_present} rows, "
        f"{facts.values.str.len().mean():.0f} characters on average"
        f"{facts.empty_note}"
    )
