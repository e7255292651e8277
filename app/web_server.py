"""The web page: choose or drop images, see the registered model's top-k classes as bars.

The model is loaded in-process from the registry (the same pyfunc `mlflow models serve`
runs), so the page needs no second server. Uploads are raw image bytes, one image per
request, size-limited; the page sends several files one after the other.
"""

import asyncio
import base64
import logging
from pathlib import Path

import pandas as pd
from aiohttp import web

log = logging.getLogger(__name__)

PAGE = Path(__file__).parent / "web" / "index.html"


def build_web_app(model, model_uri: str, max_upload_bytes: int, details: dict | None = None) -> web.Application:
    """`details`: what /api/info tells the page about the model (name, version, classes, ...)."""
    app = web.Application(client_max_size=max_upload_bytes, middlewares=[_short_errors])
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
    "style-src 'unsafe-inline'; script-src 'unsafe-inline'; base-uri 'none'; form-action 'none'",
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

    limit = request.app["max_upload_bytes"]
    if request.content_length is not None and request.content_length > limit:
        return web.json_response({"error": f"file over the {limit:,}-byte limit"}, status=413)
    data = await request.read()
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
