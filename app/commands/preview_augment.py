"""`python -m app preview-augment [CONFIG] [overrides] --out FILE --originals N --versions N`"""

from app.cli import add_config_arguments, resolve_config_args


def add_parser(commands) -> None:
    parser = commands.add_parser(
        "preview-augment", help="write a PNG grid: training images and augmented versions of each"
    )
    add_config_arguments(parser)
    parser.add_argument("--out", default="augment_preview.png", help="PNG file to write (default: %(default)s)")
    parser.add_argument("--originals", type=int, default=4, help="training images, one per row (default: 4)")
    parser.add_argument("--versions", type=int, default=6, help="augmented versions of each (default: 6)")
    parser.set_defaults(handler=run, check=check)


def check(args) -> None:
    """The numbers and the config, checked before TensorFlow loads (app/cli.py)."""
    from pipelines.config import load_config

    if not 1 <= args.originals <= 64 or not 1 <= args.versions <= 32:
        raise ValueError(f"--originals {args.originals} / --versions {args.versions}: use 1..64 and 1..32")
    args.cfg = load_config(*resolve_config_args(args))


def run(args) -> int:
    if not hasattr(args, "cfg"):
        check(args)
    cfg = args.cfg
    from data.sources import load_splits
    from pipelines.inputs.augment import build_augmenter
    from pipelines.inputs.preview import preview_grid

    splits = load_splits(cfg.data, cfg.seed)
    augmenter = build_augmenter(cfg.augment, cfg.data.image_size, cfg.seed, channels=cfg.data.channels)
    grid = preview_grid(splits.train, splits.class_names, augmenter, cfg.seed, args.originals, args.versions)
    grid.save(args.out)
    print(
        f"wrote {args.out}: {args.originals} training images x {args.versions} augmented versions "
        f"(preset '{cfg.augment.preset}', {len(cfg.augment.transforms)} extra transform(s))"
    )
    if splits.skipped:
        print(splits.skipped_summary())
    return 0
