"""`python -m app web`: `serve` on port 8000, saying where to open the page (the same server)."""

from app.commands import serve


def add_parser(commands) -> None:
    serve.add_parser(commands, "web", 8000, "the web page: drop or choose images, see the model's top-k classes")
