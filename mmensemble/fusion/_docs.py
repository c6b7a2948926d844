"""Docstring fragments shared by the model-level fusion estimators.

Filled into the docstrings of the fusion estimators (and of their methods) by
:func:`mmensemble._docstrings.fill_doc`.
"""

__all__ = ["MODEL_FUSION_DOCS"]

MODEL_FUSION_DOCS = {
    "modalities": """\
modalities : list of (str, estimator or "drop", columns)
        The modalities. ``columns`` is a column name (the estimator receives a
        1-D Series, e.g. for a ``TfidfVectorizer`` pipeline), a list of names,
        a slice, a boolean mask or a callable such as
        :func:`~sklearn.compose.make_column_selector`; with a NumPy array X,
        columns are integer positions. ``"drop"`` leaves the modality out.""",
    "on_error": """\
on_error : {"raise", "missing"}, default=None
        Policy for cells that cannot be decoded, applied to every encoder that
        has an ``on_error`` parameter (overriding its own) and to the cells of
        text modalities (a text vectorizer, alone or first in a pipeline,
        needs str cells or bytes in its encoding): ``"raise"`` raises a
        :class:`~mmensemble.CellDecodeError` naming the row and column,
        ``"missing"`` treats the cell as a missing modality (with one warning
        listing the rows). None keeps each encoder's own setting and raises on
        bad text cells.""",
    "modalities_": """\
modalities_ : list of (str, estimator, columns)
        The fitted estimators of the kept modalities and their resolved columns.

    named_modalities_ : :class:`~sklearn.utils.Bunch`
        The fitted estimators of the kept modalities by name.""",
    "estimators_": """\
estimators_ : list of estimators
        The fitted estimators of the kept modalities, each on all the training
        rows where its modality is present.""",
    "named_estimators_": """\
named_estimators_ : :class:`~sklearn.utils.Bunch`
        The fitted estimators by modality name (``"drop"`` for dropped ones).""",
    "errors_": """\
errors_ : DataFrame
        The cells found bad during ``fit`` and treated as missing, one line
        each: ``row`` (index label), ``column``, ``reason``. Empty when every
        cell could be decoded.""",
    "classes_": """\
le_ : :class:`~sklearn.preprocessing.LabelEncoder`
        Encodes the labels as the integers the estimators are fitted on.

    classes_ : ndarray of shape (n_classes,)
        The class labels.

    class_prior_ : ndarray of shape (n_classes,)
        Class frequencies in the training target: the prediction for a row with
        no modality.""",
    "n_features_in_": """\
n_features_in_ : int
        Number of columns seen during fit.

    feature_names_in_ : ndarray of shape (n_features_in_,)
        Column names seen during fit, when they are all strings.""",
    "target_mean_": """\
target_mean_ : float
        Mean of the training target: the prediction for a row with no modality.""",
    # The start of the Notes paragraph on missing modalities; each family
    # continues it with how it fits and predicts around them.
    "missing_modality": """\
Missing modalities: a modality is missing in a row when all of its cells
    are missing (None, NaN, ``pd.NA``).""",
    "bad_cells": """\
Bad cells: when a modality's estimator is a
    :class:`~sklearn.pipeline.Pipeline` that starts with a cell encoder
    (:class:`~mmensemble.ImageEncoder`, :class:`~mmensemble.TextEncoder`, any
    subclass of the encoders' base), that encoder encodes the modality's
    cells once per call, and the rest of the pipeline is fitted, and
    cross-validated for out-of-fold predictions, on the encoded rows (each
    row is encoded once, not once per fold). The encoders are pretrained, so
    the fitted pipeline is the one ``pipeline.fit`` would give.
    A cell the encoder cannot decode under ``on_error="missing"`` (its
    all-NaN output row) then makes the modality missing in that row, as a
    missing cell does, rather than reaching the model after the encoder.""",
    # A method's Parameters section, down to its X; indented for a method.
    "parameters_X": """\
Parameters
        ----------
        X : DataFrame, dict of columns or 2-D array-like
            The input table.""",
}
