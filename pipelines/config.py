"""The experiment config: YAML -> typed, validated objects, with `section.key=value` overrides.

Loaded once at the entry point; each builder then receives only its own slice.
Every error is one line naming the key, the value and what is allowed.
"""

import difflib
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from data.config import DataConfig
from data.errors import first_line
from models.config import ModelConfig
from pipelines.augment_config import AugmentConfig
from pipelines.train_config import TrainConfig

CONFIG_DIR = Path(__file__).parent / "configs"
DEFAULT_CONFIG = CONFIG_DIR / "digits_mlp.yaml"


class ConfigError(ValueError):
    """A config problem, already phrased as the one line a user should read."""


class RuntimeConfig(BaseModel):
    """Where and how training runs (`runtime`); see pipelines/strategy.py."""

    model_config = ConfigDict(extra="forbid")

    # auto: TPU if reachable, else a multi-worker cluster from TF_CONFIG, else all GPUs, else the CPU.
    device: Literal["auto", "cpu", "gpu", "tpu"] = "auto"
    # Split the CPU into N logical devices and mirror over them: distribution code runs (and is
    # tested) on a laptop. Must be set before TensorFlow touches a device, i.e. in a fresh process.
    logical_cpus: int = Field(default=1, ge=1, le=64)
    # mixed_float16 on GPU, mixed_bfloat16 on TPU (and on CPU, where it is usually slower).
    mixed_precision: bool = False
    jit_compile: bool = False  # XLA: measured ~2x slower for small CNNs on this CPU
    deterministic: bool = False  # tf.config.experimental.enable_op_determinism (slower)
    # Multi-worker: a collective waiting longer than this for a peer fails instead of hanging.
    collective_timeout_seconds: float = Field(default=300.0, gt=0.0)


class TrackingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    experiment: str | None = None  # default: one experiment per dataset
    registered_model: str | None = None  # default: "<dataset>-classifier"
    alias: str = "champion"
    register_model: bool = True
    # "if_better": a new version takes the alias only if its best validation value of
    # train.monitor is at least the current holder's; "always": the newest version takes it.
    alias_policy: Literal["if_better", "always"] = "if_better"


class ExperimentConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seed: int = Field(default=42, ge=0)
    output_dir: str = "outputs"
    data: DataConfig = DataConfig()
    augment: AugmentConfig = AugmentConfig()
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    runtime: RuntimeConfig = RuntimeConfig()
    tracking: TrackingConfig = TrackingConfig()

    def dataset_name(self) -> str:
        if self.data.source == "digits":
            return "digits"
        return Path(self.data.path or self.data.source).name or self.data.source


def load_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> ExperimentConfig:
    """Read a YAML config, apply `a.b=value` overrides (values parsed as YAML), validate."""
    path = Path(path) if path else DEFAULT_CONFIG
    if not path.is_file():
        shipped = ", ".join(sorted(p.name for p in CONFIG_DIR.glob("*.yaml")))
        raise ConfigError(f"config file '{path}' not found; shipped configs: {shipped}")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"config file '{path}' is not valid YAML: {first_line(err)}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"config file '{path}' must hold a mapping of sections, not {type(raw).__name__}")
    for item in overrides:
        _apply_override(raw, item)
    return validate(raw)


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
    node = raw
    parts = key.split(".")
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"override '{item}': '{part}' is a value, not a section")
        node = child
    node[parts[-1]] = value


def _one_line(err: ValidationError, raw: dict) -> str:
    first = err.errors()[0]
    loc = [str(p) for p in first["loc"]]
    key = ".".join(loc) or "<config>"
    if first["type"] == "extra_forbidden":
        valid = _fields_at(ExperimentConfig, loc[:-1])
        close = difflib.get_close_matches(loc[-1], valid, n=1)
        hint = f"; did you mean '{'.'.join(loc[:-1] + close)}'?" if close else ""
        return f"unknown config key '{key}'{hint} valid keys here: {', '.join(valid)}"
    value = _value_at(raw, first["loc"])
    message = first["msg"].removeprefix("Value error, ")
    return f"config key '{key}' = {value!r}: {message}"


def _fields_at(model: type[BaseModel], loc: list[str]) -> list[str]:
    for part in loc:
        field = model.model_fields.get(part)
        annotation = getattr(field, "annotation", None)
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return list(model.model_fields)


def _value_at(raw: Any, loc: tuple) -> Any:
    for part in loc:
        if isinstance(raw, dict) and part in raw or isinstance(raw, list) and isinstance(part, int) and part < len(raw):
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
