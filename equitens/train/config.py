"""Training configuration: YAML files, ``key=value`` overrides with dotted keys, validation.

A configuration is a plain nested ``dict``. :func:`default_config` reads the package's
``default.yaml``; :func:`load_config` merges a user file and command-line overrides over it and
:func:`validate_config` checks every value, with errors that say which key is wrong and how to
fix it. Keys under ``model`` that are not in the defaults are passed to the model unchecked (each
model has its own hyper-parameters); everywhere else an unknown key is an error.

``default.yaml`` does not repeat the model's hyper-parameters: after merging, the ``model``
section is filled with the defaults of the chosen model
(:func:`equitens.models.model_defaults`, read from the fields of the model classes), so the
Python API and ``equitens train`` share one source of defaults.
"""

from __future__ import annotations

import copy
import difflib
import importlib.resources
import math
import pathlib
import re
from collections.abc import Iterable, Mapping
from typing import Any

import yaml

__all__ = [
    "default_config",
    "dump_config",
    "load_config",
    "parse_override",
    "validate_config",
]

# Sections whose keys are free: the model builder validates its own hyper-parameters.
_FREE_SECTIONS = ("model",)

_CHOICES = {
    "dtype": ("float32", "float64"),
    "model.name": ("mace", "nequip"),
    "data.default_dataset": ("molecule", "metal"),
    "optimizer.name": ("adam", "amsgrad"),
    "optimizer.schedule": ("constant", "cosine", "plateau"),
    "training.init_atomic_energies": ("checkpoint", "data"),
}
_POSITIVE = (
    "data.batch_size",
    "data.eval_batch_size",
    "data.num_buckets",
    "model.cutoff",
    "optimizer.learning_rate",
    "loss.stage_two.learning_rate",
    "optimizer.eps",
    "optimizer.plateau_factor",
    "optimizer.min_lr_factor",
    "training.epochs",
    "training.devices",
)
_NON_NEGATIVE = (
    "loss.energy_weight",
    "loss.forces_weight",
    "loss.stress_weight",
    "loss.stage_two.energy_weight",
    "loss.stage_two.forces_weight",
    "loss.stage_two.stress_weight",
    "optimizer.weight_decay",
    "optimizer.warmup_steps",
    "optimizer.plateau_patience",
    "data.valid_fraction",
    "data.test_fraction",
)
_OPTIONAL_POSITIVE = ("optimizer.clip_norm", "training.max_time", "data.max_train_frames")


class _Loader(yaml.SafeLoader):
    """Safe YAML loader that also reads ``1e-3`` as a float (YAML 1.1 wants ``1.0e-3``)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |\.[0-9_]+(?:[eE][-+][0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)


def _yaml_load(text: str, source: str) -> Any:
    try:
        return yaml.load(text, Loader=_Loader)  # _Loader is a SafeLoader subclass
    except yaml.YAMLError as error:
        raise ValueError(f"cannot parse {source} as YAML: {error}") from None


def _read_default_yaml() -> dict:
    """The package's ``default.yaml`` as it is (model section not filled)."""
    text = importlib.resources.files("equitens.train").joinpath("default.yaml").read_text()
    return _yaml_load(text, "equitens/train/default.yaml")


def _fill_model_defaults(config: dict) -> dict:
    """Fill ``config["model"]`` in place with the defaults of its model; return ``config``.

    The keys already set keep their values; an unknown ``model.name`` is left for
    :func:`validate_config` to report.
    """
    section = config.get("model")
    if not isinstance(section, Mapping) or section.get("name") not in _CHOICES["model.name"]:
        return config
    from equitens.models.build import model_defaults  # the model classes own the defaults

    defaults = model_defaults(section["name"])
    filled = {"name": section["name"], **defaults, **section}
    for key, default in defaults.items():  # sections of the model (its plan): fill them too
        if isinstance(default, Mapping) and isinstance(section.get(key), Mapping):
            filled[key] = {**default, **section[key]}
    config["model"] = filled
    return config


def default_config() -> dict:
    """The default training configuration, as a new dict.

    The package's ``default.yaml``, with the ``model`` section filled with the defaults of the
    model it names (:func:`equitens.models.model_defaults`).

    Returns:
        A nested dict; changing it does not change later calls.

    Examples:
        >>> config = default_config()
        >>> config["model"]["name"], config["model"]["conv_method"], config["model"]["cutoff"]
        ('mace', 'cg', 4.0)
    """
    return _fill_model_defaults(_read_default_yaml())


