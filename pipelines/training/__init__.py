"""The training run: the workflow (data -> model -> fit -> report -> MLflow -> registry), the fit and
its callbacks, resume after a kill, seeding, the time budget and the gradient-health probe.
Strategies and the multi-worker loop live in training/distributed/ (readers who don't need them
never open it)."""
