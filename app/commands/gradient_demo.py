"""`python -m app gradient-demo [overrides] [--out FILE]`: deep sigmoid vs ReLU + He, one plot."""

import json

DEMOS = ("sigmoid", "relu")


def add_parser(commands) -> None:
    parser = commands.add_parser(
        "gradient-demo", help="train the deep sigmoid and ReLU demo MLPs, plot their gradient norms on one axis"
    )
    parser.add_argument("overrides", nargs="*", help="section.key=value overrides for both runs, e.g. train.epochs=1")
    parser.add_argument("--out", default="gradient_demo.png", help="PNG file to write (default: %(default)s)")
    parser.set_defaults(handler=run, check=check)


def check(args) -> None:
    """Both demos' configs with the overrides, validated before TensorFlow loads (app/cli.py)."""
    from pipelines.config import CONFIG_DIR, load_config

    for demo in DEMOS:
        load_config(CONFIG_DIR / f"gradient_demo_{demo}.yaml", args.overrides)


def run(args) -> int:
    from pathlib import Path

    from pipelines.config import CONFIG_DIR, load_config
    from pipelines.evaluation.plots import plot_gradient_demo
    from pipelines.training.workflow import run_dir_for, run_training

    norms, low = {}, None
    for demo in DEMOS:
        cfg = load_config(CONFIG_DIR / f"gradient_demo_{demo}.yaml", args.overrides)
        result = run_training(cfg, args.overrides)
        report = json.loads((run_dir_for(cfg) / "reports" / "gradient_health.json").read_text())
        last = report["measurements"][-1]
        label = f"{cfg.model.activation} + {cfg.model.initializer} (step {last['step']})"
        norms[label], low = last["norms"], report["vanishing_below"]
        print(f"{demo}: run {result.run_id} ('{result.run_name}'), experiment '{cfg.tracking.experiment}'")
    plot_gradient_demo(norms, low, Path(args.out))
    print(f"wrote {args.out}: both runs' per-layer gradient norms on one axis")
    return 0
