"""Compare an experiment's runs: tables ranked within each val/test split, and a plot logged on request.

Runs scored on different images are not comparable: a run tested on 15% of a folder and one tested
on 20% (or another seed, cap or folder) carry different `split_fingerprint` tags (data/splits.py),
so they land in different groups and are ranked only within their group. Runs logged before the
tag existed form one "unknown" group.
"""

import logging
import tempfile
import time
from pathlib import Path

import pandas as pd

from data.tables import write_frame_csv
from pipelines.evaluation.metrics import higher_is_better

log = logging.getLogger(__name__)

# (column in the table, column in mlflow.search_runs' frame); "architecture" is built per family.
COLUMNS = [
    ("run_id", "run_id"),
    ("run_name", "tags.mlflow.runName"),
    ("model", "tags.model_family"),
    ("optimizer", "params.train.optimizer.name"),
    ("learning_rate", "params.train.optimizer.learning_rate"),
    ("batch_size", "params.train.batch_size"),
    ("augment", "params.augment.preset"),
    ("image_size", "params.data.image_size"),
    # The best epoch's value, as training (EarlyStopping) and the champion alias use it, not the last.
    ("best_val_accuracy", "metrics.best_val_accuracy"),
    ("best_epoch", "metrics.best_epoch"),
    ("test_accuracy", "metrics.test_accuracy"),
    ("tta", "params.evaluate.tta"),  # test_accuracy is the TTA figure when this is not "none"
    ("param_count", "params.param_count"),
    ("train_seconds", "metrics.train_seconds"),
    ("images_per_second", "metrics.train_images_per_second"),
    ("split", "tags.split_fingerprint"),
    # What a split is made of, to say in one line why two groups differ.
    ("test_fraction", "params.data.test_fraction"),
    ("val_fraction", "params.data.val_fraction"),
    ("seed", "params.seed"),
    ("max_images_per_class", "params.data.max_images_per_class"),
]
NUMERIC = ("best_val_accuracy", "best_epoch", "test_accuracy", "param_count", "train_seconds", "images_per_second")
SORTABLE = ("best_val_accuracy", "test_accuracy", "train_seconds", "images_per_second", "param_count")
# `val_accuracy` reads as the best epoch's: the last epoch's is never what a comparison wants.
SORT_ALIASES = {"val_accuracy": "best_val_accuracy"}
# Marks the runs `compare --log` creates to hold its plot; they are not training runs.
COMPARISON_TAG = "imgclf.kind"
UNKNOWN_SPLIT = "unknown"  # runs logged before split_fingerprint existed
SPLIT_PARAMS = ("test_fraction", "val_fraction", "seed", "max_images_per_class")


def compare_runs(mlflow, experiment: str, sort_by: str = "best_val_accuracy", max_runs: int = 100) -> pd.DataFrame:
    """The experiment's finished training runs, one group per split, each ranked best first by `sort_by`.

    Groups come newest first (the split of the latest run on top), "unknown" last; `rank` restarts
    at 1 in every group, so no run is ranked against one scored on other images.
    """
    sort_by = SORT_ALIASES.get(sort_by, sort_by)
    if sort_by not in SORTABLE:
        raise ValueError(f"sort metric '{sort_by}' is not one of {', '.join(SORTABLE)}")
    found = mlflow.get_experiment_by_name(experiment)  # a lookup: never creates the experiment
    if found is None:
        raise ValueError(f"experiment '{experiment}' not found; train first (python -m app train) or pass --experiment")
    runs = mlflow.search_runs(
        experiment_ids=[found.experiment_id], filter_string="attributes.status = 'FINISHED'", max_results=max_runs
    )
    if f"tags.{COMPARISON_TAG}" in runs.columns:
        runs = runs[runs[f"tags.{COMPARISON_TAG}"].isna()]
    runs = runs.reset_index(drop=True)
    table = pd.DataFrame({name: runs[source] if source in runs.columns else None for name, source in COLUMNS})
    table.insert(3, "architecture", [_architecture(row) for _, row in runs.iterrows()])
    for name in NUMERIC:
        table[name] = pd.to_numeric(table[name], errors="coerce")
    table["split"] = table["split"].where(table["split"].notna(), UNKNOWN_SPLIT)
    _fill_best_from_history(mlflow.MlflowClient(), table)
    return _rank_within_splits(table, runs.get("start_time"), sort_by)


