"""The adaptive batcher in-process: who is scored with whom, and each request's own rows."""

import asyncio

import numpy as np
import pytest

from app.batching import Batcher


def make_batcher(max_batch=8, max_wait_ms=50.0):
    calls = []

    def score(pixels):
        calls.append(len(pixels))
        if (pixels < 0).any():
            raise RuntimeError("model failed")
        return pixels.reshape(len(pixels), -1).sum(axis=1, keepdims=True) * 2  # a row per image, traceable

    return Batcher(score, max_batch, max_wait_ms), calls


async def requests(batcher, sizes, first_value=0):
    """Each request's pixels are distinct values, so its rows tell whose they are."""
    runner = asyncio.create_task(batcher.run())
    arrays, value = [], first_value
    for size in sizes:
        arrays.append(np.arange(value, value + size, dtype=np.float32).reshape(size, 1, 1, 1))
        value += size
    try:
        return arrays, await asyncio.gather(*(batcher(a) for a in arrays), return_exceptions=True)
    finally:
        runner.cancel()


def test_requests_queued_together_go_in_one_call_and_each_gets_its_own_rows():
    batcher, calls = make_batcher()
    arrays, answers = asyncio.run(requests(batcher, [1, 2, 3]))
    assert calls == [6]
    for array, answer in zip(arrays, answers, strict=True):
        np.testing.assert_array_equal(answer[:, 0], array.ravel() * 2)


def test_a_batch_holds_at_most_max_batch_images_unless_one_request_is_larger():
    batcher, calls = make_batcher(max_batch=4)
    arrays, answers = asyncio.run(requests(batcher, [2, 2, 2, 9, 1]))
    assert calls == [4, 2, 9, 1]  # whole requests in arrival order; the 9-image one alone
    for array, answer in zip(arrays, answers, strict=True):
        np.testing.assert_array_equal(answer[:, 0], array.ravel() * 2)


def test_a_lone_request_does_not_wait_for_others():
    batcher, calls = make_batcher(max_wait_ms=2000)

    async def timed():
        loop = asyncio.get_running_loop()
        started = loop.time()
        await requests(batcher, [1])
        return loop.time() - started

    assert asyncio.run(timed()) < 0.5  # nothing else was decoding: no 2 s wait
    assert calls == [1]


def test_while_others_decode_the_batch_waits_for_them_up_to_max_wait():
    batcher, calls = make_batcher(max_wait_ms=300)

    async def late_arrival():
        runner = asyncio.create_task(batcher.run())
        with batcher.expecting():  # a second request is still decoding
            first = asyncio.create_task(batcher(np.zeros((1, 1, 1, 1), np.float32)))
            await asyncio.sleep(0.05)
            second = asyncio.create_task(batcher(np.ones((1, 1, 1, 1), np.float32)))
        await asyncio.gather(first, second)
        runner.cancel()

    asyncio.run(late_arrival())
    assert calls == [2]


def test_a_failed_model_call_fails_its_requests_and_the_batcher_goes_on():
    batcher, calls = make_batcher()

    async def scenario():
        runner = asyncio.create_task(batcher.run())
        with pytest.raises(RuntimeError, match="model failed"):
            await batcher(np.full((1, 1, 1, 1), -1, np.float32))
        answer = await batcher(np.full((1, 1, 1, 1), 3, np.float32))
        runner.cancel()
        return answer

    np.testing.assert_array_equal(asyncio.run(scenario()), [[6]])
    assert calls == [1, 1]
