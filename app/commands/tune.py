"""`python -m app tune [CONFIG] --space SPACE.yaml [overrides]`: an Optuna study, every trial a run in MLflow."""

from app.cli import add_config_arguments, resolve_config_args


def add_parser(commands) -> None:
    from pipelines.search.study import PRUNERS, SAMPLERS

    parser = commands.add_parser("tune", help="hyper-parameter search (Optuna): each trial a nested MLflow run")
    add_config_arguments(parser)
    parser.add_argument(
        "--space", required=True, help="search-space YAML, e.g. pipelines/search_spaces/digits_mlp.yaml"
    )
    parser.add_argument("--trials", type=int, default=20, help="finished + pruned trials the study should reach")
    parser.add_argument("--timeout", type=float, help="stop starting new trials after this many minutes")
    parser.add_argument("--sampler", default="tpe", help=f"{' | '.join(SAMPLERS)} (default tpe)")
    parser.add_argument("--pruner", default="median", help=f"{' | '.join(PRUNERS)} (default median)")
    parser.add_argument("--pruner-startup-trials", type=int, default=5, help="median pruner: trials before pruning")
    parser.add_argument("--pruner-warmup-epochs", type=int, default=2, help="epochs a trial runs before it is judged")
    parser.add_argument("--study", help="study name (default: CONFIG stem + SPACE stem); same name = continue it")
    parser.add_argument("--storage", help="Optuna storage URL (default sqlite:///optuna.db; postgresql://... to share)")
    parser.add_argument("--seed", type=int, help="sampler seed (leave unset when several workers share a study)")
    parser.add_argument("--heartbeat", type=int, default=60, help="seconds; a trial silent for twice this is retried")
    parser.set_defaults(handler=run)


def run(args) -> int:
    from pipelines.config import load_config
    from pipelines.search.study import StudyOptions
    from pipelines.search.tune import TuneOptions, check_tune, default_study_name

    config, overrides = resolve_config_args(args)
    cfg = load_config(config, overrides)
    study = StudyOptions(
        name=args.study or default_study_name(config, args.space),
        storage=args.storage,
        sampler=args.sampler,
        pruner=args.pruner,
        heartbeat_seconds=args.heartbeat,
        seed=args.seed,
        startup_trials=args.pruner_startup_trials,
        warmup_epochs=args.pruner_warmup_epochs,
    )
    options = TuneOptions(args.space, study, args.trials, args.timeout)
    check_tune(cfg, options)  # bad spaces fail here, in a second, before TensorFlow loads
    from pipelines.search.tune import run_tune

    result = run_tune(cfg, options)
    counts = ", ".join(f"{n} {s.lower()}" for s, n in result.states.items())
    print(f"study:        {result.study_name} ({counts})")
    print(f"parent run:   {result.parent_run_id}")
    if result.best_value is None:
        print("no trial finished; nothing to register")
        return 1
    print(f"best val_accuracy: {result.best_value:.4f}")
    for key, value in result.best_params.items():
        print(f"  {key} = {value}")
    print(f"best config:  {result.best_yaml}   (make train CONFIG={result.best_yaml})")
    if result.registered:
        print(f"registered:   {result.registered}")
    print(f"compare:      python -m app compare --study {result.study_name}")
    return 0
