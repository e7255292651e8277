"""Honest comparisons: runs scored on different val/test splits are never ranked together, `compare`
logs nothing unless asked and fits a terminal, and read-only commands leave no experiment behind.

The runs here are logged with MLflow directly (figures chosen so a cross-split ranking would show);
the command under test is the real `python -m app compare` in a subprocess.
"""

import csv

import pytest

from tests.helpers import all_runs, app_command, client, env_for, run_cli, using_store

# (run name, split_fingerprint or None for a run logged before the tag, best val, test, seconds)
RUNS = [
    ("vgg 16 sgd lr=0.1 test_fraction=0.2", "aaaa11112222", 0.71, 0.70, 120.0),
    ("mlp [512] adam lr=0.001 test_fraction=0.2", "aaaa11112222", 0.52, 0.50, 20.0),
    # The highest figures of all, but on another (smaller) test split: not ranked above the others.
    ("inception adamw lr=0.003 test_fraction=0.15 ep=30", "bbbb33334444", 0.93, 0.90, 300.0),
    ("inception adamw lr=0.003 test_fraction=0.15 ep=5", "bbbb33334444", 0.80, 0.79, 60.0),
    ("an old run", None, 0.99, 0.99, 10.0),
]


@pytest.fixture(scope="module")
def fake_runs(tmp_path_factory):
    """Five finished runs in experiment 'flowers': two splits and one run without a split tag.

    One store for the module (a new SQLite store costs seconds); only the --log test adds a run."""
    store = f"sqlite:///{tmp_path_factory.mktemp('honest-compare') / 'mlflow.db'}"
    with using_store(store) as mlflow:
        experiment = mlflow.create_experiment("flowers")
        for i, (name, split, val, test, seconds) in enumerate(RUNS):
            with mlflow.start_run(experiment_id=experiment, run_name=name):
                mlflow.set_tags({"model_family": name.split()[0]} | ({"split_fingerprint": split} if split else {}))
                fraction = "0.15" if split == "bbbb33334444" else "0.2"
                mlflow.log_params({"data.test_fraction": fraction, "data.val_fraction": "0.15", "seed": "42"})
                mlflow.log_params({"param_count": 1000 * (i + 1), "evaluate.tta": "flip" if i == 0 else "none"})
                mlflow.log_metrics({"best_val_accuracy": val, "best_epoch": 3, "test_accuracy": test})
                mlflow.log_metrics({"train_seconds": seconds, "train_images_per_second": 1000 / seconds})
    return store


def _section(lines: list[str], header: str) -> list[str]:
    """The table rows under `header`, up to the next blank line."""
    start = lines.index(next(line for line in lines if line.startswith(header))) + 2  # header, column titles
    end = lines.index("", start)
    return lines[start:end]


