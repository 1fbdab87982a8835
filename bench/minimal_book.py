"""The speed-of-light yardstick: a minimal price-time book written as one Numba loop.

What it does: plain price-time priority with one grade (no goodput factor), limit
(gtc/ioc), market and cancel, per instrument. It is what our engine would cost if it
did nothing beyond matching: no events, no grades, no per-provider lists, no level
totals, no validation. The throughput runner times it beside our kernel on the same
action stream, in the same process, and reports our time as a ratio to it.

How: levels are indexed by tick (bids mirrored, ``top - price``, so "best" is the
lowest set index on both sides and one code path serves both); each level is a FIFO
of order ids linked through ``next_id``; a two-layer 64-way occupancy bitset finds the
next non-empty level; order ids index the order arrays directly (dense ids, as in
the benchmark workloads). A fill appends four int64 (buy id, sell id, price, qty).

Cost: O(1) per insert, cancel and fill; finding the next level after one empties is
O(levels / 4096) words. Memory: 8 int64 per order id, 2 int64 per level, 1/64 bit
per level for the bitsets.

It is not a second engine: it ignores grades, parties, self-trade prevention and
every reject rule. It must agree with ours only where those do not apply (the
``plain`` workload: one grade of factor 1.0, sellers and buyers disjoint, valid
cancels), which tests/test_minimal_book.py checks.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from exchange.nb.kernel import nonnegative_indexes
from exchange.schema import ACT_CANCEL, ACT_NEW, IOC, MARKET, SELL

nonnegative_indexes(__name__)  # compiled as our kernels are, so the ratio compares like with like

GTC_LIMIT, IOC_LIMIT, MARKET_ORDER, CANCEL, SKIP = 0, 1, 2, 3, 4
_DEBRUIJN = np.uint64(0x03F79D71B4CB0A89)
_DEBRUIJN_INDEX = np.array([
    0, 1, 48, 2, 57, 49, 28, 3, 61, 58, 50, 42, 38, 29, 17, 4,
    62, 55, 59, 36, 53, 51, 43, 22, 45, 39, 33, 30, 24, 18, 12, 5,
    63, 47, 56, 27, 60, 41, 37, 16, 54, 35, 52, 21, 44, 32, 23, 11,
    46, 26, 40, 15, 34, 20, 31, 10, 25, 14, 19, 9, 13, 8, 7, 6], np.int64)


@njit(cache=True, inline="always")
def _lowest_bit(word):
    """Index of the lowest set bit of a non-zero uint64 (de Bruijn multiplication)."""
    isolated = word & (~word + np.uint64(1))
    return _DEBRUIJN_INDEX[(isolated * _DEBRUIJN) >> np.uint64(58)]


@njit(cache=True, inline="always")
def set_level(words, summary, book, level):
    word = level >> 6
    words[book, word] |= np.uint64(1) << np.uint64(level & 63)
    summary[book, word >> 6] |= np.uint64(1) << np.uint64(word & 63)


@njit(cache=True, inline="always")
def clear_level(words, summary, book, level):
    word = level >> 6
    words[book, word] &= ~(np.uint64(1) << np.uint64(level & 63))
    if words[book, word] == 0:
        summary[book, word >> 6] &= ~(np.uint64(1) << np.uint64(word & 63))


@njit(cache=True, inline="always")
def first_level(words, summary, book, start):
    """The lowest occupied level >= start in ``book``, or -1."""
    word = start >> 6
    if word >= words.shape[1]:
        return -1
    here = words[book, word] & (~np.uint64(0) << np.uint64(start & 63))
    if here != 0:
        return (word << 6) + _lowest_bit(here)
    word += 1
    block = word >> 6
    if block >= summary.shape[1]:
        return -1
    if (word & 63) != 0:
        above = summary[book, block] & (~np.uint64(0) << np.uint64(word & 63))
    else:
        above = summary[book, block]
    while above == 0:
        block += 1
        if block >= summary.shape[1]:
            return -1
        above = summary[book, block]
    word = (block << 6) + _lowest_bit(above)
    return (word << 6) + _lowest_bit(words[book, word])


@njit(cache=True, nogil=True)
def minimal_run(first, last, kinds, instruments, order_ids, is_buy, qtys, prices, top,
                words, summary, head, tail, best, next_id, prev_id, open_qty, level_of, book_of, fills):
    """Match actions ``first..last-1`` into the state arrays (zeroed by the caller,
    ``best`` -1, for the first call); returns the number of fills written to
    ``fills`` (buy id, sell id, price, qty), from row 0.

    ``prices`` are ticks in 0..top; ``fills`` has room for one row per fill
    (at most one per action plus one per order that ever rested)."""
    n_fills = 0
    for i in range(first, last):
        kind = kinds[i]
        oid = order_ids[i]
        if kind == CANCEL:
            if oid >= open_qty.shape[0] or open_qty[oid] == 0:
                continue
            b, level = book_of[oid], level_of[oid]
            before, after = prev_id[oid], next_id[oid]
            if before != 0:
                next_id[before] = after
            else:
                head[b, level] = after
            if after != 0:
                prev_id[after] = before
            else:
                tail[b, level] = before
            open_qty[oid] = 0
            if head[b, level] == 0:
                clear_level(words, summary, b, level)
                if best[b] == level:
                    best[b] = first_level(words, summary, b, level)
            continue
        if kind == SKIP:
            continue
        buy = is_buy[i]
        own = 2 * instruments[i] + (0 if buy else 1)
        other = own ^ 1
        price = prices[i]
        # The limit in the other book's index space: asks by price, bids by top - price.
        if kind == MARKET_ORDER:
            limit = top
        else:
            limit = price if buy else top - price
        remaining = qtys[i]
        while remaining > 0:
            level = best[other]
            if level < 0 or level > limit:
                break
            maker = head[other, level]
            traded = min(remaining, open_qty[maker])
            trade_price = level if buy else top - level
            fills[n_fills, 0] = oid if buy else maker
            fills[n_fills, 1] = maker if buy else oid
            fills[n_fills, 2] = trade_price
            fills[n_fills, 3] = traded
            n_fills += 1
            remaining -= traded
            open_qty[maker] -= traded
            if open_qty[maker] == 0:
                after = next_id[maker]
                head[other, level] = after
                if after != 0:
                    prev_id[after] = 0
                else:
                    tail[other, level] = 0
                    clear_level(words, summary, other, level)
                    best[other] = first_level(words, summary, other, level)
        if remaining > 0 and kind == GTC_LIMIT:
            level = top - price if buy else price
            last = tail[own, level]
            prev_id[oid] = last
            next_id[oid] = 0
            if last != 0:
                next_id[last] = oid
            else:
                head[own, level] = oid
                set_level(words, summary, own, level)
                if best[own] < 0 or level < best[own]:
                    best[own] = level
            tail[own, level] = oid
            open_qty[oid] = remaining
            level_of[oid] = level
            book_of[oid] = own
    return n_fills


class MinimalBook:
    """Prepared columns of one action stream for ``minimal_run`` (preparation untimed).

    Accepts our ``ACTION_DTYPE`` array; ``new`` and ``cancel`` rows are kept, any
    other action is skipped (the yardstick has no grades, replaces or closes). The
    first ``prefill`` actions are applied by ``reset`` (untimed), the rest by ``run``.
    """

    def __init__(self, actions: np.ndarray, n_instruments: int, prefill: int = 0):
        self.prefill = prefill
        action = actions["action"]
        is_new = action == ACT_NEW
        kinds = np.full(len(actions), SKIP, np.int64)
        kinds[action == ACT_CANCEL] = CANCEL
        kinds[is_new] = GTC_LIMIT
        kinds[is_new & (actions["tif"] == IOC)] = IOC_LIMIT
        kinds[is_new & (actions["order_type"] == MARKET)] = MARKET_ORDER
        self.kinds = kinds
        self.instruments = np.maximum(actions["instrument"], 0).astype(np.int64)
        self.order_ids = actions["order_id"].astype(np.int64)
        self.is_buy = actions["side"] != SELL
        self.qtys = actions["qty"].astype(np.int64)
        self.prices = np.where(kinds == MARKET_ORDER, 0, actions["price"]).astype(np.int64)
        self.top = int(self.prices.max(initial=0)) + 1
        self.n_instruments = max(1, n_instruments)
        self.max_id = int(self.order_ids.max(initial=0))
        self.reset()

    def reset(self) -> None:
        """A fresh, empty book: every state array allocated and written, so timing
        ``run`` sees no first-touch page faults (as the runner prepares our kernel)."""
        n_books = 2 * self.n_instruments
        n_words = (self.top + 1 + 63) // 64
        ids = self.max_id + 1
        self.words = np.zeros((n_books, n_words), np.uint64)
        self.summary = np.zeros((n_books, (n_words + 63) // 64), np.uint64)
        self.head = np.zeros((n_books, self.top + 1), np.int64)
        self.tail = np.zeros((n_books, self.top + 1), np.int64)
        self.best = np.full(n_books, -1, np.int64)
        self.next_id, self.prev_id, self.open_qty, self.level_of, self.book_of = (
            np.zeros(ids, np.int64) for _ in range(5))
        self.fills = np.empty((len(self.kinds) + int((self.kinds <= MARKET_ORDER).sum()) + 1, 4), np.int64)
        for array in (self.words, self.summary, self.head, self.tail, self.next_id, self.prev_id,
                      self.open_qty, self.level_of, self.book_of, self.fills):
            array.view(np.uint8)[...] = 0
        if self.prefill:
            self._match(0, self.prefill)

    def run(self) -> int:
        """Match the stream after the prefill; returns the number of fills (in
        ``self.fills``). Call ``reset`` before running again."""
        return self._match(self.prefill, len(self.kinds))

    def _match(self, first: int, last: int) -> int:
        return minimal_run(first, last, self.kinds, self.instruments, self.order_ids, self.is_buy, self.qtys,
                           self.prices, self.top, self.words, self.summary, self.head, self.tail,
                           self.best, self.next_id, self.prev_id, self.open_qty, self.level_of,
                           self.book_of, self.fills)

    def resting(self) -> list[tuple[int, str, int, int, int]]:
        """After ``run``: ``(instrument, side, order_id, price, qty)`` of every resting
        order, instruments in order, bids then asks, each in priority order."""
        out = []
        for book in range(2 * self.n_instruments):
            side = "buy" if book % 2 == 0 else "sell"
            for level in np.flatnonzero(self.head[book]):
                oid = int(self.head[book, level])
                while oid != 0:
                    price = self.top - level if side == "buy" else level
                    out.append((book // 2, side, oid, int(price), int(self.open_qty[oid])))
                    oid = int(self.next_id[oid])
        return out
