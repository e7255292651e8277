"""Pruning's worth: the same 20-trial tune of the digits MLP with the median pruner and without, side by side.

Each arm is the real `python -m app tune` (TPE with the same seed, the shipped space
pipelines/search_spaces/digits_mlp.yaml) in its own temporary MLflow store and Optuna storage.
Reports wall-clock and CPU seconds and epochs trained of each arm, their ratios (goal: pruned <= 0.5 x
unpruned; on a shared machine trust the CPU and epoch ratios over wall clock), the best
validation accuracy of each (goal: within 0.5 points) and how many trials were pruned.
JSON to bench/results/tune.json.

    python -m bench.bench_tune [--trials 20] [--arms median,none]
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "tune.json"
SPACE = ROOT / "pipelines" / "search_spaces" / "digits_mlp.yaml"


def run_arm(pruner: str, trials: int, workdir: Path) -> dict:
    import optuna

    storage = f"sqlite:///{workdir / 'optuna.db'}"
    command = [
        sys.executable, "-m", "app", "tune", "--space", str(SPACE), "--trials", str(trials), "--seed", "0",
        "--pruner", pruner, "--storage", storage, "--study", "bench",
        f"output_dir={workdir / 'out'}", "train.progress=none",
    ]  # fmt: skip
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{workdir / 'mlflow.db'}", "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.pop("MLFLOW_EXPERIMENT_NAME", None)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    out = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    # CPU seconds of the tune process: unlike wall-clock time, barely moved by what else the shared machine runs.
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if out.returncode != 0:
        raise RuntimeError(f"tune with pruner {pruner} failed:\n{out.stderr[-3000:]}")
    study = optuna.load_study(study_name="bench", storage=storage)
    states = [t.state.name for t in study.trials]
    epochs = [len(t.intermediate_values) for t in study.trials]
    return {
        "pruner": pruner,
        "seconds": round(seconds, 1),
        "cpu_seconds": round(cpu, 1),
        "best_val_accuracy": study.best_value,
        "trials": len(states),
        "pruned": states.count("PRUNED"),
        "epochs_trained": sum(epochs),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--arms", default="median,none", help="pruners to compare, the first against the last")
    args = parser.parse_args()
    arms = args.arms.split(",")
    results = []
    for pruner in arms:
        with tempfile.TemporaryDirectory(prefix=f"bench-tune-{pruner}-") as tmp:
            results.append(run_arm(pruner, args.trials, Path(tmp)))
        print(json.dumps(results[-1]), flush=True)
    first, last = results[0], results[-1]
    summary = {
        "cpu_count": os.cpu_count(),
        "load_average_1min_at_end": os.getloadavg()[0],
        "trials": args.trials,
        "arms": results,
        "time_ratio": round(first["seconds"] / last["seconds"], 3),
        "cpu_time_ratio": round(first["cpu_seconds"] / last["cpu_seconds"], 3),
        "epochs_ratio": round(first["epochs_trained"] / last["epochs_trained"], 3),
        "best_val_accuracy_gap_points": round(100 * (last["best_val_accuracy"] - first["best_val_accuracy"]), 2),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(summary, indent=2))
    print(f"{first['pruner']} / {last['pruner']} time ratio {summary['time_ratio']} (CPU {summary['cpu_time_ratio']}, "
          f"epochs {summary['epochs_ratio']}), best val accuracy gap "
          f"{summary['best_val_accuracy_gap_points']} points; written to {RESULTS}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
