"""Per-modality embeddings: the table ``mmensemble embed`` writes, read back.

Each modality whose model starts with a cell encoder (image, audio, video,
signal, sentence embeddings: the expensive, pretrained ones) becomes the
columns ``<modality>__0``, ``<modality>__1``, ... (``float32``, NaN where the
modality is missing or its cell could not be decoded) and
``<modality>__missing`` (True there); the other modalities (numbers,
categories, TF-IDF texts, whose encoders are fitted on the training rows and
cost little) keep their columns as they are. This is the table automatic
fusion fits its methods on (:class:`~mmensemble.AutoFusionClassifier`
encodes each cell once the same way), so :func:`embedded_modalities` turns
the modality triples of any fusion estimator into triples over it, and
fitting on the embeddings gives the model fitting on the cells would.
"""

import re

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from ..fusion._auto import _embedding_frame
from ..fusion._defaults import default_encoder
from ..fusion._plumbing import encode, modality_encoder, modality_rows
from ._errors import CommandError
from ._recipes import modalities
from ._streams import table_chunks

__all__ = [
    "default_encoders",
    "embed_rows",
    "embedded_modalities",
    "embedding_columns",
    "model_encoders",
    "read_embeddings",
]


def model_encoders(estimator):
    """The fitted cell encoder of every modality of a fitted fusion estimator.

    Parameters
    ----------
    estimator : estimator
        A fitted fusion estimator, or a pipeline starting with one (early
        fusion: ``FeatureFusion`` then a head).

    Returns
    -------
    encoders : list of (str, BaseCellEncoder or None, columns)
        Each modality's name, fitted cell encoder (None when its model does
        not start with one) and columns.
    """
    holder = estimator[0] if isinstance(estimator, Pipeline) else estimator
    if not hasattr(holder, "modalities_"):
        raise CommandError(
            f"a {type(estimator).__name__} has no fitted modalities to take the "
            "encoders from"
        )
    return [
        (name, modality_encoder(model), columns)
        for name, model, columns in holder.modalities_
    ]


def default_encoders(roles, frame, **options):
    """The default encoder of each modality of ``roles``, fitted on ``frame``.

    Parameters
    ----------
    roles : dict of str to str or list of str
        Checked column(s) of each role.
    frame : DataFrame
        Rows to fit the cell encoders on (they are pretrained: fitting sets
        their output width and loads their weights).
    **options
        ``text_encoder``, ``audio_encoder``, ``sr``, ``image_size`` of
        :func:`~mmensemble.default_encoder`.

    Returns
    -------
    encoders : list of (str, BaseCellEncoder or None, columns)
        As :func:`model_encoders` returns them.
    """
    encoders = []
    for name, role, columns in modalities(roles):
        encoder = modality_encoder(default_encoder(role, **options))
        if encoder is not None:
            cells, missing, _ = modality_rows(
                name, frame, columns, encoder, None, fit=True
            )
            encoder.fit(cells[~missing])
        encoders.append((name, encoder, columns))
    return encoders


def embed_rows(encoders, keep, frame):
    """The embeddings table of some rows.

    Parameters
    ----------
    encoders : list of (str, BaseCellEncoder or None, columns)
        As :func:`model_encoders` returns them.
    keep : list of str
        Further columns of ``frame`` copied as they are (e.g. the target).
    frame : DataFrame
        The rows.

    Returns
    -------
    table : DataFrame
        ``id`` when ``frame`` has it, then each modality's embedding columns
        and missing mask (or its own columns), then ``keep``; the index of
        ``frame``.
    """
    parts, taken = [], set()

    def take(columns):
        new = [column for column in columns if column not in taken]
        taken.update(new)
        if new:
            parts.append(frame[new])

    if "id" in frame.columns:
        take(["id"])
    for name, encoder, columns in encoders:
        if encoder is None:
            take(np.atleast_1d(columns).tolist())
            continue
        cells, missing, _ = modality_rows(
            name, frame, columns, encoder, None, fit=False
        )
        encoded, missing = encode(
            name, encoder, cells, missing, encoder.n_features_out_
        )
        block = _embedding_frame(name, encoded, missing, frame.index)
        block[f"{name}__missing"] = missing
        parts.append(block)
    take(keep)
    return pd.concat(parts, axis=1)


def embedding_columns(frame, name):
    """The embedding columns ``<name>__0``, ``<name>__1``, ... of ``frame``."""
    pattern = re.compile(rf"{re.escape(name)}__(\d+)")
    found = [
        (int(match.group(1)), column)
        for column in frame.columns
        if (match := pattern.fullmatch(str(column)))
    ]
    return [column for _, column in sorted(found)]


def read_embeddings(path):
    """Read a table written by ``mmensemble embed``.

    Parameters
    ----------
    path : str
        The ``.parquet`` or ``.csv`` file.

    Returns
    -------
    embeddings : DataFrame
        Its columns, the embedding columns as ``float32`` (what the encoders
        returned) and the missing masks as bool; indexed by the ``row``
        column when the file has one (row numbers of the embedded table).

    See Also
    --------
    embedded_modalities : The modality triples of a fusion estimator over it.
    """
    frame = pd.concat(table_chunks(path, {}), ignore_index=True)
    masks = [column for column in frame.columns if str(column).endswith("__missing")]
    frame[masks] = frame[masks].astype(bool)
    floats = [
        column for column in frame.columns if re.fullmatch(r".+__\d+", str(column))
    ]
    frame[floats] = frame[floats].astype(np.float32)
    if "row" in frame.columns:
        frame = frame.set_index("row")
    return frame


def embedded_modalities(modalities, embeddings):
    """Modality triples over an embeddings table, instead of over the cells.

    Parameters
    ----------
    modalities : list of (str, estimator, columns)
        The triples of a fusion estimator over the raw table, named as the
        modalities of the model (or the roles) the embeddings were made with.
    embeddings : DataFrame
        The table of :func:`read_embeddings`.

    Returns
    -------
    modalities : list of (str, estimator, list of str)
        A modality whose estimator is (or starts with) a cell encoder takes
        its embedding columns with the rest of its pipeline (``"passthrough"``
        for a bare encoder); the others are unchanged.

    Examples
    --------
    >>> import pandas as pd
    >>> from mmensemble import ImageEncoder
    >>> from mmensemble.cli import embedded_modalities
    >>> X = pd.DataFrame({"image__0": [0.5], "image__1": [0.25],
    ...                   "image__missing": [False], "age": [3.0]})
    >>> image, age = embedded_modalities([("image", ImageEncoder(), "photo"),
    ...                                   ("age", "passthrough", ["age"])], X)
    >>> image
    ('image', 'passthrough', ['image__0', 'image__1'])
    >>> age
    ('age', 'passthrough', ['age'])
    """
    triples = []
    for name, model, columns in modalities:
        if modality_encoder(model) is None:
            triples.append((name, model, columns))
            continue
        embedded = embedding_columns(embeddings, name)
        if not embedded:
            raise ValueError(
                f"the embeddings have no column {name}__0, ...: modality {name!r} "
                "was not embedded (the modalities are named as those of the model, "
                "or the roles, they were made with)"
            )
        rest = model[1:] if isinstance(model, Pipeline) else "passthrough"
        triples.append((name, rest, embedded))
    return triples
