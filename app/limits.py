"""The server's HTTP limits: one ASGI middleware for what uvicorn does not bound itself.

uvicorn takes the rest as its own settings (app.server): connections and tasks at once
(`limit_concurrency`, 503 past it), idle keep-alive, header size (h11). Here: the body's size
(413, refused before reading when Content-Length says so) and arrival time (408: a byte every
few seconds would hold a connection forever), requests in flight (503 + Retry-After, so memory
is bounded by the limit, not by how many clients come), and one short JSON error shape for
every refusal, which never quotes the request.
"""

import asyncio
import json
import logging
import os
from dataclasses import dataclass

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 1
# Set by whoever starts the server and waits for it: every answer carries it back in this header,
# so a readiness check cannot mistake another process on the port for ours.
INSTANCE_VARIABLE = "SERVER_INSTANCE_TOKEN"
CODES = {408: "TIMEOUT", 413: "REQUEST_TOO_LARGE", 503: "UNAVAILABLE", 504: "TIMEOUT"}


@dataclass(frozen=True)
class Limits:
    max_body_bytes: int = 16 * 1024 * 1024
    body_timeout: float = 20.0  # seconds for the whole body to arrive
    max_in_flight: int = 16  # requests handled at once, body reading included
    max_connections: int = 64  # open connections (uvicorn's limit_concurrency)
    keepalive_timeout: int = 15  # idle keep-alive connections are closed after this
    request_timeout: float = 30.0  # seconds a request may wait for the model (504)


class Refused(Exception):
    """A request turned away: answered with `status` and the one-line `message`."""

    def __init__(self, status: int, message: str, headers: tuple = ()):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers


async def send_json(send, status: int, payload, headers=()) -> None:
    body = json.dumps(payload).encode()
    start_headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *headers]
    await send({"type": "http.response.start", "status": status, "headers": start_headers})
    await send({"type": "http.response.body", "body": body})


def error_payload(status: int, message: str) -> dict:
    return {"error_code": CODES.get(status, "BAD_REQUEST" if status < 500 else "INTERNAL_ERROR"), "message": message}


class LimitsMiddleware:
    """Reads each request's body within the limits, then hands it to `app` with the body in hand."""

    def __init__(self, app, limits: Limits):
        self.app, self.limits, self.in_flight = app, limits, 0
        self.token = os.environ.get(INSTANCE_VARIABLE, "").encode()

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = False

        async def stamped_send(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                if self.token:
                    message = {**message, "headers": [*message.get("headers", []), (b"x-server-instance", self.token)]}
            await send(message)

        if self.in_flight >= self.limits.max_in_flight:
            busy = f"busy: {self.in_flight} requests in flight; retry in {RETRY_AFTER_SECONDS} s"
            return await send_json(stamped_send, 503, error_payload(503, busy), [(b"retry-after", b"1")])
        self.in_flight += 1
        try:
            scope["body"] = await self._read_body(scope, receive)
            await self.app(scope, receive, stamped_send)
        except Refused as refused:
            # After a 408 or 413 the rest of the body is still on the wire: never read it as a request.
            close = [(b"connection", b"close")] if refused.status in (408, 413) else []
            await send_json(stamped_send, refused.status, error_payload(refused.status, refused.message), close)
        except Exception:
            log.exception("request failed")  # the details stay in our log, never in the answer
            if not started:
                await send_json(stamped_send, 500, error_payload(500, "internal error"))
        finally:
            self.in_flight -= 1

    async def _read_body(self, scope, receive) -> bytes:
        """The whole body within the limits. One too large is read to its end and dropped (a
        client still sending when the connection closes sees a reset, not our 413)."""
        limit = self.limits.max_body_bytes
        length = dict(scope["headers"]).get(b"content-length")
        chunks, size = [], 0
        over = bool(length) and int(length) > limit  # h11 has checked it is a number

        async def read_all() -> bytes:
            nonlocal size, over
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise Refused(400, "the client went away")
                size += len(message.get("body", b""))
                over = over or size > limit
                if not over:
                    chunks.append(message.get("body", b""))
                if not message.get("more_body"):
                    return b"".join(chunks)

        try:
            body = await asyncio.wait_for(read_all(), self.limits.body_timeout)
        except TimeoutError:
            if not over:
                raise Refused(408, f"the request body did not arrive within {self.limits.body_timeout:g} s") from None
        if over:
            raise Refused(413, f"request body over the {limit:,}-byte limit")
        return body


def parse_json(body: bytes):
    """json.loads, with nesting too deep for the parser a one-line Refused like any invalid JSON."""
    try:
        return json.loads(body)
    except RecursionError:
        raise Refused(400, "request body is not valid JSON (nested too deeply)") from None
    except ValueError:
        raise Refused(400, "request body is not valid JSON") from None
