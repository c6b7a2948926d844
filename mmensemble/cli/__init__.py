"""The ``mmensemble`` command line: demo, fit, predict, embed, evaluate.

The top layer: ``_recipes`` builds encoders and fusion models from column
roles (inferred by :mod:`mmensemble.roles`), ``_demo`` runs the
bundled demonstration, ``_tables`` formats text tables, ``_streams`` reads
and writes tables in chunks, ``_embed`` makes and reads back per-modality
embeddings, ``_distributed`` maps a model file over a Dask cluster, and
``_main`` parses the commands. Nothing else in the package imports from here.
"""

from ..roles import infer_column_roles
from ._distributed import embed_partitions, predict_partitions
from ._embed import embedded_modalities, read_embeddings
from ._main import main

__all__ = [
    "embed_partitions",
    "embedded_modalities",
    "infer_column_roles",
    "main",
    "predict_partitions",
    "read_embeddings",
]
