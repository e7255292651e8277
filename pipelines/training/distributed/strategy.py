"""Where training runs: a tf.distribute strategy chosen from `runtime.device` and TF_CONFIG.

`auto` picks, in order: TPUStrategy when a TPU is reachable, MultiWorkerMirroredStrategy when
TF_CONFIG describes a cluster of several tasks, MirroredStrategy over several GPUs (or over
`runtime.logical_cpus` CPU devices), and the default strategy otherwise. A device that was asked
for and is absent is a ValueError at once: probing never waits on a network.

The chosen strategy is made current for the process (`experimental_set_strategy`), so models
built afterwards place their variables on its devices without an extra `with scope():` block.
"""

import functools
import glob
import json
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelines.config import RuntimeConfig

log = logging.getLogger(__name__)

KINDS = ("default", "mirrored", "multi_worker", "tpu")


@dataclass(frozen=True)
class Placement:
    strategy: Any  # tf.distribute.Strategy
    kind: str  # one of KINDS
    device: str  # cpu | gpu | tpu
    num_replicas: int
    num_workers: int = 1
    task_index: int = 0
    is_chief: bool = True  # only the chief logs to MLflow and writes files
    precision: str = "float32"

    def global_batch_size(self, per_replica: int) -> int:
        return per_replica * self.num_replicas

    @property
    def uses_custom_loop(self) -> bool:
        # Keras 3 `fit` fails under MultiWorkerMirroredStrategy (keras-team/keras#20585).
        return self.kind == "multi_worker"

    def describe(self) -> dict[str, Any]:
        return {
            "strategy": self.kind,
            "device": self.device,
            "num_replicas": self.num_replicas,
            "num_workers": self.num_workers,
            "precision": self.precision,
        }


def build_placement(cfg: RuntimeConfig) -> Placement:
    """Pick and activate the strategy; call before anything else touches TensorFlow devices."""
    # TensorFlow only here and in _set_precision: app/folder_defaults reads cpu_has_bf16 from this
    # module while `train` checks its config, before TensorFlow may load.
    import tensorflow as tf

    cluster = cluster_from_env()
    _configure_devices(tf, cfg)
    device = _resolve_device(tf, cfg.device, cluster)
    tf.distribute.experimental_set_strategy(None)
    if device == "tpu":
        strategy, kind = _tpu_strategy(tf), "tpu"
    elif cluster:
        options = tf.distribute.experimental.CommunicationOptions(timeout_seconds=cfg.collective_timeout_seconds)
        strategy, kind = tf.distribute.MultiWorkerMirroredStrategy(communication_options=options), "multi_worker"
    else:
        devices = [d.name for d in tf.config.list_logical_devices(device.upper())]
        if len(devices) > 1:
            strategy, kind = tf.distribute.MirroredStrategy(devices), "mirrored"
        else:
            strategy, kind = tf.distribute.get_strategy(), "default"
    if kind != "default":
        tf.distribute.experimental_set_strategy(strategy)
    task_type, task_index = _task(cluster)
    placement = Placement(
        strategy=strategy,
        kind=kind,
        device=device,
        num_replicas=strategy.num_replicas_in_sync,
        num_workers=_num_workers(cluster),
        task_index=task_index,
        is_chief=_is_chief(cluster, task_type, task_index),
        precision=_set_precision(cfg.mixed_precision, device),
    )
    log.info("placement: %s", placement.describe())
    return placement


def cluster_from_env() -> dict | None:
    """TF_CONFIG when it describes more than one task, else None."""
    raw = os.environ.get("TF_CONFIG", "").strip()
    if not raw:
        return None
    try:
        tf_config = json.loads(raw)
        tasks = sum(len(v) for v in tf_config.get("cluster", {}).values())
        tf_config["task"]["type"], int(tf_config["task"]["index"])
    except (ValueError, KeyError, TypeError, AttributeError):
        raise ValueError(
            'TF_CONFIG is not valid: expected JSON like {"cluster": {"worker": ["host:port", ...]}, '
            '"task": {"type": "worker", "index": 0}}'
        ) from None
    return tf_config if tasks > 1 else None


