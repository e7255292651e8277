"""Time-to-accuracy: the TensorFlow tutorial recipe (anchor) vs our model families, in three regimes.

Regimes (one seeded 70/15/15 stratified split of ../shared/datasets/flowers, written as a
train/ val/ test/ folder of symlinks, so every contender trains and is scored on the same files):
- flowers: all five classes, 10-minute training budget per model;
- small:   the same val/ and test/, but only 40 training images per class, 3-minute budget;
- binary:  two classes (rose vs tulip, the most confused pair), 3-minute budget.
Each model is scored once on test/, with and without flip test-time augmentation. The table
also gives epochs, training images/s, and the achieved training GFLOP/s as a share of a
float32 matmul measured in the same process. The MLP is compared with scikit-learn's
LogisticRegression and MLPClassifier on the same pixels (flowers regime).

    make bench-accuracy                                   # everything, ~1 h 15 of a quiet machine
    python -m bench.accuracy --regimes small --only anchor vgg
    python -m bench.accuracy --regimes flowers --minutes 2   # a quick look
Writes bench/results/accuracy.json (merged: a partial run updates only what it ran).
"""

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

FLOWERS = ROOT.parent / "shared" / "datasets" / "flowers"
FAMILIES = {
    "mlp": "pipelines/configs/flowers_mlp.yaml",
    "vgg": "pipelines/configs/flowers_vgg.yaml",
    "inception": "pipelines/configs/flowers_inception.yaml",
}
REGIMES = {  # name -> (budget minutes, training images per class or None, classes or None)
    "flowers": (10.0, None, None),
    "small": (3.0, 40, None),
    "binary": (3.0, None, ("rose", "tulip")),
    "transfer": (3.0, 40, ("rose", "tulip")),  # and a model pretrained on the other three classes
}
# The transfer regime's source: all photos of the classes its target leaves out, trained first.
PRETRAIN_CLASSES, PRETRAIN_MINUTES = ("daisy", "dandelion", "sunflower"), 6.0
OUT = ROOT / "bench" / "results" / "accuracy.json"


def make_regime_folder(source: Path, dest: Path, per_class: int | None, classes, seed: int) -> Path:
    """train/ val/ test/ of symlinks: the shipped configs' split (same seed and fractions), reduced."""
    import numpy as np

    from data.config import DataConfig
    from data.sources import load_splits

    cfg = DataConfig(source="folder", path=str(source), image_size=(8, 8), channels=3)
    splits = load_splits(cfg.model_copy(update={"val_fraction": 0.15, "test_fraction": 0.15}), seed)
    rng = np.random.default_rng(seed)
    for part_name in ("train", "val", "test"):
        part = getattr(splits, part_name)
        for label, name in enumerate(splits.class_names):
            if classes and name not in classes:
                continue
            ids = [i for i, y in zip(part.ids, part.labels, strict=True) if y == label]
            if part_name == "train" and per_class:
                ids = sorted(rng.choice(ids, per_class, replace=False))
            target = dest / part_name / name
            target.mkdir(parents=True, exist_ok=True)
            for file_id in ids:
                (target / Path(file_id).name).symlink_to(source / file_id)
    return dest


def matmul_gflops(dtype: str = "float32", n: int = 2048, repeats: int = 5) -> float:
    """n x n matmul rate in `dtype` in this process, median of `repeats`: the machine's reachable peak now."""
    import numpy as np
    import tensorflow as tf

    a = tf.cast(tf.random.normal((n, n)), dtype)
    b = tf.cast(tf.random.normal((n, n)), dtype)
    tf.matmul(a, b).numpy()  # warm-up
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        tf.matmul(a, b).numpy()
        times.append(time.perf_counter() - started)
    return 2 * n**3 / float(np.median(times)) / 1e9


def forward_flops(model) -> float:
    """Multiply-adds x 2 of the conv and dense layers for one image (nested models included)."""
    import keras

    total = 0.0
    for layer in model._flatten_layers(include_self=False):
        if isinstance(layer, keras.layers.Conv2D):
            kh, kw, cin, cout = layer.kernel.shape
            _, h, w, _ = layer.output.shape
            total += 2.0 * h * w * kh * kw * cin * cout
        elif isinstance(layer, keras.layers.Dense):
            total += 2.0 * layer.kernel.shape[0] * layer.kernel.shape[1]
    return total


