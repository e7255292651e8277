"""What learns: model builders behind a registry. Never reads files, never imports mlflow."""

from models.registry import MODEL_NAMES, build_model

__all__ = ["MODEL_NAMES", "build_model"]
