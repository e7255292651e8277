"""The web page: choose or drop images, see the registered model's top-k classes as bars.

The model is loaded in-process from the registry (the same pyfunc `mlflow models serve`
runs), so the page needs no second server. Uploads are raw image bytes, one image per
request, size-limited; the page sends several files one after the other.
"""

import asyncio
import base64
import ipaddress
import logging
import socket
from collections.abc import Callable
from pathlib import Path

import pandas as pd
from aiohttp import web

from app import http_limits
from app.http_limits import Limits, read_body

log = logging.getLogger(__name__)

PAGE = Path(__file__).parent / "web" / "index.html"


def build_web_app(
    model,
    model_uri: str,
    max_upload_bytes: int,
    details: dict | None = None,
    limits: Limits | None = None,
    host_allowed: Callable[[str], bool] | None = None,
) -> web.Application:
    """`details`: what /api/info tells the page about the model (name, version, classes, ...);
    `host_allowed`: which Host headers the page answers (`allowed_hosts`), None for any (in-process tests)."""
    app = web.Application(client_max_size=max_upload_bytes, middlewares=[_own_origin_only, _short_errors])
    app["host_allowed"] = host_allowed
    # Requests in flight, body read time, connections per client, JSON parser errors: app/http_limits.py.
    http_limits.install(
        app, limits or Limits(max_body_bytes=max_upload_bytes), lambda status, message: {"error": message}
    )
    app["model"] = model
    app["model_uri"] = model_uri
    app["max_upload_bytes"] = max_upload_bytes
    app["details"] = details or {}
    # Keras models are not meant to be called from several threads at once.
    app["lock"] = asyncio.Lock()
    app.router.add_get("/", index)
    app.router.add_get("/api/info", info)
    app.router.add_post("/api/predict", predict)
    return app


def allowed_hosts(host: str, port: int) -> Callable[[str], bool]:
    """Which Host headers a page bound to host:port answers: that port with its own address,
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
        if given_port != str(port):
            return False
        return name in names or (every_interface and _is_ip_address(name))

    allowed.address = f"http://{'127.0.0.1' if every_interface else own}:{port}/"  # named in the refusal
    return allowed


def _is_ip_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name.removeprefix("[").removesuffix("]"))
    except ValueError:
        return False
    return True


@web.middleware
async def _own_origin_only(request: web.Request, handler):
    """Answer only requests meant for this page: a foreign Host is DNS rebinding (another site's
    script reaching 127.0.0.1 under its own name), a foreign Origin or a cross-site fetch on a
    POST is another site's page posting here (a text/plain POST needs no CORS preflight)."""
    host_allowed = request.app["host_allowed"]
    host = request.headers.get("Host", "")
    if host_allowed is not None and not host_allowed(host):
        return _refused(421, f"this server answers only its own address, e.g. {host_allowed.address}")
    if request.method not in ("GET", "HEAD"):
        origin = request.headers.get("Origin")
        cross_site = request.headers.get("Sec-Fetch-Site") == "cross-site"
        if (origin is not None and origin.lower() != f"http://{host.lower()}") or cross_site:
            return _refused(403, "cross-origin requests are refused: use the page itself")
    response = await handler(request)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Content-Security-Policy", "frame-ancestors 'none'")
    return response


def _refused(status: int, message: str) -> web.Response:
    response = web.json_response({"error": message}, status=status)
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@web.middleware
async def _short_errors(request: web.Request, handler):
    try:
        return await handler(request)
    except web.HTTPRequestEntityTooLarge:
        return web.json_response({"error": f"file over the {request.app['max_upload_bytes']:,}-byte limit"}, status=413)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return web.json_response({"error": exc.reason}, status=exc.status)


# The page loads nothing from elsewhere: its own inline style and script, and blob: thumbnails
# of the files the user chose.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; connect-src 'self'; img-src 'self' blob:; "
    "style-src 'unsafe-inline'; script-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


async def index(request: web.Request) -> web.Response:
    return web.Response(text=PAGE.read_text(), content_type="text/html", headers=PAGE_HEADERS)


async def info(request: web.Request) -> web.Response:
    app = request.app
    # "model" and "max_upload_bytes" were the whole answer before; the details are additions.
    return web.json_response({**app["details"], "model": app["model_uri"], "max_upload_bytes": app["max_upload_bytes"]})


async def predict(request: web.Request) -> web.Response:
    from mlflow.exceptions import MlflowException

    data = await read_body(request)
    if not data:
        return web.json_response({"error": "empty upload: choose an image file"}, status=400)
    try:
        top_k = max(1, min(int(request.query.get("top_k", 5)), 100))
    except ValueError:
        return web.json_response({"error": "top_k must be an integer"}, status=400)
    frame = pd.DataFrame({"image": [base64.b64encode(data).decode("ascii")]})
    async with request.app["lock"]:
        try:
            result = await asyncio.to_thread(request.app["model"].predict, frame, params={"top_k": top_k})
        except MlflowException as err:
            return web.json_response({"error": err.message.split(": ", 1)[-1][:200]}, status=400)
    row = result.iloc[0]
    return web.json_response({"label": row["label"], "probability": float(row["probability"]), "top_k": row["top_k"]})
