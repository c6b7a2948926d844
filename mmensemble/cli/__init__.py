"""The ``mmensemble`` command line: demo, fit, predict, evaluate.

The top layer: ``_recipes`` builds encoders and fusion models from column
roles, ``_roles`` infers the roles of a table's columns, ``_demo`` runs the
bundled demonstration, ``_tables`` formats text tables, and ``_main`` parses
the commands. Nothing else in the package imports from here.
"""

from ._main import main
from ._roles import infer_column_roles

__all__ = ["infer_column_roles", "main"]
