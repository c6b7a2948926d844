"""Estimator parameters declared as annotated class attributes."""

import inspect
from dataclasses import field
from typing import ClassVar

import numpy as np
import pytest
from sklearn.base import BaseEstimator, clone

import mmensemble
from mmensemble._parameters import estimator_parameters
from mmensemble.encoders._base import BaseCellEncoder

ESTIMATORS = sorted(
    (
        obj
        for obj in (getattr(mmensemble, name) for name in mmensemble.__all__)
        if isinstance(obj, type) and issubclass(obj, BaseEstimator)
    ),
    key=lambda cls: cls.__name__,
)
ENCODERS = [cls for cls in ESTIMATORS if issubclass(cls, BaseCellEncoder)]


@estimator_parameters
class Base(BaseEstimator):
    _parameter_constraints: ClassVar[dict] = {}
    first: list = field(kw_only=False)
    shared: int = 1
    common: str = "a"


@estimator_parameters
class Child(Base):
    own: float = 2.0
    shared: int = 3  # a default of its own


def test_parameters_are_the_annotated_class_attributes():
    parameters = inspect.signature(Child).parameters
    assert list(parameters) == ["first", "shared", "common", "own"]
    assert parameters["first"].kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
    assert parameters["own"].kind is inspect.Parameter.KEYWORD_ONLY
    assert parameters["shared"].default == 3
    assert "_parameter_constraints" not in parameters


def test_init_stores_the_values_as_they_are_and_keeps_sklearn_behaviour():
    values = [np.zeros(2)]
    child = Child(values, own=0.5)
    assert child.first is values
    assert child.get_params() == {
        "first": values,
        "shared": 3,
        "common": "a",
        "own": 0.5,
    }
    assert repr(child) == "Child(first=[array([0., 0.])], own=0.5)"
    assert child != Child(values, own=0.5)  # identity, as for any estimator
    assert hash(child) != hash(Child(values))
    twin = clone(child)
    assert twin.get_params()["own"] == 0.5 and twin.first is not values


def test_estimators_are_found():
    assert len(ESTIMATORS) >= 15 and len(ENCODERS) == 6


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=lambda cls: cls.__name__)
def test_every_parameter_is_validated(estimator):
    names = set(inspect.signature(estimator).parameters)
    assert names == set(estimator._parameter_constraints)


@pytest.mark.parametrize("encoder", ENCODERS, ids=lambda cls: cls.__name__)
def test_encoders_share_the_runtime_parameters_with_their_own_batch_size(encoder):
    parameters = inspect.signature(encoder).parameters
    runtime = {"n_jobs": None, "on_error": "raise", "verbose": 0, "memory": None}
    assert {name: parameters[name].default for name in runtime} == runtime
    made = encoder(on_error="missing", verbose=1, batch_size=3, memory="cache")
    assert clone(made).get_params() == made.get_params()
    assert made.get_params()["on_error"] == "missing"
    assert encoder().batch_size == parameters["batch_size"].default
