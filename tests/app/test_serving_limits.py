"""The server under abuse: slow bodies, many connections, malformed HTTP, deep JSON, a busy port,
and memory under a load of the largest images the limits allow.

Real processes: `python -m app serve` and `python -m app web` (the same server, its page routes
checked too), started with small limits so each one is quick to reach.
"""

import base64
import contextlib
import io
import json
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlparse

import psutil
import pytest
from PIL import Image

from tests.app.conftest import MODEL_URI
from tests.app.test_serving import b64, digit_pixels, png_bytes, post, split
from tests.helpers import ROOT, env_for, free_port, hardened_endpoint, web_page

SECRET = "SECRETPAYLOAD"
BODY_TIMEOUT = 2.0
MAX_CONNECTIONS = 7
LIMIT_ARGS = ("--body-timeout", str(BODY_TIMEOUT), "--max-in-flight", "4", "--max-connections", str(MAX_CONNECTIONS))
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def front(trained_model, tmp_path_factory):
    """(URL, serve process) with small limits."""
    workdir = tmp_path_factory.mktemp("limits")
    with hardened_endpoint(MODEL_URI, trained_model[0], workdir, *LIMIT_ARGS) as started:
        yield started


@pytest.fixture(scope="module")
def page(trained_model, tmp_path_factory):
    with web_page(MODEL_URI, trained_model[0], tmp_path_factory.mktemp("web-limits"), *LIMIT_ARGS) as url:
        yield url


@pytest.fixture(params=["front", "page"])
def server(request):
    """(URL, path that takes a POST body) of either server."""
    if request.param == "front":
        return request.getfixturevalue("front")[0], "/invocations"
    return request.getfixturevalue("page"), "/api/predict"


def connect(url: str) -> socket.socket:
    parts = urlparse(url)
    return socket.create_connection((parts.hostname, parts.port), timeout=10)


def read_response(sock: socket.socket, timeout: float) -> bytes:
    """Everything the server sends until it closes the connection or `timeout` passes."""
    sock.settimeout(timeout)
    chunks = []
    try:
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    except (TimeoutError, ConnectionResetError):
        pass
    return b"".join(chunks)


def status_and_json(raw: bytes) -> tuple[int, dict, bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    assert b"application/json" in head.lower(), head
    return status, json.loads(body), head


def post_head(path: str, length: int, extra: str = "", host: str = "x") -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n{extra}Content-Length: {length}\r\n\r\n"
    ).encode()


def test_a_slow_body_is_cut_off_after_the_body_timeout(server):
    """Content-Length 100000 and a byte at a time: before, never cut off (open after 240 s)."""
    url, path = server
    with connect(url) as sock:
        sock.sendall(post_head(path, 100_000, host=url.split("//")[1]))  # the page answers only its own Host
        started = time.monotonic()
        answer = b""
        while time.monotonic() - started < BODY_TIMEOUT + 8 and not answer:
            try:
                sock.sendall(b"[")
            except OSError:
                break
            sock.settimeout(0.5)
            with contextlib.suppress(TimeoutError):
                answer = sock.recv(65536)
        answer += read_response(sock, 2)
    assert answer, "the slow body was never cut off"
    status, body, _ = status_and_json(answer)
    assert status == 408
    assert "did not arrive within" in json.dumps(body)
    assert time.monotonic() - started < BODY_TIMEOUT + 5


def test_connections_past_the_limit_get_503(server):
    """Open connections are bounded by uvicorn's own limit_concurrency (--max-connections)."""
    url, _ = server
    request = f"GET /ping HTTP/1.1\r\nHost: {url.split('//')[1]}\r\nConnection: close\r\n\r\n".encode()
    held = [connect(url) for _ in range(MAX_CONNECTIONS - 1)]
    try:
        time.sleep(0.3)
        with connect(url) as extra:
            extra.sendall(request)
            answer = read_response(extra, 5)
        assert answer.startswith(b"HTTP/1.1 503"), answer[:200]
        assert len(answer.partition(b"\r\n\r\n")[2]) < 100
    finally:
        for sock in held:
            sock.close()
    time.sleep(0.3)
    with connect(url) as again:  # once they are closed, new connections are welcome again
        again.sendall(request.replace(b"/ping", b"/nothing"))
        assert b" 404 " in read_response(again, 5).split(b"\r\n")[0]


