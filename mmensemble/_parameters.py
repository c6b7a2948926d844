"""Estimator parameters declared once, as annotated class attributes.

sklearn asks an estimator's ``__init__`` to take every parameter as an
explicit keyword with a default and to do nothing but store it. Written by
hand, that names each parameter twice (in the signature and in an assignment)
and a family of estimators repeats its shared parameters in every member.
:func:`estimator_parameters` has :mod:`dataclasses` write that ``__init__``
from the annotated class attributes instead: a subclass inherits the
parameters of its base and may give one a default of its own.
"""

import dataclasses

__all__ = ["estimator_parameters"]


def estimator_parameters(cls):
    """Generate ``cls.__init__`` from its annotated class attributes.

    Each annotated class attribute (``n_mfcc: int = 20``) is a parameter: it
    appears in the signature sklearn's ``get_params`` and ``clone`` read, and
    ``__init__`` stores it as it is, with no validation (validation is
    ``fit``'s job, through ``_parameter_constraints``). The parameters are
    keyword-only unless declared with ``field(kw_only=False)``, those of the
    base classes come first, and class attributes that are not parameters
    are annotated with :class:`typing.ClassVar` or not at all. Equality,
    hashing and ``repr`` stay those of :class:`sklearn.base.BaseEstimator`.

    Parameters
    ----------
    cls : type
        An estimator class.

    Returns
    -------
    cls : type
        The same class, with its generated ``__init__``.

    Examples
    --------
    >>> import inspect
    >>> from sklearn.base import BaseEstimator
    >>> from mmensemble._parameters import estimator_parameters
    >>> @estimator_parameters
    ... class Smoother(BaseEstimator):
    ...     alpha: float = 1.0
    ...     n_jobs: int | None = None
    >>> inspect.signature(Smoother)
    <Signature (*, alpha: float = 1.0, n_jobs: int | None = None) -> None>
    >>> Smoother(alpha=0.5)
    Smoother(alpha=0.5)
    """
    return dataclasses.dataclass(
        cls, repr=False, eq=False, match_args=False, kw_only=True
    )
