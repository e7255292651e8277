"""MLflow: the tracking store, per-epoch metrics, the served pyfunc model and its export, the
registry and its alias policy, comparing runs and promoting one."""
