"""The comparison plot: one row per val/test split (never two splits on one axis), with run names,
value labels and a zoomed axis."""

from pathlib import Path

import pandas as pd

from pipelines.tracking.compare import describe_split, split_groups

MAX_RUNS = 20  # per split, the best ones; the CSV beside the plot holds every run
MAX_SPLITS = 4  # the newest splits; the CSV holds the others


def plot_comparison(table: pd.DataFrame, path: Path) -> Path:
    """The comparison figure (see `comparison_figure`) as a PNG at `path`."""
    import matplotlib.pyplot as plt

    fig = comparison_figure(table)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def comparison_figure(table: pd.DataFrame):
    """One row per split. Left: best-val and test accuracy per run (horizontal bars, best on top,
    values printed); right: test accuracy against training time, each point labelled with its run's name."""
    import matplotlib

    matplotlib.use("Agg")  # no display on servers and in tests
    import matplotlib.pyplot as plt

    groups = [(split, group.head(MAX_RUNS).reset_index(drop=True)) for split, group in split_groups(table)]
    groups = groups[:MAX_SPLITS]
    heights = [1.6 + 0.45 * max(6, len(group)) for _, group in groups]
    fig = plt.figure(figsize=(14, sum(heights)), layout="constrained")
    rows = fig.subfigures(len(groups), 1, height_ratios=heights, squeeze=False)[:, 0]
    for (split, group), row in zip(groups, rows, strict=True):
        if len(groups) > 1:  # one split per row, titled by it: bars of two splits never share an axis
            settings = describe_split(group)
            row.suptitle(f"split {split}" + (f" ({settings})" if settings else "") + ": ranked within this split only")
        bars, scatter = row.subplots(1, 2, width_ratios=[1.2, 1])
        names = [_name(run) for _, run in group.iterrows()]
        _accuracy_bars(bars, group, names)
        _time_scatter(scatter, group, names)
    return fig


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
    ax.set_title("accuracy per run, best first (val: best epoch)", fontsize=10)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12 if len(shown) > 3 else -0.2), ncol=2, frameon=False)
    ax.grid(axis="x", alpha=0.3)


def _time_scatter(ax, shown: pd.DataFrame, names: list[str]) -> None:
    middle = shown["train_seconds"].median()
    for family, group in shown.groupby(shown["model"].fillna("?")):
        ax.scatter(group["train_seconds"], group["test_accuracy"], label=family, s=50)
        for i in group.index:
            x, y = group.at[i, "train_seconds"], group.at[i, "test_accuracy"]
            if pd.notna(x) and pd.notna(y):
                # Labels point inwards, so none runs off the panel; the middle one (a lone run) centred above.
                side = "right" if x > middle else "left" if x < middle else "center"
                offset = {"right": (-6, 4), "left": (6, 4), "center": (0, 8)}[side]
                ax.annotate(names[i], (x, y), xytext=offset, textcoords="offset points", fontsize=8, ha=side)
    ax.set_xlabel("training time (s)")
    ax.set_ylabel("test accuracy")
    ax.set_title("test accuracy against training time", fontsize=10)
    ax.legend(title="family", fontsize=8, loc="lower right")
    ax.grid(alpha=0.3)
    ax.margins(x=0.25, y=0.15)  # room for the labels


def _pct(value: float) -> str:
    return "" if pd.isna(value) else f"{value:.3f}"
