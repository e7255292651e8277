"""Turn `--family vgg --data X` into a shipped config and overrides (the Makefile's DATA=).

X is `digits` (default), a folder of class sub-folders, a Keras dataset name (mnist,
fashion_mnist, cifar10, cifar100) or `tfds:NAME`. Photo folders use the flowers configs with
image size, epochs and class weights chosen from the folder and the time budget
(app/folder_defaults.py); small built-in sets use the digits configs at 32 px.
"""

from pathlib import Path

from pipelines.config import CONFIG_DIR

KERAS_DATASETS = {"mnist": 1, "fashion_mnist": 1, "cifar10": 3, "cifar100": 3}  # name -> channels


def config_for(family: str, data: str | None, budget_minutes: float | None = None) -> tuple[Path, list[str]]:
    from models.registry import family_names

    if family not in family_names():
        raise ValueError(f"model family '{family}' is unknown; choose one of {', '.join(family_names())}")
    if not data or data == "digits":
        return CONFIG_DIR / f"digits_{family}.yaml", []
    if Path(data).expanduser().is_dir():
        from app.folder_defaults import folder_overrides

        root = Path(data).expanduser().resolve()
        # The flowers config of the family, re-sized to this folder and budget (app/folder_defaults.py).
        return CONFIG_DIR / f"flowers_{family}.yaml", [
            f"data.path={root}",
            *folder_overrides(family, root, budget_minutes),
        ]
    if data in KERAS_DATASETS:
        size = 32 if family != "mlp" or data.startswith("cifar") else 28
        return CONFIG_DIR / f"digits_{family}.yaml", _builtin("keras", data, KERAS_DATASETS[data], size)
    if data.startswith("tfds:") and len(data) > 5:
        return CONFIG_DIR / f"digits_{family}.yaml", _builtin("tfds", data[5:], 3, 32)
    raise ValueError(
        f"DATA '{data}' is neither a folder nor a known dataset; use digits, a folder path, "
        f"{', '.join(KERAS_DATASETS)} or tfds:NAME"
    )


def experiment_for(data: str) -> str:
    """The MLflow experiment that `train --family ... --data DATA` logs to (one per dataset)."""
    from pipelines.config import load_config

    cfg = load_config(*config_for("mlp", data))
    return cfg.tracking.experiment or cfg.dataset_name()


def _builtin(source: str, name: str, channels: int, size: int) -> list[str]:
    return [
        f"data.source={source}",
        f"data.path={name}",
        f"data.channels={channels}",
        f"data.image_size=[{size},{size}]",
        f"tracking.experiment={name}",
    ]