def _flip_tta_accuracy(predict, images, labels) -> tuple[float, float]:
    import numpy as np

    plain = predict(images)
    flipped = predict(images[:, :, ::-1])
    return float(np.mean(plain.argmax(1) == labels)), float(np.mean(((plain + flipped) / 2).argmax(1) == labels))


def train_recipe_anchor(data_path: Path, seconds: float, seed: int) -> dict:
    """TensorFlow's image-classification tutorial, as published: three small convolutions
    (16/32/64), Keras flip/rotation/zoom layers, dropout 0.2, Adam, batch 32, at 128 px."""
    import keras
    import numpy as np

    from data.config import DataConfig
    from data.sources import load_splits
    from pipelines.training.time_budget import TimeBudget

    keras.utils.set_random_seed(seed)
    data_cfg = DataConfig(source="folder", path=str(data_path), image_size=(128, 128), channels=3)
    splits = load_splits(data_cfg, seed)  # train/ val/ test/ as given
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
    started = time.perf_counter()
    history = model.fit(
        splits.train.images.astype(np.float32),
        splits.train.labels,
        validation_data=(splits.val.images.astype(np.float32), splits.val.labels),
        batch_size=32,
        epochs=1000,
        callbacks=[TimeBudget(seconds)],
        verbose=2,
    )
    wall = time.perf_counter() - started
    epochs = len(history.history["loss"])
    plain, tta = _flip_tta_accuracy(
        lambda x: model.predict(x.astype(np.float32), verbose=0), splits.test.images, splits.test.labels
    )
    return {
        "test_accuracy": plain,
        "test_accuracy_tta_flip": tta,
        "best_val_accuracy": float(max(history.history["val_accuracy"])),
        "wall_seconds": wall,
        "epochs": epochs,
        "images_per_second": epochs * len(splits.train) / wall,
        "forward_gflop_per_image": forward_flops(model) / 1e9,
    }


def pretrain_folder(source: Path, dest: Path) -> Path:
    """Class folders of symlinks to every photo of PRETRAIN_CLASSES (the app splits them itself)."""
    for name in PRETRAIN_CLASSES:
        (dest / name).mkdir(parents=True)
        for photo in sorted((source / name).iterdir()):
            (dest / name / photo.name).symlink_to(photo)
    return dest


def train_transfer(family: str, folder: Path, source: Path, seconds: float, seed: int) -> dict[str, dict]:
    """Pretrain `family` on the other classes, then the target from scratch and fine-tuned: same split, same budget."""
    with tempfile.TemporaryDirectory(prefix="bench-pretrain-") as tmp:
        pretrained = train_family(
            family, pretrain_folder(source, Path(tmp) / "pretrain"), PRETRAIN_MINUTES * 60, seed, "pretrain"
        )
    print(f"pretrained on {', '.join(PRETRAIN_CLASSES)}: {json.dumps(pretrained)}", flush=True)
    scratch = train_family(family, folder, seconds, seed, "transfer")
    tuned = train_family(family, folder, seconds, seed, "transfer", [f"model.pretrained={pretrained['run_id']}"])
    tuned["pretrained_on"] = {"classes": PRETRAIN_CLASSES, "minutes": PRETRAIN_MINUTES, **pretrained}
    return {f"{family}_scratch": scratch, f"{family}_fine_tuned": tuned}


