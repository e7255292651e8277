"""What a run directory remembers between processes: the backup (backup.py) and the MLflow run id.

A run killed mid-training (SIGKILL, preemption, a closed laptop) and started again with the same
command finds the same run directory (named by the config's hash), restores the backup and
reopens the same MLflow run, so the metric history continues instead of starting a new run.
A run whose tracking server died finishes locally and keeps its backup (with a final snapshot);
the same command again reopens the same MLflow run and uploads what it missed.
"""

import json
import logging
import os
import shutil
from contextlib import contextmanager
from pathlib import Path

from mlflow.tracking import fluent

from data.errors import Terminated, first_line
from pipelines.training.resume.disk import as_disk_full

log = logging.getLogger(__name__)

BACKUP_DIR = "backup"
RUN_FILE = "mlflow_run.json"


class EndedEarly(Exception):  # not an error: the run is over, by decision
    """Raised by a callback that decides the run is over now (a pruned trial): no test report, no model.

    The run ends FINISHED with the metrics of its epochs so far and `stop_reason` = the message;
    its backup is deleted (there is nothing to resume).
    """


def previous_run_id(mlflow, run_dir: Path) -> str | None:
    """The MLflow run to continue: recorded in the run dir, in this tracking store, not FINISHED."""
    try:
        saved = json.loads((run_dir / RUN_FILE).read_text())
    except (OSError, ValueError):
        return None
    if saved.get("tracking_uri") != mlflow.get_tracking_uri():
        log.warning("backup in %s belongs to another tracking store; starting a new MLflow run", run_dir)
        return None
    try:
        run = mlflow.get_run(saved["run_id"])
    except Exception:  # deleted or never reached the store: the backup still resumes training
        log.warning("MLflow run %s of the backup is gone; starting a new MLflow run", saved.get("run_id"))
        return None
    return None if run.info.status == "FINISHED" else run.info.run_id


@contextmanager
def tracked_run(tracking, run_dir: Path, start_epoch: int, parent_run_id: str | None = None):
    """Start (or, after a kill or an outage, reopen) the run's MLflow run; on any error end it FAILED.

    The backup directory is left in place on failure, so nothing trained so far is lost. A
    tracking server that died during the run (`tracking.lost`) leaves the run RUNNING, to be
    reopened and completed by the same command. `parent_run_id` nests a new run under a parent
    (a tuning study's trials); a reopened run keeps its own.
    """
    mlflow = tracking.mlflow
    run_id = previous_run_id(mlflow, run_dir) if start_epoch else None
    run = mlflow.start_run(run_id=run_id, parent_run_id=None if run_id else parent_run_id)
    record = {"run_id": run.info.run_id, "tracking_uri": mlflow.get_tracking_uri()}
    (run_dir / RUN_FILE).write_text(json.dumps(record, indent=2))
    if run_id:
        resumes = int(run.data.tags.get("resume_count", "0")) + 1
        tracking.set_tags({"resumed_from_epoch": str(start_epoch), "resume_count": str(resumes)})
        # A stage line: a resumed run must say so in the default (quiet) terminal output too.
        log.info("resuming MLflow run %s from epoch %d", run_id, start_epoch, extra={"stage": True})
    try:
        yield run
    except EndedEarly as ended:
        tracking.set_tags({"stop_reason": first_line(ended)[:4000]})
        tracking.end_run()
        if not tracking.online:
            _forget_active_run(mlflow)
        shutil.rmtree(run_dir / BACKUP_DIR, ignore_errors=True)
        log.info("run %s ended early: %s", run.info.run_id, first_line(ended), extra={"stage": True})
        raise
    except BaseException as raised:
        # A write that failed on a full disk: say so in one line, naming the path.
        err = as_disk_full(raised, run_dir, 0) or raised
        reason = first_line(err)
        tags = {"failure_reason": reason[:4000], "failure_type": type(err).__name__}
        if isinstance(err, KeyboardInterrupt):  # Ctrl-C or SIGTERM: the same command resumes the run
            tags["stop_reason"] = "SIGTERM" if isinstance(err, Terminated) else "Ctrl-C"
        tracking.set_tags(tags)
        tracking.end_run("KILLED" if isinstance(err, KeyboardInterrupt) else "FAILED")
        if not tracking.online:
            _forget_active_run(mlflow)
        backup = run_dir / BACKUP_DIR
        kept = f"; backup kept in {backup}" if backup.is_dir() else ""
        log.error("run %s ended %s: %s%s", run.info.run_id, type(err).__name__, reason, kept)
        if err is not raised:
            raise err from None
        raise
    tracking.end_run()
    if not tracking.online:
        _forget_active_run(mlflow)


def _forget_active_run(mlflow) -> None:
    """Take the run off MLflow's stack of active runs in this process without telling the server.

    Only needed when tracking is off: `end_run` would otherwise mark the run FINISHED on a server
    that came back in the meantime, and a FINISHED run is never reopened to upload what it missed.
    """
    stack = fluent._active_run_stack.get()
    if stack:
        stack.pop()
    os.environ.pop("MLFLOW_RUN_ID", None)
