"""Column roles: what a column holds, how it is recognised and encoded.

One table, :data:`REGISTRY` (``_registry``), says for every role its detector,
its encoder(s), whether their output is standardised before a linear head,
its command-line flag and its line of documentation; the fusion defaults, the
column-role inference (``_infer``), the command line and the docs all read
it. This layer sits between :mod:`~mmensemble.encoders` and
:mod:`~mmensemble.fusion`.
"""

from ._infer import infer_column_roles, roles_from_table
from ._registry import REGISTRY, ROLES, Role, RoleEncoder, role_docs

__all__ = [
    "REGISTRY",
    "ROLES",
    "Role",
    "RoleEncoder",
    "infer_column_roles",
    "role_docs",
    "roles_from_table",
]
