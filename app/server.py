"""The model over HTTP in one process: MLflow's scoring app and the web page under uvicorn.

Routes: POST /invocations (MLflow's API: its input formats and its answer, read and written by
MLflow's own functions, scored through app.batching), GET /ping, /health, /version (MLflow's
scoring app itself), and the page: GET /, GET /api/info, POST /api/predict (one image's bytes),
which answer only their own Host and Origin. One set of limits for all (app.limits).
"""

import asyncio
import contextlib
import errno
import io
import ipaddress
import logging
import signal
import socket
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from starlette.applications import Starlette
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from app.batching import Batcher
from app.limits import Limits, LimitsMiddleware, Refused, error_payload, parse_json

log = logging.getLogger(__name__)
PAGE = Path(__file__).parent / "web" / "index.html"
MODEL_ERROR_CLASS = "IMAGE_REQUEST_INVALID"  # pipelines.tracking.served_model: our own short messages
INPUT_KEYS = ("dataframe_split", "dataframe_records", "inputs", "instances")
USAGE = 'send JSON {"dataframe_split": {"columns": ["image"], "data": [["<base64 image file>"]]}}'
# The page loads nothing from elsewhere: its inline style and script, blob: thumbnails of chosen files.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; connect-src 'self'; img-src 'self' blob:; "
    "style-src 'unsafe-inline'; script-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def build_app(pyfunc, details: dict, limits: Limits, batcher: Batcher, host_allowed=None):
    """`details`: what /api/info tells the page; `host_allowed`: the page's Host check (allowed_hosts)."""
    from mlflow.exceptions import MlflowException
    from mlflow.pyfunc import scoring_server

    classifier = pyfunc.unwrap_python_model()
    decoding = ThreadPoolExecutor(2, thread_name_prefix="decode")  # also bounds decoded images in memory

    def client_error(err: Exception) -> Refused:
        ours = isinstance(err, MlflowException) and err.error_class == MODEL_ERROR_CLASS
        return Refused(400, err.message[:300] if ours else f"the request is not a valid prediction request; {USAGE}")

    async def score(to_pixels, params) -> "pd.DataFrame":  # noqa: F821
        try:
            top_k = classifier.top_k(params)
            with batcher.expecting():
                pixels = await asyncio.get_running_loop().run_in_executor(decoding, to_pixels)
        except (MlflowException, ValueError, TypeError) as err:
            raise client_error(err) from None
        try:
            return classifier.rows(await asyncio.wait_for(batcher(pixels), limits.request_timeout), top_k)
        except TimeoutError:
            raise Refused(504, "the model took too long to answer") from None

    async def invocations(request):
        if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
            raise Refused(415, f"unsupported content type; {USAGE} with Content-Type: application/json")
        parsed = parse_json(request.scope["body"])
        if not isinstance(parsed, dict) or sum(key in parsed for key in INPUT_KEYS) != 1:
            raise Refused(400, f"JSON must be an object with exactly one of {', '.join(INPUT_KEYS)}; {USAGE}")
        data = {key: value for key, value in parsed.items() if key in INPUT_KEYS}
        rows = await score(lambda: classifier.pixels(scoring_server.infer_and_parse_data(data)), parsed.get("params"))
        answer = io.StringIO()
        scoring_server.predictions_to_json(rows, answer)
        return Response(answer.getvalue(), media_type="application/json")

    async def index(request):
        return Response(PAGE.read_text(), media_type="text/html", headers=PAGE_HEADERS)

    async def info(request):
        return JSONResponse({**details, "max_upload_bytes": limits.max_body_bytes})

    async def predict(request):
        raw = request.scope["body"]
        if not raw:
            raise Refused(400, "empty upload: choose an image file")
        top_k = request.query_params.get("top_k", "5")
        row = (await score(lambda: classifier.file_pixels(raw), {"top_k": top_k})).iloc[0]
        return JSONResponse({"label": row["label"], "probability": float(row["probability"]), "top_k": row["top_k"]})

    @contextlib.asynccontextmanager
    async def lifespan(_):
        batching = asyncio.create_task(batcher.run())
        yield
        batching.cancel()

    routes = [
        Route("/invocations", invocations, methods=["POST"]),
        page_route("/", index, host_allowed),
        page_route("/api/info", info, host_allowed),
        page_route("/api/predict", predict, host_allowed, methods=("POST",)),
        Mount("", app=scoring_server.init(pyfunc)),  # /ping, /health, /version; its /invocations is ours above
    ]
    handlers = {Refused: refused_answer, Exception: failed_answer}
    return LimitsMiddleware(Starlette(routes=routes, lifespan=lifespan, exception_handlers=handlers), limits)


