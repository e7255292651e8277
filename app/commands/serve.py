"""`python -m app serve --model models:/NAME@champion`: the hardened HTTP endpoint.

Runs `mlflow models serve --env-manager local` on a private port and app.gateway in front of
it on --host/--port (request-size limit, content-type and JSON checks, payload-free errors).
"""

import sys


def add_parser(commands) -> None:
    parser = commands.add_parser("serve", help="serve a registered model over HTTP (mlflow models serve + limits)")
    parser.add_argument("--model", default="models:/digits-classifier@champion", help="model URI")
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=5001)
    parser.add_argument("--backend-port", type=int, default=0, help="port of mlflow models serve (default: a free one)")
    parser.add_argument("--workers", type=int, default=1, help="mlflow models serve worker processes")
    parser.add_argument("--max-request-mb", type=float, default=16.0, help="largest request body accepted")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds one request may take")
    parser.set_defaults(handler=run)


def run(args) -> int:
    from aiohttp import web

    from app.gateway import build_gateway
    from app.model_server import free_port, start_model_server, stop, wait_until_up

    if args.workers < 1:
        raise ValueError(f"--workers {args.workers} must be at least 1")
    backend_port = args.backend_port or free_port()
    backend = f"http://127.0.0.1:{backend_port}"
    print(f"starting mlflow models serve for {args.model} on {backend} ...", file=sys.stderr)
    process = start_model_server(args.model, "127.0.0.1", backend_port, args.workers, log_file=sys.stderr)
    try:
        wait_until_up(f"{backend}/ping", process)
        app = build_gateway(backend, int(args.max_request_mb * 1024 * 1024), args.timeout)
        print(f"serving {args.model} on http://{args.host}:{args.port}/invocations", file=sys.stderr)
        web.run_app(app, host=args.host, port=args.port, print=None, access_log=None)
    finally:
        stop(process)
    return 0