def parse_override(text: str) -> tuple[tuple[str, ...], Any]:
    """Parse one command-line override ``key=value``; the value is read as YAML.

    Args:
        text: ``"a.b.c=value"``, e.g. ``"optimizer.learning_rate=1e-3"`` or ``"model.lmax=1"``.

    Returns:
        The key path as a tuple and the parsed value.

    Examples:
        >>> parse_override("optimizer.learning_rate=1e-3")
        (('optimizer', 'learning_rate'), 0.001)
        >>> parse_override("data.train_file=null")
        (('data', 'train_file'), None)
    """
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ValueError(
            f"cannot read the override {text!r}: write it as key=value, with dots for nested keys "
            "(e.g. training.epochs=5)"
        )
    path = tuple(key.split("."))
    if any(not part for part in path):
        raise ValueError(f"the override key {key!r} has an empty part; write e.g. model.lmax=1")
    return path, _yaml_load(value, f"the value of override {text!r}")


def _known_keys(tree: Mapping, prefix: str = "") -> list[str]:
    keys = []
    for key, value in tree.items():
        keys.append(prefix + key)
        if isinstance(value, Mapping):
            keys.extend(_known_keys(value, prefix + key + "."))
    return keys


def _suggest(dotted: str, defaults: Mapping) -> list[str]:
    """Close known keys: first among the siblings (also by initials: lr -> learning_rate)."""
    *parents, last = dotted.split(".")
    section: Any = defaults
    for part in parents:
        section = section.get(part) if isinstance(section, Mapping) else None
    if isinstance(section, Mapping):
        prefix = "".join(p + "." for p in parents)
        for key in section:
            if "_" in key and last == "".join(word[0] for word in key.split("_")):
                return [prefix + key]
        close = difflib.get_close_matches(last, list(section), n=1)
        if close:
            return [prefix + close[0]]
    return difflib.get_close_matches(dotted, _known_keys(defaults), n=1)


def _unknown_key_error(dotted: str, defaults: Mapping) -> ValueError:
    close = _suggest(dotted, defaults)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return ValueError(
        f"unknown configuration key {dotted!r}{hint} (see equitens/train/default.yaml for the "
        "keys and their meaning)"
    )


def _merge(base: dict, update: Mapping, defaults: Mapping, prefix: str = "") -> None:
    """Merge ``update`` into ``base`` in place, refusing keys that the defaults do not have."""
    if not isinstance(update, Mapping):
        raise ValueError(
            f"the configuration{' section ' + repr(prefix[:-1]) if prefix else ''} must be a "
            f"mapping of keys to values, got {type(update).__name__}"
        )
    for key, value in update.items():
        key = str(key)
        dotted = prefix + key
        free = bool(prefix) and prefix.partition(".")[0] in _FREE_SECTIONS
        if key not in defaults and not free:
            raise _unknown_key_error(dotted, _root_defaults())
        default = defaults.get(key)
        if free and isinstance(value, Mapping) and isinstance(base.get(key), Mapping):
            default = base[key]  # a free section's own sub-section: merge, don't replace
        if isinstance(default, Mapping):
            if not isinstance(value, Mapping):
                raise ValueError(
                    f"configuration key {dotted!r} is a section; set its entries instead "
                    f"(e.g. {dotted}.{next(iter(default))}=...)"
                )
            _merge(base[key], value, default, dotted + ".")
        else:
            base[key] = copy.deepcopy(value)


_ROOT_DEFAULTS: dict | None = None


def _root_defaults() -> dict:
    global _ROOT_DEFAULTS
    if _ROOT_DEFAULTS is None:
        _ROOT_DEFAULTS = _read_default_yaml()
    return _ROOT_DEFAULTS


