"""Tests for fer_utils.config: profiles as diffs, merge order, loud failures."""

import json

import pytest

from fer_utils import config


def test_profiles_only_change_known_settings_and_resolve():
    for name in config.PROFILE_NAMES:
        resolved = config.resolve(name)
        assert resolved.profile == name
        for key, value in config.PROFILES[name].items():
            assert getattr(resolved, key) == value


def test_overrides_apply_after_the_profile():
    resolved = config.resolve("quick", epochs=2, learning_rate=1)
    assert resolved.epochs == 2 and resolved.learning_rate == 1.0
    assert resolved.model == config.PROFILES["quick"]["model"]
    assert json.loads(resolved.to_json())["epochs"] == 2


@pytest.mark.parametrize("overrides, message", [
    ({"epoch": 3}, "unknown setting 'epoch'"),
    ({"epochs": "3"}, "epochs must be int"),
    ({"augment": 1}, "augment must be bool"),
    ({"epochs": True}, "epochs must be int"),
    ({"epochs": 0}, "epochs=0"),
    ({"val_fraction": 1.5}, "val_fraction"),
    ({"cutmix": 1.5}, r"cutmix=1.5: a probability"),
    ({"cutmix": -0.1}, r"cutmix=-0.1: a probability"),
])
def test_bad_overrides_fail_loudly(overrides, message):
    with pytest.raises(ValueError, match=message):
        config.resolve("quick", **overrides)


def test_unknown_profile_names_the_choices():
    with pytest.raises(ValueError, match="quick, cpu, full"):
        config.resolve("fast")


def test_parse_value_converts_command_line_text():
    assert config.parse_value("epochs", "5") == 5
    assert config.parse_value("learning_rate", "1e-3") == 0.001
    assert config.parse_value("augment", "false") is False
    assert config.parse_value("model", "seed2017") == "seed2017"
    with pytest.raises(ValueError, match="expected int"):
        config.parse_value("epochs", "five")
    with pytest.raises(ValueError, match="unknown setting"):
        config.parse_value("epoch", "5")


def test_one_parser_for_settings_and_notebook_parameters():
    from fer_utils import errors

    for text, value in (("yes", True), ("No", False), ("1", True), ("false", False)):
        assert config.parse_text("flag", text, "bool") is value
        assert config.parse_value("augment", text) is value
    assert config.parse_text("steps", "12", "int") == 12 and config.parse_text("name", "a=b", "str") == "a=b"
    with pytest.raises(errors.InputError, match="flag=maybe: expected true or false"):
        config.parse_text("flag", "maybe", "bool")
    assert config.parse_pairs(["epochs=3", " seed =1", "path=a=b"]) == {"epochs": "3", "seed": "1", "path": "a=b"}
    with pytest.raises(errors.InputError, match="expected KEY=VALUE"):
        config.parse_pairs(["epochs"])
