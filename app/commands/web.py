"""`python -m app web --model models:/NAME@champion`: the web page on 127.0.0.1:8000."""

import sys


def add_parser(commands) -> None:
    parser = commands.add_parser("web", help="web page: drop or choose images, see the model's top-k classes")
    parser.add_argument("--model", default="models:/digits-classifier@champion", help="model URI")
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--max-upload-mb", type=float, default=10.0)
    parser.add_argument("--body-timeout", type=float, default=20.0, help="seconds for an upload to arrive")
    parser.add_argument("--max-in-flight", type=int, default=16, help="requests at once; 503 + Retry-After past it")
    parser.add_argument("--max-connections-per-client", type=int, default=8)
    parser.set_defaults(handler=run)


def run(args) -> int:
    from app.http_limits import Limits, bind, serve
    from app.web_server import allowed_hosts, build_web_app
    from pipelines.tracking import store as tracking

    sock = bind(args.host, args.port, "WEB_PORT")  # a busy port is one line, before the model loads
    try:
        mlflow = tracking.connect()
        model = load_model(mlflow, args.model)
        details = describe_model(mlflow, args.model, model)
        max_upload = int(args.max_upload_mb * 1024 * 1024)
        limits = Limits(max_upload, args.body_timeout, args.max_in_flight, args.max_connections_per_client)
        host_allowed = allowed_hosts(args.host, sock.getsockname()[1])
        app = build_web_app(model, args.model, max_upload, details, limits, host_allowed)
        print(f"web page for {args.model} on http://{args.host}:{args.port}/", file=sys.stderr)
        serve(app, sock)
    finally:
        sock.close()
    return 0


def load_model(mlflow, uri: str):
    """Load a pyfunc, turning MLflow's multi-line errors into one line for the CLI."""
    from mlflow.exceptions import MlflowException

    from app.model_lookup import require_registered
    from data.errors import first_line
    from pipelines.tracking.store import keep_project_packages_first

    require_registered(mlflow, uri)  # a missing name, alias or version: one line saying what exists
    keep_project_packages_first()
    try:
        return mlflow.pyfunc.load_model(uri)
    except (MlflowException, OSError) as err:
        raise ValueError(f"model '{uri}' could not be loaded: {first_line(err, 200)}") from None


def describe_model(mlflow, uri: str, model) -> dict:
    """What the page shows about the model: registered name and version, classes, input size."""
    meta = getattr(model.unwrap_python_model(), "meta", {})
    name, version = registered_version(mlflow, uri)
    details = {"name": name, "version": version, "classes": list(meta.get("class_names", []))}
    if "image_size" in meta:
        details["image_size"] = list(meta["image_size"])
        details["channels"] = meta.get("channels")
    return details


def registered_version(mlflow, uri: str) -> tuple[str | None, str | None]:
    """`models:/NAME@ALIAS` or `models:/NAME/VERSION` -> (NAME, VERSION); (None, None) for other URIs."""
    from mlflow.exceptions import MlflowException

    if not uri.startswith("models:/"):
        return None, None
    rest = uri.removeprefix("models:/")
    name, sep, alias = rest.partition("@")
    if sep:
        try:
            return name, mlflow.MlflowClient().get_model_version_by_alias(name, alias).version
        except MlflowException:  # loaded a moment ago; if the lookup fails now, show the name alone
            return name, None
    name, _, version = rest.partition("/")
    return name, version if version.isdigit() else None