def load_config(
    path: str | pathlib.Path | None = None,
    overrides: Iterable[str] = (),
    base: Mapping | None = None,
) -> dict:
    """Build a validated configuration: defaults, then a YAML file, then ``key=value`` overrides.

    Once everything is merged, the keys of the ``model`` section that are not set take the
    defaults of the chosen model (:func:`equitens.models.model_defaults`).

    Args:
        path: optional YAML file with a (partial) configuration.
        overrides: strings ``"key=value"`` applied last, in order (dotted keys for nested entries).
        base: optional (partial) configuration dict merged before the file (e.g. from Python code).

    Returns:
        The full configuration dict, validated by :func:`validate_config`.

    Examples:
        >>> config = load_config(overrides=["training.epochs=2", "model.lmax=1"])
        >>> config["training"]["epochs"], config["model"]["lmax"]
        (2, 1)
        >>> load_config(overrides=["optimizer.lr=1e-3"])
        Traceback (most recent call last):
        ...
        ValueError: unknown configuration key 'optimizer.lr'; did you mean
        'optimizer.learning_rate'? (see equitens/train/default.yaml for the keys and their meaning)
    """
    defaults = _root_defaults()
    config = copy.deepcopy(defaults)
    if base is not None:
        _merge(config, base, defaults)
    if path is not None:
        path = pathlib.Path(path)
        if not path.is_file():
            raise ValueError(f"configuration file {str(path)!r} does not exist")
        loaded = _yaml_load(path.read_text(), str(path))
        if loaded is not None:
            _merge(config, loaded, defaults)
    for text in overrides:
        keys, value = parse_override(text)
        update: Any = value
        for key in reversed(keys):
            update = {key: update}
        _merge(config, update, defaults)
    _fill_model_defaults(config)
    validate_config(config)
    return config


def _get(config: Mapping, dotted: str) -> Any:
    value: Any = config
    for key in dotted.split("."):
        if not isinstance(value, Mapping) or key not in value:
            raise ValueError(
                f"the configuration is missing the key {dotted!r}; build it with load_config, "
                "which fills the defaults"
            )
        value = value[key]
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_types(config: Mapping, defaults: Mapping, prefix: str = "") -> None:
    for key, default in defaults.items():
        dotted = prefix + key
        if key not in config:
            raise ValueError(f"the configuration is missing the key {dotted!r}")
        value = config[key]
        if isinstance(default, Mapping):
            if not isinstance(value, Mapping):
                raise ValueError(f"configuration key {dotted!r} must be a section (a mapping)")
            _check_types(value, default, dotted + ".")
            continue
        if default is None or value is None or default == "auto":
            continue  # optional entries: the specific checks below look at them
        if isinstance(default, bool):
            ok = isinstance(value, bool)
            expected = "true or false"
        elif isinstance(default, int):
            ok = isinstance(value, int) and not isinstance(value, bool)
            expected = "an integer"
        elif isinstance(default, float):
            ok = _is_number(value)
            expected = "a number"
        elif isinstance(default, str):
            ok = isinstance(value, str)
            expected = "a string"
        else:
            ok = True
            expected = ""
        if not ok:
            raise ValueError(
                f"configuration key {dotted!r} must be {expected}, got {value!r} "
                f"(the default is {default!r})"
            )


