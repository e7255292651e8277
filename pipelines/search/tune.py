"""The tune workflow: check the space, open the study and its parent run, run trials, summarize, register the best.

Several processes (or machines) running this with the same study name and storage share the work:
each asks Optuna for the next trial, so no trial runs twice, and `--trials N` counts the whole study.
"""

import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import optuna
from optuna.trial import TrialState
from sqlalchemy.engine import make_url

from pipelines.config import ExperimentConfig, validate
from pipelines.search.space import SearchSpace, grid, load_space, with_values
from pipelines.search.study import (
    StudyOptions,
    check_options,
    counted_trials,
    default_storage,
    one_worker_at_a_time,
    open_study,
)
from pipelines.search.summary import best_trial, parent_run, register_best, summarize
from pipelines.tracking.store import experiment_name, setup_mlflow

log = logging.getLogger(__name__)


@dataclass
class TuneOptions:
    space_path: str
    study: StudyOptions
    trials: int = 20
    timeout_minutes: float | None = None


@dataclass
class TuneResult:
    study_name: str
    parent_run_id: str
    states: dict = field(default_factory=dict)
    best_value: float | None = None
    best_params: dict = field(default_factory=dict)
    best_yaml: Path | None = None
    registered: str | None = None


def default_study_name(config_path: str | None, space_path: str) -> str:
    return f"{Path(config_path).stem if config_path else 'digits_mlp'}-{Path(space_path).stem}"


def check_tune(cfg: ExperimentConfig, options: TuneOptions) -> tuple[SearchSpace, dict]:
    """Every check that needs no TensorFlow: space, sampler, pruner, budgets. Returns (space, base config)."""
    check_options(options.study)
    if options.trials < 1:
        raise ValueError(f"--trials {options.trials} must be at least 1")
    if options.timeout_minutes is not None and options.timeout_minutes <= 0:
        raise ValueError(f"--timeout {options.timeout_minutes} must be above 0 minutes")
    space = load_space(options.space_path, cfg.model_dump(mode="json"))
    if options.study.sampler == "grid":
        grid(space)  # continuous ranges have no grid: say so now
    return space, with_values(cfg.model_dump(mode="json"), space.fixed)


def run_tune(cfg: ExperimentConfig, options: TuneOptions) -> TuneResult:
    from pipelines.search.objective import TrialSetup, make_objective  # imports Keras: only once checks pass

    space, user_base = check_tune(cfg, options)
    user_cfg = validate(user_base)
    name = options.study.name
    out_dir = Path(user_cfg.output_dir) / "tune" / name
    # Trials register nothing (only the study's best is registered) and keep their run dirs apart.
    trial_base = with_values(user_base, {"tracking.register_model": False, "output_dir": str(out_dir)})
    experiment = user_cfg.tracking.experiment or user_cfg.dataset_name()
    try:
        mlflow = setup_mlflow(experiment)
    except Exception:  # two workers starting together: the other one just created the experiment
        mlflow = setup_mlflow(experiment)
    experiment_id = mlflow.get_experiment_by_name(experiment_name(experiment)).experiment_id

    study, created = open_study(options.study, space)
    _same_space(study, space, created)
    parent = parent_run(mlflow, study, created, experiment_id, _parent_params(options, space))
    try:
        _run_trials(
            study, make_objective(TrialSetup(trial_base, space, name, parent)), _study_size(options, space), options
        )
    except KeyboardInterrupt:
        _requeue_interrupted(study)
        mlflow.MlflowClient().set_terminated(parent, "KILLED")
        raise
    summary = summarize(mlflow, study, parent, space, user_base, out_dir)
    best = summary["best"]
    registered = None
    if best:  # every worker gets here: the last to finish registers the study's final best, once
        with one_worker_at_a_time(options.study.storage or default_storage(), name):
            optuna.storages.fail_stale_trials(study)  # a dead worker's trial is not one still running
            trials = study.get_trials(deepcopy=False)  # read again under the lock: others may have finished
            if any(t.state in (TrialState.RUNNING, TrialState.WAITING) for t in trials):
                log.info("other workers still run trials of study '%s': the last to finish registers the best", name)
            else:
                registered = register_best(mlflow, best_trial(trials), user_cfg, parent)
    mlflow.MlflowClient().set_terminated(parent, "FINISHED")
    return TuneResult(
        name, parent, summary["states"], best.value if best else None, summary.get("params", {}),
        summary.get("best_yaml"), registered,
    )  # fmt: skip


def _study_size(options: TuneOptions, space: SearchSpace) -> int:
    if options.study.sampler == "grid":  # a finished grid is finished: a rerun adds no duplicate trial
        return min(options.trials, math.prod(len(values) for values in grid(space).values()))
    return options.trials


def _run_trials(study, objective, trials: int, options: TuneOptions) -> None:
    """Run trials until the study has `trials` finished or pruned ones (or this process' timeout)."""
    remaining = trials - counted_trials(study)
    if remaining <= 0:
        log.info("study '%s' already has its %d trials; nothing to run", study.study_name, trials)
        return
    states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    study.optimize(
        objective,
        n_trials=remaining,  # this process' cap (failures count); the callback is the whole study's
        timeout=options.timeout_minutes * 60 if options.timeout_minutes else None,
        callbacks=[optuna.study.MaxTrialsCallback(trials, states=states)],
        catch=(Exception,),  # a diverging trial (NaN loss) fails alone; the study goes on
        gc_after_trial=True,
    )


def _same_space(study, space: SearchSpace, created: bool) -> None:
    """A study keeps its space: Optuna cannot compare trials whose choices differ."""
    spec = {p.key: [p.kind, [str(v) for v in p.values]] for p in space.params}
    if created or "space" not in study.user_attrs:
        study.set_user_attr("space", spec)
    elif study.user_attrs["space"] != spec:
        raise ValueError(
            f"study '{study.study_name}' was started with another search space "
            f"({', '.join(study.user_attrs['space'])}); pass a new --study name to search this one"
        )


def _requeue_interrupted(study) -> None:
    """Ctrl-C: Optuna marks our running trial FAIL; queue its parameters so a restart runs it again."""
    ours = [
        t for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL,)) if t.user_attrs.get("pid") == os.getpid()
    ]
    if ours and ours[-1].params:  # the latest of ours is the one the interrupt stopped
        trial = ours[-1]
        study.enqueue_trial(trial.params, user_attrs={"retry_of": trial.number})
        log.info("trial %d interrupted; queued again for the next `tune`", trial.number)


def _parent_params(options: TuneOptions, space: SearchSpace) -> dict:
    storage = make_url(options.study.storage or default_storage()).render_as_string(hide_password=True)
    params = {"sampler": options.study.sampler, "pruner": options.study.pruner, "storage": storage}
    params["trials"] = options.trials
    params.update({f"space.{p.key}": f"{p.kind} {list(p.values)}" for p in space.params})
    params.update({f"fixed.{k}": v for k, v in space.fixed.items()})
    return params
