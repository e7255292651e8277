"""`python -m app evaluate --model <models:/... | run id> --data <config.yaml | folder>`"""

import re


def add_parser(commands) -> None:
    parser = commands.add_parser(
        "evaluate", help="evaluation report (metrics, confusion matrix, mistakes) for a logged model on a dataset"
    )
    parser.add_argument("--model", required=True, help="models:/<name>@<alias>, models:/<name>/<version> or a run id")
    parser.add_argument(
        "--data", required=True, help="an experiment config (its test split) or a folder of class folders"
    )
    parser.add_argument("--output", help="report directory (default: reports/<model>-<data>)")
    parser.add_argument("overrides", nargs="*", help="section.key=value overrides for a config given as --data")
    parser.set_defaults(handler=run)


def run(args) -> int:
    from pathlib import Path

    from pipelines.evaluation.logged_model import run_evaluation

    slug = re.sub(r"[^A-Za-z0-9_.@-]+", "_", f"{args.model.removeprefix('models:/')}-{Path(args.data).stem}")
    out_dir = Path(args.output or Path("reports") / slug)
    metrics = run_evaluation(args.model, args.data, out_dir, args.overrides)
    print(f"accuracy:       {metrics['accuracy']:.4f} on {metrics['num_images']} images")
    if "top_k" in metrics:
        k = metrics["top_k"]
        print(f"top-{k} accuracy: {metrics[f'top_{k}_accuracy']:.4f}")
    print(f"macro F1:       {metrics['macro_f1']:.4f}")
    print(f"report:         {out_dir}/ (metrics.json, per_class.csv, confusion_matrix.png, misclassified.png)")
    return 0
