"""`python -m app serve --model models:/NAME@champion`: the model, its web page and MLflow's API on one port.

Binds --host/--port first (a busy port is one line, before the model loads), loads the model
from a private copy removed once it is in memory (app.model_lookup): from then on nothing of the
server is on disk, so however it is stopped (kill -9 included) it leaves nothing behind. Then
app.server serves it in this process.
"""

import signal
import sys

from app.limits import Limits

DEFAULTS = Limits()


def add_parser(commands, name: str = "serve", port: int = 5001, help: str | None = None) -> None:
    parser = commands.add_parser(name, help=help or "serve a registered model over HTTP: MLflow's API and the web page")
    parser.add_argument("--model", default="models:/digits-classifier@champion", help="model URI")
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=port)
    parser.add_argument("--max-batch", type=int, default=32, help="images scored in one model call, at most")
    parser.add_argument(
        "--max-wait-ms", type=float, default=5.0, help="how long a batch waits for requests still decoding"
    )
    parser.add_argument(
        "--max-request-mb", type=float, default=DEFAULTS.max_body_bytes / 2**20, help="largest request body"
    )
    parser.add_argument(
        "--timeout", type=float, default=DEFAULTS.request_timeout, help="seconds a request may wait for the model"
    )
    parser.add_argument(
        "--body-timeout", type=float, default=DEFAULTS.body_timeout, help="seconds for a request body to arrive"
    )
    parser.add_argument(
        "--max-in-flight", type=int, default=DEFAULTS.max_in_flight, help="requests at once; 503 + Retry-After past it"
    )
    parser.add_argument(
        "--max-connections", type=int, default=DEFAULTS.max_connections, help="open connections; 503 past it"
    )
    parser.set_defaults(handler=run, page_only=name == "web")


def run(args) -> int:
    from app.batching import Batcher
    from app.server import allowed_hosts, bind, build_app
    from app.server import run as serve

    for name in ("max_batch", "max_in_flight", "max_connections"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} {getattr(args, name)} must be at least 1")
    # A closed terminal while the model loads stops as SIGTERM does: the `finally` removes the copy.
    signal.signal(signal.SIGHUP, signal.getsignal(signal.SIGTERM))
    sock = bind(args.host, args.port, "WEB_PORT" if args.page_only else "SERVE_PORT")
    try:
        model, details = load(args.model)
        limits = Limits(
            max_body_bytes=int(args.max_request_mb * 1024 * 1024),
            body_timeout=args.body_timeout,
            max_in_flight=args.max_in_flight,
            max_connections=args.max_connections,
            request_timeout=args.timeout,
        )
        batcher = Batcher(model.unwrap_python_model().probabilities, args.max_batch, args.max_wait_ms)
        port = sock.getsockname()[1]
        app = build_app(model, details, limits, batcher, allowed_hosts(args.host, port))
        address = f"http://{args.host}:{port}"
        if args.page_only:
            print(f"web page for {args.model}: open {address}/ in your browser", file=sys.stderr)
        else:
            shown = f"{args.model} (version {details['version']})" if details["version"] else args.model
            print(f"serving {shown} on {address}/invocations (web page: {address}/)", file=sys.stderr)
        serve(app, sock, limits)
    finally:
        sock.close()
    return 0


def load(uri: str):
    """(the pyfunc at `uri`, what the page shows about it)."""
    from app.model_lookup import load_model
    from pipelines.tracking import store as tracking

    model, version = load_model(tracking.connect(), uri)
    meta = getattr(model.unwrap_python_model(), "meta", {})
    name = uri.removeprefix("models:/").partition("@")[0].partition("/")[0] if uri.startswith("models:/") else None
    details = {"model": uri, "name": name, "version": version, "classes": list(meta.get("class_names", []))}
    if "image_size" in meta:
        details |= {"image_size": list(meta["image_size"]), "channels": meta.get("channels")}
    return model, details
