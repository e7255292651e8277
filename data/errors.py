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


class Terminated(KeyboardInterrupt):
    """SIGTERM (a closed session, `kill`, a scheduler's preemption), raised like Ctrl-C.

    Python's default SIGTERM ends the process without running `finally` blocks, so an MLflow run
    stayed RUNNING with no reason. Raised as an exception instead, the run is ended KILLED with
    its reason, and the command exits 143 (128 + SIGTERM) as the shell expects.
    """

    exit_code = 143

    def __init__(self, message: str = "terminated by SIGTERM"):
        super().__init__(message)


def raise_terminated(signum, frame) -> None:
    """A SIGTERM handler: raise `Terminated` in the main thread, wherever it is."""
    raise Terminated()
