"""What a training run records in MLflow, before the fit (its inputs) and after (model and registry).

Each function takes only the config slices it logs or acts on.
"""

import csv
import hashlib
import json
import logging
from pathlib import Path

from data.printable import printable
from data.tables import csv_text
from pipelines.tracking.export import SERVING_LIMITS, input_example, log_served_model
from pipelines.tracking.registry import register

log = logging.getLogger(__name__)


def log_run_inputs(mlflow, params: dict, resolved_config: dict, inputs, model, placement) -> None:
    """Params, the resolved config and what the data looked like: enough to reproduce and to audit the run."""
    from models.heads import top_k
    from pipelines.inputs.preview import preview_grid  # the same grid `make preview` draws

    splits = inputs.splits
    mlflow.log_params(params)
    mlflow.log_params(
        {
            "param_count": model.count_params(),
            "num_classes": inputs.num_classes,
            "train_images": len(splits.train),
            # The k behind every top_<k>_accuracy of this run (validation and test): stored, not re-derived.
            "top_k": top_k(inputs.num_classes) or "none",
            **placement.describe(),
            "global_batch_size": inputs.batch_size,
        }
    )
    mlflow.log_dict(resolved_config, "config/resolved_config.json")
    mlflow.log_dict({"class_names": inputs.class_names}, "data/class_names.json")
    mlflow.log_text(csv_text(["id", "split", "class"], splits.manifest()), "data/manifest.csv")
    mlflow.log_text(csv_text(["path", "reason"], splits.skipped), "data/skipped_files.csv")
    mlflow.log_image(
        preview_grid(splits.train, inputs.class_names, inputs.augmenter, inputs.seed), "data/augment_preview.png"
    )
    normalization = {"normalization": params.get("data.normalization"), "mean": inputs.mean, "std": inputs.std}
    mlflow.log_dict(normalization, "data/normalization.json")
    if splits.skipped:
        mlflow.log_text(splits.skipped_summary() + "\n", "data/skipped_summary.txt")


def save_served_model(served_keras_model, data_cfg, inputs, run_dir: Path, tta: str = "none") -> tuple[Path, Path]:
    """Save the served Keras file and its metadata in run_dir (kept there even when MLflow is down)."""
    keras_path = run_dir / "model.keras"
    served_keras_model.save(keras_path)
    meta = {
        "class_names": inputs.class_names,
        "image_size": list(data_cfg.image_size),
        "channels": data_cfg.channels,
        "resize": data_cfg.resize,
        "top_k": min(3, inputs.num_classes),  # how many classes an answer lists by default
        "tta": tta,  # informational: the averaging is inside model.keras (models/tta.py)
        **SERVING_LIMITS,
    }
    meta_path = run_dir / "serving_meta.json"
    meta_path.write_text(json.dumps(meta, indent=2))
    return keras_path, meta_path


def export_served_model(mlflow, run_dir: Path, example_image):
    """Log run_dir's model.keras and serving_meta.json as the pyfunc; returns the ModelInfo."""
    return log_served_model(
        mlflow, run_dir / "model.keras", run_dir / "serving_meta.json", input_example(example_image)
    )


def log_missed_epochs(mlflow, run_id: str, history_csv: Path) -> int:
    """Log the epochs of history.csv that the MLflow run lacks (the server was down); returns how many."""
    if not history_csv.is_file():
        return 0
    logged = {m.step for m in mlflow.MlflowClient().get_metric_history(run_id, "loss")}
    with history_csv.open(newline="") as f:
        rows = {int(r["epoch"]): r for r in csv.DictReader(f) if r.get("epoch", "").isdigit()}
    missed = [epoch for epoch in sorted(rows) if epoch + 1 not in logged]  # history.csv counts from 0
    for epoch in missed:
        values = {k: float(v) for k, v in rows[epoch].items() if k != "epoch" and v not in (None, "")}
        mlflow.log_metrics(values, step=epoch + 1)
    if missed:
        log.info("logged %d epoch(s) the tracking server missed: %s", len(missed), missed)
    return len(missed)


def register_served_model(mlflow, model_uri: str, tracking_cfg, default_name: str, score) -> str | None:
    """Register under the configured name and apply the alias policy; returns what happened, in words."""
    if not tracking_cfg.register_model:
        return None
    name = tracking_cfg.registered_model or default_name
    policy_score = score if tracking_cfg.alias_policy == "if_better" else None
    alias = tracking_cfg.alias
    version, alias_stays = register(mlflow, model_uri, name, alias, policy_score)
    stays = f" (alias '{alias}' stays: {alias_stays})" if alias_stays else f"@{alias}"
    return f"{name}/{version.version}{stays}"


