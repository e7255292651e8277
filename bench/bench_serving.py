"""Serving throughput and latency: `python -m app serve` (adaptive batching) vs the model in-process.

One 128-px flowers JPEG, sent as base64 file bytes. For each model (the flowers VGG at 64 px and
the flowers MLP, 1 epoch each into a temp MLflow store: the numbers are about serving, not
accuracy), in one run: in-process `predict_on_batch` at batch 1 and batch 16 on the decoded
image (images/s), then the server at concurrency 1, 8, 16 and 32 (p50/p95 latency, requests/s)
and its peak RSS. Goals: at concurrency 16, >= 2.0x the in-process batch-1 rate with p95 <=
150 ms; at concurrency 1, p50 <= in-process + 10 ms. JSON to bench/results/serving.json.

    python -m bench.bench_serving [--models vgg,mlp] [--seconds 8]
"""

import argparse
import base64
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
FLOWERS = ROOT.parent / "shared" / "datasets" / "flowers"
RESULTS = ROOT / "bench" / "results"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary(latencies_s: list[float], wall_s: float, errors: int = 0) -> dict:
    ms = [v * 1000 for v in latencies_s]
    return {
        "requests": len(ms),
        "errors": errors,
        "p50_ms": round(statistics.median(ms), 2),
        "p95_ms": round(percentile(ms, 0.95), 2),
        "requests_per_s": round(len(ms) / wall_s, 1),
    }


MODELS = {"vgg": ("pipelines/configs/flowers_vgg.yaml", 64), "mlp": ("pipelines/configs/flowers_mlp.yaml", 64)}


def train_model(workdir: Path, config: str, size: int) -> str:
    uri = f"sqlite:///{workdir / 'mlflow.db'}"
    overrides = [f"data.image_size=[{size},{size}]", "train.epochs=1", f"data.path={FLOWERS}", f"output_dir={workdir}"]
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "TF_CPP_MIN_LOG_LEVEL": "2"}
    print(f"training 1 epoch of {config} at {size} px into {workdir} ...", flush=True)
    done = subprocess.run(
        [sys.executable, "-m", "app", "train", config, *overrides], cwd=ROOT, env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(f"training failed:\n{done.stderr[-3000:]}")
    return uri


def bench_in_process(model_uri: str, jpeg: bytes, seconds: float) -> dict:
    """predict_on_batch on the decoded image at batch 1 and 16: latency per call, images/s."""
    import mlflow
    import numpy as np

    from data.decode import decode_image

    classifier = mlflow.pyfunc.load_model(model_uri).unwrap_python_model()
    meta = classifier.meta
    x = decode_image(jpeg, tuple(meta["image_size"]), meta["channels"], meta["resize"])[None].astype(np.float32)
    results = {}
    for batch in (1, 16):
        xs = np.repeat(x, batch, axis=0)
        for _ in range(10):
            classifier.model.predict_on_batch(xs)
        latencies, started = [], time.perf_counter()
        while time.perf_counter() - started < seconds:
            t = time.perf_counter()
            classifier.model.predict_on_batch(xs)
            latencies.append(time.perf_counter() - t)
        results[f"batch_{batch}"] = summary(latencies, time.perf_counter() - started)
        results[f"batch_{batch}"]["images_per_s"] = round(results[f"batch_{batch}"]["requests_per_s"] * batch, 1)
    return results


def bench_http(url: str, body: bytes, concurrency: int, seconds: float) -> dict:
    headers = {"Content-Type": "application/json"}
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def client():
        with requests.Session() as session:  # keep-alive, as a real client would
            session.post(url, data=body, headers=headers, timeout=60)  # warm the connection
            while time.perf_counter() < deadline:
                t = time.perf_counter()
                response = session.post(url, data=body, headers=headers, timeout=60)
                elapsed = time.perf_counter() - t
                with lock:  # latency and rate of answered requests; a 503 past the in-flight limit is an error
                    if response.status_code == 200:
                        latencies.append(elapsed)
                    else:
                        errors[0] += 1

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return summary(latencies, time.perf_counter() - started, errors[0])


def bench_model(name: str, jpeg: bytes, body: bytes, seconds: float) -> dict:
    import psutil

    from app.processes import free_port, serve_env, stop, wait_until_up

    config, size = MODELS[name]
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["MLFLOW_TRACKING_URI"] = train_model(Path(tmp), config, size)
        model_uri = "models:/flowers-classifier@champion"
        results = {"in_process": bench_in_process(model_uri, jpeg, seconds)}
        port = free_port()
        command = [sys.executable, "-m", "app", "serve", "--model", model_uri, "--port", str(port)]
        with open(Path(tmp) / "serve.log", "wb") as log:
            server = subprocess.Popen(
                command, cwd=ROOT, env=serve_env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
            try:
                wait_until_up(f"http://127.0.0.1:{port}/ping", server)
                peak = psutil.Process(server.pid).memory_info().rss
                for concurrency in (1, 8, 16, 32):
                    key = f"served_c{concurrency}"
                    results[key] = bench_http(f"http://127.0.0.1:{port}/invocations", body, concurrency, seconds)
                    peak = max(peak, psutil.Process(server.pid).memory_info().rss)
                    print(name, key, results[key], flush=True)
            finally:
                stop(server)
    one, sixteen = results["in_process"]["batch_1"], results["served_c16"]
    report = {
        "config": config,
        "image_size": size,
        "results": results,
        "server_rss_mb_after_load": round(peak / 2**20),
        "c16_to_in_process_batch1_throughput": round(sixteen["requests_per_s"] / one["images_per_s"], 2),
        "c16_p95_ms": sixteen["p95_ms"],
        "c1_p50_overhead_ms": round(results["served_c1"]["p50_ms"] - one["p50_ms"], 2),
    }
    report["goal_c16_2x_and_p95_150ms"] = (
        report["c16_to_in_process_batch1_throughput"] >= 2.0 and sixteen["p95_ms"] <= 150
    )
    report["goal_c1_p50_within_10ms"] = report["c1_p50_overhead_ms"] <= 10
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="vgg,mlp", help=f"comma-separated, of {', '.join(MODELS)}")
    parser.add_argument("--seconds", type=float, default=8.0, help="per measurement")
    args = parser.parse_args()
    if not FLOWERS.is_dir():
        print(f"skipped: flowers dataset not found at {FLOWERS}")
        return
    jpeg_path = sorted((FLOWERS / "daisy").glob("*.jpg"))[0]
    jpeg = jpeg_path.read_bytes()
    body = json.dumps({"dataframe_split": {"columns": ["image"], "data": [[base64.b64encode(jpeg).decode()]]}}).encode()
    report = {"cpu_count": os.cpu_count(), "image": str(jpeg_path.relative_to(FLOWERS)), "request_bytes": len(body)}
    for name in args.models.split(","):
        if name not in MODELS:
            raise SystemExit(f"--models: unknown model '{name}'; choose from {', '.join(MODELS)}")
        report[name] = bench_model(name, jpeg, body, args.seconds)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "serving.json").write_text(json.dumps(report, indent=2))
    print(
        json.dumps(
            {
                k: {kk: vv for kk, vv in v.items() if kk != "results"} if isinstance(v, dict) else v
                for k, v in report.items()
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