def _configure_devices(tf, cfg: RuntimeConfig) -> None:
    _configure_threads(tf, cfg)
    try:
        if cfg.logical_cpus > 1:
            cpu = tf.config.list_physical_devices("CPU")[0]
            tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * cfg.logical_cpus)
        if cfg.device == "cpu" and tf.config.list_physical_devices("GPU"):
            tf.config.set_visible_devices([], "GPU")
    except RuntimeError:
        # TensorFlow already initialized its devices in this process (e.g. a second run).
        have = len(tf.config.list_logical_devices("CPU"))
        if cfg.logical_cpus > 1 and have != cfg.logical_cpus:
            raise ValueError(
                f"runtime.logical_cpus={cfg.logical_cpus} needs a fresh process: TensorFlow already set up {have} CPU device(s)"
            ) from None


def _configure_threads(tf, cfg: RuntimeConfig) -> None:
    """runtime.intra_op_threads / inter_op_threads; 0 leaves TensorFlow's own choice."""
    for kind in ("intra", "inter"):
        wanted = getattr(cfg, f"{kind}_op_threads")
        current = getattr(tf.config.threading, f"get_{kind}_op_parallelism_threads")()
        if not wanted or current == wanted:
            continue
        try:
            getattr(tf.config.threading, f"set_{kind}_op_parallelism_threads")(wanted)
        except RuntimeError:
            raise ValueError(
                f"runtime.{kind}_op_threads={wanted} needs a fresh process: TensorFlow already runs with "
                f"{current or 'its default'}"
            ) from None


def _resolve_device(tf, requested: str, cluster: dict | None) -> str:
    gpus = tf.config.list_physical_devices("GPU")
    if requested == "tpu":
        if not _tpu_address():
            raise ValueError(
                "runtime.device 'tpu' requested but no TPU is reachable (no TPU_NAME / COLAB_TPU_ADDR, no /dev/accel*); "
                f"available: {_available(gpus)}"
            )
        return "tpu"
    if requested == "gpu":
        if not gpus:
            raise ValueError(
                f"runtime.device 'gpu' requested but TensorFlow sees no GPU; available: {_available(gpus)}"
            )
        return "gpu"
    if requested == "cpu":
        return "cpu"
    if _tpu_address() and not cluster:
        return "tpu"
    return "gpu" if gpus else "cpu"


def _available(gpus) -> str:
    return "cpu" + (", gpu" if gpus else "") + " (use runtime.device=auto to pick the best)"


def _tpu_address() -> str | None:
    """Where a TPU would be, from local evidence only: no network probe that could hang."""
    for name in ("TPU_NAME", "COLAB_TPU_ADDR"):
        if os.environ.get(name):
            return os.environ[name]
    if glob.glob("/dev/accel*") or glob.glob("/dev/vfio/[0-9]*"):
        return "local"  # a TPU VM: the chips are attached to this host
    return None


def _tpu_strategy(tf):
    address = _tpu_address()
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=address)
    if address != "local":
        tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)


def _task(cluster: dict | None) -> tuple[str, int]:
    if not cluster:
        return "worker", 0
    return cluster["task"]["type"], int(cluster["task"]["index"])


def _num_workers(cluster: dict | None) -> int:
    if not cluster:
        return 1
    return sum(len(cluster["cluster"].get(t, [])) for t in ("chief", "worker"))


def _is_chief(cluster: dict | None, task_type: str, task_index: int) -> bool:
    # TensorFlow's convention: the "chief" task if the cluster has one, else worker 0.
    if not cluster:
        return True
    if "chief" in cluster["cluster"]:
        return task_type == "chief"
    return task_type == "worker" and task_index == 0


def _set_precision(mode: bool | str, device: str) -> str:
    import keras

    native = device != "cpu" or cpu_has_bf16()
    policy = "float32"
    if mode is True or (mode == "auto" and native):
        policy = "mixed_float16" if device == "gpu" else "mixed_bfloat16"
        if not native:
            log.warning(
                "this CPU has no bfloat16 instructions (AVX512-BF16, AMX): mixed precision is emulated and slower"
            )
    keras.mixed_precision.set_global_policy(policy)
    return policy


@functools.cache
def cpu_has_bf16() -> bool:
    """True when the CPU computes bfloat16 natively (Linux: the avx512_bf16 or amx_bf16 flag)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False  # not Linux: assume emulated, stay in float32
    return bool(re.search(r"\b(avx512_bf16|amx_bf16)\b", flags))
