"""Shared docstring fragments, filled in where several estimators document alike.

A docstring names a fragment as ``%(name)s`` on a line of its own, indented as
the fragment's first line is meant to be; :func:`fill_doc` replaces it. The
fragments themselves live beside the estimators that share them (one dict per
family), so that the text a parameter's behaviour depends on is written once.
"""

import re

__all__ = ["fill_doc"]

_PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def fill_doc(fragments):
    """Return a class decorator filling ``%(name)s`` placeholders of a docstring.

    Parameters
    ----------
    fragments : dict of str to str
        The text of each fragment; a placeholder with no fragment is an error
        when the class is defined, not a silently broken docstring.

    Returns
    -------
    decorate : callable
        Takes a class (or function) and returns it with its docstring filled.

    Examples
    --------
    >>> @fill_doc({"seed": "random_state : int\\n        The seed."})
    ... class Model:
    ...     '''A model.
    ...
    ...     Parameters
    ...     ----------
    ...     %(seed)s
    ...     '''
    >>> print(Model.__doc__.splitlines()[4])
        random_state : int
    """

    def decorate(obj):
        obj.__doc__ = _PLACEHOLDER.sub(lambda match: fragments[match[1]], obj.__doc__)
        return obj

    return decorate
