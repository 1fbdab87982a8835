"""The kernels' output buffers: grown when a kernel reports one full, reused between batches.

* Growing (``grown_for``): the one grow-and-retry step of the batch, per-call and njit
  paths (exchange/engine.py, exchange/embedding.py): the kernel stops on a NEED_* code,
  Python grows what it names, the kernel retries.
* Reusing (``OutputBuffers``, the process's ``OUTPUT_BUFFERS``): ``run_batch`` writes its
  events and trades into buffers that an earlier batch wrote and no result still uses,
  instead of fresh pages that the OS must zero on first touch (15 ms of the 64 ms kernel
  run over 1 M standard actions).
"""
from __future__ import annotations

import sys
import threading

import numpy as np

from exchange.nb.layout import C_LIVE, C_TRADE_COUNT, NEED_EVENTS, NEED_TRADES
from exchange.state import BookState, copy_bytes


def grown_for(need: int, state: BookState, events: np.ndarray, trades: np.ndarray, events_kept: int):
    """Grow what a kernel's NEED_* code names, so the kernel can retry: the event buffer to
    room for twice the live orders (keeping its first ``events_kept``), the trade buffer
    for one more fill of every live order, any state array by doubling. Returns
    (events, trades)."""
    live = int(state.counters[C_LIVE])
    if need == NEED_EVENTS:
        events = grown(events, events_kept, 2 * live + 4)
    elif need == NEED_TRADES:
        trades = grown(trades, int(state.counters[C_TRADE_COUNT]), live + 1)
    else:
        state.grow(need)
    return events, trades


def grown(buffer: np.ndarray, used: int, extra: int) -> np.ndarray:
    """A copy of ``buffer``'s first ``used`` records with room for ``extra`` more (doubling)."""
    capacity = max(16, buffer.shape[0])
    while capacity - used < extra:
        capacity *= 2
    out = np.empty(capacity, buffer.dtype)
    copy_bytes(out[:used], buffer[:used])
    return out


def records_copy(records: np.ndarray) -> np.ndarray:
    """A copy of C-contiguous records (events, trades), made as one copy of their bytes.
    NumPy copies a packed structured dtype record by record, field by field: 45 us
    against 3 us for 1,500 events (``Exchange.apply``'s step of 1,000 standard actions),
    a quarter of that step's time."""
    return records.view(np.uint8).copy().view(records.dtype)


POOL_PER_DTYPE = 2
"""Buffers kept per record type. Two, because the usual loop ``result = run_batch(...)``
still holds the previous result while the next batch runs: the two alternate."""

POOL_MAX_BYTES = 512 * 2**20
"""No buffer above this size (512 MiB) is kept: one of events for about 3.5 M actions
(3 events of 50 bytes an action). Larger batches get fresh buffers every run, which
then cost their page zeroing again. With the record types of the batch (events and
trades) the pool holds at most 2 x 2 x 512 MiB, and nothing once ``release()`` ran."""


def _references(shelf: list, i: int) -> int:
    return sys.getrefcount(shelf[i])


# What ``_references`` counts for a buffer that only its shelf holds (the shelf's slot
# and the call's own references), measured here the way ``OutputBuffers`` measures.
_IDLE = _references([np.empty(0)], 0)


class OutputBuffers:
    """A few output buffers per record type, handed out again once no result uses them.

    A result's arrays are views of a buffer, and every NumPy view (of a view, too) holds
    a reference to the buffer that owns the memory; so a kept buffer whose reference
    count (``sys.getrefcount``) is its shelf's alone is written by nobody and read by
    nobody, and can be handed out again. A buffer still referenced -- by a result, any
    view or slice of one, a ``memoryview``, a running batch -- is never handed out: a
    batch that finds none idle writes into a fresh buffer, as without the pool. What
    stays outside this count is a raw address taken from a result (``ctypes.data``,
    ``__array_interface__``): after the result is dropped it may point into a later
    batch's records. Thread-safe (one lock, held for a scan of at most
    ``per_dtype`` buffers, not while a kernel runs)."""

    def __init__(self, per_dtype: int = POOL_PER_DTYPE, max_bytes: int = POOL_MAX_BYTES):
        self.per_dtype = per_dtype
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._shelves: dict[np.dtype, list[np.ndarray]] = {}

    def take(self, dtype: np.dtype, capacity: int) -> np.ndarray:
        """A buffer of at least ``capacity`` records: the smallest idle kept one that is
        large enough, else a fresh ``np.empty`` (kept when there is room). Its records
        hold whatever was written before: the caller writes each record it counts."""
        with self._lock:
            shelf = self._shelves.setdefault(dtype, [])
            best = -1
            for i in range(len(shelf)):
                size = shelf[i].shape[0]
                if size >= capacity and (best < 0 or size < shelf[best].shape[0]) and _references(shelf, i) == _IDLE:
                    best = i
            if best >= 0:
                return shelf[best]
            buffer = np.empty(capacity, dtype)
            self._keep(shelf, buffer)
            return buffer

    def give_back(self, taken: np.ndarray, used: np.ndarray) -> None:
        """After a batch: ``used`` is the buffer ``taken`` from ``take`` or, when the
        kernel grew it during the run, the larger copy. A grown buffer is kept in place of
        the one it outgrew (when not above the cap), so the next batch of that size writes
        into it without growing again."""
        if used is taken:
            return
        with self._lock:
            shelf = self._shelves.setdefault(used.dtype, [])
            for i in range(len(shelf)):
                if shelf[i] is taken and used.base is None and used.nbytes <= self.max_bytes:
                    shelf[i] = used
                    return
            self._keep(shelf, used)

    def _keep(self, shelf: list, buffer: np.ndarray) -> None:
        if buffer.base is not None or buffer.nbytes > self.max_bytes or any(kept is buffer for kept in shelf):
            return
        if len(shelf) < self.per_dtype:
            shelf.append(buffer)
            return
        idle = [i for i in range(len(shelf)) if _references(shelf, i) == _IDLE]
        if idle:
            shelf[min(idle, key=lambda i: shelf[i].shape[0])] = buffer

    def release(self) -> int:
        """Drop every kept buffer (results that still use one keep it alive until they
        go). Returns the bytes the pool held."""
        with self._lock:
            held = sum(buffer.nbytes for shelf in self._shelves.values() for buffer in shelf)
            self._shelves.clear()
        return held


OUTPUT_BUFFERS = OutputBuffers()
"""The process's pool, used by ``exchange.engine.run_batch``."""
