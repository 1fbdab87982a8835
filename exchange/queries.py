"""What an ``Exchange`` holds, read back: trades, the book, one order, best prices, depth,
the parties and the state digest (docs/API.md). Reads the state by name; changes nothing.

A mixin of ``exchange.engine.Exchange``, which holds the attributes declared below.
"""
from __future__ import annotations

from decimal import Decimal

import numpy as np

from exchange import digest
from exchange.arguments import short, word
from exchange.config import ExchangeConfig
from exchange.entries import ENTRIES
from exchange.nb.layout import (
    C_TRADES, C_TRADE_COUNT, I_CLOSED, L_BASE, L_BEST, L_NLEVELS,
    P_GOODPUT, P_GRADE, STP_SHIFT, TIF_MASK,
)
from exchange.schema import (
    BP, BUY, NOT_A_PROVIDER, SELL, SIDE_WORDS, RestingOrder, Side, Stp, Tif, Trade,
)
from exchange.state import BookState


class Queries:
    """``Exchange``'s read-only queries."""

    config: ExchangeConfig
    _state: BookState
    _parties: list[str]
    _instrument_index: dict[str, int]
    _grade_index: dict[str, int]
    _trades: np.ndarray
    _seq: int
    _ts: int

    def trades(self) -> list[Trade]:
        """Every trade so far, in execution order."""
        symbols = [ins.symbol for ins in self.config.instruments]
        grades = [g.name for g in self.config.grades]
        return [
            Trade(tid, seq, ts, symbols[ins], buy, sell, self._parties[buyer], self._parties[seller],
                  grades[grade], price, qty, Side(aggressor))
            for tid, seq, ts, ins, buy, sell, buyer, seller, grade, price, qty, aggressor
            in self._trades[: self._state.counters[C_TRADE_COUNT]].tolist()
        ]

    def _resting(self, row) -> RestingOrder:
        grades = self.config.grades
        return RestingOrder(
            self.config.instruments[row[0]].symbol, Side(row[1]), row[2], self._parties[row[3]],
            row[4], row[5], grades[row[6]].name if row[6] >= 0 else None,
            grades[row[7]].name if row[7] >= 0 else None, Tif(row[8]), row[9], Stp(row[10]))

    def book(self, instrument: str | None = None) -> list[RestingOrder]:
        """Resting orders in priority order (instruments in config order, bids then asks)."""
        rows = self._state.resting_orders(ENTRIES.dump_book)
        orders = [self._resting(r) for r in rows.tolist()]
        if instrument is not None:
            self._known_instrument(instrument)
            orders = [o for o in orders if o.instrument == instrument]
        return orders

    def order(self, order_id: int) -> RestingOrder | None:
        """The resting order with this id, or None when it is not resting."""
        st = self._state
        slot = int(ENTRIES.lookup(st.id_direct, st.id_keys, st.id_slots, int(order_id)))
        if slot < 0:
            return None
        ladder = int(st.orders[slot]["ladder"])
        n_grades = len(self.config.grades)
        instrument, rest = divmod(ladder, 2 * n_grades)
        side, tier = divmod(rest, n_grades)
        price = int(ENTRIES.level_price(st.ladders, ladder, int(st.orders[slot]["level"])))
        modes = int(st.orders[slot]["modes"])
        return self._resting((instrument, side, int(st.orders[slot]["id"]),
                              int(st.orders[slot]["party"]), price,
                              int(st.orders[slot]["open"]), tier if side == SELL else -1,
                              tier if side == BUY else -1, modes & TIF_MASK,
                              int(st.orders[slot]["arrival"]), modes >> STP_SHIFT))

    def _known_instrument(self, instrument) -> int:
        index = self._instrument_index.get(instrument) if isinstance(instrument, str) else None
        if index is None:
            raise ValueError(f"instrument: unknown symbol {short(instrument)}")
        return index

    def _known_grade(self, grade) -> int:
        index = self._grade_index.get(grade) if isinstance(grade, str) else None
        if index is None:
            raise ValueError(f"grade: {short(grade)} is not a grade name")
        return index

    def _ladder(self, instrument: str, side: int, tier: int) -> int:
        n_grades = len(self.config.grades)
        return (self._known_instrument(instrument) * 2 + side) * n_grades + tier

    def _best_price(self, ladder: int):
        st = self._state
        best = st.ladders[ladder, L_BEST]
        if best >= st.ladders[ladder, L_NLEVELS]:
            return None
        return int(ENTRIES.level_price(st.ladders, ladder, int(best)))

    def best_bid(self, instrument: str, grade: str | None = None) -> int | None:
        """Highest effective bid (ticks) among bids that admit ``grade`` (None: all bids)."""
        first = 0 if grade is None else self._known_grade(grade)
        prices = [self._best_price(self._ladder(instrument, BUY, m))
                  for m in range(first, len(self.config.grades))]
        prices = [p for p in prices if p is not None]
        return max(prices) if prices else None

    def best_ask(self, instrument: str, grade: str | None = None) -> int | None:
        """Lowest raw ask (ticks) of ``grade``; None: the raw price of the ask first in
        priority (lowest effective price, then earliest arrival; docs/RULES.md §4).
        Cost: one look per grade."""
        if grade is not None:
            return self._best_price(self._ladder(instrument, SELL, self._known_grade(grade)))
        st = self._state
        best = None  # (raw price, factor, arrival of the level's first order)
        for g, info in enumerate(self.config.grades):
            ladder = self._ladder(instrument, SELL, g)
            price = self._best_price(ladder)
            if price is None:
                continue
            head = int(st.levels[st.ladders[ladder, L_BASE] + st.ladders[ladder, L_BEST]]["head"]) - 1
            arrival = int(st.orders[head]["arrival"])
            if best is None:
                best = (price, info.floor_bp, arrival)
                continue
            mine, theirs = price * best[1], best[0] * info.floor_bp  # effective prices, cross-multiplied
            if mine < theirs or (mine == theirs and arrival < best[2]):
                best = (price, info.floor_bp, arrival)
        return None if best is None else best[0]

    def depth(self, instrument: str, side: str | Side, levels: int = 10) -> list[tuple[int, str, int]]:
        """(price ticks, grade, open qty) per price level and grade, best first.

        Asks rank by effective price, bids by price; equal ranks by grade order.
        For bids the grade column is the min_grade. Cost: O(levels x grades), plus a compiled
        walk of each level's queue for its quantity (O(orders on the levels shown))."""
        side_code = word(side, SIDE_WORDS, Side, "side")
        st = self._state
        rows = []
        for g, info in enumerate(self.config.grades):
            ladder = self._ladder(instrument, side_code, g)
            level = int(st.ladders[ladder, L_BEST])
            for _ in range(levels):
                if level >= st.ladders[ladder, L_NLEVELS]:
                    break
                price = int(ENTRIES.level_price(st.ladders, ladder, level))
                qty = int(ENTRIES.level_open_qty(st.orders, st.levels, st.ladders[ladder, L_BASE] + level))
                rank = Decimal(price) * BP / info.floor_bp if side_code == SELL else -price
                rows.append((rank, g, price, info.name, qty))
                level = int(ENTRIES.next_level(st.bits, st.ladders, ladder, level + 1))
        rows.sort(key=lambda r: (r[0], r[1]))
        return [(price, name, qty) for _, _, price, name, qty in rows[:levels]]

    def state_digest(self) -> str:
        """sha256 hex of the canonical state text (exchange.digest; the same format as
        ``ReferenceExchange.state_digest``). Cost: O(resting orders + ids ever accepted)."""
        st = self._state
        n_grades = len(self.config.grades)
        grade_names = [g.name for g in self.config.grades] + ["ungraded"]
        providers = [(name, int(st.parties[P_GOODPUT, index]), grade_names[min(grade, n_grades)])
                     for index, name in enumerate(self._parties)
                     if (grade := int(st.parties[P_GRADE, index])) != NOT_A_PROVIDER]
        closed = [ins.symbol for i, ins in enumerate(self.config.instruments) if st.instruments[i, I_CLOSED]]
        used_ids = np.concatenate([np.flatnonzero(st.id_direct), st.id_keys[st.id_keys != 0]]).tolist()
        return digest.state_digest(
            next_seq=self._seq, last_ts=self._ts, trade_count=int(st.counters[C_TRADES]),
            grades=[(g.name, g.floor_bp) for g in self.config.grades], providers=providers,
            closed=closed, used_ids=used_ids, book=self.book())

    @property
    def parties(self) -> list[str]:
        """Party names by index (as used in arrays)."""
        return list(self._parties)
