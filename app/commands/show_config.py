"""`python -m app show-config [CONFIG] [section.key=value ...]`: the resolved config as YAML."""

from app.cli import add_config_arguments, resolve_config_args


def add_parser(commands) -> None:
    parser = commands.add_parser("show-config", help="print the resolved config after overrides")
    add_config_arguments(parser)
    parser.set_defaults(handler=run)


def run(args) -> int:
    import yaml

    from pipelines.config import load_config

    config, overrides = resolve_config_args(args)
    print(yaml.safe_dump(load_config(config, overrides).model_dump(mode="json"), sort_keys=False), end="")
    return 0
