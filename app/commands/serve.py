"""`python -m app serve --model models:/NAME@champion`: the hardened HTTP endpoint.

Binds --host/--port first (a busy port is one line, before the model is loaded), reads the
model from the registry (a missing model or a locked store is one line), then runs MLflow's
scoring server on a local copy of it, on a private Unix socket (app.model_server), and
app.gateway in front of it: request-size limit, content-type and JSON checks, payload-free errors, and the limits
of app.http_limits (requests in flight, body read time, connections per client).
"""

import os
import shutil
import signal
import subprocess
import sys


def add_parser(commands) -> None:
    parser = commands.add_parser("serve", help="serve a registered model over HTTP (mlflow models serve + limits)")
    parser.add_argument("--model", default="models:/digits-classifier@champion", help="model URI")
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=5001)
    parser.add_argument(
        "--backend-socket", help="Unix socket of the model server (default: model.sock in a new private folder)"
    )
    parser.add_argument("--workers", type=int, default=1, help="model server worker processes")
    parser.add_argument("--max-request-mb", type=float, default=16.0, help="largest request body accepted")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds one request may take at the model")
    parser.add_argument("--body-timeout", type=float, default=20.0, help="seconds for a request body to arrive")
    parser.add_argument("--max-in-flight", type=int, default=16, help="requests at once; 503 + Retry-After past it")
    parser.add_argument("--max-model-requests", type=int, default=2, help="requests at the model at once (others wait)")
    parser.add_argument("--max-connections-per-client", type=int, default=8)
    parser.set_defaults(handler=run)


def run(args) -> int:
    from app import output
    from app.gateway import build_gateway
    from app.http_limits import Limits, bind, serve
    from app.model_server import (
        ServerOutput,
        owned_temp_dir,
        private_socket_path,
        start_private_model_server,
        stop,
        wait_until_socket_up,
    )

    for name in ("workers", "max_in_flight", "max_model_requests", "max_connections_per_client"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} {getattr(args, name)} must be at least 1")
    # A closed terminal while the model loads stops as SIGTERM does, so the `finally` below removes
    # the temp folders (once serving, app.http_limits.serve handles both).
    signal.signal(signal.SIGHUP, signal.getsignal(signal.SIGTERM))
    # Ours before anything slow: a busy port fails now, and no other process can answer for us.
    sock = bind(args.host, args.port, "SERVE_PORT")
    model_dir = owned_temp_dir("served-model-")
    socket_path = process = None
    try:
        # As `mlflow models serve` does: the registry is read here, once, and the model server loads
        # a local copy. A missing model or a locked store is one line from us, not a child's traceback.
        local_model, version = fetch_model(args.model, model_dir)
        socket_path = args.backend_socket or private_socket_path()
        shown = f"{args.model} (version {version})" if version else args.model
        print(f"starting the model server for {shown} on {socket_path} ...", file=sys.stderr)
        quiet = not output.VERBOSE
        process = start_private_model_server(
            local_model, socket_path, args.workers, log_file=subprocess.PIPE if quiet else sys.stderr, verbose=not quiet
        )
        server_output = ServerOutput(process.stdout, sys.stderr) if quiet else None
        try:
            wait_until_socket_up(socket_path, process)
        except RuntimeError as err:
            raise RuntimeError(f"{err}: {server_output.reason()}" if server_output else str(err)) from None
        if server_output:
            server_output.started = True
        limits = Limits(
            max_body_bytes=int(args.max_request_mb * 1024 * 1024),
            body_timeout=args.body_timeout,
            max_in_flight=args.max_in_flight,
            max_connections_per_client=args.max_connections_per_client,
        )
        app = build_gateway(socket_path, limits, args.timeout, args.max_model_requests)
        print(f"serving {shown} on http://{args.host}:{args.port}/invocations", file=sys.stderr)
        serve(app, sock)
    finally:
        if process is not None:
            stop(process)
        sock.close()
        shutil.rmtree(model_dir, ignore_errors=True)
        if socket_path and not args.backend_socket:  # the private folder is ours: leave nothing behind in /tmp
            shutil.rmtree(os.path.dirname(socket_path), ignore_errors=True)
    return 0


def fetch_model(uri: str, folder: str) -> tuple[str, str | None]:
    """(local copy of the model at `uri` in `folder`, its registered version or None); one-line errors."""
    from mlflow.exceptions import MlflowException

    from app.model_lookup import require_registered
    from data.errors import first_line
    from pipelines.tracking import store as tracking

    mlflow = tracking.connect()
    version = require_registered(mlflow, uri)
    if uri.startswith("models:/") and version and version.isdigit():
        uri = f"models:/{uri.removeprefix('models:/').partition('@')[0].partition('/')[0]}/{version}"  # pinned
    try:
        return mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=folder), version
    except (MlflowException, OSError) as err:
        raise ValueError(f"model '{uri}' could not be fetched: {first_line(err, 200)}") from None
