"""Surviving a kill, a full disk or a corrupt file: the run directory's record of its MLflow run,
verified atomic backups (latest and previous), and the disk-space check before each write."""
