"""The PNGs of an evaluation report, drawn with matplotlib's Agg backend (no display needed)."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from data.printable import printable

# Class and file names are text, not mathtext: a class folder named '$\\bad$' failed the report.
matplotlib.rcParams["text.parse_math"] = False


def plot_confusion_matrix(confusion: np.ndarray, class_names: list[str], path: Path) -> Path:
    return _save(confusion_matrix_figure(confusion, class_names), path)


def confusion_matrix_figure(confusion: np.ndarray, class_names: list[str]):
    """Counts (left) and the row-normalized view (right: each row's recall, in %); rows are true classes."""
    n = len(class_names)
    size = min(max(4.5, 3 + 0.35 * n), 14)  # below 4.5 in a two-line title does not fit
    fig, (counts, recall) = plt.subplots(1, 2, figsize=(2 * size + 1, size))
    rows = confusion.sum(axis=1, keepdims=True)
    normalized = np.divide(confusion, rows, out=np.zeros(confusion.shape, float), where=rows > 0)
    _matrix(counts, confusion, class_names, [str(int(v)) for v in confusion.flat], size)
    counts.set_title(f"counts\n({int(confusion.sum())} images)")
    _matrix(recall, normalized, class_names, [f"{100 * v:.0f}" for v in normalized.flat], size, vmax=1.0)
    recall.set_title("% of each true class\n(diagonal = recall)")
    return laid_out(fig)


def _matrix(ax, values: np.ndarray, class_names: list[str], texts: list[str], size: float, vmax=None) -> None:
    n = len(class_names)
    ax.imshow(values, cmap="Blues", vmin=0, vmax=vmax)
    names = [shorten(name, 24) for name in class_names]  # the full names are in confusion_matrix.csv
    # Short names (digits) stay upright; names that would run into each other are slanted.
    slanted = max(len(name) for name in names) * n > 9 * size
    if slanted:
        ax.set_xticks(range(n), names, rotation=40, ha="right", rotation_mode="anchor")
    else:
        ax.set_xticks(range(n), names)
    ax.set_yticks(range(n), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if n <= 30:
        threshold = (vmax or values.max() or 1) / 2
        for k, text in enumerate(texts):
            i, j = divmod(k, n)
            color = "white" if values[i, j] > threshold else "black"
            ax.text(j, i, text, ha="center", va="center", color=color, fontsize=8)


def shorten(text: str, width: int) -> str:
    """`text` cut in the middle to `width` characters: both ends of a file or class name stay readable.
    Control characters (an ANSI escape in a folder name) are shown escaped, as on the terminal."""
    text = printable(text, keep_lines=False)
    if len(text) <= width:
        return text
    head = (width - 1) // 2
    return f"{text[:head]}\u2026{text[len(text) - (width - 1 - head) :]}"


def plot_misclassified(
    images: np.ndarray,
    true: list[str],
    predicted: list[str],
    confidence: list[float],
    path: Path,
    names: list[str] | None = None,
    total: int | None = None,
) -> Path:
    return _save(misclassified_figure(images, true, predicted, confidence, names, total), path)


def misclassified_figure(
    images: np.ndarray,
    true: list[str],
    predicted: list[str],
    confidence: list[float],
    names: list[str] | None = None,
    total: int | None = None,
):
    """A grid of misclassified images, each captioned with its file name (`names`: ids of the
    images, file paths for a folder) and 'true' / 'pred (probability)'; `total`: all mistakes."""
    count = len(images)
    cols = max(1, min(5, count))
    rows = max(1, int(np.ceil(count / cols)))
    fig, axes = plt.subplots(rows, cols, figsize=(2.4 * cols, 2.9 * rows + 0.4), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    names = names if names is not None else [""] * count
    for ax, image, t, p, c, name in zip(axes.flat, images, true, predicted, confidence, names, strict=False):
        gray = image.shape[-1] == 1
        ax.imshow(image[..., 0] if gray else image, cmap="gray" if gray else None, interpolation="nearest")
        caption = [shorten(Path(name).name, 30)] if name else []
        caption += [f"true {shorten(t, 25)}", f"pred {shorten(p, 18)} ({c:.2f})"]
        ax.set_title("\n".join(caption), fontsize=8)
    if count == 0:
        axes.flat[0].text(0.5, 0.5, "no misclassified images", ha="center", va="center")
    else:
        shown = f"the {count} most confident of {total}" if total and total > count else f"all {count}"
        fig.suptitle(f"misclassified: {shown}", fontsize=10)
    return laid_out(fig)


STOP_COLORS = {"time budget": "tab:red", "early stop": "tab:purple"}


def plot_training_curves(
    history: dict[str, dict[int, float]], path: Path, title: str = "", stop: tuple[int, str] | None = None
) -> Path:
    return _save(training_curves_figure(history, title, stop), path)


def training_curves_figure(history: dict[str, dict[int, float]], title: str = "", stop: tuple[int, str] | None = None):
    """Loss, accuracy and learning rate per epoch; `history` maps column -> {0-based epoch: value}.

    Epochs are drawn from 1, as the terminal counts them, on integer ticks. The best val_accuracy
    epoch is marked, and `stop` (1-based epoch, "time budget" or "early stop") marks why the run
    ended early. Legends sit below the panels, never on the curves.
    """
    from matplotlib.ticker import MaxNLocator

    panels = [
        ("loss", ["loss", "val_loss"]),
        ("accuracy", ["accuracy", "val_accuracy"]),
        ("learning rate", ["learning_rate"]),
    ]
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.6))
    for ax, (panel, columns) in zip(axes, panels, strict=True):
        for column in columns:
            series = history.get(column) or {}
            if series:
                epochs = [epoch + 1 for epoch in series]
                ax.plot(epochs, list(series.values()), marker="o", markersize=3, label=column)
        ax.set_title(panel)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
        ax.grid(alpha=0.3)
    val = history.get("val_accuracy") or {}
    if val:
        best = max(val, key=lambda epoch: (val[epoch], -epoch))
        label = f"best val_accuracy {val[best]:.4f} (epoch {best + 1})"
        axes[1].axvline(best + 1, color="gray", linestyle=":", linewidth=1.5, label=label)
    if stop and stop[1]:
        epoch, reason = stop
        for ax in axes:
            if ax.lines:
                color = STOP_COLORS.get(reason, "black")
                ax.axvline(epoch, color=color, linestyle="--", linewidth=1, label=f"stopped: {reason} (epoch {epoch})")
    for ax in axes:
        if ax.lines:
            ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, frameon=False)
    last = max((epoch + 1 for series in history.values() for epoch in series or {}), default=0)
    for ax in axes if last else ():
        ax.set_xlim(0.5, last + 0.5)  # whole epochs, also for a run of one (matplotlib would zoom to 0.95..1.05)
    rates = list((history.get("learning_rate") or {}).values())
    if rates and min(rates) > 0 and max(rates) > 20 * min(rates):  # warm-up, decay: log; a narrow range reads plainer
        axes[2].set_yscale("log")
    if title:
        fig.suptitle(wrap_title(title, fig, fontsize=12), fontsize=12)
    return laid_out(fig)


