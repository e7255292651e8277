"""HTTP limits shared by both servers (the serving front and the web page), as aiohttp wiring.

What aiohttp does not bound by itself, and what each limit is for:
- requests in flight: past `max_in_flight`, 503 + Retry-After at once, so memory is bounded
  by the limit, not by how many clients arrive;
- body read time: a client that declares a Content-Length and sends a byte every few seconds
  holds a connection forever; the whole body must arrive within `body_timeout` (408);
- connections per client address: past `max_connections_per_client` a connection gets a
  503 and is closed before anything is read;
- parser errors (a malformed request line or header, bytes after the declared body): aiohttp
  answers them itself, text/plain, quoting the offending request bytes; here they are the
  server's own short JSON like every other error.

Use: `middlewares=[limits_middleware]`, `app[LIMITS] = Limits(...)`, `body = await
read_body(request)`, and `serve(app, sock, payload)` instead of `web.run_app`.
"""

import asyncio
import errno
import json
import logging
import os
import signal
import socket
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 1
# Set by whoever starts the server and waits for it: every answer carries it back in
# INSTANCE_HEADER, so a readiness check cannot mistake another process on the port for ours.
INSTANCE_VARIABLE = "SERVER_INSTANCE_TOKEN"
INSTANCE_HEADER = "X-Server-Instance"
PARSER_MESSAGE = "malformed HTTP request"


@dataclass(frozen=True)
class Limits:
    max_body_bytes: int
    body_timeout: float = 20.0  # seconds for the whole body to arrive
    max_in_flight: int = 16  # requests handled at once, body reading included
    max_connections_per_client: int = 8
    keepalive_timeout: float = 15.0  # idle keep-alive connections are closed after this


LIMITS = web.AppKey("limits", Limits)
PAYLOAD = web.AppKey("error_payload", Callable)
_IN_FLIGHT = web.AppKey("in_flight", list)


