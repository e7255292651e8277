"""The comparison plot: readable at a glance, with run names, value labels and a zoomed axis."""

from pathlib import Path

import pandas as pd

MAX_RUNS = 20  # the best ones; the CSV beside the plot holds every run


def plot_comparison(table: pd.DataFrame, path: Path) -> Path:
    """Left: best-val and test accuracy per run (horizontal bars, best on top, values printed).
    Right: test accuracy against training time, each point labelled with its run's name."""
    import matplotlib

    matplotlib.use("Agg")  # no display on servers and in tests
    import matplotlib.pyplot as plt

    shown = table.head(MAX_RUNS)
    names = [_name(row) for _, row in shown.iterrows()]
    fig, (bars, scatter) = plt.subplots(
        1, 2, figsize=(14, 1.6 + 0.45 * max(6, len(shown))), gridspec_kw={"width_ratios": [1.2, 1]}
    )
    _accuracy_bars(bars, shown, names)
    _time_scatter(scatter, shown, names)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _name(row) -> str:
    name = row.get("run_name")
    name = name if isinstance(name, str) and name else str(row["run_id"])[:8]
    return name if len(name) <= 40 else name[:39] + "…"


def _accuracy_bars(ax, shown: pd.DataFrame, names: list[str]) -> None:
    rows = range(len(shown))
    series = [("best val accuracy", "best_val_accuracy", -0.2), ("test accuracy", "test_accuracy", 0.2)]
    values = []
    for label, column, offset in series:
        column_values = shown[column].astype(float)
        values.extend(column_values.dropna())
        drawn = ax.barh([r + offset for r in rows], column_values.fillna(0), height=0.4, label=label)
        ax.bar_label(drawn, labels=[_pct(v) for v in column_values], padding=2, fontsize=8)
    ax.set_yticks(list(rows), names, fontsize=9)
    ax.invert_yaxis()  # best first, on top
    # Zoomed: differences of a point or two must be visible, not flattened on a 0-1 axis.
    low = max(0.0, min(values, default=0.0) - 0.05)
    ax.set_xlim(low, min(1.0, max(values, default=1.0)) + 0.06)
    ax.set_xlabel(f"accuracy (axis from {low:.2f})")
    ax.set_title("accuracy per run, best first (val: best epoch)")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12 if len(shown) > 3 else -0.2), ncol=2, frameon=False)
    ax.grid(axis="x", alpha=0.3)


def _time_scatter(ax, shown: pd.DataFrame, names: list[str]) -> None:
    middle = shown["train_seconds"].median()
    for family, group in shown.groupby(shown["model"].fillna("?")):
        ax.scatter(group["train_seconds"], group["test_accuracy"], label=family, s=50)
        for i in group.index:
            x, y = group.at[i, "train_seconds"], group.at[i, "test_accuracy"]
            if pd.notna(x) and pd.notna(y):
                right = x > middle  # labels point inwards, so none runs off the panel
                offset = (-6, 4) if right else (6, 4)
                ax.annotate(
                    names[i],
                    (x, y),
                    xytext=offset,
                    textcoords="offset points",
                    fontsize=8,
                    ha="right" if right else "left",
                )
    ax.set_xlabel("training time (s)")
    ax.set_ylabel("test accuracy")
    ax.set_title("test accuracy against training time")
    ax.legend(title="family", fontsize=8, loc="lower right")
    ax.grid(alpha=0.3)
    ax.margins(x=0.25, y=0.15)  # room for the labels


def _pct(value: float) -> str:
    return "" if pd.isna(value) else f"{value:.3f}"
