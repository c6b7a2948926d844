"""Plain-text tables for the command line."""

__all__ = ["format_table"]


def format_table(frame, formats):
    """Format a DataFrame as a plain-text table, its index as the first column.

    Parameters
    ----------
    frame : DataFrame
        The rows; the index (named by ``frame.index.name``) labels them.
    formats : dict of str to (str, str)
        Header and format spec of each column to show, e.g.
        ``{"macro_f1": ("macro-F1", ".3f")}``.

    Returns
    -------
    table : str
        Left-aligned labels, right-aligned values, two spaces between columns.

    Examples
    --------
    >>> import pandas as pd
    >>> scores = pd.DataFrame({"accuracy": [0.91, 0.875]},
    ...                       index=pd.Index(["voting", "stacking"], name="method"))
    >>> print(format_table(scores, {"accuracy": ("accuracy", ".2f")}))
    method    accuracy
    voting        0.91
    stacking      0.88
    """
    labels = [str(label) for label in frame.index]
    header = [frame.index.name or ""]
    header.extend(title for title, _ in formats.values())
    cells = [
        [label] + [format(row[column], spec) for column, (_, spec) in formats.items()]
        for label, (_, row) in zip(labels, frame.iterrows(), strict=True)
    ]
    widths = [
        max(len(line[i]) for line in [header, *cells]) for i in range(len(header))
    ]
    lines = [
        "  ".join(
            [line[0].ljust(widths[0])]
            + [
                cell.rjust(width)
                for cell, width in zip(line[1:], widths[1:], strict=True)
            ]
        )
        for line in [header, *cells]
    ]
    return "\n".join(lines)
