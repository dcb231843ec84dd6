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
    assert resolved.to_dict()["epochs"] == 2


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


@pytest.mark.parametrize("key, text", [
    ("learning_rate", "0"), ("learning_rate", "-1e-3"), ("learning_rate", "nan"), ("learning_rate", "inf"),
    ("weight_decay", "-0.01"), ("weight_decay", "nan"), ("weight_decay", "inf"),
    ("label_smoothing", "1"), ("label_smoothing", "-0.1"), ("label_smoothing", "nan"),
    ("warmup_epochs", "-1"), ("warmup_epochs", "inf"), ("warmup_epochs", "nan"),
    ("time_budget", "nan"), ("time_budget", "inf"), ("time_budget", "-1"),
    ("dnn_time_budget", "nan"), ("dnn_time_budget", "inf"), ("dnn_time_budget", "-0.5"),
    ("rotation", "0.6"), ("rotation", "-0.1"), ("rotation", "nan"),
    ("shift", "1"), ("shift", "-0.1"), ("shift", "inf"),
    ("zoom", "1"), ("zoom", "-0.1"), ("zoom", "nan"),
    ("patience", "0"), ("patience", "-3"),
    ("seed", "-1"), ("seed", str(2**40)), ("seed", str(2**32)),
    ("split_seed", "-1"), ("split_seed", str(2**32)),
    ("ensemble", "0"), ("ensemble", "51"), ("ensemble", "1000000"),
    ("val_fraction", "nan"), ("erasing", "nan"), ("cutmix", "inf"), ("average_tail", "nan"),
])
def test_settings_out_of_range_are_refused_naming_the_setting_and_its_range(key, text):
    from fer_utils import errors

    value = config.parse_value(key, text)  # the command line's path: --param key=text
    with pytest.raises(errors.InputError, match=rf"^{key}={value}: .*must be") as refused:
        config.resolve("quick", **{key: value})
    assert "\n" not in str(refused.value)


def test_the_message_gives_the_allowed_range():
    from fer_utils import errors

    for overrides, message in (({"learning_rate": 0.0}, "learning_rate=0.0: must be > 0"),
                               ({"label_smoothing": 1.0}, "label_smoothing=1.0: must be in [0, 1)"),
                               ({"time_budget": float("inf")}, "time_budget=inf: must be a finite number"),
                               ({"seed": -1}, f"seed=-1: must be in [0, {2**32 - 1}]"),
                               ({"ensemble": 1000000}, f"ensemble=1000000: must be in [1, {config.MAX_ENSEMBLE}]"),
                               ({"patience": 0}, "patience=0: must be >= 1")):
        with pytest.raises(errors.InputError) as refused:
            config.resolve("quick", **overrides)
        assert str(refused.value).startswith(message), str(refused.value)


def test_an_ensembles_last_seed_must_be_a_seed_too():
    from fer_utils import errors

    assert config.resolve("quick", seed=2**32 - 1).seed == 2**32 - 1
    assert config.resolve("quick", seed=2**32 - 2, ensemble=2).ensemble == 2
    with pytest.raises(errors.InputError, match="seed=4294967295 with ensemble=2"):
        config.resolve("quick", seed=2**32 - 1, ensemble=2)


@pytest.mark.parametrize("overrides", [
    {"learning_rate": 1e-6}, {"weight_decay": 0.0}, {"label_smoothing": 0.0}, {"label_smoothing": 0.3},
    {"warmup_epochs": 0.0}, {"time_budget": 0.0}, {"dnn_time_budget": 120.0}, {"rotation": 0.5}, {"rotation": 0.0},
    {"shift": 0.0}, {"zoom": 0.5}, {"patience": 1}, {"seed": 0}, {"split_seed": 2**32 - 1},
    {"ensemble": 1}, {"ensemble": 50},
])
def test_values_at_the_edges_of_their_ranges_are_accepted(overrides):
    resolved = config.resolve("quick", **overrides)
    assert all(getattr(resolved, key) == value for key, value in overrides.items())


def test_every_profile_is_inside_the_ranges():
    for name in config.PROFILE_NAMES:
        json.loads(json.dumps(config.resolve(name).to_dict(), allow_nan=False))


def test_run_files_refuse_numbers_json_cannot_hold(tmp_path):
    from fer_utils import runs

    for bad in (float("nan"), float("inf"), -float("inf")):
        with pytest.raises(ValueError):
            runs.write_json(tmp_path / "config.json", {"time_budget": bad})
        assert not (tmp_path / "config.json").exists()
    runs.write_json(tmp_path / "config.json", {"time_budget": 1.5})
    assert json.loads((tmp_path / "config.json").read_text()) == {"time_budget": 1.5}
