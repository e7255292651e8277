"""The Optuna study of a search: its storage (SQLite here, PostgreSQL/MySQL across machines), sampler, pruner.

Trials that were RUNNING when their process died (kill -9, a lost machine) stop sending heartbeats;
the next trial any worker starts marks them FAIL and Optuna's RetryFailedTrialCallback queues the
same parameters again, so a restarted `tune` continues the study instead of starting over.
"""

import logging
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pipelines.search.space import SearchSpace, grid

log = logging.getLogger(__name__)

SAMPLERS = ("tpe", "random", "grid")
PRUNERS = ("median", "halving", "none")
DEFAULT_STORAGE_FILE = "optuna.db"
MAX_RETRIES = 2  # a trial killed this many times is left FAILED: it may be what kills the process


@dataclass
class StudyOptions:
    name: str
    storage: str | None = None  # None: sqlite:///<cwd>/optuna.db
    sampler: str = "tpe"
    pruner: str = "median"
    heartbeat_seconds: int = 60  # a RUNNING trial silent for 2x this is stale
    seed: int | None = None  # sampler seed; leave None when several workers share the study
    # Median pruner: judge a trial only once this many trials finished, and after this many epochs.
    startup_trials: int = 5
    warmup_epochs: int = 2


def default_storage() -> str:
    return f"sqlite:///{Path.cwd() / DEFAULT_STORAGE_FILE}"


def check_options(opts: StudyOptions) -> None:
    """One-line errors for a bad sampler, pruner or heartbeat, before anything is opened."""
    if opts.sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler '{opts.sampler}'; choose one of {', '.join(SAMPLERS)}")
    if opts.pruner not in PRUNERS:
        raise ValueError(f"unknown pruner '{opts.pruner}'; choose one of {', '.join(PRUNERS)}")
    if opts.startup_trials < 0 or opts.warmup_epochs < 0:
        raise ValueError("--pruner-startup-trials and --pruner-warmup-epochs must be 0 or more")
    if opts.heartbeat_seconds < 1:
        raise ValueError(f"--heartbeat {opts.heartbeat_seconds} must be at least 1 second")


def build_storage(url: str, heartbeat_seconds: int):
    import optuna

    # Several workers on one SQLite file wait for each other's writes instead of failing at once.
    engine = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {"pool_pre_ping": True}
    # The first worker on a new database creates Optuna's tables; two at once collide (a duplicate
    # alembic_version on PostgreSQL), so the creation is one worker at a time.
    with one_worker_at_a_time(url, "schema"):
        return _rdb_storage(optuna, url, engine, heartbeat_seconds)


def _rdb_storage(optuna, url: str, engine: dict, heartbeat_seconds: int):
    return optuna.storages.RDBStorage(
        url,
        engine_kwargs=engine,
        heartbeat_interval=heartbeat_seconds,
        grace_period=2 * heartbeat_seconds,
        failed_trial_callback=_retry_stale_trial,
    )


def _retry_stale_trial(study, trial) -> None:
    """A trial whose process died: queue its parameters again, and end its MLflow run KILLED.

    The retry has the same config, so the same run directory: with a backup it reopens that very
    run (KILLED is not FINISHED); without one it starts a new run and the old one is not left RUNNING.
    """
    import optuna

    optuna.storages.RetryFailedTrialCallback(max_retry=MAX_RETRIES)(study, trial)
    run_id = trial.user_attrs.get("mlflow_run_id")
    if not run_id:
        return
    import mlflow

    client = mlflow.MlflowClient()
    try:
        if client.get_run(run_id).info.status == "RUNNING":
            client.set_tag(run_id, "trial_state", "FAIL")
            client.set_terminated(run_id, "KILLED")
    except mlflow.exceptions.MlflowException as err:  # another tracking store: nothing of ours to close
        log.warning("could not close MLflow run %s of stale trial %d: %s", run_id, trial.number, err)


def build_sampler(opts: StudyOptions, space: SearchSpace):
    import optuna

    if opts.sampler == "grid":
        return optuna.samplers.GridSampler(grid(space), seed=opts.seed)
    if opts.sampler == "random":
        return optuna.samplers.RandomSampler(seed=opts.seed)
    return optuna.samplers.TPESampler(seed=opts.seed)


def build_pruner(opts: StudyOptions):
    import optuna

    if opts.pruner == "halving":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=max(1, opts.warmup_epochs))
    if opts.pruner == "median":
        # A few full trials set the median; the first epochs are too noisy to judge.
        return optuna.pruners.MedianPruner(n_startup_trials=opts.startup_trials, n_warmup_steps=opts.warmup_epochs)
    return optuna.pruners.NopPruner()


def open_study(opts: StudyOptions, space: SearchSpace):
    """Create the study, or load it when it exists; returns (study, created_here).

    Exactly one process creates a study (the storage's unique name decides), so exactly one
    creates its parent MLflow run.
    """
    import optuna

    storage = build_storage(opts.storage or default_storage(), opts.heartbeat_seconds)
    sampler, pruner = build_sampler(opts, space), build_pruner(opts)
    try:
        study = optuna.create_study(
            storage=storage, sampler=sampler, pruner=pruner, study_name=opts.name, direction="maximize"
        )
        return study, True
    except optuna.exceptions.DuplicatedStudyError:
        study = optuna.load_study(study_name=opts.name, storage=storage, sampler=sampler, pruner=pruner)
        log.info("continuing study '%s' (%d trials so far)", opts.name, len(study.trials))
        return study, False


def counted_trials(study) -> int:
    """Trials that count against --trials: finished or pruned (failed ones are retried or left)."""
    from optuna.trial import TrialState

    return len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)))


@contextmanager
def one_worker_at_a_time(storage_url: str, study_name: str):
    """Held by one process at a time among all the study's workers, on any machine (register the best once).

    PostgreSQL: a session-level advisory lock in the study's own database (released when the
    connection closes, also when the process dies). SQLite, one machine: an flock beside the file.
    """
    import zlib

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.pool import NullPool

    url = make_url(storage_url)
    key = zlib.crc32(f"imgclf-study:{study_name}".encode()) & 0x7FFFFFFF
    if url.get_backend_name() == "postgresql":
        engine = create_engine(url, poolclass=NullPool)
        with engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
            try:
                yield
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
        engine.dispose()
        return
    import fcntl

    path = Path(url.database or DEFAULT_STORAGE_FILE).with_suffix(f".{key}.lock")
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield  # released when the file closes
