"""Column roles inferred from the data: image, audio, text, categorical, ...

:func:`infer_column_roles` looks at each column of a table and says what it
holds, with the reason, so that ``mmensemble fit`` needs no flag but the
target. A column is dropped (role ``"ignored"``) only when it is empty,
constant or an id (not media), and the reason says which; otherwise the
detectors of the role registry are tried in its order (the media roles before
the id rule) and the first that recognises the column gives its role.
"""

import os
import re

import pandas as pd

from .._exceptions import MMEnsembleError
from ..encoders._cells import missing_mask
from ._detectors import column_facts
from ._registry import REGISTRY

__all__ = ["INFERRED_ROLES", "DuplicateColumnsError", "infer_column_roles"]

#: Every role a column may get: the registry's, and ``"ignored"``.
INFERRED_ROLES = (*REGISTRY, "ignored")

# Column names that say "identifier": id, uuid, guid, key, *_id, *Id, *-id, ...
_ID_NAME = re.compile(r"(?i)(^|[_\-\s.])(id|uuid|guid|key|index)$|[a-z]Id$|^id[_\-\s]")


class DuplicateColumnsError(MMEnsembleError, ValueError):
    """A table has two columns of the same name."""


def infer_column_roles(frame, *, base_dir=None, sample=20):
    """Decide the role of every column of a table, with the reason.

    Missing cells (None, NaN, NaT) are not looked at. A column is
    ``"ignored"`` when it has no present cell, a single distinct value, or is
    an id (and not media, which is recognised first): every row has its own
    value and the values are integers that are consecutive or evenly spaced,
    or the column's name says id (``id``, ``*_id``, ``uuid``, ...), or they
    are strings of one pattern (``"SKU-0042"``: the same letters around the
    digits). Otherwise its role
    is the first of these that applies (the registry,
    :data:`~mmensemble.roles.REGISTRY`, tries the string roles before the
    categorical and tabular ones, but they decline columns with few
    distinct values or of numbers, so the outcome is as listed):

    - ``"image"``, ``"video"``, ``"audio"``, ``"signal"``: of ``sample``
      present cells taken evenly over the column, every one, or at least half
      with the others naming files that do not exist (missing files are
      missing cells), decodes as an image (PIL), a video frame (PyAV; text
      files are not video), audio (soundfile) or a numeric ``.npy``, ``.csv``
      or ``.tsv`` series. Cells may be paths (relative ones taken relative to
      ``base_dir``), raw encoded bytes, PIL images or arrays (3-D arrays and
      2-D ``uint8`` arrays are images, other 2-D arrays sensor series, 1-D
      arrays and ``(array, sr)`` tuples audio);
    - ``"categorical"``: booleans (with or without missing cells); integer
      codes or strings with few distinct values (at most 5, or at most a
      quarter of the present rows);
    - ``"tabular"``: numbers, also strings written as numbers (``"1,200"``);
    - ``"datetime"``: dates or date-times;
    - ``"tokens"``: token lists (tags, keywords, dependencies): most cells
      hold several tokens and hardly any is an English stop word;
    - ``"string"``: many distinct single tokens mostly holding digits or
      punctuation (hosts, product codes);
    - ``"text"``: other strings (free text).

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

    Raises
    ------
    DuplicateColumnsError
        When two columns of ``frame`` have the same name.

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
    ['ignored', 'categorical', 'text', 'tabular', 'ignored']
    >>> roles["reason"].iloc[0]
    'an id: 6 distinct integers, one per row, consecutive'
    """
    duplicated = sorted(
        {str(name) for name in frame.columns[frame.columns.duplicated()]}
    )
    if duplicated:
        named = ", ".join(map(repr, duplicated))
        raise DuplicateColumnsError(
            f"the table has more than one column named {named}; "
            "rename them so that every column has its own name"
        )
    base_dir = os.getcwd() if base_dir is None else os.fspath(base_dir)
    rows = [
        {"column": column, **_column_role(column, frame[column], base_dir, sample)}
        for column in frame.columns
    ]
    return pd.DataFrame(rows, columns=["column", "role", "reason"])


def roles_from_table(table):
    """Turn a role table into a role mapping: the columns of each role.

    Parameters
    ----------
    table : DataFrame
        As returned by :func:`infer_column_roles`.

    Returns
    -------
    roles : dict of str to list of str
        The columns of each role, ignored columns left out.

    Examples
    --------
    >>> import pandas as pd
    >>> from mmensemble.roles import roles_from_table
    >>> table = pd.DataFrame({"column": ["a", "b", "c"],
    ...                       "role": ["tabular", "ignored", "tabular"],
    ...                       "reason": ["", "", ""]})
    >>> roles_from_table(table)
    {'tabular': ['a', 'c']}
    """
    roles = {}
    for column, role in zip(table["column"], table["role"], strict=True):
        if role != "ignored":
            roles.setdefault(role, []).append(column)
    return roles


def _column_role(name, column, base_dir, sample):
    values = column[~missing_mask(column)]
    if len(values) == 0:
        return _role("ignored", "every cell is empty")
    facts = column_facts(name, values, len(column), base_dir=base_dir, sample=sample)
    if facts.n_distinct == 1 and facts.n_present > 1:
        return _role("ignored", f"constant: every present cell is {values.iloc[0]!r}")
    # Media first: a column of file paths may look like ids (one per row).
    media = _detected([role for role in REGISTRY.values() if role.media], facts)
    if media is not None:
        return media
    id_reason = _id_reason(facts)
    if id_reason is not None:
        return _role("ignored", id_reason)
    other = _detected([role for role in REGISTRY.values() if not role.media], facts)
    if other is not None:
        return other
    kinds = sorted({type(value).__name__ for value in values})
    return _role("ignored", f"cells of types {kinds!r}: no role recognises them")


def _detected(roles, facts):
    """The role and reason of the first of ``roles`` whose detector says yes."""
    for role in roles:
        reason = role.detect(facts)
        if reason is not None:
            return _role(role.name, reason)
    return None


def _id_reason(facts):
    """Why a column is an id, or None: one value per row, and id-like."""
    if not facts.scalar or facts.n_distinct < facts.n_present or facts.n_present < 2:
        return None
    named = _ID_NAME.search(str(facts.name)) is not None
    numbers = facts.numbers
    if numbers is not None:
        if (numbers % 1 != 0).any():
            return None
        what = f"an id: {facts.n_present} distinct integers, one per row"
        steps = numbers.sort_values().diff().iloc[1:].unique()
        if len(steps) == 1:
            return f"{what}, {'consecutive' if steps[0] == 1 else 'evenly spaced'}"
        return f"{what}, named like an id" if named else None
    if not facts.strings:
        return None
    what = f"an id: {facts.n_present} distinct strings, one per row"
    if named:
        return f"{what}, named like an id"
    patterns = facts.values.str.replace(r"\d", "9", regex=True).unique()
    if (
        len(patterns) == 1
        and re.search(r"9", patterns[0])
        and re.search(r"[^\W\d_]", patterns[0])
    ):
        return f"{what}, all of the pattern {patterns[0]!r}"
    return None


def _role(role, reason):
    return {"role": role, "reason": reason}
