"""`python -m app train [CONFIG] [section.key=value ...]`, or `--family F --data D` for a shipped config."""

import os
import shlex
import sys

from app.cli import add_config_arguments, resolve_config_args

# EX_TEMPFAIL: trained and saved locally, not logged; the same command later completes the run.
UNTRACKED = 75
RESUME_FLAGS = ("--restart", "--resume-previous")  # one-off choices, not part of "the same command"


def add_parser(commands) -> None:
    parser = commands.add_parser("train", help="train one experiment and log it to MLflow")
    add_config_arguments(parser)
    resume = parser.add_mutually_exclusive_group()
    resume.add_argument("--restart", action="store_true", help="delete the run's backup and start over")
    resume.add_argument(
        "--resume-previous", action="store_true", help="resume from the previous backup (the latest is corrupt)"
    )
    parser.set_defaults(handler=run, check=check)


def check(args) -> None:
    """Resolve and validate the config before TensorFlow loads (app/cli.py): a bad one answers in a second."""
    from pipelines.config import load_config

    config, overrides = resolve_config_args(args)
    args.resolved = load_config(config, overrides), overrides


def run(args) -> int:
    from pipelines.training.workflow import run_training

    if not hasattr(args, "resolved"):
        check(args)
    cfg, overrides = args.resolved

    backup = "restart" if args.restart else "previous" if args.resume_previous else "latest"
    result = run_training(cfg, overrides, backup)
    if getattr(result, "role", "chief") != "chief":
        print("worker finished (the chief logs the run)")
        return 0
    print("\n".join(summary_lines(cfg, result)))
    if result.untracked:
        again = shlex.join(["python", "-m", "app", *(a for a in sys.argv[1:] if a not in RESUME_FLAGS)])
        print(
            f"not logged:    the tracking server stopped answering; model and report are in {result.run_dir}; "
            f"once it is back, `{again}` logs them to run {result.run_id}"
        )
        return UNTRACKED
    print("\n".join(closing_lines(cfg, result)))
    return 0


def summary_lines(cfg, result) -> list[str]:
    """What the run reached: the test (or final validation) figure, the best epoch, the run's id and name."""
    lines = [f"note:          {result.test_note}"] if result.test_note else []
    # With evaluate.tta the report scores averaged views (as the served model answers): said, so that
    # the figure is never set beside a single-view one unawares.
    tta = f"with {cfg.evaluate.tta.replace('_', ' + ')} TTA; " if cfg.evaluate.tta != "none" else ""
    if result.final_val_accuracy is not None:
        lines.append(f"val accuracy:  {result.final_val_accuracy:.4f}  ({tta}no test split)")
    else:
        # Test loss is plain cross-entropy; val_loss during training includes label smoothing and penalties.
        lines.append(f"test accuracy: {result.test_accuracy:.4f}  ({tta}cross-entropy {result.test_loss:.4f})")
    if result.best:
        lines.append(
            f"best val:      {result.best.metric.removeprefix('best_')} {result.best.value:.4f} at epoch "
            f"{result.best.epoch} of {result.epochs}, trained in {result.train_seconds:.1f} s"
        )
    lines.append(f"run id:        {result.run_id}  ('{result.run_name}')")
    return lines


def closing_lines(cfg, result) -> list[str]:
    """What was registered, then the commands that go on from THIS run, aligned."""
    lines = [f"registered:    {result.registered or 'nothing (tracking.register_model is false)'}"]
    steps = next_steps(cfg, result)
    width = max((len(command) for command, _ in steps if len(command) <= 48), default=0)
    for i, (command, why) in enumerate(steps):
        lines.append(f"{'next:' if i == 0 else '':15}{command:{width}}  {why}".rstrip())
    return lines


def next_steps(cfg, result) -> list[tuple[str, str]]:
    """(command, what it does) for THIS run, ready to copy: its experiment and its registered model."""
    from pipelines.tracking.store import experiment_name

    experiment = experiment_name(cfg.tracking.experiment or cfg.dataset_name())  # as the workflow chose it
    name = cfg.tracking.registered_model or f"{cfg.dataset_name()}-classifier"  # as the workflow registers it
    alias = cfg.tracking.alias
    holds_alias = bool(result.registered) and result.registered.endswith(f"@{alias}")
    steps = [(f"make compare ARGS={_quoted(f'--experiment {shlex.quote(experiment)}')}", "this run beside the others")]
    if not holds_alias:  # not registered, or the alias stayed with a better version
        choice = f"--run-id {result.run_id}" + (f" --alias {shlex.quote(alias)}" if alias != "champion" else "")
        why = "anyway" if result.registered else "(registers it first)"
        steps.append(
            (
                f"make promote MODEL_NAME={shlex.quote(name)} ARGS={_quoted(choice)}",
                f"makes this run {name}@{alias} {why}",
            )
        )
    served = "" if holds_alias else f" (the {alias}, not this run)"
    if alias == "champion":  # the alias the Makefile's serve, web and predict targets use
        model = f"MODEL_NAME={shlex.quote(name)}"
        steps += [
            (f"make serve {model}", f"HTTP API on 127.0.0.1:5001{served}"),
            (f"make web {model}", f"web page on 127.0.0.1:8000{served}"),
            (f'make predict {model} PATHS="photo.jpg folder/"', ""),
        ]
    else:
        uri = shlex.quote(f"models:/{name}@{alias}")
        steps += [
            (f"python -m app serve --model {uri}", f"HTTP API{served}"),
            (f"python -m app web --model {uri}", f"web page{served}"),
        ]
    server = os.environ.get("MLFLOW_TRACKING_URI", "")
    steps.append(
        (server, "MLflow UI") if server.startswith("http") else ("make ui", "MLflow UI on http://127.0.0.1:5000")
    )
    return steps


def _quoted(value: str) -> str:
    """A make variable's value as the shell passes it: ARGS="--experiment flowers"."""
    return f'"{value}"' if not any(c in value for c in '"$`\\') else shlex.quote(value)
