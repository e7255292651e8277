"""The model registry: register a logged model and move an alias (default `champion`) only when it is safe.

Safe means: the version loads as a pyfunc, is READY, and, under the `if_better` policy, is at
least as good on validation as the version the alias points at now.
"""

import logging
from typing import NamedTuple

from data.errors import first_line
from pipelines.evaluation.metrics import higher_is_better

log = logging.getLogger(__name__)


def register(mlflow, model_uri: str, name: str, alias: str, score: "Score | None" = None):
    """Register a model version and point `alias` at it only once the version is READY.

    Any failure (the model does not load as a pyfunc, registration errors, the version is
    not READY) raises before the alias moves, so the alias never points at a broken version.
    With a `score`, the alias moves only if the new model is at least as good as the one it
    points at (on the score's metric); otherwise the version is registered and the alias stays.
    Returns the version and, when the alias stayed, the one-line reason.
    """
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    try:
        flavors = mlflow.models.get_model_info(model_uri).flavors
    except (MlflowException, OSError) as err:
        raise RuntimeError(
            f"'{model_uri}' is not a loadable MLflow model ({first_line(err, 200)}); alias '{alias}' left unchanged"
        ) from None
    if "python_function" not in flavors:
        raise RuntimeError(f"'{model_uri}' has no python_function flavor; alias '{alias}' left unchanged")
    try:
        version = mlflow.register_model(model_uri, name)
    except MlflowException as err:
        raise RuntimeError(
            f"registering '{model_uri}' as '{name}' failed ({first_line(err, 200)}); alias '{alias}' left unchanged"
        ) from None
    client = MlflowClient()
    status = client.get_model_version(name, version.version).status
    if status != "READY":
        client.set_model_version_tag(name, version.version, "validation", "failed")
        raise RuntimeError(f"model version {name}/{version.version} is {status}; alias '{alias}' left unchanged")
    stays = _reason_alias_stays(client, name, alias, score) if score else None
    if stays:
        log.info("registered %s version %s; alias '%s' stays: %s", name, version.version, alias, stays)
        return version, stays
    client.set_registered_model_alias(name, alias, version.version)
    log.info("registered %s version %s and moved alias '%s' to it", name, version.version, alias)
    return version, None


class Score(NamedTuple):
    """A run's validation result on `metric` (e.g. best_val_accuracy): what champions are chosen by."""

    metric: str
    value: float
    higher_is_better: bool


def best_of_run(client, run_id: str, metric: str, higher_is_better: bool) -> float | None:
    """The best value `metric` reached over a run's epochs (resumed runs included)."""
    values = [point.value for point in client.get_metric_history(run_id, metric)]
    return (max if higher_is_better else min)(values) if values else None


def _reason_alias_stays(client, name: str, alias: str, score: Score) -> str | None:
    from mlflow.exceptions import MlflowException

    try:
        current = client.get_model_version_by_alias(name, alias)
        theirs = client.get_run(current.run_id).data.metrics.get(score.metric) if current.run_id else None
    except MlflowException:
        return None  # no alias yet, or its run is gone: nothing to defend
    if theirs is None:
        return None
    ours_is_worse = score.value < theirs if score.higher_is_better else score.value > theirs
    if not ours_is_worse:
        return None
    return (
        f"version {current.version} is better on {score.metric} ({theirs:.4f} vs {score.value:.4f}); "
        f"`python -m app promote --run-id RUN` moves it anyway"
    )


def validation_score(client, run_id: str, monitor: str) -> "Score | None":
    """best_<monitor> over every epoch of the run (resumed ones too): what the kept weights scored."""
    better = higher_is_better(monitor)
    best = best_of_run(client, run_id, monitor, better)
    return Score(f"best_{monitor}", best, better) if best is not None else None