@pytest.mark.parametrize(
    ("request_bytes", "statuses"),
    [
        pytest.param(
            post_head("{path}", 2) + b'{}{"' + SECRET.encode() + b'": 1}',
            {b"400", b"421"},
            id="body longer than length",
        ),
        # h11 takes a control character in a header value as part of the value: answered as usual.
        pytest.param(
            b"GET /ping HTTP/1.1\r\nHost: x\r\nX-Note: a\x01" + SECRET.encode() + b"\r\n\r\n",
            {b"200", b"400"},
            id="bad header",
        ),
        pytest.param(
            b"POST /" + SECRET.encode() + b"\x00 HTTP/1.1\r\nHost: x\r\n\r\n", {b"400"}, id="bad request line"
        ),
    ],
)
def test_malformed_http_gets_a_short_answer_that_never_quotes_the_request(server, request_bytes, statuses):
    url, path = server
    with connect(url) as sock:
        sock.sendall(request_bytes.replace(b"{path}", path.encode()))
        answer = read_response(sock, 5)
    assert SECRET.encode() not in answer, answer[:300]
    # The last response: the HTTP parser's (h11 through uvicorn, a fixed sentence) or ours.
    last = re.findall(rb"HTTP/1\.[01] \d{3}.*?(?=HTTP/1\.[01] \d{3}|\Z)", answer, re.S)[-1]
    head, _, body = last.partition(b"\r\n\r\n")
    assert head.split(b" ", 2)[1] in statuses, last[:300]
    assert len(body) < 300


def test_deep_json_is_a_one_line_400(front):
    deep = b'{"inputs": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    status, answer = post(front[0], deep)
    assert status == 400, answer[:300]
    message = json.loads(answer)["message"]
    assert "nested too deeply" in message
    assert "\n" not in message


def _answered(sock: socket.socket) -> bool:
    """Whether the server has already answered (or closed) `sock`, without waiting."""
    sock.setblocking(False)
    try:
        return sock.recv(1, socket.MSG_PEEK) is not None
    except BlockingIOError:
        return False
    except OSError:
        return True
    finally:
        sock.setblocking(True)


def _slots_all_taken(url: str, within: float) -> bool:
    """Poll GET /ping until the front says it is busy (every in-flight slot held), for `within` seconds."""
    probe = f"GET /ping HTTP/1.1\r\nHost: {url.split('//')[1]}\r\nConnection: close\r\n\r\n".encode()
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        with connect(url) as sock:
            sock.sendall(probe)
            answer = read_response(sock, 5)
        if answer.startswith(b"HTTP/1.1 503") and b"busy" in answer:
            return True
        time.sleep(0.05)
    return False


def test_requests_past_the_in_flight_limit_get_503_with_retry_after(front):
    """Four slow uploads hold every slot (from other addresses' point of view: one client, 6 allowed).

    Under load the front may not have begun the holders' requests yet when the extra one arrives,
    and their body timeout frees the slots again after BODY_TIMEOUT: the extra request goes only
    once a probe finds every slot taken, and counts only if no holder had been answered by then.
    """
    url = front[0]
    host = url.split("//")[1]
    body = json.dumps(split(b64(png_bytes(digit_pixels(1)[0])))).encode()
    extra = post_head("/invocations", len(body), "Connection: close\r\n", host=host) + body
    for _ in range(5):
        holders = [connect(url) for _ in range(4)]
        try:
            for sock in holders:
                sock.sendall(post_head("/invocations", 1000, host=host) + b"[")  # in flight, waiting for the rest
            if not _slots_all_taken(url, within=BODY_TIMEOUT / 2):
                continue
            with connect(url) as sock:
                sock.sendall(extra)
                answer = read_response(sock, 10)
            time.sleep(0.2)  # a holder's 408 written just before would have arrived by now
            if any(_answered(sock) for sock in holders):
                continue  # a holder's slot may have been free when the extra request came: try again
            status, payload, head = status_and_json(answer)
            assert status == 503, answer[:300]
            assert b"retry-after: 1" in head.lower()
            assert "busy" in payload["message"]
            break
        finally:
            for sock in holders:
                sock.close()
    else:
        pytest.fail("four uploads never held every in-flight slot at once within the body timeout")
    deadline = time.monotonic() + 15  # the closed holders give their slots back
    while (status := post(url, split(b64(png_bytes(digit_pixels(1)[0]))), timeout=30)[0]) == 503:
        assert time.monotonic() < deadline, "the slots were never given back"
        time.sleep(0.2)
    assert status == 200


