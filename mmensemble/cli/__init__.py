"""The ``mmensemble`` command line: demo, fit, predict, evaluate.

The top layer: ``_recipes`` builds encoders and fusion models from column
roles (inferred by :mod:`mmensemble.roles`), ``_demo`` runs the
bundled demonstration, ``_tables`` formats text tables, and ``_main`` parses
the commands. Nothing else in the package imports from here.
"""

from ..roles import infer_column_roles
from ._main import main

__all__ = ["infer_column_roles", "main"]
