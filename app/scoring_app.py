"""The model server's ASGI app without --verbose: MLflow's scoring app, started quietly.

The model server (app.model_server) is a child process that imports TensorFlow while it loads
the model, and TensorFlow writes its absl/oneDNN/CUDA lines to descriptor 2 before any Python
logging exists; MLflow warns (in raw ANSI colours) that our pyfunc has no type hints. So this
module does for the child what `python -m app` does for itself (app.output) and only then
imports MLflow's app, unchanged: `uvicorn app.scoring_app:app`.
"""

from app import output

output.configure(verbose=False)
output.import_tensorflow_quietly()

from mlflow.pyfunc.scoring_server.app import app  # noqa: E402 - after the quiet import, on purpose

__all__ = ["app"]
