"""How images reach the model and the workflows users run, one sub-package per concern:
config/ (schema, loading), inputs/ (tf.data + albumentations), training/ (the run),
evaluation/ (reports), tracking/ (MLflow: runs, registry, served model, compare)."""
