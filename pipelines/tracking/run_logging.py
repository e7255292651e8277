"""What a training run records in MLflow, before the fit (its inputs) and after (model and registry).

Each function takes only the config slices it logs or acts on.
"""

import json
import logging
from pathlib import Path

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
            # The k behind every top_k_accuracy of this run (validation and test): stored, not re-derived.
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


def export_served_model(mlflow, served_keras_model, data_cfg, inputs, run_dir: Path, tta: str = "none"):
    """Save the served Keras file and its metadata in run_dir, log them as the pyfunc; returns the ModelInfo."""
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
    example = inputs.splits.test if len(inputs.splits.test) else inputs.splits.val  # test_fraction=0: no test
    return log_served_model(mlflow, keras_path, meta_path, input_example(example.images[0]))


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
