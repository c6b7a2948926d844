"""The error a command ends with when the user can fix its cause."""

from .._exceptions import MMEnsembleError

__all__ = ["CommandError"]


class CommandError(MMEnsembleError):
    """A command cannot run with the given arguments, files or columns."""
