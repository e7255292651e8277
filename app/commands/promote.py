"""`python -m app promote`: register the best run's model (or --run-id) and move the alias to it."""

from app.commands.compare import DEFAULT_EXPERIMENT


def add_parser(commands) -> None:
    parser = commands.add_parser(
        "promote", help="register the best (or a given) run's model and move the champion alias"
    )
    parser.add_argument("--experiment", help=f"experiment to pick the best run from (default: '{DEFAULT_EXPERIMENT}')")
    parser.add_argument("--run-id", help="promote this run instead of the best one")
    parser.add_argument("--metric", default="val_accuracy", help="what 'best' means (default val_accuracy)")
    parser.add_argument("--name", help="registered model name (default: '<experiment>-classifier')")
    parser.add_argument("--alias", default="champion")
    parser.set_defaults(handler=run, check=check)


def check(args) -> None:
    """The names, by MLflow's rules, before the store is opened (pipelines/config/names.py)."""
    from pipelines.config.names import check_alias, check_name

    if args.name is not None:
        check_name(args.name, f"--name {args.name!r}")
    try:
        check_alias(args.alias)
    except ValueError as err:
        raise ValueError(f"--alias {args.alias!r}: {err}") from None


def run(args) -> int:
    from pipelines.tracking import store as tracking
    from pipelines.tracking.promote import promote

    mlflow = tracking.connect()
    experiment = args.experiment or tracking.experiment_name(DEFAULT_EXPERIMENT)
    name = args.name or f"{experiment}-classifier"
    result = promote(mlflow, name, args.run_id, experiment, args.metric, args.alias)
    value = "n/a" if result.value is None else f"{result.value:.4f}"
    print(f"run {result.run_id} ({result.metric} {value}) -> {result.name} version {result.version}")
    print(f"alias '{result.alias}': version {result.previous_version or '(none)'} -> {result.version}")
    print(f"serve it: make serve MODEL_NAME={result.name}")
    return 0