def train_family(family: str, data_path: Path, seconds: float, seed: int, regime: str, extra=()) -> dict:
    """The flowers regime trains the shipped config; the others what `make train-<family> DATA=<folder>` picks."""
    import mlflow

    from app.dataset_choice import config_for, pretrained_source
    from models import build_model
    from pipelines.config import load_config
    from pipelines.training.workflow import run_training

    if regime == "flowers":
        config, chosen = ROOT / FAMILIES[family], [f"data.path={data_path}"]
    else:
        # As the CLI does: with model.pretrained among the extras, the folder defaults fine-tune.
        config, chosen = config_for(family, str(data_path), seconds / 60, pretrained_source(extra))

    # A fresh run directory: a backup left by an interrupted benchmark would otherwise be
    # resumed, and the resumed run would have had more than its budget.
    with tempfile.TemporaryDirectory(prefix="bench-accuracy-") as run_dir:
        cfg = load_config(
            config,
            [
                *chosen,
                f"seed={seed}",
                f"output_dir={run_dir}",
                f"train.time_budget_minutes={seconds / 60}",
                "evaluate.tta=flip",  # the report gives both figures: with and without
                f"tracking.experiment=bench-{regime}",
                "tracking.register_model=false",
                *extra,
            ],
        )
        result = run_training(cfg)
    metrics = mlflow.get_run(result.run_id).data.metrics
    num_classes = len(
        json.loads(mlflow.artifacts.load_text(f"runs:/{result.run_id}/data/class_names.json"))["class_names"]
    )
    report = json.loads(mlflow.artifacts.load_text(f"runs:/{result.run_id}/reports/metrics.json"))
    network = build_model(cfg.model, (*cfg.data.image_size, cfg.data.channels), num_classes)
    return {
        "config": str(Path(config).relative_to(ROOT)),
        "overrides": [*chosen[1:], *extra],
        "run_id": result.run_id,
        "test_accuracy": metrics.get("test_accuracy_no_tta"),
        "test_accuracy_tta_flip": result.test_accuracy,
        "best_val_accuracy": metrics.get("best_val_accuracy", metrics.get("val_accuracy")),
        "wall_seconds": metrics.get("train_seconds"),
        "epochs": result.epochs,
        "images_per_second": metrics.get("train_images_per_second"),
        # The training step alone (median epoch, tracing excluded) and where the rest of an epoch went.
        "step_images_per_second": metrics.get("step_images_per_second"),
        "median_epoch_seconds": report["training"].get("median_epoch_seconds"),
        "forward_gflop_per_image": forward_flops(network) / 1e9,
    }


