"""`python -m app predict --model models:/NAME@champion PATHS...`: a CSV of predictions."""

import sys
from pathlib import Path


def add_parser(commands) -> None:
    parser = commands.add_parser("predict", help="predict image files and folders to CSV with a registered model")
    parser.add_argument("paths", nargs="+", help="image files and/or folders (searched recursively)")
    parser.add_argument("--model", default="models:/digits-classifier@champion", help="model URI")
    parser.add_argument("--output", "-o", help="CSV file to write (default: standard output)")
    parser.add_argument("--top-k", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.set_defaults(handler=run)


def run(args) -> int:
    from app.batch_predict import CSV_COLUMNS, predict_files
    from app.commands.web import load_model
    from data.tables import csv_text
    from pipelines.tracking import store as tracking

    if args.top_k < 1 or args.batch_size < 1:
        raise ValueError(f"--top-k {args.top_k} and --batch-size {args.batch_size} must be at least 1")
    model = load_model(tracking.connect(), args.model)
    rows = predict_files(model, args.paths, args.batch_size, args.top_k)
    text = csv_text(CSV_COLUMNS, rows)
    if args.output:
        Path(args.output).write_text(text, newline="")
    else:
        sys.stdout.write(text)
    failed = sum(1 for row in rows if row["error"])
    print(
        f"{len(rows) - failed} predicted, {failed} unreadable" + (f"; CSV in {args.output}" if args.output else ""),
        file=sys.stderr,
    )
    return 0
