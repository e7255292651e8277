"""Hyper-parameter search and sweeps (Optuna), built on training/ and tracking/.

space.py reads and checks a search-space YAML; study.py opens the Optuna study (storage, sampler,
pruner); objective.py turns one trial into a normal training run nested under the study's parent
MLflow run; summary.py writes what the parent run holds (best params, best.yaml, plots); view.py is
the `compare --study` table; toy.py is the 2-D decision-boundary demo of the capacity lesson.
"""
