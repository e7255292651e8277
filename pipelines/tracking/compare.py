"""Compare an experiment's runs: one table sorted by a metric, and a plot logged to MLflow."""

import logging
import tempfile
import time
from pathlib import Path

import pandas as pd

from pipelines.evaluation.metrics import higher_is_better

log = logging.getLogger(__name__)

# (column in the table, column in mlflow.search_runs' frame)
COLUMNS = [
    ("run_id", "run_id"),
    ("run_name", "tags.mlflow.runName"),
    ("model", "tags.model_family"),
    ("hidden_units", "params.model.hidden_units"),
    ("optimizer", "params.train.optimizer.name"),
    ("learning_rate", "params.train.optimizer.learning_rate"),
    ("batch_size", "params.train.batch_size"),
    ("epochs", "params.train.epochs"),
    ("augment", "params.augment.preset"),
    ("image_size", "params.data.image_size"),
    ("val_accuracy", "metrics.val_accuracy"),
    ("test_accuracy", "metrics.test_accuracy"),
    ("param_count", "params.param_count"),
    ("train_seconds", "metrics.train_seconds"),
    ("images_per_second", "metrics.train_images_per_second"),
]
NUMERIC = ("val_accuracy", "test_accuracy", "param_count", "train_seconds", "images_per_second")
SORTABLE = ("val_accuracy", "test_accuracy", "train_seconds", "images_per_second", "param_count")
# Marks the runs `compare` itself creates to hold its plot; they are not training runs.
COMPARISON_TAG = "imgclf.kind"


def compare_runs(mlflow, experiment: str, sort_by: str = "val_accuracy", max_runs: int = 100) -> pd.DataFrame:
    """The experiment's finished training runs, best first by `sort_by`."""
    if sort_by not in SORTABLE:
        raise ValueError(f"sort metric '{sort_by}' is not one of {', '.join(SORTABLE)}")
    found = mlflow.get_experiment_by_name(experiment)
    if found is None:
        raise ValueError(f"experiment '{experiment}' not found; train first (python -m app train) or pass --experiment")
    runs = mlflow.search_runs(
        experiment_ids=[found.experiment_id], filter_string="attributes.status = 'FINISHED'", max_results=max_runs
    )
    if f"tags.{COMPARISON_TAG}" in runs.columns:
        runs = runs[runs[f"tags.{COMPARISON_TAG}"].isna()]
    table = pd.DataFrame({name: runs[source] if source in runs.columns else None for name, source in COLUMNS})
    for name in NUMERIC:
        table[name] = pd.to_numeric(table[name], errors="coerce")
    ascending = not higher_is_better(sort_by)  # e.g. train_seconds: faster first
    return table.sort_values(sort_by, ascending=ascending, na_position="last").reset_index(drop=True)


def plot_comparison(table: pd.DataFrame, path: Path) -> Path:
    """Accuracy per run (val and test bars) beside accuracy against training time."""
    import matplotlib

    matplotlib.use("Agg")  # no display on servers and in tests
    import matplotlib.pyplot as plt

    labels = [f"{m or '?'} {str(r)[:6]}" for m, r in zip(table["model"], table["run_id"], strict=True)]
    fig, (bars, scatter) = plt.subplots(1, 2, figsize=(11, 4.2))
    x = range(len(table))
    bars.bar([i - 0.2 for i in x], table["val_accuracy"].fillna(0), width=0.4, label="val accuracy")
    bars.bar([i + 0.2 for i in x], table["test_accuracy"].fillna(0), width=0.4, label="test accuracy")
    bars.set_xticks(list(x), labels, rotation=30, ha="right", fontsize=8)
    bars.set_ylim(0, 1)
    bars.set_title("accuracy per run (best first)")
    bars.legend(loc="lower right")
    for model, group in table.groupby(table["model"].fillna("?")):
        scatter.scatter(group["train_seconds"], group["test_accuracy"], label=model, s=40)
    scatter.set_xlabel("training time (s)")
    scatter.set_ylabel("test accuracy")
    scatter.set_title("accuracy against training time")
    scatter.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def log_comparison(mlflow, experiment: str, table: pd.DataFrame, sort_by: str) -> str:
    """Log the table and plot as artifacts of a small run tagged as a comparison; returns its id."""
    found = mlflow.get_experiment_by_name(experiment)
    name = f"compare-{time.strftime('%Y%m%d-%H%M%S')}"
    with (
        tempfile.TemporaryDirectory() as tmp,
        mlflow.start_run(experiment_id=found.experiment_id, run_name=name) as run,
    ):
        mlflow.set_tags({COMPARISON_TAG: "comparison", "sorted_by": sort_by})
        mlflow.log_param("runs_compared", len(table))
        csv_path = Path(tmp) / "comparison.csv"
        table.to_csv(csv_path, index=False)
        mlflow.log_artifact(str(csv_path), "comparison")
        mlflow.log_artifact(str(plot_comparison(table, Path(tmp) / "comparison.png")), "comparison")
    log.info("logged the comparison as run %s (%s)", run.info.run_id, name)
    return run.info.run_id