class Refused(Exception):
    """A request turned away by a limit: answered with the server's JSON error shape."""

    def __init__(self, status: int, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


def install(app: web.Application, limits: Limits, payload: Callable[[int, str], dict]) -> None:
    """Attach the limits to `app`; `payload(status, message)` is that server's error body."""
    app[LIMITS] = limits
    app[PAYLOAD] = payload
    app[_IN_FLIGHT] = [0]
    app.middlewares.insert(0, limits_middleware)


def json_error(request: web.Request, status: int, message: str, headers: dict | None = None) -> web.Response:
    response = web.json_response(request.app[PAYLOAD](status, message), status=status, headers=headers)
    if status in (408, 413):
        response.force_close()  # the rest of the body is still on the wire: don't parse it as a request
    return response


@web.middleware
async def limits_middleware(request: web.Request, handler):
    counter = request.app[_IN_FLIGHT]
    if counter[0] >= request.app[LIMITS].max_in_flight:
        return json_error(
            request,
            503,
            f"busy: {counter[0]} requests in flight; retry in {RETRY_AFTER_SECONDS} s",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    counter[0] += 1
    try:
        response = await handler(request)
    except Refused as refused:
        response = json_error(request, refused.status, refused.message, refused.headers)
    finally:
        counter[0] -= 1
    if token := os.environ.get(INSTANCE_VARIABLE):
        response.headers[INSTANCE_HEADER] = token
    return response


async def read_body(request: web.Request) -> bytes:
    """The whole body, within the size limit and the body timeout; raises Refused otherwise."""
    limits = request.app[LIMITS]
    if request.content_length is not None and request.content_length > limits.max_body_bytes:
        # Refuse before reading a byte of it.
        raise Refused(413, f"request body over the {limits.max_body_bytes:,}-byte limit")
    try:
        return await asyncio.wait_for(request.read(), limits.body_timeout)
    except TimeoutError:
        raise Refused(408, f"the request body did not arrive within {limits.body_timeout:g} s") from None
    except web.HTTPRequestEntityTooLarge:
        raise Refused(413, f"request body over the {limits.max_body_bytes:,}-byte limit") from None


class JsonTooDeep(ValueError):
    """JSON nested deeper than the parser's recursion limit."""


def parse_json(body: bytes):
    """json.loads, with nesting too deep for the parser a ValueError (JsonTooDeep) like any invalid JSON."""
    try:
        return json.loads(body)
    except RecursionError:
        # 1,000 nested arrays exhaust the C parser's recursion limit: a client mistake, not a 500.
        raise JsonTooDeep("JSON nested too deeply") from None


def bind(host: str, port: int, port_setting: str) -> socket.socket:
    """Listen on host:port now, before anything slow starts; one line if it is taken."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
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


def serve(app: web.Application, sock: socket.socket) -> None:
    """Run `app` on the bound socket until SIGINT/SIGTERM/SIGHUP, with the connection-level limits."""
    asyncio.run(_serve(app, sock))


async def _serve(app: web.Application, sock: socket.socket) -> None:
    limits, payload = app[LIMITS], app[PAYLOAD]
    handler_class = _handler_class(limits, payload)
    runner = _GuardedRunner(app, handler_class, access_log=None, keepalive_timeout=limits.keepalive_timeout)
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    # SIGHUP: the terminal closed. A clean stop, so the model server and temp folders go too.
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(signum, stop.set)
    try:
        await web.SockSite(runner, sock).start()
        await stop.wait()
    finally:
        await runner.cleanup()


class _GuardedRunner(web.AppRunner):
    """An AppRunner whose connections are served by our RequestHandler subclass.

    aiohttp has no public option for the handler class: web.Server.__call__ builds a plain
    RequestHandler. The server object is aiohttp's own; only its class is swapped for one whose
    __call__ builds ours.
    """

    def __init__(self, app, handler_class, **kwargs):
        super().__init__(app, **kwargs)
        self._handler_class = handler_class

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        server.__class__ = _GuardedServer
        server.handler_class = self._handler_class
        return server


class _GuardedServer(web.Server):
    handler_class: type = RequestHandler

    def __call__(self) -> RequestHandler:
        return self.handler_class(self, loop=self._loop, **self._kwargs)


def _handler_class(limits: Limits, payload: Callable[[int, str], dict]) -> type:
    per_client: Counter = Counter()
    busy = _raw_response(503, payload(503, "too many connections from this address"), RETRY_AFTER_SECONDS)

    class GuardedHandler(RequestHandler):
        def connection_made(self, transport) -> None:
            super().connection_made(transport)
            peer = transport.get_extra_info("peername")
            self._peer = peer[0] if isinstance(peer, tuple) else str(peer)
            per_client[self._peer] += 1
            if per_client[self._peer] > limits.max_connections_per_client:
                log.warning("refused a connection from %s: over %d open", self._peer, limits.max_connections_per_client)
                transport.write(busy)
                transport.close()

        def connection_lost(self, exc) -> None:
            per_client[self._peer] -= 1
            if per_client[self._peer] <= 0:
                del per_client[self._peer]
            super().connection_lost(exc)

        def handle_error(self, request, status=500, exc=None, message=None):
            if request.writer.output_size > 0:  # an answer is half sent: aiohttp closes the connection
                return super().handle_error(request, status, exc, message)
            # aiohttp's own answer is text/plain and its message quotes the request bytes.
            log.warning("%d from %s: %s", status, request.remote, type(exc).__name__ if exc else message)
            text = PARSER_MESSAGE if 400 <= status < 500 else "internal error"
            response = web.json_response(payload(status, text), status=status)
            response.force_close()
            return response

    return GuardedHandler


def _raw_response(status: int, body: dict, retry_after: int) -> bytes:
    data = json.dumps(body).encode()
    head = (
        f"HTTP/1.1 {status} Service Unavailable\r\nContent-Type: application/json\r\n"
        f"Retry-After: {retry_after}\r\nConnection: close\r\nContent-Length: {len(data)}\r\n\r\n"
    )
    return head.encode() + data
