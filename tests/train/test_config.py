"""Configuration: defaults, YAML files, key=value overrides, validation messages."""

from __future__ import annotations

import pytest

from equitens.train.config import (
    default_config,
    dump_config,
    load_config,
    parse_override,
    validate_config,
)


def test_default_config_is_valid_and_trains_mace_cg_on_embedded_data():
    config = default_config()
    validate_config(config)
    assert config["model"]["name"] == "mace"
    assert config["model"]["conv_method"] == "cg"
    assert config["data"]["train_file"] is None
    assert config["dtype"] == "float32"


def test_default_config_is_a_fresh_copy():
    default_config()["training"]["epochs"] = -5
    assert default_config()["training"]["epochs"] > 0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("training.epochs=3", (("training", "epochs"), 3)),
        ("optimizer.learning_rate=1e-3", (("optimizer", "learning_rate"), 1e-3)),
        ("optimizer.learning_rate=5E-4", (("optimizer", "learning_rate"), 5e-4)),
        ("optimizer.ema_decay=null", (("optimizer", "ema_decay"), None)),
        ("training.progress=false", (("training", "progress"), False)),
        ("name=my-run", (("name",), "my-run")),
        ("model.radial_mlp=[8, 8]", (("model", "radial_mlp"), [8, 8])),
    ],
)
def test_parse_override(text, expected):
    assert parse_override(text) == expected


@pytest.mark.parametrize("text", ["epochs", "=3", "a..b=1"])
def test_parse_override_rejects_malformed(text):
    with pytest.raises(ValueError, match="key"):
        parse_override(text)


def test_overrides_file_and_base_are_merged_in_order(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("training:\n  epochs: 7\noptimizer:\n  learning_rate: 1e-3\n")
    config = load_config(path, ["training.epochs=9"], base={"seed": 5, "training": {"epochs": 3}})
    assert config["training"]["epochs"] == 9  # override beats file beats base
    assert config["optimizer"]["learning_rate"] == 1e-3  # YAML 1e-3 read as a float
    assert config["seed"] == 5
    assert config["optimizer"]["name"] == "amsgrad"  # untouched defaults stay


def test_dump_then_load_round_trips(tmp_path):
    config = load_config(overrides=["model.lmax=1", "optimizer.ema_decay=null"])
    path = tmp_path / "config.yaml"
    path.write_text(dump_config(config))
    assert load_config(path) == config


def test_model_section_accepts_model_specific_keys():
    config = load_config(overrides=["model.radial_mlp=[16, 16]", "model.name=nequip"])
    assert config["model"]["radial_mlp"] == [16, 16]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            ["optimizer.lr=0.1"],
            "unknown configuration key 'optimizer.lr'; did you mean 'optimizer.learning_rate'",
        ),
        (["trainig.epochs=2"], "did you mean 'training'"),
        (["training.epochs=two"], "'training.epochs' must be an integer, got 'two'"),
        (["training.epochs=0"], "'training.epochs' must be a positive number, got 0"),
        (["training.epochs=2.5"], "'training.epochs' must be an integer"),
        (["optimizer.learning_rate=-1"], "'optimizer.learning_rate' must be a positive number"),
        (["optimizer.schedule=linear"], "must be one of ('constant', 'cosine', 'plateau')"),
        (["training.init_from=3"], "training.init_from must be the folder of a training run"),
        (["data.split_seed=one"], "data.split_seed must be an integer or null, got 'one'"),
        (["loss.stage_two.start=0"], "loss.stage_two.start must be null, an epoch"),
        (["loss.stage_two.start=1.5"], "a fraction of training.epochs in (0, 1), got 1.5"),
        (["loss.stage_two.learning_rate=0"], "'loss.stage_two.learning_rate' must be a positive"),
        (["training.init_atomic_energies=fit"], "must be one of ('checkpoint', 'data')"),
        (["dtype=float16"], "'dtype' must be one of ('float32', 'float64')"),
        (["model.name=schnet"], "'model.name' must be one of ('mace', 'nequip')"),
        (["training=5"], "'training' is a section; set its entries instead"),
        (["training.progress=3"], "'training.progress' must be true or false"),
        (["data.valid_fraction=0.6", "data.test_fraction=0.5"], "must be below 1"),
        (["optimizer.ema_decay=1.5"], "optimizer.ema_decay must be in (0, 1) or null"),
        (["optimizer.clip_norm=0"], "'optimizer.clip_norm' must be a positive number or null"),
        (
            ["loss.energy_weight=0", "loss.forces_weight=0", "loss.stress_weight=0"],
            "at least one of loss",
        ),
        (["resume=true"], "resume=true needs the name of the run"),
        (["name=a/b"], "name must be a plain directory name"),
    ],
)
def test_bad_values_say_what_to_fix(overrides, message):
    with pytest.raises(ValueError) as info:
        load_config(overrides=overrides)
    assert message in str(info.value)


def test_bad_files(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("training: [unclosed\n")
    with pytest.raises(ValueError, match="cannot parse .*bad.yaml as YAML"):
        load_config(bad)
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("5\n")
    with pytest.raises(ValueError, match="must be a mapping"):
        load_config(scalar)


def test_validate_rejects_missing_and_unknown_keys():
    config = default_config()
    del config["loss"]["forces_weight"]
    with pytest.raises(ValueError, match="missing the key 'loss.forces_weight'"):
        validate_config(config)
    config = default_config()
    config["extra"] = 1
    with pytest.raises(ValueError, match="unknown configuration key 'extra'"):
        validate_config(config)
