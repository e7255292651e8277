"""The model registry: register a logged model and move an alias (default `champion`) only when it is safe.

Safe means: the model loads as a pyfunc the way serving loads it (Keras safe_mode: no Lambda
layers, no code in the archive) and predicts its own logged input example, its version is
READY, and, under the `if_better` policy, it is at least as good on validation as the version
the alias points at now.
"""

import contextlib
import io
import logging
from typing import NamedTuple

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from data.errors import first_line
from pipelines.evaluation.metrics import higher_is_better
from pipelines.tracking.store import keep_project_packages_first

log = logging.getLogger(__name__)


def register(mlflow, model_uri: str, name: str, alias: str, score: "Score | None" = None):
    """Register a model version and point `alias` at it only once the version is READY.

    Any failure (the model does not load as a pyfunc, registration errors, the version is
    not READY) raises before the alias moves, so the alias never points at a broken version.
    With a `score`, the alias moves only if the new model is at least as good as the one it
    points at (on the score's metric); otherwise the version is registered and the alias stays.
    Returns the version and, when the alias stayed, the one-line reason.
    """
    try:
        flavors = mlflow.models.get_model_info(model_uri).flavors
    except (MlflowException, OSError) as err:
        raise RuntimeError(
            f"'{model_uri}' is not a loadable MLflow model ({first_line(err, 200)}); alias '{alias}' left unchanged"
        ) from None
    if "python_function" not in flavors:
        raise RuntimeError(f"'{model_uri}' has no python_function flavor; alias '{alias}' left unchanged")
    check_serves(mlflow, model_uri, alias)
    client = MlflowClient()
    try:
        version = _version_of_run(client, name, model_uri) or _quietly(mlflow.register_model, model_uri, name)
    except MlflowException as err:
        raise RuntimeError(
            f"registering '{model_uri}' as '{name}' failed ({first_line(err, 200)}); alias '{alias}' left unchanged"
        ) from None
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


def _version_of_run(client, name: str, model_uri: str):
    """The READY version of `name` that the same run registered already (an interrupted registration,
    run again), so that a rerun moves the alias instead of registering a duplicate."""
    run_id = model_uri.split("/")[1] if model_uri.startswith("runs:/") else None
    if run_id is None:
        try:
            run_id = client.get_logged_model(model_uri.removeprefix("models:/")).source_run_id
        except Exception:  # not a logged model's URI (a registry URI, a path): nothing to reuse
            return None
    if not run_id:
        return None
    try:
        versions = client.search_model_versions(f"name = '{name}' and run_id = '{run_id}'")
    except Exception:  # the registered model does not exist yet
        return None
    ready = [v for v in versions if v.status == "READY"]
    if ready:
        log.info("%s version %s of run %s is registered already: reusing it", name, ready[0].version, run_id)
    return max(ready, key=lambda v: int(v.version)) if ready else None


def _quietly(function, *args):
    """Call `function` with MLflow's own prints to stderr ("Successfully registered model ...") kept as log lines.

    The workflow announces the registration once, with the alias; MLflow's echo is for --verbose.
    """
    echoed = io.StringIO()
    try:
        with contextlib.redirect_stderr(echoed):
            return function(*args)
    finally:
        for line in echoed.getvalue().splitlines():
            log.info("mlflow: %s", line)


def check_serves(mlflow, model_uri: str, alias: str) -> None:
    """Load the model as serving will (safe_mode) and predict its logged input example, or raise one line."""
    keep_project_packages_first()
    try:
        model = mlflow.pyfunc.load_model(model_uri)
        example = model.input_example
        if example is not None:
            model.predict(example)
    except Exception as err:  # anything a server would die of: refuse before the alias moves
        reason = first_line(err, 200)
        raise RuntimeError(f"'{model_uri}' cannot be served ({reason}); alias '{alias}' left unchanged") from None


class Score(NamedTuple):
    """A run's validation result on `metric` (e.g. best_val_accuracy): what champions are chosen by."""

    metric: str
    value: float
    higher_is_better: bool
    epoch: int | None = None  # 1-based epoch that reached `value`, as the terminal counts


def best_point(client, run_id: str, metric: str, higher_is_better: bool) -> tuple[float, int] | None:
    """(best value, its epoch) of `metric` over a run's epochs (resumed runs included); epochs count from 1."""
    points = [(point.value, point.step) for point in client.get_metric_history(run_id, metric)]
    if not points:
        return None
    # The first epoch to reach the best value: the one EarlyStopping restores.
    if higher_is_better:
        return max(points, key=lambda p: (p[0], -p[1]))
    return min(points)


def _reason_alias_stays(client, name: str, alias: str, score: Score) -> str | None:
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
    best = best_point(client, run_id, monitor, better)
    return Score(f"best_{monitor}", best[0], better, best[1]) if best is not None else None
