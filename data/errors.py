"""One line out of any exception: what a user, a log line or an HTTP client is shown."""


def first_line(err: BaseException, limit: int | None = None) -> str:
    """The first line of the exception's message (cut to `limit` characters), or its type name
    when the message is empty: never a traceback, never an IndexError of its own."""
    lines = [line.strip() for line in str(err).strip().splitlines() if line.strip()]
    if len(lines) >= 3 and "validation error" in lines[0]:
        # pydantic (e.g. albumentations' parameter checks): "N validation errors for X / field / message".
        line = f"{lines[1]}: {lines[2].split(' [type=')[0]}"
    else:
        line = lines[0] if lines else type(err).__name__
    return line[:limit] if limit else line
