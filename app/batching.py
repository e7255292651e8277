"""Adaptive batching: requests that arrive together are scored in one model call.

The model scores a batch of 16 images for far less per image than 16 batches of 1. Each
request decodes its own images (a bad one fails only that request), then queues its pixels;
one loop takes what is queued, up to `max_batch` images, and waits up to `max_wait_ms` for
more only while other requests are still decoding, so a lone request never waits. One model
call at a time, on one thread: Keras models are not meant to be called from several at once.
As TF Serving's batching, Triton's dynamic batcher and Ray Serve's `@serve.batch` do.
"""

import asyncio
import collections
import contextlib
from concurrent.futures import ThreadPoolExecutor

import numpy as np


class Batcher:
    def __init__(self, score, max_batch: int = 32, max_wait_ms: float = 5.0):
        self.score, self.max_batch, self.max_wait = score, max_batch, max_wait_ms / 1000
        self.pending: collections.deque = collections.deque()  # (pixels, future) in arrival order
        self.arrived = asyncio.Event()
        self.model_thread = ThreadPoolExecutor(1, thread_name_prefix="model")
        self.decoding = 0  # requests decoding now: worth waiting for

    @contextlib.contextmanager
    def expecting(self):
        """Around a request's decoding: the loop may wait for its images."""
        self.decoding += 1
        try:
            yield
        finally:
            self.decoding -= 1

    async def __call__(self, pixels: np.ndarray) -> np.ndarray:
        """This request's rows of the model's output."""
        future = asyncio.get_running_loop().create_future()
        self.pending.append((pixels, future))
        self.arrived.set()
        return await future

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self.arrived.wait()
            deadline = loop.time() + self.max_wait
            while self.decoding and self._queued() < self.max_batch and deadline > loop.time():
                self.arrived.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.arrived.wait(), deadline - loop.time())
            batch, count = [], 0  # whole requests, up to max_batch images (a larger request alone)
            while self.pending and (not batch or count + len(self.pending[0][0]) <= self.max_batch):
                batch.append(self.pending.popleft())
                count += len(batch[-1][0])
            if not self.pending:
                self.arrived.clear()
            await self._score(loop, batch)

    def _queued(self) -> int:
        return sum(len(pixels) for pixels, _ in self.pending)

    async def _score(self, loop, batch) -> None:
        try:
            outputs = await loop.run_in_executor(self.model_thread, self.score, np.concatenate([p for p, _ in batch]))
        except Exception as err:
            results = [err] * len(batch)
        else:
            results = np.split(outputs, np.cumsum([len(p) for p, _ in batch])[:-1])
        for (_, future), result in zip(batch, results, strict=True):
            if future.done():  # its client gave up (timeout)
                continue
            if isinstance(result, Exception):
                future.set_exception(result)
            else:
                future.set_result(result)
