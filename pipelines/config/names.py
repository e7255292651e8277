"""The rules for the names a run gives MLflow (experiment, registered model, alias), checked at load time.

MLflow checks a registered model's name and alias only when the model is registered, i.e. after
training; an experiment's name becomes a folder under the store's artifact root. So every name
is checked here, before any work, with one line naming the value and the rule. The rules are
MLflow's own (mlflow/utils/validation.py) plus what keeps a name a single, printable path part.
"""

import re

MAX_NAME_LENGTH = 200  # MLflow's registered-model and experiment columns hold 256; room for "-classifier"
MAX_ALIAS_LENGTH = 255  # MLflow's MAX_REGISTERED_MODEL_ALIAS_LENGTH
ALIAS = re.compile(r"^[\w-]+$")  # MLflow: alphanumerics (any script), underscores and dashes
VERSION_ALIAS = re.compile(r"^[vV]\d+$")  # MLflow reserves v1, v2, ... for versions
# C0 and C1 controls and DEL: an escape sequence in a name would recolour or rewrite a terminal.
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def check_name(value: str, what: str) -> str:
    """An experiment or registered model name: one path part, printable, not too long; ValueError otherwise."""
    if not value.strip():
        raise ValueError(f"{what} must not be empty")
    if len(value) > MAX_NAME_LENGTH:
        raise ValueError(f"{what} has {len(value)} characters; at most {MAX_NAME_LENGTH}")
    if CONTROL.search(value):
        raise ValueError(f"{what} contains control characters; use letters, digits, spaces, '.', '_' and '-'")
    if any(c in value for c in "/\\:") or value.strip(".") == "" or ".." in value:
        raise ValueError(f"{what} must not contain '/', '\\', ':' or '..' (names become folders and model URIs)")
    return value


def check_alias(value: str) -> str:
    """A registered model alias by MLflow's rules; ValueError otherwise."""
    if not value or len(value) > MAX_ALIAS_LENGTH or not ALIAS.match(value):
        raise ValueError(f"an alias is 1-{MAX_ALIAS_LENGTH} letters, digits, '_' and '-' (e.g. champion)")
    if VERSION_ALIAS.match(value) or value.lower() == "latest":
        raise ValueError("'latest' and v<digits> name versions in MLflow, not aliases; choose another (e.g. champion)")
    return value
