"""One line out of any exception: what a user, a log line or an HTTP client is shown."""


def first_line(err: BaseException, limit: int | None = None) -> str:
    """The first line of the exception's message (cut to `limit` characters), or its type name
    when the message is empty: never a traceback, never an IndexError of its own."""
    text = str(err).strip()
    line = text.splitlines()[0] if text else type(err).__name__
    return line[:limit] if limit else line