def wrap_title(title: str, fig, fontsize: float) -> str:
    """`title` on as many lines as the figure's width needs (a character is ~0.6 of the font size)."""
    import textwrap

    width = int(fig.get_figwidth() * 72 / (0.6 * fontsize)) - 4
    return "\n".join(textwrap.wrap(title, width, break_long_words=True, break_on_hyphens=False)[:3])


def layer_block(layer: str) -> str:
    """The block a layer belongs to, by the Keras naming of our families: block2_conv1_bn -> block2."""
    return layer.split("/")[-1].split("_")[0]


def block_norms(norms: dict[str, float]) -> dict[str, tuple[float, float, float]]:
    """block -> (L2 norm over all its layers' weights, smallest layer norm, largest), in network order."""
    groups: dict[str, list[float]] = {}
    for layer, norm in norms.items():
        groups.setdefault(layer_block(layer), []).append(norm)
    return {b: (float(np.sqrt(np.sum(np.square(v)))), min(v), max(v)) for b, v in groups.items()}


def plot_gradient_norms(records: list[tuple[int, dict[str, float]]], low: float, high: float, path: Path) -> Path:
    """Gradient norm per block (log scale), a few measurements from first to last, thresholds dashed.

    The last measurement shows each block's range of single-layer norms as a bar, so conv and
    batch-norm layers are summarized instead of interleaved on a 27-label axis.
    """
    blocks = list(block_norms(records[-1][1])) if records else []
    fig, ax = plt.subplots(figsize=(min(14, max(7, 0.7 * len(blocks) + 3)), 4.5))
    shown = _spread(records, 6)
    cmap = plt.get_cmap("viridis")
    for i, (step, norms) in enumerate(shown):
        grouped = block_norms(norms)
        values = [max(grouped[b][0], 1e-30) if b in grouped else np.nan for b in blocks]
        last = i == len(shown) - 1
        color = cmap(i / max(1, len(shown) - 1))
        ax.plot(range(len(blocks)), values, marker="o", color=color, label=f"step {step}", linewidth=2 if last else 1)
        if last:
            lows = [max(grouped[b][1], 1e-30) for b in blocks]
            highs = [max(grouped[b][2], 1e-30) for b in blocks]
            ax.vlines(range(len(blocks)), lows, highs, color=color, alpha=0.35, linewidth=6, label="layers in block")
    ax.set_xticks(range(len(blocks)), blocks, fontsize=9)
    ax.axhline(low, color="red", linestyle="--", linewidth=1, label=f"vanishing < {low:g}")
    ax.axhline(high, color="orange", linestyle="--", linewidth=1, label=f"exploding > {high:g}")
    ax.set_yscale("log")
    ax.set_xlabel("block (input -> output)")
    ax.set_ylabel("gradient L2 norm")
    ax.set_title("gradient norm per block on a fixed batch")
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    ax.grid(alpha=0.3, which="both", axis="y")
    return _save(laid_out(fig), path)


