"""What the terminal shows: one line per stage by default, everything with `--verbose`.

TensorFlow's C++ runtime writes its absl/oneDNN/CUDA lines to file descriptor 2 while it is
imported and while it looks for devices, before any Python logging exists; MLflow prints
progress bars and warnings of its own. So the quiet defaults are set here, before TensorFlow or
MLflow is imported, and TensorFlow is imported once with descriptor 2 pointed at /dev/null.

Library code marks the lines a person needs with `extra=STAGE` (data, model, device, early
stop, registration); in the default mode only those and warnings are shown.
"""

import logging
import os
import re
import sys
import warnings

STAGE = {"stage": True}  # log.info(..., extra=STAGE): shown without --verbose
# Commands that import TensorFlow (training, or a model loaded in-process or checked before registering):
# imported quietly up front.
TENSORFLOW_COMMANDS = ("train", "evaluate", "preview-augment", "gradient-demo", "predict", "serve", "web", "promote")
# Third-party warnings that say nothing to our users (we pass tf.data, our pyfunc takes any input).
NOISE_WARNINGS = (
    r"`shuffle=True` was passed",
    r"Add type hints to the `predict` method",
)


VERBOSE = False  # set by configure(): child processes (the model server) follow it


def configure(verbose: bool) -> None:
    """Environment, warnings and logging for the whole process; call before TensorFlow or MLflow is imported."""
    global VERBOSE
    VERBOSE = verbose
    if verbose:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
        return
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"  # C++ INFO/WARNING/ERROR (e.g. cuInit on a CPU machine)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    for pattern in NOISE_WARNINGS:
        warnings.filterwarnings("ignore", message=pattern)
    # MLflow re-enables UserWarnings inside some calls (catch_warnings + simplefilter("once")),
    # which outranks any filter: drop our noise where warnings are shown as well.
    warnings.showwarning = _without_noise(warnings.showwarning)
    handler = logging.StreamHandler()
    handler.addFilter(_stage_or_warning)
    handler.setFormatter(_Formatter())
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    try:
        from absl import logging as absl_logging  # TensorFlow's Python-side logger

        absl_logging.set_verbosity(absl_logging.ERROR)
    except ImportError:
        pass


def import_tensorflow_quietly() -> None:
    """Import TensorFlow and Keras and list devices with stderr silenced at the descriptor level.

    Python exceptions are raised after stderr is restored, so a broken install still says why.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 2)
        import keras  # noqa: F401 - loads its own native libraries: a second round of lines
        import tensorflow as tf

        tf.config.list_physical_devices()  # where cuInit fails on a machine without a GPU
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


def _without_noise(show):
    noise = re.compile("|".join(NOISE_WARNINGS))

    def showwarning(message, *args, **kwargs):
        if not noise.search(str(message)):
            show(message, *args, **kwargs)

    return showwarning


def _stage_or_warning(record: logging.LogRecord) -> bool:
    return record.levelno >= logging.WARNING or getattr(record, "stage", False)


class _Formatter(logging.Formatter):
    """Stage lines as plain text; warnings and errors say what they are and where they come from."""

    def format(self, record: logging.LogRecord) -> str:
        if record.levelno >= logging.WARNING:
            return f"{record.levelname.lower()}: {record.getMessage()}"
        return record.getMessage()
