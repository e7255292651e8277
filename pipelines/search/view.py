"""`compare --study NAME`: a study's trials as a table, best objective first, pruned and failed ones marked."""

import pandas as pd

OBJECTIVE = "best_val_accuracy"
STATE_TAG = "trial_state"  # set by objective.py (not imported: it loads Keras, this view should not)


def study_table(mlflow, study: str, max_runs: int = 1000) -> pd.DataFrame:
    """One row per trial run of `study` (in any experiment), sorted by the objective; params of the space shown."""
    client = mlflow.MlflowClient()
    experiments = [e.experiment_id for e in client.search_experiments()]
    runs = mlflow.search_runs(
        experiment_ids=experiments,
        filter_string=f"tags.study = '{_quoted(study)}' and tags.tune_role = 'trial'",
        max_results=max_runs,
    )
    if runs.empty:
        raise ValueError(
            f"no trials of study '{study}' in this tracking store; run `python -m app tune --study {study}`"
        )
    parent = mlflow.search_runs(
        experiment_ids=experiments, filter_string=f"tags.study = '{_quoted(study)}' and tags.tune_role = 'parent'"
    )
    keys = [c.removeprefix("params.space.") for c in parent.columns if c.startswith("params.space.")]
    table = pd.DataFrame(
        {
            "trial": pd.to_numeric(runs["tags.trial_number"], errors="coerce").astype("Int64"),
            # A run killed mid-trial is still RUNNING in MLflow: its status says more than a stale tag.
            "state": [
                t if s == "FINISHED" else s for t, s in zip(runs[f"tags.{STATE_TAG}"], runs["status"], strict=True)
            ],
            OBJECTIVE: pd.to_numeric(runs.get(f"metrics.{OBJECTIVE}"), errors="coerce"),
            "test_accuracy": pd.to_numeric(runs.get("metrics.test_accuracy"), errors="coerce"),
            "train_seconds": pd.to_numeric(runs.get("metrics.train_seconds"), errors="coerce"),
            "run_id": runs["run_id"],
        }
    )
    for key in keys:  # the trial's point as Optuna names it (a one_of set by its name)
        table.insert(len(table.columns) - 1, key, runs.get(f"tags.space.{key}"))
    return table.sort_values(OBJECTIVE, ascending=False, na_position="last").reset_index(drop=True)


def _quoted(text: str) -> str:
    return text.replace("'", "\\'")
