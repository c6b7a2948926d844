"""Estimator signatures that take part of their parameters from a base class.

sklearn's ``get_params`` and ``clone`` read the parameters of an estimator
from the signature of its ``__init__``. When a family of estimators shares
parameters (the runtime parameters of every cell encoder, those of a
Classifier/Regressor pair), the base class stores them and each subclass's
``__init__`` names only its own and passes the rest on as ``**params``;
:func:`inherits_parameters` then gives that ``__init__`` the full signature.
"""

import inspect

__all__ = ["inherits_parameters"]

_VARIADIC = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)


def inherits_parameters(base):
    """Complete the signature of an ``__init__`` with those of ``base``.

    Decorates an ``__init__`` that ends in ``**params`` and passes them on
    to ``base.__init__``. Its ``__signature__`` becomes its own parameters
    followed, as keyword-only parameters, by the parameters of
    ``base.__init__`` it does not name itself (a parameter it names, such as
    ``batch_size`` with a default of its own, is its own).

    Parameters
    ----------
    base : type
        The class whose ``__init__`` receives ``**params``.

    Returns
    -------
    decorator : callable
        Sets ``__signature__`` on the ``__init__`` it decorates and returns it.

    Examples
    --------
    >>> from mmensemble._signature import inherits_parameters
    >>> class Base:
    ...     def __init__(self, *, n_jobs=None, verbose=0):
    ...         self.n_jobs = n_jobs
    ...         self.verbose = verbose
    >>> class Child(Base):
    ...     @inherits_parameters(Base)
    ...     def __init__(self, alpha=1.0, **params):
    ...         super().__init__(**params)
    ...         self.alpha = alpha
    >>> import inspect
    >>> inspect.signature(Child)
    <Signature (alpha=1.0, *, n_jobs=None, verbose=0)>
    """

    def decorate(init):
        signature = inspect.signature(init)
        own = [p for p in signature.parameters.values() if p.kind not in _VARIADIC]
        named = {p.name for p in signature.parameters.values()}
        inherited = [
            p.replace(kind=inspect.Parameter.KEYWORD_ONLY)
            for p in inspect.signature(base.__init__).parameters.values()
            if p.name not in named and p.kind not in _VARIADIC
        ]
        init.__signature__ = signature.replace(parameters=[*own, *inherited])
        return init

    return decorate
