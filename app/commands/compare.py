"""`python -m app compare`: the experiment's runs side by side, best first within each val/test split."""

DEFAULT_EXPERIMENT = "digits"  # the default config's dataset: one experiment per dataset
MAX_WIDTH = 120  # a normal terminal; the CSV (--csv) holds every column in full

# (header, table column, format) of the printed table; run names get the width that is left.
PRINTED = [
    ("val acc", "best_val_accuracy", "{:.4f}"),
    ("epoch", "best_epoch", "{:.0f}"),
    ("test acc", "test_accuracy", "{:.4f}"),
    ("params", "param_count", "{:,.0f}"),
    ("train s", "train_seconds", "{:.1f}"),
    ("img/s", "images_per_second", "{:,.0f}"),
]


def add_parser(commands) -> None:
    parser = commands.add_parser(
        "compare", help="table of an experiment's runs, ranked within each val/test split (--log: plot to MLflow)"
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
    parser.add_argument("--csv", help="also write the full table (every column) to this CSV file")
    parser.add_argument(
        "--log", action="store_true", help="also log the table and plot as a run of the experiment (tagged comparison)"
    )
    parser.set_defaults(handler=run)


def run(args) -> int:
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
    for line in table_lines(table, experiment, SORT_ALIASES.get(args.sort_by, args.sort_by)):
        print(line)
    if args.csv:
        from data.tables import write_frame_csv  # run and class names are untrusted: no formulas

        write_frame_csv(table, args.csv)
        print(f"table written to {args.csv}")
    if args.log:
        run_id = log_comparison(mlflow, experiment, table, args.sort_by)
        print(f"logged as run {run_id[:8]} (artifacts: comparison/comparison.png, comparison/comparison.csv)")
    return 0


def table_lines(table, experiment: str, sort_by: str) -> list[str]:
    """The printed comparison: a heading, then one table per split, each ranked on its own."""
    from pipelines.tracking.compare import describe_split, split_groups

    groups = split_groups(table)
    lines = [f"experiment '{experiment}': {len(table)} run(s), best {sort_by} first"]
    if len(groups) > 1:
        lines.append(
            f"{len(groups)} different val/test splits: ranked within each, never across "
            "(their figures come from different images)"
        )
    columns = _columns(table)
    for split, group in groups:
        if len(groups) > 1:
            settings = describe_split(group)
            lines += ["", f"split {split}" + (f" ({settings})" if settings else "") + f": {len(group)} run(s)"]
        lines += _rows(group, columns)
    lines += [""] if len(groups) > 1 else []
    lines.append("val acc: each run's best epoch (epoch), the one its kept weights and the champion use")
    if any(column == "tta" for _, column, _ in columns):
        lines.append("test acc: with the test-time augmentation in the tta column (none: a single pass)")
    return lines


def _columns(table) -> list[tuple[str, str, str]]:
    columns = list(PRINTED)
    tta = table["tta"].dropna().astype(str)
    if (tta != "none").any():  # only when some run's test figure is a TTA one
        columns.insert(3, ("tta", "tta", "{}"))
    return columns


def _rows(group, columns) -> list[str]:
    cells = [[_cell(row[column], fmt) for _, column, fmt in columns] for _, row in group.iterrows()]
    widths = [max(len(header), *(len(r[i]) for r in cells)) for i, (header, _, _) in enumerate(columns)]
    figures = "  ".join(header.rjust(w) for (header, _, _), w in zip(columns, widths, strict=True))
    name_width = max(16, min(60, MAX_WIDTH - len(figures) - len(" #  run       ") - 2))  # run names: <= 60
    lines = [f"{'#':>2}  {'run':<8}  {'name':<{name_width}}  {figures}"]
    for (_, row), values in zip(group.iterrows(), cells, strict=True):
        figures = "  ".join(v.rjust(w) for v, w in zip(values, widths, strict=True))
        name = _short(row["run_name"], name_width)
        lines.append(f"{row['rank']:>2}  {str(row['run_id'])[:8]:<8}  {name:<{name_width}}  {figures}")
    return lines


def _cell(value, fmt: str) -> str:
    import pandas as pd

    return "-" if pd.isna(value) else fmt.format(value)


def _short(name, width: int) -> str:
    name = name if isinstance(name, str) else ""
    return name if len(name) <= width else name[: width - 1] + "…"


def show_study(mlflow, study: str, csv: str | None) -> int:
    import pandas as pd

    from pipelines.search.view import study_table

    table = study_table(mlflow, study)
    shown = table.assign(run_id=table["run_id"].str[:8])
    with pd.option_context(
        "display.width", MAX_WIDTH, "display.max_columns", None, "display.float_format", "{:.4g}".format
    ):
        counts = ", ".join(f"{n} {s.lower()}" for s, n in table["state"].value_counts().items())
        print(f"study '{study}': {len(table)} trial run(s) ({counts}), best val_accuracy first")
        print(shown.to_string(index=False))
    if csv:
        from data.tables import write_frame_csv

        write_frame_csv(table, csv)
        print(f"table written to {csv}")
    return 0
