"""The experiment config: the typed schema (one section per concern), YAML loading with overrides,
and the shipped experiment files (pipelines/configs/*.yaml)."""

from pipelines.config.experiment import ExperimentConfig, RuntimeConfig, TrackingConfig
from pipelines.config.loading import CONFIG_DIR, DEFAULT_CONFIG, ConfigError, flatten, load_config, validate

__all__ = [
    "CONFIG_DIR",
    "DEFAULT_CONFIG",
    "ConfigError",
    "ExperimentConfig",
    "RuntimeConfig",
    "TrackingConfig",
    "flatten",
    "load_config",
    "validate",
]
