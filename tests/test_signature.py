"""Estimators whose ``__init__`` takes part of its parameters from a base class."""

import inspect

import pytest
from sklearn.base import clone

from mmensemble import (
    FusionNetClassifier,
    ImageEncoder,
    MFCCEncoder,
    ModalityStackingClassifier,
    ModalityVotingClassifier,
    SignalEncoder,
    TextEncoder,
    VideoEncoder,
    WhisperEncoder,
)
from mmensemble._signature import inherits_parameters
from mmensemble.fusion._fusion_net import _BaseFusionNet
from mmensemble.fusion._stacking import _BaseModalityStacking
from mmensemble.fusion._voting import _BaseModalityVoting

ENCODERS = [
    ImageEncoder,
    MFCCEncoder,
    TextEncoder,
    WhisperEncoder,
    VideoEncoder,
    SignalEncoder,
]
RUNTIME = {"n_jobs": None, "on_error": "raise", "verbose": 0, "memory": None}


class Base:
    def __init__(self, first, *, shared=1, common="a"):
        self.first = first
        self.shared = shared
        self.common = common


class Child(Base):
    @inherits_parameters(Base)
    def __init__(self, first, *, own=2, shared=3, **params):
        super().__init__(first, shared=shared, **params)
        self.own = own


def test_signature_is_own_parameters_then_the_base_ones_it_does_not_name():
    parameters = inspect.signature(Child).parameters
    assert list(parameters) == ["first", "own", "shared", "common"]
    assert parameters["shared"].default == 3  # the subclass's own default
    assert parameters["common"].kind is inspect.Parameter.KEYWORD_ONLY


@pytest.mark.parametrize("encoder", ENCODERS, ids=lambda cls: cls.__name__)
def test_encoders_take_the_runtime_parameters_of_the_base(encoder):
    parameters = inspect.signature(encoder).parameters
    assert {name: parameters[name].default for name in RUNTIME} == RUNTIME
    assert list(parameters)[-5:] == ["batch_size", *RUNTIME]
    assert not any(p.kind is p.VAR_KEYWORD for p in parameters.values())

    made = encoder(on_error="missing", verbose=1, batch_size=3, memory="cache")
    params = made.get_params()
    assert params["on_error"] == "missing" and params["verbose"] == 1
    assert params["batch_size"] == 3 and params["memory"] == "cache"
    assert clone(made).get_params() == params
    # each encoder keeps a batch size default of its own
    assert encoder().batch_size == parameters["batch_size"].default


@pytest.mark.parametrize(
    ("estimator", "base", "own"),
    [
        (
            ModalityVotingClassifier,
            _BaseModalityVoting,
            {"voting": "hard", "flatten_transform": True},
        ),
        (ModalityStackingClassifier, _BaseModalityStacking, {"stack_method": "auto"}),
        (FusionNetClassifier, _BaseFusionNet, {"class_weight": None}),
    ],
    ids=["voting", "stacking", "net"],
)
def test_classifiers_add_their_own_parameters_to_the_shared_ones(estimator, base, own):
    parameters = inspect.signature(estimator).parameters
    shared = list(inspect.signature(base).parameters)
    assert list(parameters) == [shared[0], *own, *shared[1:]]
    assert {name: parameters[name].default for name in own} == own
    made = estimator([], on_error="missing", **own)
    params = made.get_params(deep=False)
    assert params["on_error"] == "missing"
    assert clone(made).get_params(deep=False) == params
