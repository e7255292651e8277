"""Evaluation reports: the same files for a run's test split and for `python -m app evaluate`.

A report directory holds `metrics.json` (accuracy, top-k accuracy, cross-entropy, macro scores,
per-class precision/recall/F1, and for training runs the parameter count, training time and
images/s), `per_class.csv`, `confusion_matrix.csv` + `.png` (rows: true class), a grid of the
most confident mistakes captioned with their file names and `misclassified.csv` listing every
mistake, the model summary, and, for training runs, the training curves and the
gradient-norm plot.
"""

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from data.tables import csv_text

log = logging.getLogger(__name__)


@dataclass
class Evaluation:
    class_names: list[str]
    labels: np.ndarray  # true class index per image
    probabilities: np.ndarray  # (N, num_classes)
    top_k: int | None  # models.heads.top_k(num_classes): None below 4 classes

    @property
    def predictions(self) -> np.ndarray:
        return self.probabilities.argmax(axis=1)

    def confusion(self) -> np.ndarray:
        n = len(self.class_names)
        matrix = np.zeros((n, n), dtype=np.int64)
        np.add.at(matrix, (self.labels, self.predictions), 1)
        return matrix

    def metrics(self) -> dict:
        from sklearn.metrics import precision_recall_fscore_support

        n = len(self.class_names)
        precision, recall, f1, support = precision_recall_fscore_support(
            self.labels, self.predictions, labels=list(range(n)), zero_division=0
        )
        true_p = np.clip(self.probabilities[np.arange(len(self.labels)), self.labels], 1e-7, 1.0)
        metrics = {
            "num_images": len(self.labels),
            "accuracy": float(np.mean(self.predictions == self.labels)),
            # Plain categorical cross-entropy, comparable across runs whatever loss shaping trained them.
            "cross_entropy": float(np.mean(-np.log(true_p))),
            "macro_precision": float(np.mean(precision)),
            "macro_recall": float(np.mean(recall)),
            "macro_f1": float(np.mean(f1)),
            "per_class": [
                {"class": c, "precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
                for c, p, r, f, s in zip(self.class_names, precision, recall, f1, support, strict=True)
            ],
        }
        if self.top_k:
            from models.heads import top_k_name

            top = np.argsort(self.probabilities, axis=1)[:, ::-1][:, : self.top_k]
            metrics["top_k"] = self.top_k
            hits = [y in row for y, row in zip(self.labels, top, strict=True)]
            metrics[top_k_name(self.top_k)] = float(np.mean(hits))  # e.g. top_5_accuracy
        return metrics


def predict_probabilities(model, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Class probabilities for uint8 images, calling the model directly.

    Not `model.predict`: under a multi-worker strategy that would wait for the other workers.
    """
    import tensorflow as tf

    forward = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
    out = []
    for start in range(0, len(images), batch_size):
        batch = tf.constant(images[start : start + batch_size], dtype=tf.float32)
        result = forward(batch)
        result = result[0] if isinstance(result, list | tuple) else result
        out.append(np.asarray(result, dtype=np.float64))
    return np.concatenate(out) if out else np.zeros((0, model.output_shape[-1]))


def evaluate_model(model, images, class_names: list[str], batch_size: int = 256) -> Evaluation:
    """Evaluate on an ImageSet (uint8 images, int labels in `class_names` order).

    Top-k uses the k of training's `val_top_<k>_accuracy` (models.heads.top_k), and the name carries it.
    """
    from models.heads import top_k

    if len(images) == 0:
        raise ValueError("no images to evaluate")
    probabilities = predict_probabilities(model, images.images, batch_size)
    return Evaluation(list(class_names), np.asarray(images.labels), probabilities, top_k(len(class_names)))


# Over ~50 lines on purpose: one file after another of the report, each a few lines.
def write_report(  # noqa: PLR0913 - optional report parts, all keyword-only
    evaluation: Evaluation,
    out_dir: Path,
    images: np.ndarray,
    *,
    model=None,
    training: dict | None = None,
    history_csv: Path | None = None,
    gradient_health=None,
    max_misclassified: int = 25,
    title: str = "",
    ids: list[str] | None = None,
    stop: tuple[int, str] | None = None,
) -> dict:
    """Write every report file into `out_dir`; returns the metrics dict (also in metrics.json).

    `ids` name the images (file paths of a folder) in the misclassified grid and its CSV; `stop`
    (epoch, "time budget" or "early stop") is marked on the training curves.
    """
    from pipelines.evaluation import plots as report_plots

    out_dir.mkdir(parents=True, exist_ok=True)
    metrics = evaluation.metrics()
    if model is not None:
        metrics["param_count"] = int(model.count_params())
        (out_dir / "model_summary.txt").write_text(model_summary(model))
    if training:
        metrics["training"] = training
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
    per_class_header = ["class", "precision", "recall", "f1", "support"]
    (out_dir / "per_class.csv").write_text(csv_text(per_class_header, metrics["per_class"]))

    confusion = evaluation.confusion()
    rows = [[name, *row] for name, row in zip(evaluation.class_names, confusion.tolist(), strict=True)]
    (out_dir / "confusion_matrix.csv").write_text(csv_text(["true\\predicted", *evaluation.class_names], rows))
    report_plots.plot_confusion_matrix(confusion, evaluation.class_names, out_dir / "confusion_matrix.png")

    wrong = np.flatnonzero(evaluation.predictions != evaluation.labels)
    # The most confident mistakes first: the ones most worth a look.
    total_wrong = len(wrong)
    wrong = wrong[np.argsort(-evaluation.probabilities[wrong].max(axis=1))]
    names = evaluation.class_names
    ids = ids if ids is not None else [f"#{i}" for i in range(len(evaluation.labels))]
    rows = [
        [ids[i], names[evaluation.labels[i]], names[evaluation.predictions[i]], round(float(p.max()), 4)]
        for i, p in zip(wrong, evaluation.probabilities[wrong], strict=True)
    ]  # every mistake, with the full path to open the file
    (out_dir / "misclassified.csv").write_text(csv_text(["image", "true", "predicted", "probability"], rows))
    shown = wrong[:max_misclassified]
    report_plots.plot_misclassified(
        images[shown],
        [names[i] for i in evaluation.labels[shown]],
        [names[i] for i in evaluation.predictions[shown]],
        [float(evaluation.probabilities[i].max()) for i in shown],
        out_dir / "misclassified.png",
        names=[ids[i] for i in shown],
        total=total_wrong,
    )
    if history_csv is not None and history_csv.is_file():
        from pipelines.training.callbacks import read_history

        columns = ("loss", "val_loss", "accuracy", "val_accuracy", "learning_rate")
        report_plots.plot_training_curves(
            {c: read_history(history_csv, c) for c in columns}, out_dir / "training_curves.png", title, stop
        )
    if gradient_health is not None and gradient_health.records:
        summary = gradient_health.summary()
        (out_dir / "gradient_health.json").write_text(json.dumps(summary, indent=2))
        report_plots.plot_gradient_norms(
            gradient_health.records,
            summary["vanishing_below"],
            summary["exploding_above"],
            out_dir / "gradient_norms.png",
        )
    log.info("evaluation report in %s: accuracy %.4f on %d images", out_dir, metrics["accuracy"], metrics["num_images"])
    return metrics


def model_summary(model) -> str:
    lines: list[str] = []
    model.summary(print_fn=lambda line, **_: lines.append(line), expand_nested=True, line_length=110)
    return "\n".join(lines) + "\n"


def write_run_report(
    model, splits, run_dir: Path, outcome, max_misclassified: int, run_name: str = "", tta: str = "none"
) -> dict[str, float]:
    """The training run's report on its test split, in run_dir/reports; returns the test metrics.

    With test-time augmentation (`evaluate.tta`) the report scores the averaged predictions, as
    the served model answers, and `test_accuracy_no_tta` keeps the single-view figure.
    Without a test split (data.test_fraction=0) the same report scores the validation split and
    the metrics are named `final_val_*`.
    """
    from models import inference_model
    from models.tta import with_tta

    prefix, split = ("test", splits.test) if len(splits.test) else ("final_val", splits.val)
    views = f", averaged over {tta} TTA" if tta != "none" else ""
    where = "the test split" if prefix == "test" else "the validation split (no test split)"
    log.info("evaluating on %s: %d images%s", where, len(split), views, extra={"stage": True})
    evaluation = evaluate_model(
        with_tta(inference_model(model), tta, split.images.shape[1:]), split, splits.class_names
    )
    training = {
        "epochs": outcome.last_epoch,
        "epochs_this_process": outcome.epochs_run,
        "train_seconds": round(outcome.train_seconds, 3),
        "images_per_second": round(outcome.images_per_second, 1),
        "step_images_per_second": round(outcome.step_images_per_second, 1),
        "median_epoch_seconds": outcome.epoch_seconds,
    }
    log.info(
        "writing the report (metrics, confusion matrix, curves, misclassified images) to %s",
        run_dir / "reports",
        extra={"stage": True},
    )
    metrics = write_report(
        evaluation,
        run_dir / "reports",
        split.images,
        model=model,
        training=training,
        history_csv=run_dir / "history.csv",
        gradient_health=outcome.gradient_health,
        max_misclassified=max_misclassified,
        title=f"training curves: {run_name}" if run_name else "",
        ids=split.ids,
        stop=(outcome.last_epoch, outcome.stop_reason) if outcome.stop_reason else None,
    )
    test = {
        f"{prefix}_accuracy": metrics["accuracy"],
        f"{prefix}_loss": metrics["cross_entropy"],
        f"{prefix}_macro_f1": metrics["macro_f1"],
    }
    if "top_k" in metrics:  # e.g. test_top_5_accuracy
        from models.heads import top_k_name

        name = top_k_name(metrics["top_k"])
        test[f"{prefix}_{name}"] = metrics[name]
    if tta != "none":
        single = evaluate_model(inference_model(model), split, splits.class_names)
        test[f"{prefix}_accuracy_no_tta"] = float(np.mean(single.predictions == single.labels))
    return test
