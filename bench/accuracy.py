"""Time-to-accuracy on flowers: the TensorFlow tutorial recipe vs our three model families.

Every contender gets the same wall-clock training budget on the same machine, the same seeded
train/val/test split, and is scored once on the held-out test split. Writes
bench/results/accuracy.json and prints a table with ratios to the recipe anchor.

    make bench-accuracy                      # 10 minutes per model, about an hour
    python -m bench.accuracy --minutes 2     # a quick look
"""

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

FLOWERS = ROOT.parent / "shared" / "datasets" / "flowers"
FAMILIES = {
    "mlp": "pipelines/configs/flowers_mlp.yaml",
    "vgg": "pipelines/configs/flowers_vgg.yaml",
    "inception": "pipelines/configs/flowers_inception.yaml",
}


def train_recipe_anchor(data_path: Path, seconds: float, seed: int) -> dict:
    """TensorFlow's image-classification tutorial, as published: three small convolutions
    (16/32/64), Keras flip/rotation/zoom layers, dropout 0.2, Adam, batch 32, on our split."""
    import keras
    import numpy as np

    from data.config import DataConfig
    from data.sources import load_splits
    from pipelines.training.time_budget import TimeBudget

    keras.utils.set_random_seed(seed)
    # The same split as the shipped flowers configs (same seed and fractions: the same test images).
    data_cfg = DataConfig(
        source="folder", path=str(data_path), image_size=(128, 128), channels=3, val_fraction=0.15, test_fraction=0.15
    )
    splits = load_splits(data_cfg, seed)
    num_classes = len(splits.class_names)
    model = keras.Sequential(
        [
            keras.Input((128, 128, 3)),
            keras.layers.RandomFlip("horizontal"),
            keras.layers.RandomRotation(0.1),
            keras.layers.RandomZoom(0.1),
            keras.layers.Rescaling(1.0 / 255),
            keras.layers.Conv2D(16, 3, padding="same", activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(64, 3, padding="same", activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Dropout(0.2),
            keras.layers.Flatten(),
            keras.layers.Dense(128, activation="relu"),
            keras.layers.Dense(num_classes),
        ]
    )
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    budget = TimeBudget(seconds)
    started = time.perf_counter()
    history = model.fit(
        splits.train.images.astype(np.float32),
        splits.train.labels,
        validation_data=(splits.val.images.astype(np.float32), splits.val.labels),
        batch_size=32,
        epochs=1000,
        callbacks=[budget],
        verbose=2,
    )
    wall = time.perf_counter() - started
    epochs = len(history.history["loss"])
    _, test_accuracy = model.evaluate(splits.test.images.astype(np.float32), splits.test.labels, verbose=0)
    return {
        "test_accuracy": float(test_accuracy),
        "best_val_accuracy": float(max(history.history["val_accuracy"])),
        "wall_seconds": wall,
        "epochs": epochs,
        "images_per_second": epochs * len(splits.train) / wall,
    }


def train_family(config: str, data_path: Path, seconds: float, seed: int) -> dict:
    from pipelines.config import load_config
    from pipelines.training.workflow import run_training

    # A fresh run directory: a backup left by an interrupted benchmark would otherwise be
    # resumed, and the resumed run would have had more than its budget.
    with tempfile.TemporaryDirectory(prefix="bench-accuracy-") as run_dir:
        cfg = load_config(
            ROOT / config,
            [
                f"data.path={data_path}",
                f"seed={seed}",
                f"output_dir={run_dir}",
                f"train.time_budget_minutes={seconds / 60}",
                "tracking.experiment=flowers-time-to-accuracy",
                "tracking.register_model=false",
            ],
        )
        started = time.perf_counter()
        result = run_training(cfg)
        wall = time.perf_counter() - started
    import mlflow

    metrics = mlflow.get_run(result.run_id).data.metrics
    return {
        "config": config,
        "run_id": result.run_id,
        "test_accuracy": result.test_accuracy,
        "best_val_accuracy": metrics.get("best_val_accuracy", metrics.get("val_accuracy")),
        "wall_seconds": metrics.get("train_seconds", wall),
        "epochs": result.epochs,
        "images_per_second": metrics.get("train_images_per_second"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0, help="training budget per model")
    parser.add_argument("--data", type=Path, default=FLOWERS)
    parser.add_argument("--only", nargs="*", default=["anchor", *FAMILIES], help="subset: anchor mlp vgg inception")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    if not args.data.is_dir():
        print(f"error: flowers dataset not found at {args.data}", file=sys.stderr)
        return 1
    seconds = args.minutes * 60
    results: dict[str, dict] = {}
    for name in args.only:
        print(f"== {name}: {args.minutes:g}-minute budget", flush=True)
        if name == "anchor":
            results[name] = train_recipe_anchor(args.data, seconds, args.seed)
        else:
            results[name] = train_family(FAMILIES[name], args.data, seconds, args.seed)
        print(json.dumps(results[name]), flush=True)
    anchor = results.get("anchor", {}).get("test_accuracy")
    for entry in results.values():
        if anchor:
            entry["test_accuracy_vs_anchor"] = entry["test_accuracy"] / anchor
    report = {
        "dataset": str(args.data),
        "budget_minutes": args.minutes,
        "seed": args.seed,
        "cpu_count": os.cpu_count(),
        "machine": platform.platform(),
        "results": results,
    }
    out = ROOT / "bench" / "results" / "accuracy.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(f"\n{'model':<10} {'test acc':>9} {'x anchor':>9} {'epochs':>7} {'wall s':>8} {'img/s':>8}")
    for name, r in results.items():
        ratio = r.get("test_accuracy_vs_anchor", float("nan"))
        print(
            f"{name:<10} {r['test_accuracy']:>9.4f} {ratio:>9.2f} {r['epochs']:>7d} "
            f"{r['wall_seconds']:>8.0f} {r['images_per_second'] or 0:>8.0f}"
        )
    print(f"\nwritten to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
