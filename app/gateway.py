"""A thin front for `mlflow models serve`: request limits and short, payload-free errors.

MLflow's scoring server (uvicorn + FastAPI) has no request-size limit: it reads any body
into memory before the model sees it. And for malformed requests it answers with the request
itself inside the message: invalid JSON comes back verbatim ("Input: b'...'"), and shape
errors list the keys sent. No server option or environment variable turns either off, so
this front refuses oversized bodies while they stream in (413), checks the content type
(415) and the JSON (400), forwards everything else unchanged, and passes on only the model's
own short messages (error_class IMAGE_REQUEST_INVALID); any other MLflow error becomes a
fixed one-line message for its status.
"""

import json
import logging

from aiohttp import ClientError, ClientSession, ClientTimeout, web

log = logging.getLogger(__name__)

MODEL_ERROR_CLASS = "IMAGE_REQUEST_INVALID"  # pipelines.tracking.served_model.ERROR_CLASS, without importing mlflow
INPUT_KEYS = ("dataframe_split", "dataframe_records", "inputs", "instances")
USAGE = 'send JSON {"dataframe_split": {"columns": ["image"], "data": [["<base64 image file>"]]}}'
GENERIC_MESSAGES = {
    400: f"the request is not a valid prediction request; {USAGE}",
    404: "not found; POST /invocations, GET /ping",
    413: "request body too large",
    415: f"unsupported content type; {USAGE} with Content-Type: application/json",
    422: f"the request is not a valid prediction request; {USAGE}",
    504: "the model took too long to answer",
}


def error(status: int, message: str, code: str = "INVALID_PARAMETER_VALUE") -> web.Response:
    return web.json_response({"error_code": code, "message": message}, status=status)


def build_gateway(backend_url: str, max_body_bytes: int, timeout_seconds: float) -> web.Application:
    """The front app: POST /invocations, GET /ping, /health and /version, forwarded to `backend_url`."""
    app = web.Application(client_max_size=max_body_bytes, middlewares=[_json_errors])
    app["backend"] = backend_url.rstrip("/")
    app["max_body_bytes"] = max_body_bytes
    app["timeout"] = ClientTimeout(total=timeout_seconds)
    app.cleanup_ctx.append(_client_session)
    app.router.add_post("/invocations", invocations)
    for path in ("/ping", "/health", "/version"):
        app.router.add_get(path, passthrough)
    return app


async def _client_session(app: web.Application):
    # One pooled session: a new TCP connection per request would cost more than the proxy itself.
    async with ClientSession(timeout=app["timeout"]) as session:
        app["session"] = session
        yield


@web.middleware
async def _json_errors(request: web.Request, handler):
    """aiohttp's own 404/405/413 answers, as the same short JSON as everything else."""
    try:
        return await handler(request)
    except web.HTTPRequestEntityTooLarge:
        return error(413, f"request body over the {request.app['max_body_bytes']:,}-byte limit")
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return error(exc.status, GENERIC_MESSAGES.get(exc.status, exc.reason), code="BAD_REQUEST")


async def invocations(request: web.Request) -> web.Response:
    limit = request.app["max_body_bytes"]
    if request.content_length is not None and request.content_length > limit:
        # Refuse before reading a byte of it.
        return error(413, f"request body over the {limit:,}-byte limit")
    if request.content_type != "application/json":
        return error(415, GENERIC_MESSAGES[415])
    body = await request.read()
    try:
        parsed = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        return error(400, f"request body is not valid JSON; {USAGE}")
    if not isinstance(parsed, dict) or sum(key in parsed for key in INPUT_KEYS) != 1:
        return error(400, f"JSON must be an object with exactly one of {', '.join(INPUT_KEYS)}; {USAGE}")
    try:
        async with request.app["session"].post(
            request.app["backend"] + "/invocations", data=body, headers={"Content-Type": "application/json"}
        ) as response:
            payload = await response.read()
            status = response.status
    except TimeoutError:
        return error(504, GENERIC_MESSAGES[504], code="TIMEOUT")
    except ClientError:
        return error(503, "the model server is not answering; try again shortly", code="UNAVAILABLE")
    if status == 200:
        return web.Response(body=payload, status=200, content_type="application/json")
    return _client_safe(status, payload)


def _client_safe(status: int, payload: bytes) -> web.Response:
    """Pass on the model's own messages; replace MLflow's (which may quote the request)."""
    try:
        answer = json.loads(payload)
    except ValueError:
        answer = {}
    if 400 <= status < 500 and isinstance(answer, dict) and answer.get("error_class") == MODEL_ERROR_CLASS:
        return error(status, str(answer.get("message", ""))[:300])
    if status >= 500 and status != 504:
        # Not a client mistake we can name: keep the details in our log, never in the answer.
        log.error("model server answered %d: %.300s", status, payload)
        return error(502, "the model server failed on this request", code="INTERNAL_ERROR")
    return error(status, GENERIC_MESSAGES.get(status, "bad request"), code="BAD_REQUEST")


async def passthrough(request: web.Request) -> web.Response:
    try:
        async with request.app["session"].get(request.app["backend"] + request.path) as response:
            return web.Response(body=await response.read(), status=response.status, content_type="application/json")
    except (TimeoutError, ClientError):
        return error(503, "the model server is not answering", code="UNAVAILABLE")