def test_one_process_listening_on_its_port_only(front):
    url, serve_process = front
    process = psutil.Process(serve_process.pid)
    assert process.children(recursive=True) == []  # no model server beside it
    listening = {
        (c.laddr.ip, c.laddr.port) for c in process.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN
    }
    assert listening == {("127.0.0.1", urlparse(url).port)}
    assert not [c for c in process.net_connections(kind="unix") if c.laddr]  # no socket file


def test_memory_stays_under_the_ceiling_under_a_load_of_large_images(front):
    """6 clients send the largest 16-bit PNG the limit allows and 6300x6300 bombs for 20 s.

    Ceiling: 2 GB, and +768 MiB over its idle RSS (2 decoding threads x ~2.5 x the 48 MiB
    decoded limit, plus JSON and the allocator's slack).
    """
    url, serve_process = front
    server = psutil.Process(serve_process.pid)
    largest = io.BytesIO()
    Image.new("I;16", (4900, 4900), 30000).save(largest, format="PNG")
    bomb = io.BytesIO()
    Image.new("I;16", (6300, 6300)).save(bomb, format="PNG")
    bodies = [json.dumps(split(base64.b64encode(b.getvalue()).decode())).encode() for b in (largest, bomb)]
    idle = server.memory_info().rss
    peak, stop = [idle], threading.Event()

    def sample():
        while not stop.is_set():
            peak.append(server.memory_info().rss)
            time.sleep(0.05)

    def client(i: int) -> list[int]:
        statuses, deadline = [], time.monotonic() + 20
        while time.monotonic() < deadline:
            statuses.append(post(url, bodies[i % 2], timeout=60)[0])
            if statuses[-1] == 503:
                time.sleep(0.2)  # as Retry-After asks, roughly
        return statuses

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        with ThreadPoolExecutor(max_workers=6) as pool:
            statuses = [s for batch in pool.map(client, range(6)) for s in batch]
    finally:
        stop.set()
        sampler.join()
    grew = max(peak) - idle
    print(f"server RSS idle {idle / 2**20:.0f} MiB, peak {max(peak) / 2**20:.0f} MiB (+{grew / 2**20:.0f})")
    assert set(statuses) <= {200, 400, 503}
    assert 200 in statuses
    assert 400 in statuses
    assert grew < 768 * 2**20, f"the server grew by {grew / 2**20:.0f} MiB"
    assert max(peak) < 2 * 2**30


def _ping_handler():
    """Another process's server that answers 200 to every GET, as a busy port might."""
    from http.server import BaseHTTPRequestHandler

    class Ping(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    return Ping


@pytest.mark.parametrize(("command", "setting"), [("serve", "SERVE_PORT"), ("web", "WEB_PORT")])
def test_a_busy_port_is_one_line_before_the_model_loads(trained_model, command, setting):
    """Another process answers /ping there: before, the model loaded, 'serving on' was printed, then a traceback."""
    from http.server import HTTPServer

    port = free_port()
    other = HTTPServer(("127.0.0.1", port), _ping_handler())
    threading.Thread(target=other.serve_forever, daemon=True).start()
    try:
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "app", command, "--model", MODEL_URI, "--port", str(port)],
            cwd=ROOT,
            env=env_for(trained_model[0]),
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        other.shutdown()
        other.server_close()
    assert done.returncode == 1, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    assert "serving" not in done.stderr
    (line,) = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert f"port {port}" in line
    assert f"{setting}=" in line
    assert time.monotonic() - started < 30  # no model was loaded


def test_the_readiness_wait_ignores_another_process_answering_ping(front):
    from http.server import HTTPServer

    from app.processes import wait_until_up

    other = HTTPServer(("127.0.0.1", free_port()), _ping_handler())
    threading.Thread(target=other.serve_forever, daemon=True).start()
    try:
        with pytest.raises(RuntimeError, match="did not answer"):
            wait_until_up(f"http://127.0.0.1:{other.server_port}/ping", timeout=2, token="ours")
    finally:
        other.shutdown()
        other.server_close()
    # Our front, started by tests/helpers.running with a token, answers with it.
    with urllib.request.urlopen(front[0] + "/ping", timeout=10) as response:
        assert response.headers["X-Server-Instance"]