async def refused_answer(request, refused: Refused) -> JSONResponse:
    return JSONResponse(error_payload(refused.status, refused.message), refused.status, dict(refused.headers))


async def failed_answer(request, error: Exception) -> JSONResponse:
    log.error("%s %s failed", request.method, request.url.path, exc_info=error)  # details in our log only
    return JSONResponse(error_payload(500, "internal error"), 500)


def page_route(path: str, handler, host_allowed, methods=("GET",)) -> Route:
    """`handler` on `path`, for the page alone: its own Host and Origin only."""

    async def own_origin_only(request):
        """A foreign Host is DNS rebinding (another site's script reaching 127.0.0.1 under its own
        name); a foreign Origin or a cross-site fetch on a POST is another site posting here."""
        host = request.headers.get("host", "")
        if host_allowed is not None and not host_allowed(host):
            raise Refused(421, f"this server answers only its own address, e.g. {host_allowed.address}")
        origin = request.headers.get("origin")
        foreign = origin is not None and origin.lower() != f"http://{host.lower()}"
        if request.method == "POST" and (foreign or request.headers.get("sec-fetch-site") == "cross-site"):
            raise Refused(403, "cross-origin requests are refused: use the page itself")
        response = await handler(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        return response

    return Route(path, own_origin_only, methods=list(methods))


def bind(host: str, port: int, port_setting: str) -> socket.socket:
    """Listen on host:port now, before the model loads; one line if it is taken."""
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets that name it, and without it
    # an answer's head and body wait on the client's delayed ACK (+40 ms a request).
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.bind((host, port))
        sock.listen(128)
    except OSError as err:
        sock.close()
        if err.errno == errno.EADDRINUSE:
            raise ValueError(
                f"port {port} on {host} is already in use by another process; "
                f"stop it or choose another port ({port_setting}=<port>)"
            ) from None
        raise ValueError(f"cannot listen on {host}:{port}: {err.strerror}") from None
    return sock


def run(app, sock: socket.socket, limits: Limits) -> None:
    """Serve until SIGINT, SIGTERM or SIGHUP (a closed terminal), with uvicorn's own limits."""
    import uvicorn

    config = uvicorn.Config(
        app,
        http="h11",  # h11_max_incomplete_event_size bounds a request's head
        h11_max_incomplete_event_size=64 * 1024,
        limit_concurrency=limits.max_connections,
        timeout_keep_alive=limits.keepalive_timeout,
        lifespan="on",
        log_config=None,
        access_log=False,
        server_header=False,
    )
    server = uvicorn.Server(config)
    signal.signal(signal.SIGHUP, server.handle_exit)
    server.run(sockets=[sock])


def allowed_hosts(host: str, port: int):
    """Which Host headers the page bound to host:port answers: that port with its own address,
    127.0.0.1, localhost or [::1]. Bound to every interface (0.0.0.0, ::), also this machine's
    names and any IP address: DNS rebinding needs a name the attacker controls, never an IP."""
    every_interface = host in ("0.0.0.0", "::", "")
    own = f"[{host}]" if ":" in host else host.lower()
    names = {own, "127.0.0.1", "localhost", "[::1]"}
    if every_interface:
        names |= {socket.gethostname().lower(), socket.getfqdn().lower()}

    def allowed(header: str) -> bool:
        name, colon, given_port = header.lower().rpartition(":")
        if not colon or name.count("[") != name.count("]"):  # no port given ("[::1]" alone): HTTP's 80
            name, given_port = header.lower(), "80"
        return given_port == str(port) and (name in names or (every_interface and _is_ip_address(name)))

    allowed.address = f"http://{'127.0.0.1' if every_interface else own}:{port}/"  # named in the refusal
    return allowed


def _is_ip_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name.removeprefix("[").removesuffix("]"))
    except ValueError:
        return False
    return True