# Overrides that change where or how a run executes, not what it learns: left out of its name.
_OPERATIONAL = ("output_dir", "tracking.", "runtime.")
# Where the data comes from: the name's first word already says it (the folder's name, never its path).
_DATA_SOURCE = ("data.source", "data.path", "data.data_dir", "data.cache_dir", "data.cache")
# Names are cut beyond this in the MLflow run table, chart legends and plot titles.
MAX_RUN_NAME = 64
# Frequent overrides spelled short, so that more of them fit.
_SHORT = {"epochs": "ep", "batch_size": "bs"}


def run_name(cfg, overrides=()) -> str:
    """What sets the run apart, readable in a table: e.g. 'flowers vgg11 nesterov lr=0.1 10min 128px ep=60'.

    The dataset (its folder's name), the family and its own fields, the optimizer, then the command
    line's other overrides, at most MAX_RUN_NAME characters: overrides that do not fit are replaced by a
    short hash of the full name, so runs that differ stay apart. Every value is in the run's params
    and the config hash in its `config_hash` tag.
    """
    from models.config import ModelConfig, family_fields

    model, optimizer = cfg.model, cfg.train.optimizer
    fields = family_fields(model.name)
    # The family's defining field (hidden_units, vgg_depth, ...), always shown; a plug-in family may have none.
    defining = getattr(model, fields[0]) if fields else ""
    family = f"{model.name}{defining}" if isinstance(defining, int) else f"{model.name} {_short(defining)}".strip()
    # Control characters escaped: the name is printed (train, compare) and a folder's name is untrusted.
    parts = [printable(cfg.dataset_name()[:20], keep_lines=False), family]
    if model.activation != ModelConfig.model_fields["activation"].default:
        parts.append(model.activation)  # sigmoid vs relu: what the gradient demo's two runs differ in
    parts.append(f"{optimizer.name} lr={optimizer.learning_rate:g}")
    shown = {f"model.{f}" for f in ("name", "activation", *fields[:1])} | {
        "train.optimizer.name",
        "train.optimizer.learning_rate",
    }
    # A key given twice (train.epochs=1 ... train.epochs=3) is named once, with the value that won.
    last = dict(item.partition("=")[::2] for item in overrides)
    cycles = last.pop("train.snapshot_cycles", "1").strip()
    if cycles.isdigit() and cycles != "1" and last.get("train.epochs", "").strip().isdigit():
        # A snapshot ensemble's epochs as cycles x epochs a cycle: 'ep=4x60', one part instead of two.
        last["train.epochs"] = f"{cycles}x{int(last['train.epochs']) // max(1, int(cycles))}"
    elif cycles not in ("", "1"):
        last["train.snapshot_cycles"] = cycles
    for key, value in last.items():
        if key not in shown and not key.startswith(_OPERATIONAL) and key not in _DATA_SOURCE:
            parts.append(printable(_override(key.rsplit(".", 1)[-1], value), keep_lines=False))
    name = _fit(parts, MAX_RUN_NAME)
    # The family's other fields that its config file changed: the same in every run of that file, so
    # shown only where they fit (inception's flowers config sets four).
    for field in fields[1:]:
        value = getattr(model, field)
        extra = f" {field}={_short(value)}"
        changed = value != type(model).model_fields[field].default and f"model.{field}" not in last
        if changed and " #" not in name and len(name) + len(extra) <= MAX_RUN_NAME:
            name += extra
    return name


def _override(field: str, value: str) -> str:
    """'epochs', '5' -> 'ep=5'; image_size [64, 64] -> '64px'; a path -> its last part."""
    value = value.strip()
    if field == "time_budget_minutes":
        return f"{value}min"  # the time budget
    sides = value.strip("[]() ").replace(",", " ").split()
    if field == "image_size" and sides:
        return f"{sides[0]}px" if len(set(sides)) == 1 else f"{'x'.join(sides)}px"
    if "/" in value:
        value = Path(value).name or value
    elif value.startswith("["):
        value = value.replace(" ", "")
    elif any(c in value for c in ".eE"):
        value = _number(value)
    return f"{_SHORT.get(field, field)}={value[:20]}"


def _number(value: str) -> str:
    """'0.123456789' -> '0.1235' (the full value is a param); words stay as they are."""
    try:
        return f"{float(value):.4g}"
    except ValueError:
        return value  # sgd, none, auto


def _fit(parts: list[str], limit: int) -> str:
    """The parts joined, or as many as fit before ' #' + a hash of all of them."""
    full = " ".join(parts)
    if len(full) <= limit:
        return full
    suffix = " #" + hashlib.sha1(full.encode()).hexdigest()[:5]
    kept = parts[0]
    for part in parts[1:]:
        if len(kept) + 1 + len(part) + len(suffix) > limit:
            break
        kept += " " + part
    return kept[: limit - len(suffix)] + suffix


def _short(value) -> str:
    if isinstance(value, list) and len(value) > 3 and len(set(value)) == 1:
        return f"[{value[0]}]x{len(value)}"  # twelve equal layers: [64]x12
    return json.dumps(value, separators=(",", ":")) if isinstance(value, list) else str(value)
