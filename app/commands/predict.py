"""`python -m app predict --model models:/NAME@champion PATHS...`: a CSV of predictions."""

import sys
from pathlib import Path


def add_parser(commands) -> None:
    parser = commands.add_parser("predict", help="predict image files and folders to CSV with a registered model")
    # nargs="*" and `check`: argparse's "required: paths" would be two lines with no example.
    parser.add_argument("paths", nargs="*", help="image files and/or folders (searched recursively)")
    parser.add_argument("--model", default="models:/digits-classifier@champion", help="model URI")
    parser.add_argument("--output", "-o", help="CSV file to write (default: standard output)")
    parser.add_argument("--top-k", type=int, default=3, help="classes listed per image")
    parser.add_argument("--batch-size", type=int, default=32, help="images per forward pass")
    parser.set_defaults(handler=run, check=check)


def check(args) -> None:
    """The command line's own mistakes, found before TensorFlow loads."""
    if not args.paths:
        raise ValueError(
            "no images given: name files and folders, e.g. python -m app predict photo.jpg folder/ "
            '(make predict PATHS="photo.jpg folder/")'
        )
    if args.top_k < 1 or args.batch_size < 1:
        raise ValueError(f"--top-k {args.top_k} and --batch-size {args.batch_size} must be at least 1")


def run(args) -> int:
    from app.batch_predict import CSV_COLUMNS, predict_files
    from app.model_lookup import load_model
    from data.tables import csv_text
    from pipelines.tracking import store as tracking

    model, _ = load_model(tracking.connect(), args.model)
    rows = predict_files(model, args.paths, args.batch_size, args.top_k, max_bytes=_max_bytes(model))
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


def _max_bytes(model) -> int:
    """The served model's own per-image limit: no file larger than it is read at all."""
    from app.batch_predict import DEFAULT_MAX_BYTES

    try:
        return int(model.unwrap_python_model().meta["max_bytes"])
    except (AttributeError, KeyError, TypeError, ValueError):
        return DEFAULT_MAX_BYTES
