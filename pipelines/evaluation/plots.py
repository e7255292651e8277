"""The PNGs of an evaluation report, drawn with matplotlib's Agg backend (no display needed)."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np


def plot_confusion_matrix(confusion: np.ndarray, class_names: list[str], path: Path) -> Path:
    """Rows are true classes, columns predictions; each cell shows its count."""
    n = len(class_names)
    size = min(4 + 0.45 * n, 24)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(confusion, cmap="Blues")
    ax.set_xticks(range(n), class_names, rotation=45 if n > 6 else 0, ha="right" if n > 6 else "center")
    ax.set_yticks(range(n), class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"confusion matrix ({int(confusion.sum())} images)")
    if n <= 30:
        threshold = confusion.max() / 2 if confusion.size else 0
        for i in range(n):
            for j in range(n):
                color = "white" if confusion[i, j] > threshold else "black"
                ax.text(j, i, str(int(confusion[i, j])), ha="center", va="center", color=color, fontsize=8)
    return _save(fig, path)


def plot_misclassified(
    images: np.ndarray, true: list[str], predicted: list[str], confidence: list[float], path: Path
) -> Path:
    """A grid of misclassified images titled 'true -> predicted (probability)'."""
    count = len(images)
    cols = max(1, min(5, count))
    rows = max(1, int(np.ceil(count / cols)))
    fig, axes = plt.subplots(rows, cols, figsize=(2.4 * cols, 2.6 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, image, t, p, c in zip(axes.flat, images, true, predicted, confidence, strict=False):
        gray = image.shape[-1] == 1
        ax.imshow(image[..., 0] if gray else image, cmap="gray" if gray else None, interpolation="nearest")
        ax.set_title(f"true {t}\npred {p} ({c:.2f})", fontsize=8)
    if count == 0:
        axes.flat[0].text(0.5, 0.5, "no misclassified images", ha="center", va="center")
    return _save(fig, path)


def plot_training_curves(history: dict[str, dict[int, float]], path: Path) -> Path:
    """Loss, accuracy and learning rate per epoch; `history` maps column -> {epoch: value}."""
    panels = [
        ("loss", ["loss", "val_loss"]),
        ("accuracy", ["accuracy", "val_accuracy"]),
        ("learning rate", ["learning_rate"]),
    ]
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    for ax, (title, columns) in zip(axes, panels, strict=True):
        for column in columns:
            series = history.get(column) or {}
            if series:
                ax.plot(list(series), list(series.values()), marker="o", markersize=3, label=column)
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=8)
    if history.get("learning_rate") and min(history["learning_rate"].values()) > 0:
        axes[2].set_yscale("log")
    return _save(fig, path)


def plot_gradient_norms(records: list[tuple[int, dict[str, float]]], low: float, high: float, path: Path) -> Path:
    """Per-layer gradient norm (log scale), one line per measurement, thresholds dashed."""
    fig, ax = plt.subplots(figsize=(max(6, 0.6 * len(records[0][1]) + 3) if records else 6, 4))
    cmap = plt.get_cmap("viridis")
    for i, (step, norms) in enumerate(records):
        values = [max(v, 1e-30) for v in norms.values()]
        ax.plot(range(len(values)), values, marker="o", color=cmap(i / max(1, len(records) - 1)), label=f"step {step}")
    if records:
        names = list(records[-1][1])
        ax.set_xticks(range(len(names)), [n.split("/")[-1] for n in names], rotation=45, ha="right")
    ax.axhline(low, color="red", linestyle="--", linewidth=1, label=f"vanishing < {low:g}")
    ax.axhline(high, color="orange", linestyle="--", linewidth=1, label=f"exploding > {high:g}")
    ax.set_yscale("log")
    ax.set_xlabel("layer (input -> output)")
    ax.set_ylabel("gradient L2 norm")
    ax.set_title("per-layer gradient norms on a fixed batch")
    ax.legend(fontsize=7, ncol=2)
    return _save(fig, path)


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
