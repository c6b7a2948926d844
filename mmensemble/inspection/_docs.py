"""Docstring fragments shared by the inspection figures.

Every ``plot_*`` function ends its parameters with ``dataset_name`` and ``ax``
and returns the axes it drew on; ``%(figure)s`` documents the three, filled in
by :func:`mmensemble._docstrings.fill_doc`.
"""

__all__ = ["FIGURE_DOCS"]

FIGURE_DOCS = {
    "figure": """\
dataset_name : str, default=None
        The evaluated data set (e.g. the CSV file's name), shown under the
        title.

    ax : matplotlib Axes, default=None
        Axes to draw on; None creates a figure sized for what it draws.

    Returns
    -------
    ax : matplotlib Axes
        The axes drawn on.""",
}
