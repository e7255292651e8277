"""YAML -> a validated ExperimentConfig, with `section.key=value` overrides from the command line.

Loaded once at the entry point. Every error is one line naming the key, the value and what is allowed.
"""

import difflib
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from data.errors import first_line
from models.config import ModelConfig, config_class, family_fields
from models.registry import family_names
from pipelines.config.experiment import ExperimentConfig

# The shipped experiment files (YAML, not code) sit beside this package.
CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"
DEFAULT_CONFIG = CONFIG_DIR / "digits_mlp.yaml"


class ConfigError(ValueError):
    """A config problem, already phrased as the one line a user should read."""


def load_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> ExperimentConfig:
    """Read a YAML config, apply `a.b=value` overrides (values parsed as YAML), validate."""
    path = Path(path) if path else DEFAULT_CONFIG
    if not path.is_file():
        shipped = ", ".join(sorted(p.name for p in CONFIG_DIR.glob("*.yaml")))
        raise ConfigError(f"config file '{path}' not found; shipped configs: {shipped}")
    raw = read_yaml_mapping(path, "config file", "hold a mapping of sections", ConfigError)
    for item in overrides:
        _apply_override(raw, item)
    cfg = validate(raw)
    refuse_other_families_keys(cfg, [item.partition("=")[0] for item in overrides])
    return cfg


def refuse_other_families_keys(cfg: ExperimentConfig, keys) -> None:
    """A config file's fields of other families are dropped (`model.name=vgg` works on an MLP file), but
    a key set on purpose (an override, a search space) was meant for this run: `model.vgg_depth=19` on
    an MLP would do nothing."""
    for key in keys:
        field = key.removeprefix("model.")
        if key.startswith("model.") and field not in type(cfg.model).model_fields:
            owners = [name for name in family_names() if field in family_fields(name)]
            if owners:
                raise ConfigError(
                    f"config key '{key}' belongs to model family {' / '.join(owners)}, not to this run's "
                    f"'{cfg.model.name}'; set model.name={owners[0]} too, or drop it"
                )


def read_yaml_mapping(path: Path, what: str, expected: str, error: type[Exception]) -> dict:
    """A YAML file that must hold a mapping (experiment configs, search spaces); `error` one line otherwise."""
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise error(f"{what} '{path}' is not valid YAML: {first_line(err)}") from None
    if not isinstance(raw, dict):
        raise error(f"{what} '{path}' must {expected}, not {type(raw).__name__}")
    return raw


def validate(raw: dict) -> ExperimentConfig:
    try:
        return ExperimentConfig.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(_one_line(err, raw)) from None


def _apply_override(raw: dict, item: str) -> None:
    key, sep, text = item.partition("=")
    if not sep or not key:
        raise ConfigError(f"override '{item}' must look like section.key=value (e.g. train.epochs=5)")
    try:
        value = yaml.safe_load(text) if text else ""
    except yaml.YAMLError:
        value = text
    try:
        set_dotted(raw, key, value)
    except KeyError as err:
        raise ConfigError(f"override '{item}': '{err.args[0]}' is a value, not a section") from None


def set_dotted(raw: dict, key: str, value) -> None:
    """raw["a"]["b"] = value for the key "a.b", creating sections; KeyError(part) where a value is in the way."""
    node = raw
    parts = key.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise KeyError(part)
    node[parts[-1]] = value


def _one_line(err: ValidationError, raw: dict) -> str:
    first = err.errors()[0]
    loc = [str(p) for p in first["loc"] if not _union_branch(p)]
    key = ".".join(loc) or "<config>"
    if first["type"] == "extra_forbidden":
        valid = _fields_at(ExperimentConfig, loc[:-1], raw)
        close = difflib.get_close_matches(loc[-1], valid, n=1)
        # `epochs=5` written without its section: point at the section that has the key.
        homes = [f"{section}.{loc[-1]}" for section in valid if loc[-1] in _fields_at(ExperimentConfig, [section])]
        suggestion = ".".join(loc[:-1] + close) if close else (homes[0] if homes else None)
        hint = f"; did you mean '{suggestion}'?" if suggestion else ""
        return f"unknown config key '{key}'{hint} valid keys here: {', '.join(valid)}"
    value = _value_at(raw, [p for p in first["loc"] if not _union_branch(p)])
    message = first["msg"].removeprefix("Value error, ")
    if isinstance(value, dict):  # a section's own check (e.g. data.image_size against data.source)
        return f"config section '{key}': {message}"
    return f"config key '{key}' = {_short(value)}: {message}"


def _union_branch(part) -> bool:
    """pydantic's name for one type of a union in an error's location ('int', 'constrained-int',
    "literal['auto']"): not a config key, so not shown as one (augment.workers, not augment.workers.constrained-int)."""
    return isinstance(part, str) and (part in ("int", "float", "str", "bool", "none") or not part.isidentifier())


def _short(value: Any, limit: int = 80) -> str:
    """repr(value), cut: a 20,000-item list is named by its start and length, not printed whole."""
    text = repr(value)
    if len(text) <= limit:
        return text
    size = f" ({len(value):,} items)" if isinstance(value, list | tuple) else ""
    return f"{text[:limit]}...{size}"


def _fields_at(model: type[BaseModel], loc: list[str], raw: dict | None = None) -> list[str]:
    for part in loc:
        field = model.model_fields.get(part)
        annotation = getattr(field, "annotation", None)
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    if model is ModelConfig:  # the `model` section: the fields of the family it names
        name = ((raw or {}).get("model") or {}).get("name", "mlp")
        model = config_class(name) if isinstance(name, str) and name in family_names() else model
    return list(model.model_fields)


def _value_at(raw: Any, loc: tuple) -> Any:
    for part in loc:
        if (isinstance(raw, dict) and part in raw) or (
            isinstance(raw, list) and isinstance(part, int) and part < len(raw)
        ):
            raw = raw[part]
        else:
            return raw
    return raw


def flatten(cfg: ExperimentConfig) -> dict[str, Any]:
    """`section.key -> value` pairs, the form MLflow params and the compare view want."""
    out: dict[str, Any] = {}

    def walk(prefix: str, node: Any) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                walk(f"{prefix}.{k}" if prefix else k, v)
        else:
            out[prefix] = node

    walk("", cfg.model_dump(mode="json"))
    return out
