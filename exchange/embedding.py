"""Lending an ``Exchange``'s state to compiled code, and its lean per-call path.

* ``embedded`` / ``embed_handle`` / ``embed_current`` / ``embed_sync``: the handle that
  ``exchange.embed``'s njit functions take, over this exchange's own arrays.
* ``reserve`` / ``grow``: room up front, or what a NEED_* code names.
* ``submit_fast`` / ``cancel_fast`` / ``trade_count``: ints in, ints out, about a third of
  the cost of ``submit`` (docs/API.md "Embedding the engine").

A mixin of ``exchange.engine.Exchange``, which holds the attributes declared below.
"""
from __future__ import annotations

import numpy as np

from exchange.arguments import integer
from exchange.buffers import grown, grown_for
from exchange.embed import Embedding, explain
from exchange.entries import ENTRIES
from exchange.nb.address_nb import address_table
from exchange.nb.embed_nb import (CK_FIRST_TRADE, CK_HANDED, CK_PARTIES, CK_SEQ, CK_TS, CLOCK_SIZE, H_BOOK, H_CLOCK,
                                  H_OUT, H_TABLE, NO_PRICE)
from exchange.nb.layout import C_MAX_ID, C_TRADES, C_TRADE_COUNT, NEED_EVENTS, NEED_IDS, NEED_SLOTS, NEED_TRADES
from exchange.schema import GRADE_ABSENT
from exchange.state import BookState

