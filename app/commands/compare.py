"""`python -m app compare`: the experiment's runs side by side, best first, plus a logged plot."""

DEFAULT_EXPERIMENT = "digits"  # the default config's dataset: one experiment per dataset


def add_parser(commands) -> None:
    parser = commands.add_parser(
        "compare", help="table of an experiment's runs sorted by a metric, plot logged to MLflow"
    )
    parser.add_argument(
        "--experiment", help=f"experiment name (default: $MLFLOW_EXPERIMENT_NAME or '{DEFAULT_EXPERIMENT}')"
    )
    parser.add_argument(
        "--data", help="the experiment that training on this DATA logs to (digits, a folder, cifar10, tfds:NAME)"
    )
    parser.add_argument("--study", help="show the trials of this `tune` study, best objective first, pruned marked")
    parser.add_argument(
        "--sort-by",
        default="best_val_accuracy",
        help="best_val_accuracy (the best epoch's; val_accuracy means the same), test_accuracy, train_seconds, ...",
    )
    parser.add_argument("--max-runs", type=int, default=100)
    parser.add_argument("--csv", help="also write the table to this CSV file")
    parser.add_argument("--no-log", action="store_true", help="print only; do not log the plot as an MLflow run")
    parser.set_defaults(handler=run)


def run(args) -> int:
    import pandas as pd

    from pipelines.tracking import store as tracking
    from pipelines.tracking.compare import SORT_ALIASES, compare_runs, log_comparison

    mlflow = tracking.connect()
    if args.study:
        return show_study(mlflow, args.study, args.csv)
    experiment = args.experiment or tracking.experiment_name(DEFAULT_EXPERIMENT)
    if args.data and not args.experiment:
        from app.dataset_choice import experiment_for

        experiment = tracking.experiment_name(experiment_for(args.data))
    table = compare_runs(mlflow, experiment, args.sort_by, args.max_runs)
    if table.empty:
        print(f"no finished runs in experiment '{experiment}'")
        return 0
    shown = table.assign(run_id=table["run_id"].str[:8])
    with pd.option_context("display.width", 200, "display.max_columns", None, "display.float_format", "{:.4g}".format):
        print(
            f"experiment '{experiment}': {len(table)} run(s), best {SORT_ALIASES.get(args.sort_by, args.sort_by)} first"
        )
        print("best_val_accuracy: each run's best epoch (best_epoch), the one its kept weights and the champion use")
        print(shown.to_string(index=False))
    if args.csv:
        table.to_csv(args.csv, index=False)
        print(f"table written to {args.csv}")
    if not args.no_log:
        run_id = log_comparison(mlflow, experiment, table, args.sort_by)
        print(
            f"plot and table logged to run {run_id} (artifacts: comparison/comparison.png, comparison/comparison.csv)"
        )
    return 0


def show_study(mlflow, study: str, csv: str | None) -> int:
    import pandas as pd

    from pipelines.search.view import study_table

    table = study_table(mlflow, study)
    shown = table.assign(run_id=table["run_id"].str[:8])
    with pd.option_context("display.width", 200, "display.max_columns", None, "display.float_format", "{:.4g}".format):
        counts = ", ".join(f"{n} {s.lower()}" for s, n in table["state"].value_counts().items())
        print(f"study '{study}': {len(table)} trial run(s) ({counts}), best val_accuracy first")
        print(shown.to_string(index=False))
    if csv:
        table.to_csv(csv, index=False)
        print(f"table written to {csv}")
    return 0
