"""Exception classes of mmensemble.

Every error raised on purpose by the package derives from :class:`MMEnsembleError`,
so ``except MMEnsembleError`` catches them all. Where a builtin exception type is
conventional (``ValueError`` for bad data), the package class derives from both.
"""

__all__ = [
    "BadCellWarning",
    "CellDecodeError",
    "ColumnNotFoundError",
    "MMEnsembleError",
]


class MMEnsembleError(Exception):
    """Root of every exception raised on purpose by mmensemble."""


class CellDecodeError(MMEnsembleError, ValueError):
    """A cell of the input could not be decoded into the modality's data.

    Parameters
    ----------
    row : object
        Index label of the offending row.
    column : object
        Name of the offending column.
    value : object
        The cell itself (shown abbreviated in the message).
    reason : str
        What went wrong.
    """

    def __init__(self, row, column, value, reason):
        self.row = row
        self.column = column
        self.value = value
        self.reason = reason
        super().__init__(
            f"could not decode cell at row {row!r}, column {column!r}: "
            f"{_abbreviate(value)} ({reason})"
        )

    def __reduce__(self):
        return type(self), (self.row, self.column, self.value, self.reason)


class ColumnNotFoundError(MMEnsembleError, KeyError, ValueError):
    """A column named in a modality's column spec is not in ``X``.

    A ``KeyError``, as pandas raises for an unknown column, and a
    ``ValueError``, as scikit-learn's ``ColumnTransformer`` raises.
    """

    def __str__(self):
        return str(self.args[0]) if self.args else ""


class BadCellWarning(UserWarning):
    """Cells that could not be decoded were treated as missing.

    Parameters
    ----------
    message : str
        The warning's text, which names the rows.
    errors : list of CellDecodeError, default=()
        The bad cells of the call that issued the warning (row, column,
        value, reason), so that a caller can tabulate them without any
        fitted attribute changing.
    """

    def __init__(self, message, errors=()):
        super().__init__(message)
        self.errors = list(errors)


def _abbreviate(value, width=80):
    """Return a short ``repr`` of ``value`` for error messages."""
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return f"<{type(value).__name__} shape={value.shape} dtype={value.dtype}>"
    text = repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."
