"""A tracking server that stops answering mid-run must not take the training with it.

Every MLflow call of a training run goes through one `Tracking` object. The first call that
fails while the server does not answer its health check switches tracking off for the rest of
the process: later calls are skipped, training and the local outputs (history.csv, reports,
model.keras, the backup) carry on, and the workflow tells the user how to upload what is
missing once the server is back. An error while the server *does* answer is a real error and
is raised as before; so is any error of the embedded SQLite store.
"""

import functools
import logging

from data.errors import first_line
from pipelines.tracking.store import TrackingServerUnreachable, check_server

log = logging.getLogger(__name__)


class Tracking:
    """`tracking.log_metrics(...)` and friends: the mlflow module's functions, outage-proof.

    `call(what, fn, ...)` guards any function that makes MLflow calls (its return value is None
    once tracking is off). `lost` says why tracking stopped, or is None while it works.
    """

    def __init__(self, mlflow):
        self.mlflow = mlflow
        self.lost: str | None = None

    @property
    def online(self) -> bool:
        return self.lost is None

    def call(self, what: str, fn, *args, **kwargs):
        if self.lost:
            return None
        try:
            return fn(*args, **kwargs)
        except Exception as err:
            # Inside a guarded function a nested guarded call may have switched tracking off
            # already; whatever failed after it failed because of the outage.
            if not self.lost and not self._server_down():
                raise
            self._switch_off(what, err)
            return None

    def __getattr__(self, name):
        if name == "mlflow":  # not set yet (copy, pickle): no recursion
            raise AttributeError(name)
        attr = getattr(self.mlflow, name)
        if not callable(attr) or isinstance(attr, type):
            return attr
        return functools.partial(self.call, name, attr)

    def _server_down(self) -> bool:
        uri = self.mlflow.get_tracking_uri()
        if not uri.startswith(("http://", "https://")):
            return False
        try:
            check_server(uri)
        except TrackingServerUnreachable:
            return True
        return False

    def _switch_off(self, what: str, err: BaseException) -> None:
        if self.lost:
            return
        self.lost = f"{what}: {first_line(err, 300)}"
        log.error(
            "MLflow tracking server %s stopped answering (%s); training goes on untracked",
            self.mlflow.get_tracking_uri(),
            self.lost,
        )