def test_compare_ranks_only_within_a_split_and_logs_nothing_without_log(fake_runs):
    before = len(all_runs(fake_runs))
    out = run_cli(app_command("compare", "--experiment", "flowers"), env=env_for(fake_runs), timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.splitlines()
    assert "3 different val/test splits: ranked within each, never across" in out.stdout
    # Newest split first (the last logged tagged run is in bbbb...), the untagged runs last.
    headers = [line for line in lines if line.startswith("split ")]
    assert headers == [
        "split bbbb33334444 (test_fraction 0.15, val_fraction 0.15, seed 42): 2 run(s)",
        "split aaaa11112222 (test_fraction 0.2, val_fraction 0.15, seed 42): 2 run(s)",
        "split unknown (test_fraction 0.2, val_fraction 0.15, seed 42): 1 run(s)",
    ]
    for header, ranked in [
        ("split bbbb", ["ep=30", "ep=5"]),
        ("split aaaa", ["vgg 16", "mlp [512]"]),
        ("split unknown", ["an old run"]),
    ]:
        rows = _section(lines, header)
        assert [row.split()[0] for row in rows] == [str(r + 1) for r in range(len(ranked))]  # rank restarts
        assert all(name in row for name, row in zip(ranked, rows, strict=True))
    assert "tta" in lines[lines.index(headers[1]) + 1].split()  # a TTA figure says so
    assert "flip" in _section(lines, "split aaaa")[0]
    assert max(len(line) for line in lines) <= 120, max(lines, key=len)
    assert len(all_runs(fake_runs)) == before  # printing logged nothing


def test_compare_with_log_logs_one_comparison_run_with_every_split(fake_runs, tmp_path):
    before = len(all_runs(fake_runs))
    out = run_cli(app_command("compare", "--experiment", "flowers", "--log"), env=env_for(fake_runs), timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert len(all_runs(fake_runs)) == before + 1
    (comparison,) = client(fake_runs).search_runs(
        [client(fake_runs).get_experiment_by_name("flowers").experiment_id], "tags.`imgclf.kind` = 'comparison'"
    )
    assert comparison.data.params["splits_compared"] == "3"
    local = client(fake_runs).download_artifacts(comparison.info.run_id, "comparison", str(tmp_path))
    with open(f"{local}/comparison.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(row["split"], row["rank"]) for row in rows] == [
        ("bbbb33334444", "1"), ("bbbb33334444", "2"), ("aaaa11112222", "1"), ("aaaa11112222", "2"), ("unknown", "1"),
    ]  # fmt: skip


def test_the_plot_gives_each_split_its_own_row(fake_runs):
    from pipelines.tracking.compare import compare_runs
    from pipelines.tracking.compare_plot import comparison_figure

    with using_store(fake_runs) as mlflow:
        table = compare_runs(mlflow, "flowers")
    fig = comparison_figure(table)
    titles = [row.get_suptitle().split(" (")[0] for row in fig.subfigs]  # one row of panels per split
    assert titles == ["split bbbb33334444", "split aaaa11112222", "split unknown"]
    assert all(len(row.axes) == 2 for row in fig.subfigs)  # bars and scatter, of that split only
    names = [[label.get_text() for label in row.axes[0].get_yticklabels()] for row in fig.subfigs]
    expected = ["vgg 16 sgd lr=0.1 test_fraction=0.2", "mlp [512] adam lr=0.001 test_fraction=0.2"]
    assert len(names[1]) == 2
    assert all(full.startswith(shown.removesuffix("…")) for shown, full in zip(names[1], expected, strict=True))
    assert names[2] == ["an old run"]  # 0.99, yet never on an axis beside the others


def test_one_split_prints_one_table_without_split_headers(fake_runs):
    from app.commands.compare import table_lines
    from pipelines.tracking.compare import compare_runs

    with using_store(fake_runs) as mlflow:
        table = compare_runs(mlflow, "flowers", "train_seconds")
    one = table[table["split"] == "aaaa11112222"]
    lines = table_lines(one, "flowers", "train_seconds")
    assert lines[0] == "experiment 'flowers': 2 run(s), best train_seconds first"
    assert not any(line.startswith(("split ", "2 different")) for line in lines)
    assert "mlp [512]" in lines[2]  # 20 s before 120 s: lower is better for time


@pytest.mark.slow  # four commands, each importing MLflow (and two of them TensorFlow)
def test_read_only_commands_on_a_missing_experiment_or_model_create_no_experiment(mlflow_store, tmp_path):
    from PIL import Image

    env = env_for(mlflow_store)
    image = tmp_path / "x.png"
    Image.new("L", (8, 8)).save(image)
    commands = {
        "compare": ["compare", "--experiment", "flowers"],
        "promote": ["promote", "--experiment", "flowers"],
        "predict": ["predict", "--model", "models:/flowers-classifier@champion", str(image)],
        "evaluate": ["evaluate", "--model", "models:/flowers-classifier@champion", "--data", str(tmp_path)],
    }
    for name, args in commands.items():
        out = run_cli(app_command(*args), env=env, timeout=180)
        assert out.returncode == 1, (name, out.stdout, out.stderr[-2000:])
        assert out.stderr.strip().splitlines()[-1].startswith("error: "), (name, out.stderr[-2000:])
    # MLflow's own "Default" (a new SQLite store has it) and nothing of ours.
    assert {e.name for e in client(mlflow_store).search_experiments()} <= {"Default"}
