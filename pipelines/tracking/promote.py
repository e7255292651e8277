"""Promote a run: register its model under a name and move the alias (default `champion`) to it."""

import logging
from dataclasses import dataclass

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from pipelines.evaluation.metrics import higher_is_better
from pipelines.tracking.compare import COMPARISON_TAG, SORT_ALIASES, SORTABLE
from pipelines.tracking.registry import check_serves, register

log = logging.getLogger(__name__)


@dataclass
class Promotion:
    run_id: str
    name: str
    version: str
    alias: str
    metric: str
    value: float | None
    previous_version: str | None  # where the alias pointed before, if anywhere


def best_run_id(mlflow, experiment: str, metric: str = "val_accuracy") -> tuple[str, float]:
    """The finished training run with the best `metric` that has a logged model."""
    if metric not in (*SORTABLE, *SORT_ALIASES):
        raise ValueError(f"metric '{metric}' is not one of {', '.join((*SORTABLE, *SORT_ALIASES))}")
    found = mlflow.get_experiment_by_name(experiment)
    if found is None:
        raise ValueError(f"experiment '{experiment}' not found; train first (python -m app train)")
    order = "DESC" if higher_is_better(metric) else "ASC"
    runs = mlflow.search_runs(
        experiment_ids=[found.experiment_id],
        filter_string=f"attributes.status = 'FINISHED' and metrics.{metric} > -1",
        order_by=[f"metrics.{metric} {order}"],
        output_format="list",
    )
    for run in runs:
        if COMPARISON_TAG not in run.data.tags and _model_uri(mlflow, run.info.run_id):
            return run.info.run_id, run.data.metrics[metric]
    raise ValueError(f"no finished run with metric '{metric}' and a logged model in experiment '{experiment}'")


def promote(
    mlflow,
    name: str,
    run_id: str | None = None,
    experiment: str | None = None,
    metric: str = "val_accuracy",
    alias: str = "champion",
) -> Promotion:
    """Register the run's model (the best run of `experiment` when `run_id` is None) and move `alias`.

    A run already registered under `name` reuses its version instead of adding a duplicate.
    Any failure raises before the alias moves (see pipelines.tracking.registry.register).
    """
    value = None
    if run_id is None:
        run_id, value = best_run_id(mlflow, experiment, metric)
    else:
        try:
            value = mlflow.get_run(run_id).data.metrics.get(metric)
        except MlflowException:
            raise ValueError(f"run '{run_id}' not found in the tracking store") from None
    model_uri = _model_uri(mlflow, run_id)
    if model_uri is None:
        raise ValueError(f"run '{run_id}' has no logged model; alias '{alias}' left unchanged")
    client = MlflowClient()
    previous = _alias_version(client, name, alias)
    existing = _version_of_run(client, name, run_id)
    if existing is not None:
        check_serves(mlflow, f"models:/{name}/{existing}", alias)  # registered once, still must load
        client.set_registered_model_alias(name, alias, existing)
        version = existing
    else:
        version = register(mlflow, model_uri, name, alias)[0].version
    log.info("alias %s@%s: version %s -> %s (run %s)", name, alias, previous, version, run_id)
    return Promotion(run_id, name, str(version), alias, metric, value, None if previous is None else str(previous))


def _model_uri(mlflow, run_id: str) -> str | None:
    """MLflow 3 keeps models as LoggedModels linked to their source run."""
    try:
        run = mlflow.get_run(run_id)
        models = mlflow.search_logged_models(
            experiment_ids=[run.info.experiment_id],
            filter_string=f"source_run_id = '{run_id}'",
            output_format="list",
        )
    except MlflowException:
        return None
    ready = [m for m in models if str(m.status).endswith("READY")]
    return ready[0].model_uri if ready else None


def _alias_version(client, name: str, alias: str) -> str | None:
    try:
        return client.get_model_version_by_alias(name, alias).version
    except MlflowException:
        return None


def _version_of_run(client, name: str, run_id: str) -> str | None:
    versions = client.search_model_versions(f"name = '{name}' and run_id = '{run_id}'")
    good = [v for v in versions if v.status == "READY" and v.tags.get("validation") != "failed"]
    return max(good, key=lambda v: int(v.version)).version if good else None
