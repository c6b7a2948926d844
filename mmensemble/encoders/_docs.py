"""Docstring fragments shared by the cell encoders.

Filled into the encoders' docstrings (and their ``fit``'s) by
:func:`mmensemble._docstrings.fill_doc`.
"""

__all__ = ["ENCODER_DOCS"]

ENCODER_DOCS = {
    "n_jobs": """\
n_jobs : int, default=None
        Threads decoding cells while the previous batch is embedded. ``None``
        means ``min(4, os.cpu_count())``; ``-1`` all processors.""",
    "on_error": """\
on_error : {"raise", "missing"}, default="raise"
        What a cell that cannot be decoded does: raise a
        :class:`~mmensemble.CellDecodeError` naming its row and column, or
        become a missing (all-NaN) row, with one
        :class:`~mmensemble.BadCellWarning` listing the bad cells.""",
    "verbose": """\
verbose : int, default=0
        Show a progress bar when positive (for long runs).""",
    "memory": """\
memory : str, path-like or joblib.Memory, default=None
        Directory of an on-disk embedding cache shared by processes and runs;
        None uses ``mmensemble.set_config(cache_dir=...)`` if set. Outputs are
        cached in this process in any case (see ``mmensemble.set_config``).""",
    "fingerprint_": """\
fingerprint_ : str
        Identity of this encoder's output in the embedding cache.""",
    "errors_": """\
errors_ : DataFrame
        The cells ``fit_transform`` could not decode under
        ``on_error="missing"`` (columns ``row``, ``column``, ``reason``).
        ``transform`` leaves it unchanged and reports its bad cells by a
        :class:`~mmensemble.BadCellWarning`.""",
    "max_duration": """\
max_duration : float or None, default=600.0
        Longest clip accepted, in seconds (checked before resampling, and for
        files before reading them). A longer clip is a bad cell: it raises a
        :class:`~mmensemble.CellDecodeError`, or becomes missing with
        ``on_error="missing"``. ``None`` accepts any duration.""",
    "n_features_in_": """\
n_features_in_ : int
        1, when ``X`` was a one-column DataFrame during ``fit``.

    feature_names_in_ : ndarray of shape (1,)
        The column name, when ``X`` was a one-column DataFrame during ``fit``.""",
    # The end of the docstring of a function that exports an ONNX graph.
    "onnx_graph": """\
Returns
    -------
    graph : bytes
        The serialised ONNX model.

    Raises
    ------
    ExportError
        When ``model`` cannot be exported to ONNX.""",
    # Method sections, indented for a method's docstring.
    "fit": """\
Parameters
        ----------
        X : Series, single-column DataFrame, list or ndarray of cells
            The column to encode (used only for its name).
        y : None
            Ignored.

        Returns
        -------
        self : object
            The fitted encoder.""",
}
# The last three parameters of every encoder, for one that adds nothing to them.
ENCODER_DOCS["on_error_verbose_memory"] = "\n\n    ".join(
    ENCODER_DOCS[name] for name in ("on_error", "verbose", "memory")
)
