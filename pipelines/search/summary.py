"""The study's parent MLflow run: created once per study, and at the end given what the study found.

It holds the best value and parameters, `best/best.yaml` (a full config that `make train CONFIG=...`
reproduces), Optuna's plots and one bar chart of every trial (the lesson sweeps' comparison plot).
"""

import logging
import tempfile
import time
import warnings
from pathlib import Path

import matplotlib
import yaml

matplotlib.use("Agg")  # files only, never a window
import matplotlib.pyplot as plt
import optuna.visualization.matplotlib as ovm
from optuna.trial import TrialState

from pipelines.search.space import SearchSpace, with_values
from pipelines.tracking.registry import validation_score
from pipelines.tracking.run_logging import register_served_model

log = logging.getLogger(__name__)

PARENT_ATTR = "mlflow_parent_run_id"  # study user attribute: the parent run every worker nests under
PARENT_WAIT_SECONDS = 60


def parent_run(mlflow, study, created: bool, experiment_id: str, params: dict) -> str:
    """The study's parent run id: made by the process that created the study, found by the others."""
    client = mlflow.MlflowClient()
    run_id = study.user_attrs.get(PARENT_ATTR)
    deadline = time.monotonic() + (0 if created else PARENT_WAIT_SECONDS)
    while not run_id and time.monotonic() < deadline:  # the creating worker sets it a moment later
        time.sleep(1)
        run_id = study.user_attrs.get(PARENT_ATTR)
    if run_id:
        client.update_run(run_id, status="RUNNING")  # reopened by a restart or a second worker
        return run_id
    tags = {"study": study.study_name, "tune_role": "parent", "mlflow.runName": f"{study.study_name}-study"}
    run = client.create_run(experiment_id, tags=tags)
    for key, value in params.items():
        client.log_param(run.info.run_id, key, value)
    study.set_user_attr(PARENT_ATTR, run.info.run_id)
    log.info("study '%s': parent MLflow run %s", study.study_name, run.info.run_id, extra={"stage": True})
    return run.info.run_id


def decode_params(space: SearchSpace, params: dict) -> dict:
    """Optuna's stored values -> {dotted config key: value} (list choices from their labels, one_of expanded)."""
    out = {}
    for p in space.params:
        if p.key not in params:
            continue
        value = params[p.key]
        if p.sets:
            out.update(p.sets[value])
        else:
            out[p.key] = p.labels()[value] if p.kind == "choice" else value
    return out


def summarize(mlflow, study, parent_run_id: str, space: SearchSpace, user_base: dict, out_dir: Path) -> dict:
    """Log the best trial, best.yaml and the plots to the parent run; returns what a CLI shows."""
    client = mlflow.MlflowClient()
    trials = study.get_trials(deepcopy=False)
    states = {s.name: sum(t.state == s for t in trials) for s in TrialState if any(t.state == s for t in trials)}
    for name, count in states.items():
        client.log_metric(parent_run_id, f"trials_{name.lower()}", count)
    best = best_trial(trials)
    if best is None:
        return {"states": states, "best": None}
    values = decode_params(space, best.params)
    best_config = with_values(user_base, values)
    out_dir.mkdir(parents=True, exist_ok=True)
    best_yaml = out_dir / "best.yaml"
    header = f"# best trial {best.number} of study '{study.study_name}': best val_accuracy {best.value:.4f}\n"
    best_yaml.write_text(header + yaml.safe_dump(best_config, sort_keys=False))
    client.log_metric(parent_run_id, "best_val_accuracy", best.value)
    client.log_artifact(parent_run_id, str(best_yaml), "best")
    client.log_dict(
        parent_run_id, {"value": best.value, "params": best.params, "config": values}, "best/best_params.json"
    )
    tags = {"best_trial": str(best.number), "best_run_id": best.user_attrs.get("mlflow_run_id", "")}
    tags.update({f"best.{k}": str(v) for k, v in best.params.items()})
    for key, value in tags.items():
        client.set_tag(parent_run_id, key, value)
    log_plots(client, parent_run_id, study, trials)
    return {"states": states, "best": best, "params": values, "best_yaml": best_yaml}


def log_plots(client, parent_run_id: str, study, trials) -> None:
    """Optuna's history, importances and parallel coordinates, plus one bar per trial."""
    plots = {
        "optimization_history": ovm.plot_optimization_history,
        "param_importances": ovm.plot_param_importances,
        "parallel_coordinate": ovm.plot_parallel_coordinate,
    }
    with tempfile.TemporaryDirectory() as tmp:
        for name, plot in plots.items():
            try:
                with warnings.catch_warnings():  # Optuna marks its matplotlib plots experimental
                    warnings.simplefilter("ignore")
                    axes = plot(study)
            except Exception as err:  # e.g. importances need two finished trials: skip, keep the rest
                log.info("plot %s skipped: %s", name, str(err).splitlines()[0] if str(err) else type(err).__name__)
                continue
            figure = axes.figure if hasattr(axes, "figure") else axes.flat[0].figure
            figure.set_size_inches(9, 5)
            figure.tight_layout()
            figure.savefig(Path(tmp) / f"{name}.png", dpi=90)
            plt.close(figure)
        plot_trials(trials, Path(tmp) / "trials.png")
        client.log_artifacts(parent_run_id, tmp, "plots")


def plot_trials(trials, path: Path) -> Path:
    """Best validation accuracy of each trial, best first, labelled by its parameters; pruned ones hatched."""
    scored = sorted((t for t in trials if t.value is not None), key=lambda t: -t.value)
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(scored) + 2), 4.5))
    for i, t in enumerate(scored):
        pruned = t.state.name == "PRUNED"
        ax.bar(i, t.value, color="tab:gray" if pruned else "tab:blue", hatch="//" if pruned else None)
        ax.text(i, t.value, f"{t.value:.3f}", ha="center", va="bottom", fontsize=7)
    labels = [", ".join(f"{k.split('.')[-1]}={_short(v)}" for k, v in t.params.items()) for t in scored]
    ax.set_xticks(range(len(scored)), labels, rotation=35, ha="right", fontsize=7)
    low = min((t.value for t in scored), default=0.0)
    ax.set_ylim(max(0.0, low - 0.05), 1.0)
    ax.set_ylabel("best val_accuracy")
    ax.set_title("trials, best first (hatched: pruned, at its last epoch)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def _short(value) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def best_trial(trials):
    """The complete trial with the highest value; None before any completes."""
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    return max(complete, key=lambda t: t.value) if complete else None


def register_best(mlflow, best, user_cfg, parent_run_id: str) -> str | None:
    """Register only the study's best run, under `train`'s name and alias policy; once per best run."""
    client = mlflow.MlflowClient()
    run_id, model_uri = best.user_attrs.get("mlflow_run_id"), best.user_attrs.get("model_uri")
    if not (run_id and model_uri and user_cfg.tracking.register_model):
        return None
    if client.get_run(parent_run_id).data.tags.get("registered_run_id") == run_id:
        return None  # another worker (or the last restart) registered this very run already
    score = validation_score(client, run_id, user_cfg.train.monitor)
    registered = register_served_model(
        mlflow, model_uri, user_cfg.tracking, f"{user_cfg.dataset_name()}-classifier", score
    )
    client.set_tag(parent_run_id, "registered_run_id", run_id)
    client.set_tag(parent_run_id, "registered", registered or "")
    return registered
