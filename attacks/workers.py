"""Crafting in cache-sized chunks, one worker thread per core (the attack stage on a CPU).

Why: on a CPU, an attack's gradient passes on a small net are fastest per image on chunks whose
activations stay in a core's cache, and torch's intra-op threads hardly speed up such small
operations. Measured on 2 cores with digits_cnn (docs/benchmarks.md): one gradient pass costs
61 µs per image at 256 images on one thread, 42 µs at 64; two intra-op threads bring 64 images
only to 36 µs. So the chunks go to one worker thread per torch thread, each running torch on one
thread: I-FGSM over whole batches became 1.5× faster than torchattacks on the same 2 cores.

Why the numbers do not change: each image's loss is weighted by 1/(images in its batch), which is
what a batch-mean cross-entropy gives it, and every other operation works image by image, so a
chunk's gradients are bit for bit those of its whole batch (tests compare against torchattacks).
The chunks are put back in order, whichever worker finished first.

Example::

    with Workers(chunk=64) as workers:
        parts = workers.map(lambda rows: images[rows].sum(), len(images))  # one result per chunk, in order
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Self, TypeVar

import torch

T = TypeVar("T")


class Workers:
    """Runs a function over consecutive chunks of ``chunk`` rows, on ``threads`` worker threads
    (default: torch's thread count), each with one torch thread; ``chunk = 0``: one call over every
    row on the calling thread (a GPU's way: large batches). Use it as a context manager: on exit the
    pool stops and the calling thread's torch thread count is restored."""

    def __init__(self, chunk: int, threads: int | None = None):
        self.chunk = chunk
        self.threads = torch.get_num_threads() if threads is None else threads
        self.pool: ThreadPoolExecutor | None = None
        self.saved_threads = 0  # the caller's torch thread count, read on entry

    @classmethod
    def for_device(cls, device: torch.device, chunk: int) -> Self:
        """Chunks and worker threads on a CPU; one call per batch on a GPU."""
        return cls(chunk if torch.device(device).type == "cpu" else 0)

    def __enter__(self) -> Self:
        if self.chunk and self.threads > 1:
            self.saved_threads = torch.get_num_threads()
            self.pool = ThreadPoolExecutor(self.threads, thread_name_prefix="craft",
                                           initializer=torch.set_num_threads, initargs=(1,))
        return self

    def __exit__(self, *exc) -> None:
        if self.pool is not None:
            self.pool.shutdown()
            self.pool = None
            torch.set_num_threads(self.saved_threads)  # a worker's set_num_threads(1) also set torch's global default

    def chunks(self, rows: int) -> list[slice]:
        """The row ranges, in order: at most ``chunk`` rows each, and as many chunks as a multiple of the
        workers, of near-equal size, so that none waits at the end (168 rows, 2 workers: 4 × 42, not 64, 64, 40)."""
        if not self.chunk:
            return [slice(0, rows)]
        count = -(-rows // self.chunk)
        if self.pool is not None:
            count = -(-count // self.threads) * self.threads
        size = max(1, -(-rows // max(count, 1)))
        return [slice(start, min(start + size, rows)) for start in range(0, rows, size)]

    def map(self, fn: Callable[[slice], T], rows: int) -> list[T]:
        """``fn`` of each chunk of ``rows`` rows, in row order."""
        parts = self.chunks(rows)
        if self.pool is None or len(parts) == 1:
            return [fn(part) for part in parts]
        return list(self.pool.map(fn, parts))


INLINE = Workers(chunk=0, threads=1)  # no chunks, no threads: what a caller without workers gets
