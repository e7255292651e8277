"""The served model over real HTTP: `python -m app serve` (mlflow models serve + the front)."""

import base64
import io
import json
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from tests.app.conftest import MODEL_URI
from tests.helpers import hardened_endpoint

SECRET = "SECRETPAYLOAD"
pytestmark = pytest.mark.slow


def png_bytes(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def digit_pixels(count: int) -> np.ndarray:
    """Real handwritten digits (sklearn), as the uint8 8x8 images the model was trained on."""
    from sklearn.datasets import load_digits

    images = load_digits().images[:count]
    return np.clip(images * 255.0 / 16.0 + 0.5, 0, 255).astype(np.uint8)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def split(*values, column: str = "image") -> dict:
    return {"dataframe_split": {"columns": [column], "data": [[v] for v in values]}}


def bomb_png() -> bytes:
    """A 10000x10000 PNG: ~100 kB on the wire, 100 megapixels once decoded."""
    buffer = io.BytesIO()
    Image.new("L", (10_000, 10_000)).save(buffer, format="PNG")
    return buffer.getvalue()


def post(url: str, body, content_type: str | None = "application/json", timeout: float = 60):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(url + "/invocations", data=data, method="POST")
    if content_type:
        request.add_header("Content-Type", content_type)
    else:
        request.remove_header("Content-type")  # urllib would add form-urlencoded
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


@pytest.fixture(scope="module")
def endpoint(trained_model, tmp_path_factory):
    uri, _ = trained_model
    with hardened_endpoint(MODEL_URI, uri, tmp_path_factory.mktemp("serve")) as started:
        yield started


@pytest.fixture(scope="module")
def good_png():
    return png_bytes(digit_pixels(1)[0])


def bad_requests(good: bytes) -> dict[str, tuple]:
    """name -> (body, content type). Each is a client mistake that must get a short 4xx."""
    json_type = "application/json"
    return {
        "invalid base64": (split("!!!" + SECRET + "$$"), json_type),
        "text file": (split(b64(f"hello {SECRET}".encode())), json_type),
        "non-image bytes": (split(b64(bytes(range(256)) * 4)), json_type),
        "truncated PNG": (split(b64(good[:40])), json_type),
        "empty file": (split(""), json_type),
        "wrong column": (split(b64(good), column="img" + SECRET), json_type),
        "empty list": (split(), json_type),
        "empty records": ({"dataframe_records": []}, json_type),
        "number instead of base64": (split(12345), json_type),
        "null image": (split(None), json_type),
        "huge dimensions": (split(b64(bomb_png())), json_type),
        "too many images": (split(*[b64(good)] * 65), json_type),
        "oversized image": (split(b64(b"\x89PNG" + b"0" * (11 * 1024 * 1024))), json_type),
        "oversized body": (b'{"inputs": ["' + b"A" * (17 * 1024 * 1024) + b'"]}', json_type),
        "invalid JSON": (f"{{not json {SECRET}".encode(), json_type),
        "non-UTF-8 body": (b"\xff\xfe" + SECRET.encode(), json_type),
        "JSON list": ([SECRET], json_type),
        "JSON string": (SECRET, json_type),
        "wrong JSON shape": ({"data": SECRET}, json_type),
        "two input keys": ({"inputs": [1], "instances": [SECRET]}, json_type),
        "wrong tensor shape": ({"inputs": [[[1, 2, 3]]]}, json_type),
        "tensor out of range": ({"inputs": np.full((1, 8, 8, 1), 300).tolist()}, json_type),
        "bad top_k param": ({**split(b64(good)), "params": {"top_k": SECRET}}, json_type),
        "text/plain": (SECRET.encode(), "text/plain"),
        "no content type": (SECRET.encode(), None),
        "CSV": (f"image\n{SECRET}\n".encode(), "text/csv"),
        "form upload": (f"image={SECRET}".encode(), "application/x-www-form-urlencoded"),
    }


BAD_REQUEST_NAMES = list(bad_requests(b"").keys())


def test_a_real_image_gets_label_probability_and_top_k(endpoint, good_png):
    status, body = post(endpoint[0], split(b64(good_png)))
    assert status == 200, body[:500]
    (row,) = json.loads(body)["predictions"]
    assert row["label"] in [str(d) for d in range(10)]
    assert row["top_k"][0] == {"label": row["label"], "probability": row["probability"]}
    assert len(row["top_k"]) == 3
    assert abs(sum(row["probabilities"]) - 1.0) < 1e-4


def test_http_and_in_process_predictions_are_identical(endpoint, pyfunc_model):
    pixels = digit_pixels(6)
    images = [b64(png_bytes(p)) for p in pixels]
    status, body = post(endpoint[0], {**split(*images), "params": {"top_k": 5}})
    assert status == 200, body[:500]
    served = json.loads(body)["predictions"]
    local = pyfunc_model.predict(pd.DataFrame({"image": images}), params={"top_k": 5})
    assert [r["label"] for r in served] == local["label"].tolist()
    np.testing.assert_allclose([r["probabilities"] for r in served], np.stack(local["probabilities"]), atol=1e-6)
    assert [[t["label"] for t in r["top_k"]] for r in served] == [[t["label"] for t in k] for k in local["top_k"]]
    # The uint8 tensor form of the same pixels gives the same answer (PNG is lossless).
    status, body = post(endpoint[0], {"inputs": pixels[..., None].tolist()})
    assert status == 200, body[:500]
    assert [r["label"] for r in json.loads(body)["predictions"]] == local["label"].tolist()


@pytest.mark.parametrize("name", BAD_REQUEST_NAMES)
def test_a_bad_request_gets_a_short_4xx_and_the_server_keeps_answering(endpoint, good_png, name):
    body, content_type = bad_requests(good_png)[name]
    status, answer = post(endpoint[0], body, content_type)
    assert 400 <= status < 500, (status, answer[:300])
    message = json.loads(answer)["message"]
    assert 0 < len(message) <= 300
    assert SECRET not in answer.decode(errors="replace")
    assert "Traceback" not in answer.decode(errors="replace")
    assert "stack_trace" not in answer.decode(errors="replace")
    with urllib.request.urlopen(endpoint[0] + "/ping", timeout=10) as ping:
        assert ping.status == 200


def test_bad_requests_cover_at_least_20_kinds():
    assert len(BAD_REQUEST_NAMES) >= 20


def test_requests_arriving_together_each_get_their_own_answer(endpoint, good_png):
    """16 clients at once, one of them with a broken image: 15 get their own digit, it gets its 400."""
    pixels = digit_pixels(15)
    bodies = [split(b64(png_bytes(p))) for p in pixels] + [split(b64(good_png[:40]))]
    barrier = threading.Barrier(len(bodies))

    def client(body):
        barrier.wait()
        return post(endpoint[0], body, timeout=60)

    with ThreadPoolExecutor(max_workers=len(bodies)) as pool:
        answers = list(pool.map(client, bodies))
    *good, bad = answers
    assert [status for status, _ in good] == [200] * 15, [a[:200] for _, a in good]
    labels = [json.loads(body)["predictions"][0]["label"] for _, body in good]
    one_by_one = [json.loads(post(endpoint[0], body)[1])["predictions"][0]["label"] for body in bodies[:15]]
    assert labels == one_by_one  # each request got its own rows back
    assert bad[0] == 400
    assert "image 0" in json.loads(bad[1])["message"]


def test_a_concurrent_burst_has_no_errors(endpoint):
    images = [b64(png_bytes(p)) for p in digit_pixels(8)]
    deadline = time.monotonic() + 3.0

    def client(i: int) -> list[int]:
        statuses = []
        while time.monotonic() < deadline:
            statuses.append(post(endpoint[0], split(images[i]), timeout=30)[0])
        return statuses

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = [s for batch in pool.map(client, range(8)) for s in batch]
    assert len(statuses) >= 16
    assert set(statuses) == {200}
