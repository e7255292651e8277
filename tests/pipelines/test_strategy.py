"""Devices and strategies on the CPU: absent devices fail fast, mirrored and multi-worker train."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipelines.config import RuntimeConfig
from tests.conftest import ROOT
from tests.helpers import all_runs, free_ports, run_cli, train_command


def _no_accelerators():
    import tensorflow as tf

    return not tf.config.list_physical_devices("GPU") and not os.environ.get("TPU_NAME")


@pytest.mark.parametrize("device", ["gpu", "tpu"])
def test_absent_device_is_a_clear_error_not_a_hang(device):
    from pipelines.training.distributed.strategy import build_placement

    if not _no_accelerators():
        pytest.skip("this machine has an accelerator")
    started = time.monotonic()
    with pytest.raises(ValueError, match=f"runtime.device '{device}' requested but") as err:
        build_placement(RuntimeConfig(device=device))
    assert "available: cpu" in str(err.value)
    assert "\n" not in str(err.value)
    assert time.monotonic() - started < 10


def test_invalid_tf_config_is_one_line(monkeypatch):
    from pipelines.training.distributed.strategy import cluster_from_env

    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(ValueError, match="TF_CONFIG is not valid"):
        cluster_from_env()
    monkeypatch.setenv(
        "TF_CONFIG", json.dumps({"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 0}})
    )
    assert cluster_from_env() is None  # one task is no cluster


def test_auto_on_cpu_uses_the_default_strategy_and_per_replica_batch():
    from pipelines.training.distributed.strategy import build_placement

    placement = build_placement(RuntimeConfig())
    assert placement.kind == "default"
    assert placement.is_chief
    assert placement.global_batch_size(32) == 32 * placement.num_replicas


@pytest.mark.slow
def test_mirrored_over_two_logical_cpus_matches_single_device(mlflow_store, tmp_path):
    # Same global batch (2 x 32 vs 1 x 64), same seed: the same data stream, so close results.
    common = ["train.epochs=3", "tracking.register_model=false", f"output_dir={tmp_path / 'out'}"]
    single = run_cli(train_command(*common, "train.batch_size=64"))
    mirrored = run_cli(train_command(*common, "train.batch_size=32", "runtime.logical_cpus=2"))
    assert single.returncode == 0, single.stderr[-2000:]
    assert mirrored.returncode == 0, mirrored.stderr[-2000:]
    runs = {r.data.params["strategy"]: r for r in all_runs(mlflow_store)}
    assert runs["mirrored"].data.params["num_replicas"] == "2"
    assert runs["mirrored"].data.params["global_batch_size"] == "64"
    assert runs["default"].data.params["global_batch_size"] == "64"
    one, two = runs["default"].data.metrics, runs["mirrored"].data.metrics
    assert two["test_accuracy"] > 0.75
    assert abs(one["test_accuracy"] - two["test_accuracy"]) < 0.08
    assert abs(one["loss"] - two["loss"]) < 0.1 * one["loss"]


@pytest.mark.slow
def test_two_workers_on_localhost_train_together_and_only_the_chief_logs(mlflow_store, tmp_path):
    ports = free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    command = train_command(
        "train.epochs=2", "train.batch_size=32", "tracking.register_model=false", f"output_dir={tmp_path / 'out'}"
    )
    workers = [
        subprocess.Popen(
            command,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}})},
        )
        for i in range(2)
    ]
    outputs = [w.communicate(timeout=300) for w in workers]
    for worker, (_, stderr) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, stderr[-3000:]

    (run,) = all_runs(mlflow_store)  # one run: the chief's
    assert run.info.status == "FINISHED"
    assert run.data.params["strategy"] == "multi_worker"
    assert run.data.params["num_workers"] == "2"
    assert run.data.params["num_replicas"] == "2"
    assert run.data.params["global_batch_size"] == "64"
    assert run.data.metrics["test_accuracy"] > 0.6
    assert run.info.run_id in outputs[0][0]
    assert run.info.run_id not in outputs[1][0]
    # Both processes report the same all-reduced training loss for each epoch: they trained as one.
    assert _epoch_lines(outputs[0][0]) == _epoch_lines(outputs[1][0])
    (run_dir,) = (tmp_path / "out").iterdir()  # the worker wrote nothing of its own
    assert (run_dir / "model.keras").is_file()


def _epoch_lines(stdout: str) -> list[str]:
    # "19/19 - 1s - 65ms/step - accuracy: ... - loss: ..." -> the metrics part only
    return [line.split("step - ", 1)[1] for line in stdout.splitlines() if "step - " in line]


def test_logical_cpus_need_a_fresh_process():
    # In this (pytest) process TensorFlow is already initialized with one CPU device.
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import tensorflow as tf; tf.constant(1.0);"
            "from pipelines.config import RuntimeConfig; from pipelines.training.distributed.strategy import build_placement;"
            "build_placement(RuntimeConfig(logical_cpus=2))",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode != 0
    assert "needs a fresh process" in out.stderr


def _placement_in_a_fresh_process(setup: str, runtime: str) -> subprocess.CompletedProcess:
    script = (
        f"{setup}from pipelines.config import RuntimeConfig; from pipelines.training.distributed.strategy import build_placement;"
        f"import tensorflow as tf; build_placement(RuntimeConfig({runtime}));"
        "print(tf.config.threading.get_intra_op_parallelism_threads(), tf.config.threading.get_inter_op_parallelism_threads())"
    )
    return subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_thread_pools_are_set_in_a_fresh_process_and_refused_in_a_started_one():
    fresh = _placement_in_a_fresh_process("", "intra_op_threads=1, inter_op_threads=3")
    assert fresh.returncode == 0, fresh.stderr[-500:]
    assert fresh.stdout.split() == ["1", "3"]
    default = _placement_in_a_fresh_process("", "")
    assert default.stdout.split() == ["0", "0"]  # 0: TensorFlow's own choice, untouched
    started = _placement_in_a_fresh_process("import tensorflow as tf; tf.constant(1.0);", "intra_op_threads=1")
    assert started.returncode != 0
    assert "runtime.intra_op_threads=1 needs a fresh process" in started.stderr


@pytest.mark.parametrize(
    ("mode", "device", "native_bf16", "expected"),
    [
        ("auto", "cpu", True, "mixed_bfloat16"),  # AVX512-BF16 / AMX: faster steps, same accuracy
        ("auto", "cpu", False, "float32"),  # emulated bf16 would be slower
        ("auto", "gpu", False, "mixed_float16"),
        (True, "cpu", False, "mixed_bfloat16"),  # asked for explicitly: done, with a warning
        (False, "cpu", True, "float32"),
    ],
)
def test_mixed_precision_auto_follows_the_hardware(monkeypatch, mode, device, native_bf16, expected):
    import keras

    from pipelines.training.distributed import strategy

    monkeypatch.setattr(strategy, "cpu_has_bf16", lambda: native_bf16)
    try:
        assert strategy._set_precision(mode, device) == expected
        assert keras.mixed_precision.global_policy().name == expected
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert RuntimeConfig(mixed_precision="auto").mixed_precision == "auto"
    assert RuntimeConfig(mixed_precision="true").mixed_precision is True


def test_the_bf16_probe_reads_this_machine():
    from pipelines.training.distributed.strategy import cpu_has_bf16

    flags = Path("/proc/cpuinfo").read_text()
    assert cpu_has_bf16() == ("avx512_bf16" in flags or "amx_bf16" in flags)
