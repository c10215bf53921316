"""One source of model defaults: the model classes; build_model, equitens train and docs agree."""

from __future__ import annotations

import pathlib
import re

import pytest
import yaml

from equitens.models import (
    MACE,
    MACE_DEFAULTS,
    NEQUIP_DEFAULTS,
    NequIP,
    build_model,
    model_defaults,
)
from equitens.train.config import default_config, load_config

DOCS = pathlib.Path(__file__).resolve().parents[2] / "docs" / "guide"
DEFAULT_YAML = pathlib.Path(__file__).resolve().parents[2] / "equitens" / "train" / "default.yaml"
MODELS = {"mace": (MACE, MACE_DEFAULTS), "nequip": (NequIP, NEQUIP_DEFAULTS)}
AUTO = {"avg_num_neighbors": "auto", "scale": "auto", "shift": "auto"}


def test_default_yaml_does_not_repeat_the_model_defaults():
    section = yaml.safe_load(DEFAULT_YAML.read_text())["model"]
    assert section == {"name": "mace", **AUTO}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_equitens_train_fills_the_model_section_from_the_model_class(name):
    config = load_config(overrides=[f"model.name={name}"])
    assert config["model"] == {"name": name, **model_defaults(name), **AUTO}
    if name == "mace":
        assert default_config()["model"] == config["model"]


@pytest.mark.parametrize("name", sorted(MODELS))
def test_build_model_defaults_are_the_class_defaults(name):
    cls, defaults = MODELS[name]
    model = build_model({"model": {"name": name}}, (1, 8), [0.0, 0.0])
    assert isinstance(model, cls)
    for key, value in defaults.items():
        assert getattr(model, key) == getattr(cls, key) == value, key


def test_defaults_of_the_main_training_run():
    # the embedded default run of `equitens train` (README) keeps its configuration
    model = default_config()["model"]
    assert model["cutoff"] == 4.0 and model["radial_mlp"] == [32, 32]
    assert model["num_channels"] == 16 and model["lmax"] == 2 and model["num_interactions"] == 2


def _table_defaults(column: int) -> dict:
    """``{key: value}`` from the configuration table of docs/guide/models.md (column 1: MACE)."""
    out = {}
    for line in (DOCS / "models.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 4 or not cells[0].startswith("`") or cells[0] == "`key`":
            continue
        keys = [k.strip("` ") for k in cells[0].split(",")]
        if not all(k in MACE_DEFAULTS or k in NEQUIP_DEFAULTS for k in keys):
            continue
        values = cells[column].split(", ") if len(keys) > 1 else [cells[column]]
        for key, value in zip(keys, values, strict=True):
            if value != "-":
                out[key] = yaml.safe_load(value)
    return out


@pytest.mark.parametrize(("name", "column"), [("mace", 1), ("nequip", 2)])
def test_the_models_guide_lists_the_defaults(name, column):
    assert _table_defaults(column) == model_defaults(name)


def test_the_training_guide_quotes_the_defaults():
    (row,) = [
        line
        for line in (DOCS / "training.md").read_text().splitlines()
        if line.startswith("| `model`")
    ]
    quoted = dict(re.findall(r"`(\w+)` \((\[[^\]]*\]|[^,)]*)", row))
    defaults = model_defaults("mace")
    checked = {key: value for key, value in quoted.items() if key in defaults and key not in AUTO}
    assert {"cutoff", "radial_mlp", "num_interactions"} <= set(checked)
    for key, value in checked.items():
        assert yaml.safe_load(value.strip("`")) == defaults[key], key