def sklearn_baselines(data_path: Path, seconds: float, seed: int) -> dict:
    """LogisticRegression and MLPClassifier on the flowers MLP's pixels (32 px, standardized)."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier

    from data.config import DataConfig
    from data.sources import load_splits

    splits = load_splits(DataConfig(source="folder", path=str(data_path), image_size=(32, 32), channels=3), seed)

    def flat(part):
        return part.images.reshape(len(part), -1).astype(np.float32) / 255.0

    x_train, x_val, x_test = flat(splits.train), flat(splits.val), flat(splits.test)
    mean, std = x_train.mean(0), x_train.std(0) + 1e-6
    x_train, x_val, x_test = ((x - mean) / std for x in (x_train, x_val, x_test))
    out = {}
    models = {
        "sklearn_logreg": LogisticRegression(C=0.01, max_iter=300),
        # Same widths as flowers_mlp; sklearn has no time budget: early stopping on its own 10% split.
        "sklearn_mlp": MLPClassifier((1024, 512), alpha=1e-3, early_stopping=True, max_iter=200, random_state=seed),
    }
    for name, model in models.items():
        started = time.perf_counter()
        model.fit(x_train, splits.train.labels)
        wall = time.perf_counter() - started
        out[name] = {
            "test_accuracy": float(model.score(x_test, splits.test.labels)),
            "best_val_accuracy": float(model.score(x_val, splits.val.labels)),
            "wall_seconds": wall,
            "within_budget": wall <= seconds,
        }
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--regimes", nargs="*", default=list(REGIMES), choices=list(REGIMES))
    parser.add_argument("--only", nargs="*", default=["anchor", *FAMILIES, "sklearn"])
    parser.add_argument("--minutes", type=float, default=None, help="override every regime's budget")
    parser.add_argument("--data", type=Path, default=FLOWERS)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    if not args.data.is_dir():
        print(f"error: flowers dataset not found at {args.data}", file=sys.stderr)
        return 1
    report = json.loads(OUT.read_text()) if OUT.is_file() else {"regimes": {}}
    load = os.getloadavg()
    # The shipped conv configs train in bfloat16 where the CPU has it: their share is also given
    # against a bfloat16 matmul, the fair peak for them.
    peak, peak_bf16 = matmul_gflops("float32"), matmul_gflops("bfloat16")
    print(
        f"matmul 2048^2: float32 {peak:.0f}, bfloat16 {peak_bf16:.0f} GFLOP/s; load average {load[0]:.1f}", flush=True
    )
    for regime in args.regimes:
        minutes, per_class, classes = REGIMES[regime]
        minutes = args.minutes or minutes
        results = report["regimes"].setdefault(regime, {"results": {}})["results"]
        with tempfile.TemporaryDirectory(prefix=f"bench-{regime}-") as tmp:
            folder = make_regime_folder(args.data, Path(tmp) / f"flowers-{regime}", per_class, classes, args.seed)
            for name in args.only:
                if name == "sklearn" and regime != "flowers":
                    continue
                if regime == "transfer":  # each family against itself, from scratch and fine-tuned
                    if name in FAMILIES and name != "mlp":
                        print(
                            f"== transfer / {name}: pretrain {PRETRAIN_MINUTES:g} min, then {minutes:g} min each",
                            flush=True,
                        )
                        results.update(train_transfer(name, folder, args.data, minutes * 60, args.seed))
                    continue
                print(f"== {regime} / {name}: {minutes:g}-minute budget", flush=True)
                started_load = os.getloadavg()[0]
                if name == "anchor":
                    entry = train_recipe_anchor(folder, minutes * 60, args.seed)
                elif name == "sklearn":
                    results.update(sklearn_baselines(folder, minutes * 60, args.seed))
                    continue
                else:
                    entry = train_family(name, folder, minutes * 60, args.seed, regime)
                gflops = 3 * entry["forward_gflop_per_image"] * (entry["images_per_second"] or 0)  # fwd + 2x bwd
                step_gflops = 3 * entry["forward_gflop_per_image"] * (entry.get("step_images_per_second") or 0)
                entry.update(
                    train_gflops=gflops,
                    matmul_share=gflops / peak,
                    matmul_share_bf16=gflops / peak_bf16,
                    step_matmul_share=step_gflops / peak,
                    step_matmul_share_bf16=step_gflops / peak_bf16,
                    load_average_start=started_load,
                    load_average_end=os.getloadavg()[0],
                )
                results[name] = entry
                print(json.dumps(entry), flush=True)
        anchor = results.get("anchor", {}).get("test_accuracy")
        for entry in results.values():
            if anchor and entry.get("test_accuracy") is not None:
                entry["test_accuracy_vs_anchor"] = entry["test_accuracy"] / anchor
        report["regimes"][regime].update(budget_minutes=minutes, per_class=per_class, classes=classes)
    report.update(
        seed=args.seed,
        cpu_count=os.cpu_count(),
        machine=platform.platform(),
        date=datetime.now(UTC).isoformat(timespec="minutes"),
        matmul_gflops=peak,
        matmul_gflops_bf16=peak_bf16,
        load_average_start=load,
    )
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(report, indent=2))
    print_table(report)
    print(f"\nwritten to {OUT}")
    return 0


def print_table(report: dict) -> None:
    print(
        f"\n{'regime':<8} {'model':<15} {'test':>6} {'+flip':>6} {'x anchor':>8} {'epochs':>6} {'img/s':>6} {'step/s':>6} {'f32mm%':>6} {'bf16mm%':>7} {'step f32%':>9}"
    )
    for regime, block in report["regimes"].items():
        for name, r in block["results"].items():
            ratio = r.get("test_accuracy_vs_anchor")
            print(
                f"{regime:<8} {name:<15} {r['test_accuracy']:>6.3f} {r.get('test_accuracy_tta_flip') or 0:>6.3f} "
                f"{ratio or 0:>8.2f} {r.get('epochs') or 0:>6} {r.get('images_per_second') or 0:>6.0f} "
                f"{r.get('step_images_per_second') or 0:>6.0f} "
                f"{100 * (r.get('matmul_share') or 0):>5.0f}% {100 * (r.get('matmul_share_bf16') or 0):>6.0f}% "
                f"{100 * (r.get('step_matmul_share') or 0):>8.0f}%"
            )


if __name__ == "__main__":
    sys.exit(main())
