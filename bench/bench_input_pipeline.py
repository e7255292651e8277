"""Input pipeline throughput on flowers at 128 px, side by side in one run.

(a) the configured albumentations transforms in a plain Python loop, one process (reference);
    OpenCV's own thread pool is left as it is, so some transforms (Affine) already use both
    cores; the same loop with OpenCV held to one thread is measured too (the one-core cost);
(b) the project's training pipeline (pipelines/input_pipeline.py) with the same transforms,
    as shipped (worker processes) and, for reference, augmenting in tf.data threads (workers=0);
(c) the training-step consumption of each built-in model (models.family_names(), each with its
    shipped flowers config where there is one), fed from memory.
Goals on 2 cores: (b)/(a) >= 1.5 and (b) >= 3x (c) for every model.
Medians of several interleaved repetitions; JSON to bench/results/input_pipeline.json.

    python -m bench.bench_input_pipeline [--reps 3]
"""

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

FLOWERS = ROOT.parent / "shared" / "datasets" / "flowers"
RESULTS = ROOT / "bench" / "results" / "input_pipeline.json"
IMAGE_SIZE = (128, 128)
BATCH = 64
SETTLE_SECONDS = 3.0
# CPU milliseconds per image, (b) summed over the training process and its workers: unlike
# wall-clock rates these do not depend on what else the shared machine is running.
CPU_MS_PER_IMAGE: list[float] = []
LOOP_CPU_MS_PER_IMAGE: list[float] = []


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--images", type=int, default=1536, help="images per timed repetition of (a) and (b)")
    args = parser.parse_args()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    if not FLOWERS.is_dir():
        print(f"skipped: flowers dataset not found at {FLOWERS}")
        RESULTS.write_text(json.dumps({"skipped": f"flowers not found at {FLOWERS}"}, indent=2))
        return 0

    from data.config import DataConfig
    from data.sources import load_splits
    from pipelines.config import load_config
    from pipelines.inputs.augment import build_augmenter

    configs = {p.stem.removeprefix("flowers_"): p for p in sorted((ROOT / "pipelines/configs").glob("flowers_*.yaml"))}
    augment_cfg = load_config(next(iter(configs.values()))).augment if configs else None
    if augment_cfg is None:
        from pipelines.config.augment import AugmentConfig

        augment_cfg = AugmentConfig(preset="standard")
    data_cfg = DataConfig(
        source="folder", path=str(FLOWERS), image_size=IMAGE_SIZE, channels=3, cache="disk", cache_dir=".cache/decoded"
    )
    train = load_splits(data_cfg, 42).train
    augmenter = build_augmenter(augment_cfg, IMAGE_SIZE, 42, channels=3)

    loop_rates, single_rates, pool_rates, thread_rates, pool_cpu = [], [], [], [], []
    pool_ds, thread_ds = _pipeline(train, augmenter, "auto"), _pipeline(train, augmenter, 0)
    for rep in range(args.reps):
        # tf.data keeps filling both pipelines' prefetch buffers after the last timed batch:
        # let that finish so it does not steal the cores from the loop's measurement.
        time.sleep(SETTLE_SECONDS)
        loop_rates.append(_loop_rate(augmenter, train.images, args.images))
        single_rates.append(_loop_rate(augmenter, train.images, args.images, opencv_threads=1))
        pool_rates.append(_pipeline_rate(pool_ds, args.images))
        pool_cpu.append(CPU_MS_PER_IMAGE.pop())
        thread_rates.append(_pipeline_rate(thread_ds, args.images // 2))
        print(
            f"rep {rep + 1}: (a) loop {loop_rates[-1]:.0f} (one OpenCV thread {single_rates[-1]:.0f})  "
            f"(b) pipeline {pool_rates[-1]:.0f}  "
            f"(b, threads) {thread_rates[-1]:.0f} images/s"
        )
    a, a_single, b, b_threads = (statistics.median(r) for r in (loop_rates, single_rates, pool_rates, thread_rates))

    models = {}
    from models import family_names

    for name in family_names():
        try:
            rate = _train_step_rate(name, configs.get(name), args.reps)
            models[name] = {"train_images_per_s": round(rate, 1), "pipeline_over_model": round(b / rate, 2)}
        except Exception as err:  # a model still being written must not sink the whole benchmark
            models[name] = {"error": f"{type(err).__name__}: {str(err).splitlines()[0][:200] if str(err) else ''}"}
        print(f"(c) {name}: {models[name]}")

    result = {
        "cpu_count": os.cpu_count(),
        "image_size": list(IMAGE_SIZE),
        "batch_size": BATCH,
        "augment": augment_cfg.model_dump(mode="json"),
        "reps": args.reps,
        "a_loop_images_per_s": round(a, 1),
        "b_pipeline_images_per_s": round(b, 1),
        "b_threads_images_per_s": round(b_threads, 1),
        "a_loop_one_opencv_thread_images_per_s": round(a_single, 1),
        "ratio_b_over_a": round(b / a, 2),
        # Each repetition measures (a) and (b) back to back: the median of those paired ratios
        # cancels the load that drifts between repetitions.
        "ratio_b_over_a_paired_median": round(
            statistics.median(q / p for p, q in zip(loop_rates, pool_rates, strict=True)), 2
        ),
        "ratio_b_over_a_one_opencv_thread": round(b / a_single, 2),
        "ratio_threads_over_a": round(b_threads / a, 2),
        "a_cpu_ms_per_image": round(statistics.median(LOOP_CPU_MS_PER_IMAGE), 3),
        "b_cpu_ms_per_image": round(statistics.median(pool_cpu), 3),
        # What (b)/(a) would be with every core free: the machine is shared, so this is the
        # figure that does not move with other people's load. Wall-clock ratios above are measured.
        "ratio_b_over_a_idle_projection": round(
            min(os.cpu_count() or 1, len(os.sched_getaffinity(0)))
            * statistics.median(LOOP_CPU_MS_PER_IMAGE)
            / statistics.median(pool_cpu),
            2,
        ),
        "load_average_at_end": os.getloadavg(),
        "c_models": models,
        "goals": {
            "b_over_a_at_least_1.5": b / a >= 1.5,
            "b_at_least_3x_every_model": all(m.get("pipeline_over_model", 0) >= 3 for m in models.values()),
        },
        "raw": {"a": loop_rates, "a_one_opencv_thread": single_rates, "b": pool_rates, "b_threads": thread_rates},
    }
    RESULTS.write_text(json.dumps(result, indent=2))
    print(json.dumps({k: v for k, v in result.items() if k != "raw"}, indent=2))
    return 0


def _pipeline(train, augmenter, workers):
    from pipelines.inputs.datasets import build_train_ds

    ds = build_train_ds(train, 5, BATCH, augmenter, 42, 10_000, workers=workers)
    iterator = iter(ds)
    for _ in range(4):  # warm up: worker start-up, tracing, buffers
        next(iterator)
    return iterator


def _cpu_seconds() -> float:
    """CPU time of this process and its live children (the augmentation workers), from /proc."""
    total = time.process_time()
    tick = os.sysconf("SC_CLK_TCK")
    for pid in _child_pids():
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except (OSError, IndexError, ValueError):
            pass
    return total


def _child_pids() -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children").read_text().split()]
    except OSError:
        return []


def _pipeline_rate(iterator, images: int) -> float:
    # Batches prefetched while the pipeline waited are free; drain them so only the
    # steady-state rate is timed (the consumer here is far faster than any producer).
    for _ in range(10):
        next(iterator)
    batches = max(1, images // BATCH)
    started, cpu = time.perf_counter(), _cpu_seconds()
    for _ in range(batches):
        next(iterator)
    CPU_MS_PER_IMAGE.append(1000 * (_cpu_seconds() - cpu) / (batches * BATCH))
    return batches * BATCH / (time.perf_counter() - started)


def _loop_rate(augmenter, images, count: int, opencv_threads: int | None = None) -> float:
    import cv2

    default_threads = cv2.getNumThreads()
    if opencv_threads:
        cv2.setNumThreads(opencv_threads)
    try:
        augmenter.set_random_seed(0)
        started, cpu = time.perf_counter(), time.process_time()
        for i in range(count):
            augmenter(image=images[i % len(images)])
        if opencv_threads is None:
            LOOP_CPU_MS_PER_IMAGE.append(1000 * (time.process_time() - cpu) / count)
        return count / (time.perf_counter() - started)
    finally:
        cv2.setNumThreads(default_threads)


def _train_step_rate(name: str, config_path, reps: int) -> float:
    import numpy as np

    from models import build_compile_args, build_model, build_training_model
    from pipelines.config import load_config
    from pipelines.inputs.preprocess import with_preprocessing

    cfg = load_config(config_path, []) if config_path else load_config(None, [f"model.name={name}"])
    batch = cfg.train.batch_size
    network = build_model(cfg.model, (*IMAGE_SIZE, 3), 5)
    model = build_training_model(
        with_preprocessing(network, "standardize", [120.0] * 3, [60.0] * 3), getattr(cfg.model, "aux_loss_weight", 0.0)
    )
    model.compile(optimizer="adam", **build_compile_args(cfg.model.task, cfg.train.loss, 5))
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (batch, *IMAGE_SIZE, 3), dtype=np.uint8)
    y = np.eye(5, dtype=np.float32)[rng.integers(0, 5, batch)]
    model.train_on_batch(x, y)  # trace and build
    rates = []
    for _ in range(reps):
        steps, started = 0, time.perf_counter()
        while steps < 2 or time.perf_counter() - started < 3.0:
            model.train_on_batch(x, y)
            steps += 1
        rates.append(steps * batch / (time.perf_counter() - started))
    return statistics.median(rates)


if __name__ == "__main__":
    sys.exit(main())
