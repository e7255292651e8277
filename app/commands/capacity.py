"""`python -m app capacity-demo`: decision regions of MLPs with 1-100 hidden units on 2-D toy sets, in MLflow."""


def add_parser(commands) -> None:
    from pipelines.search.toy import TOY_SETS, UNITS

    parser = commands.add_parser("capacity-demo", help="lesson: decision regions vs hidden units on 2-D toy sets")
    parser.add_argument("--datasets", default=",".join(TOY_SETS), help=f"comma-separated: {', '.join(TOY_SETS)}")
    parser.add_argument("--units", default=",".join(map(str, UNITS)), help="comma-separated hidden-layer widths")
    parser.add_argument("--epochs", type=int, default=300, help="full-batch Adam epochs per MLP")
    parser.set_defaults(handler=run)


def run(args) -> int:
    from pipelines.search.toy import TOY_SETS

    datasets = tuple(args.datasets.split(","))
    unknown = [d for d in datasets if d not in TOY_SETS]
    if unknown:
        raise ValueError(f"unknown toy set '{unknown[0]}'; choose from {', '.join(TOY_SETS)}")
    try:
        units = tuple(int(u) for u in args.units.split(","))
    except ValueError:
        raise ValueError(f"--units '{args.units}' must be comma-separated whole numbers, e.g. 1,2,3,10,100") from None
    if min(units) < 1 or args.epochs < 1:
        raise ValueError("--units and --epochs must be at least 1")
    from pipelines.search.toy import run_capacity_sweep
    from pipelines.tracking.store import setup_mlflow

    mlflow = setup_mlflow("lesson-capacity")
    results = run_capacity_sweep(mlflow, datasets, units, args.epochs)
    print(f"{'dataset':10} " + " ".join(f"{u:>11}" for u in units) + "   (train / val accuracy)")
    for name in datasets:
        cells = " ".join(f"{results[(name, u)][0]:.2f} / {results[(name, u)][1]:.2f}" for u in units)
        print(f"{name:10} {cells}")
    print(
        "decision regions: the parent run 'capacity-sweep' in experiment 'lesson-capacity', plots/decision_boundaries.png"
    )
    return 0
