"""The role registry is the one place roles are defined."""

from pathlib import Path

from mmensemble.cli._main import _parser
from mmensemble.fusion._defaults import ROLES as DEFAULT_ROLES
from mmensemble.fusion._defaults import default_encoder, default_modality_model
from mmensemble.roles import REGISTRY, ROLES, role_docs

README = Path(__file__).parents[2] / "README.md"


def test_defaults_and_cli_take_the_registry_roles():
    assert DEFAULT_ROLES == ROLES
    fit = _parser()._subparsers._group_actions[0].choices["fit"]
    flags = {option for action in fit._actions for option in action.option_strings}
    for role in REGISTRY.values():
        assert f"--{role.name}" in flags
        if role.encoder_option is not None:
            assert f"--{role.name}-encoder" in flags


def test_every_role_builds_its_encoders_and_model():
    for role in REGISTRY.values():
        for name, entry in role.encoders.items():
            option = {role.encoder_option: name} if role.encoder_option else {}
            encoder = default_encoder(role.name, **option)
            assert type(encoder) is type(entry.build(sr=16000, image_size=None))
            model = default_modality_model(role.name, **option)
            assert (type(model[1]).__name__ == "StandardScaler") is entry.standardised


def test_readme_lists_the_registry_roles():
    text = README.read_text()
    block = text.split("<!-- roles -->\n")[1].split("\n<!-- /roles -->")[0]
    assert block.splitlines() == role_docs()