def _rank_within_splits(table: pd.DataFrame, start_time, sort_by: str) -> pd.DataFrame:
    if table.empty:
        return table.assign(rank=pd.Series(dtype=int))
    started = pd.to_datetime(start_time, utc=True) if start_time is not None else pd.Series(pd.NaT, index=table.index)
    newest = started.groupby(table["split"]).max()
    order = {split: i for i, split in enumerate(newest.sort_values(ascending=False, na_position="last").index)}
    order[UNKNOWN_SPLIT] = len(order)  # last, whatever its age
    ascending = not higher_is_better(sort_by)  # e.g. train_seconds: faster first
    table = table.sort_values(sort_by, ascending=ascending, na_position="last", kind="stable")
    table = table.sort_values("split", key=lambda s: s.map(order), kind="stable").reset_index(drop=True)
    table.insert(0, "rank", table.groupby("split").cumcount() + 1)
    return table


def split_groups(table: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """(split fingerprint, its runs) in the table's order: the units a ranking or a plot may cover."""
    if "split" not in table.columns:  # a table built by hand: one group
        return [(UNKNOWN_SPLIT, table)]
    return [(split, table[table["split"] == split]) for split in dict.fromkeys(table["split"])]


def describe_split(group: pd.DataFrame) -> str:
    """The split settings its runs share, e.g. 'test_fraction 0.2, val_fraction 0.1, seed 42'."""
    parts = []
    for name in SPLIT_PARAMS:
        values = set(group[name].dropna().astype(str)) - {"None"}
        if len(values) == 1:
            parts.append(f"{name} {values.pop()}")
    return ", ".join(parts)


def _architecture(row) -> str:
    """The run's own family fields (its config class in models/families/), e.g. 'hidden_units=[64]' or 'vgg_depth=16 ...'."""
    from models.config import family_fields

    family = row.get("tags.model_family")
    if not isinstance(family, str):
        return ""
    values = [(f, row.get(f"params.model.{f}")) for f in family_fields(family)]
    return " ".join(f"{f}={v}" for f, v in values if isinstance(v, str))


def _fill_best_from_history(client, table: pd.DataFrame) -> None:
    """Runs logged before best_val_accuracy existed: take the best epoch from their val_accuracy history."""
    from pipelines.tracking.registry import best_point

    for i in table.index[table["best_val_accuracy"].isna()]:
        best = best_point(client, table.at[i, "run_id"], "val_accuracy", higher_is_better=True)
        if best is not None:
            table.loc[i, ["best_val_accuracy", "best_epoch"]] = [best[0], best[1]]


def log_comparison(mlflow, experiment: str, table: pd.DataFrame, sort_by: str) -> str:
    """Log the table and plot as artifacts of a small run tagged as a comparison; returns its id."""
    from pipelines.tracking.compare_plot import plot_comparison

    found = mlflow.get_experiment_by_name(experiment)
    name = f"compare-{time.strftime('%Y%m%d-%H%M%S')}"
    with (
        tempfile.TemporaryDirectory() as tmp,
        mlflow.start_run(experiment_id=found.experiment_id, run_name=name) as run,
    ):
        mlflow.set_tags({COMPARISON_TAG: "comparison", "sorted_by": sort_by})
        mlflow.log_params({"runs_compared": len(table), "splits_compared": table["split"].nunique()})
        csv_path = Path(tmp) / "comparison.csv"
        write_frame_csv(table, csv_path)  # run names are untrusted: no spreadsheet formulas
        mlflow.log_artifact(str(csv_path), "comparison")
        mlflow.log_artifact(str(plot_comparison(table, Path(tmp) / "comparison.png")), "comparison")
    log.info("logged the comparison as run %s (%s)", run.info.run_id, name)
    return run.info.run_id