def validate_config(config: Mapping) -> None:
    """Check a full configuration; raise ``ValueError`` naming the key and the fix.

    Args:
        config: a configuration dict as returned by :func:`load_config`.

    Raises:
        ValueError: for a missing key, a wrong type, a value out of range or not among the
            choices, or inconsistent data fractions.

    Examples:
        >>> config = default_config()
        >>> validate_config(config)
        >>> config["optimizer"]["schedule"] = "linear"
        >>> validate_config(config)
        Traceback (most recent call last):
        ...
        ValueError: configuration key 'optimizer.schedule' must be one of
        ('constant', 'cosine', 'plateau'), got 'linear'
    """
    defaults = _root_defaults()
    if not isinstance(config, Mapping):
        raise ValueError(f"a configuration must be a dict, got {type(config).__name__}")
    for key in config:
        if key not in defaults:
            raise _unknown_key_error(str(key), defaults)
    _check_types(config, defaults)
    for section, value in config.items():
        if isinstance(value, Mapping) and section not in _FREE_SECTIONS:
            for key in value:
                if key not in defaults[section]:
                    raise _unknown_key_error(f"{section}.{key}", defaults)
    for dotted, choices in _CHOICES.items():
        value = _get(config, dotted)
        if value not in choices:
            raise ValueError(
                f"configuration key {dotted!r} must be one of {choices}, got {value!r}"
            )
    for dotted in _POSITIVE:
        value = _get(config, dotted)
        if not _is_number(value) or not value > 0 or not math.isfinite(value):
            raise ValueError(
                f"configuration key {dotted!r} must be a positive number, got {value!r}"
            )
    for dotted in _NON_NEGATIVE:
        value = _get(config, dotted)
        if not _is_number(value) or not value >= 0 or not math.isfinite(value):
            raise ValueError(
                f"configuration key {dotted!r} must be a non-negative number, got {value!r}"
            )
    for dotted in _OPTIONAL_POSITIVE:
        value = _get(config, dotted)
        if value is not None and (not _is_number(value) or not value > 0):
            raise ValueError(
                f"configuration key {dotted!r} must be a positive number or null, got {value!r}"
            )
    data = config["data"]
    if data["valid_fraction"] + data["test_fraction"] >= 1:
        raise ValueError(
            "data.valid_fraction + data.test_fraction must be below 1 (the rest is the training "
            f"set), got {data['valid_fraction']} + {data['test_fraction']}"
        )
    ema = config["optimizer"]["ema_decay"]
    if ema is not None and (not _is_number(ema) or not 0 < ema < 1):
        raise ValueError(f"optimizer.ema_decay must be in (0, 1) or null, got {ema!r}")
    if not config["optimizer"]["plateau_factor"] < 1:
        raise ValueError("optimizer.plateau_factor must be below 1 (it multiplies the rate)")
    loss = config["loss"]
    if loss["energy_weight"] + loss["forces_weight"] + loss["stress_weight"] <= 0:
        raise ValueError(
            "at least one of loss.energy_weight, loss.forces_weight, "
            "loss.stress_weight must be positive"
        )
    if config["name"] is not None and (
        not isinstance(config["name"], str) or not re.fullmatch(r"[\w.\-]+", config["name"])
    ):
        raise ValueError(
            f"name must be a plain directory name (letters, digits, '_', '-', '.'), got "
            f"{config['name']!r}"
        )
    stage = loss["stage_two"]
    start = stage["start"]
    if start is not None and not (
        (isinstance(start, int) and not isinstance(start, bool) and start >= 1)
        or (isinstance(start, float) and 0 < start < 1)
    ):
        raise ValueError(
            "loss.stage_two.start must be null, an epoch (an integer >= 1) or a fraction of "
            f"training.epochs in (0, 1), got {start!r}"
        )
    if stage["energy_weight"] + stage["forces_weight"] + stage["stress_weight"] <= 0:
        raise ValueError(
            "at least one of loss.stage_two.energy_weight, forces_weight, stress_weight must be "
            "positive"
        )
    split_seed = config["data"]["split_seed"]
    if split_seed is not None and (not isinstance(split_seed, int) or isinstance(split_seed, bool)):
        raise ValueError(f"data.split_seed must be an integer or null, got {split_seed!r}")
    freeze = config["optimizer"]["freeze"]
    if not isinstance(freeze, list) or not all(isinstance(p, str) and p for p in freeze):
        raise ValueError(
            "optimizer.freeze must be a list of parameter-name patterns (e.g. "
            f"[embedding, message_0]), got {freeze!r}"
        )
    init_from = config["training"]["init_from"]
    if init_from is not None and (not isinstance(init_from, str) or not init_from):
        raise ValueError(
            "training.init_from must be the folder of a training run or a .ckpt file, or null, "
            f"got {init_from!r}"
        )
    if config["resume"] and config["name"] is None:
        raise ValueError("resume=true needs the name of the run to continue: set name=<run name>")


def dump_config(config: Mapping) -> str:
    """The configuration as YAML text (readable by :func:`load_config`).

    Args:
        config: a configuration dict.

    Returns:
        YAML text, keys in their original order.

    Examples:
        >>> text = dump_config({"training": {"epochs": 3}})
        >>> print(text.strip())
        training:
          epochs: 3
    """
    return yaml.safe_dump(_plain(config), sort_keys=False)


def _plain(value: Any) -> Any:
    """Convert numpy scalars and tuples to plain YAML-safe Python values."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and callable(value.item):
        return value.item()
    return value