def _spread(records: list, count: int) -> list:
    """At most `count` measurements, evenly spaced, always the first and the last."""
    if len(records) <= count:
        return list(records)
    picks = np.linspace(0, len(records) - 1, count).round().astype(int)
    return [records[i] for i in sorted(set(picks))]


def laid_out(fig):
    """The figure with its axes fitted around every title, tick label and legend (tight_layout)."""
    fig.tight_layout()
    return fig


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_gradient_demo(runs: dict[str, dict[str, float]], low: float, path: Path) -> Path:
    """Several runs' per-layer gradient norms on one log axis: e.g. deep sigmoid beside ReLU + He."""
    layers = list(next(iter(runs.values()))) if runs else []
    fig, ax = plt.subplots(figsize=(max(7, 0.55 * len(layers) + 3), 4.5))
    for label, norms in runs.items():
        ax.plot(range(len(layers)), [max(norms.get(layer, np.nan), 1e-30) for layer in layers], marker="o", label=label)
    ax.set_xticks(range(len(layers)), [layer.split("/")[-1].removeprefix("dense") for layer in layers], fontsize=9)
    ax.axhline(low, color="red", linestyle="--", linewidth=1, label=f"vanishing < {low:g}")
    ax.set_yscale("log")
    ax.set_xlabel("dense layer (input -> output; last = predictions)")
    ax.set_ylabel("gradient L2 norm")
    ax.set_title("the same deep MLP: sigmoid gradients vanish toward the input, ReLU + He keeps them")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, which="both", axis="y")
    return _save(laid_out(fig), path)