class Embeddable:
    """``Exchange``'s njit embedding, reserving and lean calls."""

    _state: BookState
    _parties: list[str]
    _events: np.ndarray
    _trades: np.ndarray
    _action: np.ndarray
    _seq: int
    _ts: int

    def embedded(self) -> Embedding:
        """Lend this exchange's state to your own ``@njit`` code: ``with ex.embedded() as emb:``
        then pass ``emb.handle`` to functions that call ``exchange.embed``'s actions."""
        return Embedding(self)

    def embed_handle(self) -> tuple:
        """``(book, (events, trades), row, clock, table)``: the tuple ``exchange.embed``'s njit
        functions take, sharing this exchange's arrays (``table``: their addresses, which the
        tuple keeps alive). Valid until this exchange grows an array or takes a Python call;
        ``embed_sync`` hands its counters back. Cost: a few us (the table)."""
        clock = np.zeros(CLOCK_SIZE, np.int64)
        clock[CK_SEQ] = clock[CK_HANDED] = self._seq
        clock[CK_TS] = self._ts
        clock[CK_PARTIES] = len(self._parties)
        clock[CK_FIRST_TRADE] = self._state.counters[C_TRADE_COUNT]
        book = self._state.arrays
        return (book, (self._events, self._trades), self._action, clock,
                address_table(book, self._events, self._trades, self._action, clock))

    def embed_current(self, handle: tuple) -> bool:
        """Does ``handle`` still hold this exchange's arrays and counters?"""
        clock = handle[H_CLOCK]
        return (handle[H_BOOK] is self._state.arrays and handle[H_OUT][0] is self._events
                and handle[H_OUT][1] is self._trades and int(clock[CK_PARTIES]) == len(self._parties)
                and int(clock[CK_SEQ]) == int(clock[CK_HANDED]) == self._seq)

    def embed_sync(self, handle: tuple) -> None:
        """Take up the seq and ts that njit actions through ``handle`` advanced. ValueError
        (nothing changes) if this exchange took Python calls meanwhile: both would have
        used the same seqs."""
        clock = handle[H_CLOCK]
        seq, handed = int(clock[CK_SEQ]), int(clock[CK_HANDED])
        if seq == handed:
            return
        if self._seq != handed or handle[H_BOOK] is not self._state.arrays:
            raise ValueError("embed: this exchange took Python calls while njit actions through its handle "
                             "were not synced; call Embedding.sync() (or resume) after each njit call")
        self._seq, self._ts = seq, int(clock[CK_TS])
        clock[CK_HANDED] = seq

    def grow(self, need: int) -> None:
        """Grow the array a kernel's NEED_* code names (exchange.nb.layout), as the per-call
        path does: event buffer to twice the live orders, the rest by doubling."""
        self._events, self._trades = grown_for(need, self._state, self._events, self._trades, 0)

    def reserve(self, *, orders: int = 0, ids: int = 0, dense_ids: int = 0, events: int = 0,
                trades: int = 0) -> None:
        """Room up front, so the hot path never stops to grow: ``orders`` resting at once,
        ``ids`` more order ids in the hash, order ids below ``dense_ids`` in a direct table
        (4 bytes an id, and the fastest lookup: for ids counted up from 1), ``events``
        from one action, ``trades`` more trades. Cost: a copy of each array it widens."""
        integer(orders, "orders"), integer(ids, "ids"), integer(dense_ids, "dense_ids")
        integer(events, "events"), integer(trades, "trades")
        st = self._state
        st.reserve(orders=orders, ids=ids, dense_ids=dense_ids)
        if events > len(self._events):
            self._events = grown(self._events, 0, events)
        used = int(st.counters[C_TRADE_COUNT])
        if trades > len(self._trades) - used:
            self._trades = grown(self._trades, used, trades)

    # ---------------------------------------------------- lean per call (ints in, ints out)
    _lean = None  # what submit_fast / cancel_fast pass, and what it was built from (_lean_rebuilt)

    def _lean_rebuilt(self) -> tuple:
        """(book arrays, events, trades, address table, handle, submit entry, cancel entry)
        for the lean calls: the table (exchange/nb/address_nb.py) is rebuilt whenever one of
        its arrays was replaced, since a stale one would point at freed memory; the handle
        keeps the arrays alive."""
        handle = self.embed_handle()
        ENTRIES.load_lean()
        self._lean = (handle[H_BOOK], handle[H_OUT][0], handle[H_OUT][1], handle[H_TABLE], handle, ENTRIES.lean_submit,
                      ENTRIES.lean_cancel)
        return self._lean

    def submit_fast(self, party: int, instrument: int, side: int, qty: int, price: int = NO_PRICE,
                    order_type: int = 0, tif: int = 0, order_id: int | None = None,
                    min_grade: int = GRADE_ABSENT, stp: int = 0, ts: int | None = None) -> int:
        """``submit`` with codes, returning the GPU-hours the order traded instead of its
        events (same seq, same state, same trades). Codes as in action arrays: ``party_index``,
        ``instrument_index`` (-1: unknown), ``Side``/``OrderType``/``Tif``/``Stp`` values, a grade
        index or -1, ``price`` in ``config.price_unit`` (``exchange.embed.NO_PRICE``: none).
        ValueError for a code out of range or a non-int. Cost: about a sixth of ``submit``
        (0.47 us against 3.0 us a resting order; docs/API.md "Embedding the engine")."""
        if order_id is None:
            order_id = int(self._state.counters[C_MAX_ID]) + 1
        if ts is None:
            ts = self._ts
        lean = self._lean
        if (lean is None or lean[0] is not self._state.arrays or lean[1] is not self._events
                or lean[2] is not self._trades):
            lean = self._lean_rebuilt()  # first: it also loads the kernels
        try:  # the entry itself refuses an argument that is not an int (exchange/nb/exact_int.py)
            traded = lean[5](lean[3], self._seq, self._ts, len(self._parties), ts, order_id, party,
                                         instrument, side, order_type, tif, price, qty, min_grade, stp)
        except (ValueError, OverflowError):
            raise ValueError("submit_fast: every argument is an int code within int64 (see exchange.embed)") from None
        if traded < 0:  # an array was full (grown now: run it again) or a code out of range
            self._lean_refused(traded)
            return self.submit_fast(party, instrument, side, qty, price, order_type, tif, order_id,
                                    min_grade, stp, ts)
        self._seq += 1
        self._ts = ts
        return traded

    def cancel_fast(self, order_id: int, party: int, ts: int | None = None) -> int:
        """``cancel`` with a party code; returns the open quantity it cancelled (0 when the
        cancel was rejected). Same seq and state as ``cancel``."""
        if ts is None:
            ts = self._ts
        lean = self._lean
        if (lean is None or lean[0] is not self._state.arrays or lean[1] is not self._events
                or lean[2] is not self._trades):
            lean = self._lean_rebuilt()
        try:
            cancelled = lean[6](lean[3], self._seq, self._ts, len(self._parties), ts, order_id, party)
        except (ValueError, OverflowError):
            raise ValueError("cancel_fast: every argument is an int code within int64 (see exchange.embed)") from None
        if cancelled < 0:
            self._lean_refused(cancelled)
            return self.cancel_fast(order_id, party, ts)
        self._seq += 1
        self._ts = ts
        return cancelled

    def _lean_refused(self, code: int) -> None:
        """Grow what a -NEED_* code names (the caller retries), or raise for an argument code."""
        if -code in (NEED_SLOTS, NEED_IDS, NEED_EVENTS, NEED_TRADES):
            self.grow(-code)
            return
        raise ValueError(explain(code))

    def trade_count(self) -> int:
        """Trades so far (the last trade id). O(1), unlike ``len(trades())``."""
        return int(self._state.counters[C_TRADES])