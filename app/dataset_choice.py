"""Turn `--family vgg --data X` into a shipped config and overrides (the Makefile's DATA=).

X is `digits` (default), a folder of class sub-folders, a Keras dataset name (mnist,
fashion_mnist, cifar10, cifar100) or `tfds:NAME`. Photo folders use the flowers configs with
image size, epochs and class weights chosen from the folder and the time budget
(app/folder_defaults.py); small built-in sets use the digits configs at 32 px.
"""

from pathlib import Path

from pipelines.config import CONFIG_DIR

KERAS_DATASETS = {"mnist": 1, "fashion_mnist": 1, "cifar10": 3, "cifar100": 3}  # name -> channels


def config_for(
    family: str, data: str | None, budget_minutes: float | None = None, pretrained: str | None = None
) -> tuple[Path, list[str]]:
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
            *folder_overrides(family, root, budget_minutes, pretrained),
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


def for_source_overrides(
    config: str | None, overrides: list[str], budget_minutes: float | None = None
) -> tuple[str | Path | None, list[str], str | None]:
    """(config, overrides, note): `data.source=folder data.path=PHOTOS` on a config made for other data.

    The default (digits, 8x8 grayscale) config with a photo folder trained an 8x8 model and made it
    champion. A shipped digits config (or none) gets the same defaults as `--family F --data PHOTOS`,
    the user's other overrides on top, and a note saying so; any other config is refused in one line
    unless the overrides set the input size themselves.
    """
    given = dict(o.partition("=")[::2] for o in overrides)  # the last value of a key wins, as in load_config
    source, path = given.get("data.source"), given.get("data.path")
    if source not in ("folder", "keras", "tfds") or not path:
        return config, overrides, None
    from pipelines.config import DEFAULT_CONFIG, load_config

    base = load_config(config)  # what the config was made for, before the overrides
    if base.data.source == source:
        return config, overrides, None
    data = f"tfds:{path}" if source == "tfds" else path
    family = given.get("model.name", base.model.name)
    shape = f"{base.data.source} at {base.data.image_size[0]}x{base.data.image_size[1]}x{base.data.channels}"
    config_path = Path(config or DEFAULT_CONFIG).resolve()
    if config_path.parent != CONFIG_DIR.resolve() or not config_path.name.startswith("digits_"):
        if "data.image_size" in given:
            return config, overrides, None  # the user chose the input size: their config, their call
        raise ValueError(
            f"data.source={source} with {config} (made for {shape}) would train at that size; "
            f"use `--family {family} --data {data}` for this data's defaults, or set data.image_size (and data.channels)"
        )
    if source == "folder" and not Path(path).expanduser().is_dir():
        raise ValueError(f"data.path '{path}' is not a folder (of class sub-folders of images)")
    chosen_config, chosen = config_for(family, data, budget_minutes, pretrained_source(overrides))
    rest = [o for o in overrides if not o.startswith(("data.source=", "data.path="))]
    cfg = load_config(chosen_config, [*chosen, *rest])
    size = f"{cfg.data.image_size[0]}x{cfg.data.image_size[1]}x{cfg.data.channels}"
    note = (
        f"data.source={source} on {config_path.name} (made for {shape}): using the defaults of "
        f"`--family {family} --data {data}` ({chosen_config.name}, {size}, {cfg.train.epochs} epochs)"
    )
    return chosen_config, [*chosen, *rest], note


def pretrained_source(overrides) -> str | None:
    """The pretrained model that `key=value` overrides start from (the folder defaults then fine-tune), or None.
    The last value of a key wins, as in load_config."""
    source = dict(o.partition("=")[::2] for o in overrides).get("model.pretrained", "null")
    return None if source in ("", "null", "None", "none") else source


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
