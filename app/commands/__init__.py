"""One module per `python -m app` subcommand."""
