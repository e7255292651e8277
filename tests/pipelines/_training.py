"""Helpers for the training-engine tests: run the real CLI in a subprocess, read the MLflow store."""

import os
import socket
import subprocess
import sys

from tests.conftest import ROOT

# Tiny but real: the embedded digits, a small MLP, no augmentation cost worth mentioning.
FAST = ["model.hidden_units=[64]", "augment.preset=none", "train.gradient_health.batch_size=32"]


def train_command(*overrides: str) -> list[str]:
    return [sys.executable, "-m", "app", "train", *FAST, *overrides]


def run_cli(args: list[str], env: dict | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        args, cwd=ROOT, capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})}
    )


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def client(tracking_uri: str):
    import mlflow
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(tracking_uri)
    return MlflowClient()


def all_runs(tracking_uri: str):
    c = client(tracking_uri)
    return [r for e in c.search_experiments() for r in c.search_runs([e.experiment_id])]
