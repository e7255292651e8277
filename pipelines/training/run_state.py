"""What a run directory remembers between processes: the backup epoch and the MLflow run id.

A run killed mid-training (SIGKILL, preemption, a closed laptop) and started again with the same
command finds the same run directory (named by the config's hash), restores the Keras backup and
reopens the same MLflow run, so the metric history continues instead of starting a new run.
"""

import json
import logging
from contextlib import contextmanager
from pathlib import Path

from data.errors import first_line

log = logging.getLogger(__name__)

BACKUP_DIR = "backup"
RUN_FILE = "mlflow_run.json"


def resume_epoch(run_dir: Path) -> int:
    """The epoch a restarted run continues from: 0 unless a backup of an unfinished run exists."""
    metadata = run_dir / BACKUP_DIR / "training_metadata.json"
    try:
        return int(json.loads(metadata.read_text())["epoch"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0


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
def tracked_run(mlflow, run_dir: Path, start_epoch: int):
    """Start (or, after a kill, reopen) the run's MLflow run; on any error end it FAILED with the reason.

    The backup directory is left in place on failure, so nothing trained so far is lost.
    """
    run_id = previous_run_id(mlflow, run_dir) if start_epoch else None
    with mlflow.start_run(run_id=run_id) as run:
        record = {"run_id": run.info.run_id, "tracking_uri": mlflow.get_tracking_uri()}
        (run_dir / RUN_FILE).write_text(json.dumps(record, indent=2))
        if run_id:
            resumes = int(run.data.tags.get("resume_count", "0")) + 1
            mlflow.set_tags({"resumed_from_epoch": str(start_epoch), "resume_count": str(resumes)})
            log.info("resuming MLflow run %s from epoch %d", run_id, start_epoch)
        try:
            yield run
        except BaseException as err:
            reason = first_line(err)
            mlflow.set_tags({"failure_reason": reason[:4000], "failure_type": type(err).__name__})
            mlflow.end_run("KILLED" if isinstance(err, KeyboardInterrupt) else "FAILED")
            backup = run_dir / BACKUP_DIR
            kept = f"; backup kept in {backup}" if backup.is_dir() else ""
            log.error("run %s ended %s: %s%s", run.info.run_id, type(err).__name__, reason, kept)
            raise
