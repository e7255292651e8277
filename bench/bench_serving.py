"""Serving latency and throughput: in-process model(x) vs `mlflow models serve` vs `python -m app serve`.

One 128-px flowers JPEG, sent as base64 file bytes. Trains a 1-epoch model at 128 px into a temp
MLflow store first (the numbers are about serving, not accuracy). Reports p50/p95 latency and
requests/s at concurrency 1 and 8 for:
  in_process  - the Keras model's predict_on_batch and model(x) on the decoded image (batch 1)
  mlflow      - the bare `mlflow models serve --env-manager local` (behind the front)
  served      - `python -m app serve` = the front (limits, short errors) + mlflow models serve
JSON goes to bench/results/serving.json.

    python -m bench.bench_serving [--config pipelines/configs/flowers_mlp.yaml] [--seconds 8]
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


def train_model(workdir: Path, config: str) -> str:
    uri = f"sqlite:///{workdir / 'mlflow.db'}"
    overrides = ["data.image_size=[128,128]", "train.epochs=1", f"data.path={FLOWERS}", f"output_dir={workdir}"]
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "TF_CPP_MIN_LOG_LEVEL": "2"}
    print(f"training 1 epoch of {config} at 128 px into {workdir} ...", flush=True)
    done = subprocess.run(
        [sys.executable, "-m", "app", "train", config, *overrides], cwd=ROOT, env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(f"training failed:\n{done.stderr[-3000:]}")
    return uri


def bench_in_process(model_uri: str, jpeg: bytes, seconds: float) -> dict:
    import mlflow
    import numpy as np

    from data.decode import decode_image

    classifier = mlflow.pyfunc.load_model(model_uri).unwrap_python_model()
    meta = classifier.meta
    x = decode_image(jpeg, tuple(meta["image_size"]), meta["channels"], meta["resize"])[None].astype(np.float32)
    results = {}
    for name, call in {
        "predict_on_batch": lambda: classifier.model.predict_on_batch(x),
        "model_call": lambda: classifier.model(x, training=False).numpy(),
    }.items():
        for _ in range(10):
            call()
        latencies, started = [], time.perf_counter()
        while time.perf_counter() - started < seconds:
            t = time.perf_counter()
            call()
            latencies.append(time.perf_counter() - t)
        results[name] = summary(latencies, time.perf_counter() - started)
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
                with lock:
                    latencies.append(elapsed)
                    errors[0] += response.status_code != 200

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return summary(latencies, time.perf_counter() - started, errors[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="pipelines/configs/flowers_mlp.yaml")
    parser.add_argument("--seconds", type=float, default=8.0, help="per measurement")
    parser.add_argument("--workers", type=int, default=1, help="mlflow models serve workers")
    args = parser.parse_args()
    if not FLOWERS.is_dir():
        print(f"skipped: flowers dataset not found at {FLOWERS}")
        return

    from app.model_server import free_port, serve_env, stop, wait_until_up

    jpeg_path = sorted((FLOWERS / "daisy").glob("*.jpg"))[0]
    jpeg = jpeg_path.read_bytes()
    body = json.dumps({"dataframe_split": {"columns": ["image"], "data": [[base64.b64encode(jpeg).decode()]]}}).encode()
    with tempfile.TemporaryDirectory() as tmp:
        uri = train_model(Path(tmp), args.config)
        os.environ["MLFLOW_TRACKING_URI"] = uri
        model_uri = "models:/flowers-classifier@champion"
        port, backend_port = free_port(), free_port()
        command = [sys.executable, "-m", "app", "serve", "--model", model_uri, "--port", str(port)]
        command += ["--backend-port", str(backend_port), "--workers", str(args.workers)]
        with open(Path(tmp) / "serve.log", "wb") as log:
            server = subprocess.Popen(
                command, cwd=ROOT, env=serve_env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
            try:
                wait_until_up(f"http://127.0.0.1:{port}/ping", server)
                results = {"in_process": bench_in_process(model_uri, jpeg, args.seconds)}
                for name, url in {"mlflow": backend_port, "served": port}.items():
                    for concurrency in (1, 8):
                        key = f"{name}_c{concurrency}"
                        results[key] = bench_http(
                            f"http://127.0.0.1:{url}/invocations", body, concurrency, args.seconds
                        )
                        print(key, results[key], flush=True)
            finally:
                stop(server)

    in_process = results["in_process"]["predict_on_batch"]
    served1, served8 = results["served_c1"], results["served_c8"]
    report = {
        "cpu_count": os.cpu_count(),
        "config": args.config,
        "image": str(jpeg_path.relative_to(FLOWERS)),
        "image_bytes": len(jpeg),
        "request_bytes": len(body),
        "workers": args.workers,
        "results": results,
        "served_overhead_p50_ms": round(served1["p50_ms"] - in_process["p50_ms"], 2),
        "front_overhead_p50_ms": round(served1["p50_ms"] - results["mlflow_c1"]["p50_ms"], 2),
        "served_to_in_process_p50_ratio": round(served1["p50_ms"] / in_process["p50_ms"], 2),
        "served_c8_to_in_process_throughput_ratio": round(served8["requests_per_s"] / in_process["requests_per_s"], 2),
    }
    report["goal_p50_within_15ms"] = report["served_overhead_p50_ms"] <= 15
    report["goal_c8_throughput_half_of_in_process"] = report["served_c8_to_in_process_throughput_ratio"] >= 0.5
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "serving.json").write_text(json.dumps(report, indent=2))
    print(json.dumps({k: v for k, v in report.items() if k != "results"}, indent=2))


if __name__ == "__main__":
    main()
