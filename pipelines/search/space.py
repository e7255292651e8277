"""A search-space YAML in the config's own key names, checked before any trial runs.

    train.optimizer.learning_rate: {log_float: [1e-4, 1e-1]}
    model.dropout: {float: [0, 0.5]}
    model.hidden_units: {choice: [[64], [128, 64]]}
    fixed: {train.epochs: 20}          # optional: set for every trial
    one_of:                            # optional: named sets of settings, one per trial (a lesson's axis)
      none: {}
      l2: {model.l2: 1.0e-4}

Every choice and both ends of every range go through the experiment schema (on the base config
plus `fixed`), so an unknown key or a value the config refuses is one line before training starts.
"""

import copy
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pipelines.config import ConfigError, validate
from pipelines.config.loading import read_yaml_mapping, refuse_other_families_keys, set_dotted

KINDS = ("log_float", "float", "int", "choice")
FIXED = "fixed"  # top-level keys that are not dotted config keys
ONE_OF = "one_of"  # its choices are names; each name sets several config keys at once
GRID_MAX_INT_VALUES = 100  # an int range wider than this is not a grid


class SpaceError(ValueError):
    """A search-space problem, phrased as one line."""


@dataclass(frozen=True)
class Param:
    key: str  # dotted config key, e.g. model.dropout
    kind: str  # one of KINDS, or "one_of"
    values: tuple  # (low, high) for ranges, the choices for `choice`, the names for one_of
    sets: dict = field(default_factory=dict)  # one_of: name -> {dotted key: value}

    def labels(self) -> dict:
        """Optuna stores only scalars: a list choice ([128, 64]) travels as its YAML text."""
        return {_label(v): v for v in self.values}


@dataclass(frozen=True)
class SearchSpace:
    name: str
    params: tuple[Param, ...]
    fixed: dict = field(default_factory=dict)

    def keys(self) -> list[str]:
        return [p.key for p in self.params]


def load_space(path: str | Path, base: dict) -> SearchSpace:
    """Read and check a space against `base` (a resolved config as a dict); raises SpaceError."""
    path = Path(path)
    if not path.is_file():
        raise SpaceError(f"search space '{path}' not found")
    raw = read_yaml_mapping(path, "search space", "be a mapping of config keys", SpaceError)
    fixed = raw.pop(FIXED, None) or {}
    sets = raw.pop(ONE_OF, None)
    if not isinstance(fixed, dict):
        raise SpaceError(f"search space '{path}': '{FIXED}' must map config keys to values")
    if sets is not None and (
        not isinstance(sets, dict) or not sets or not all(isinstance(v, dict) for v in sets.values())
    ):
        raise SpaceError(
            f"search space '{path}': '{ONE_OF}' must map names to sets of config keys, e.g. l2: {{model.l2: 1.0e-4}}"
        )
    if not raw and not sets:
        raise SpaceError(f"search space '{path}' has no parameters; e.g. model.dropout: {{float: [0, 0.5]}}")
    try:
        params = [_parse_param(key, spec) for key, spec in raw.items()]
        if sets:
            params.append(
                Param(ONE_OF, ONE_OF, tuple(str(name) for name in sets), {str(k): v for k, v in sets.items()})
            )
        space = SearchSpace(path.stem, tuple(params), fixed)
        check_against_schema(space, base)
    except (ConfigError, SpaceError) as err:
        raise SpaceError(f"search space '{path}': {err}") from None
    return space


def _parse_param(key: Any, spec: Any) -> Param:
    if not isinstance(key, str) or not isinstance(spec, dict) or len(spec) != 1:
        raise SpaceError(f"'{key}' must map to one of {{{': ..., '.join(KINDS)}: ...}}, got {spec!r}")
    kind, values = next(iter(spec.items()))
    if kind not in KINDS:
        raise SpaceError(f"'{key}': unknown kind '{kind}'; choose one of {', '.join(KINDS)}")
    if kind == "choice":
        if not isinstance(values, list) or not values:
            raise SpaceError(f"'{key}': choice needs a non-empty list of values, got {values!r}")
        if len({_label(v) for v in values}) != len(values):
            raise SpaceError(f"'{key}': choice {values!r} lists a value twice")
        return Param(key, kind, tuple(values))
    return Param(key, kind, _range(key, kind, values))


def _range(key: str, kind: str, values: Any) -> tuple:
    if not isinstance(values, list) or len(values) != 2:
        raise SpaceError(f"'{key}': {kind} needs [low, high], got {values!r}")
    try:
        # YAML 1.1 reads `1e-4` (no dot) as a string: accept any number spelling.
        low, high = (int(v) if kind == "int" else float(v) for v in values)
    except (TypeError, ValueError):
        raise SpaceError(f"'{key}': {kind} range {values!r} must hold two numbers") from None
    if kind == "int" and any(isinstance(v, float) and not float(v).is_integer() for v in values):
        raise SpaceError(f"'{key}': int range {values!r} must hold whole numbers")
    if not (math.isfinite(low) and math.isfinite(high)) or low >= high:
        raise SpaceError(f"'{key}': bad range {values!r}: low must be below high")
    if kind == "log_float" and low <= 0:
        raise SpaceError(f"'{key}': log_float range {values!r} must be above 0")
    return (low, high)


def check_against_schema(space: SearchSpace, base: dict) -> None:
    """Validate base + fixed, then every choice and both ends of every range, one key at a time."""
    fixed = with_values(base, space.fixed)
    refuse_other_families_keys(validate(fixed), space.fixed)
    for param in space.params:
        for value in param.values:
            values = param.sets[value] if param.sets else {param.key: value}
            refuse_other_families_keys(validate(with_values(fixed, values)), values)


def with_values(base: dict, values: dict) -> dict:
    """A deep copy of `base` with dotted `values` set (`model.dropout: 0.3`)."""
    raw = copy.deepcopy(base)
    for key, value in values.items():
        try:
            set_dotted(raw, key, value)
        except KeyError as err:
            raise SpaceError(f"'{key}': '{err.args[0]}' is a value, not a config section") from None
    return raw


def suggest(trial, space: SearchSpace) -> dict:
    """One point of the space, sampled through the Optuna trial; returns {dotted key: config value}."""
    out = {}
    for p in space.params:
        if p.kind == ONE_OF:
            out.update(p.sets[trial.suggest_categorical(p.key, list(p.values))])
        elif p.kind == "choice":
            labels = p.labels()
            out[p.key] = labels[trial.suggest_categorical(p.key, list(labels))]
        elif p.kind == "int":
            out[p.key] = trial.suggest_int(p.key, *p.values)
        else:
            out[p.key] = trial.suggest_float(p.key, *p.values, log=p.kind == "log_float")
    return out


def grid(space: SearchSpace) -> dict[str, list]:
    """The GridSampler's search space: choices and small int ranges only."""
    out = {}
    for p in space.params:
        if p.kind in ("choice", ONE_OF):
            out[p.key] = list(p.labels())
        elif p.kind == "int" and p.values[1] - p.values[0] < GRID_MAX_INT_VALUES:
            out[p.key] = list(range(p.values[0], p.values[1] + 1))
        else:
            raise SpaceError(f"--sampler grid needs choice (or small int) parameters; '{p.key}' is a {p.kind} range")
    return out


def _label(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return yaml.safe_dump(value, default_flow_style=True).strip()
