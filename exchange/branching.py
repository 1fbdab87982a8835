"""Letting a simulation branch: ``snapshot``/``restore`` and ``fork`` of an ``Exchange``.

A mixin of ``exchange.engine.Exchange``, which holds the attributes declared below.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from exchange import memory_budget
from exchange.buffers import records_copy
from exchange.config import ExchangeConfig
from exchange.nb.layout import C_TRADE_COUNT
from exchange.schema import ACTION_DTYPE, EVENT_DTYPE, TRADE_DTYPE
from exchange.state import BookState, copy_bytes

if TYPE_CHECKING:
    from exchange.engine import Exchange


class Branching:
    """``Exchange``'s copies of its whole state. ``restore`` of a snapshot taken under another
    config (instruments listed since) calls ``Exchange._use_config``."""

    config: ExchangeConfig
    _memory_limit: int | None
    _state: BookState
    _parties: list[str]
    _party_index: dict[str, int]
    _seq: int
    _ts: int
    _trades: np.ndarray
    _prices: dict

    def snapshot(self) -> tuple:
        """An opaque copy of the whole state; ``restore`` brings it back."""
        n_trades = int(self._state.counters[C_TRADE_COUNT])
        return (self._state.copy(), list(self._parties), self._seq, self._ts,
                records_copy(self._trades[:n_trades]), self.config)

    def restore(self, snapshot: tuple) -> None:
        state, parties, seq, ts, trades, config = snapshot
        self._adopt(state.copy(), parties, seq, ts, trades, config)  # the snapshot stays reusable

    def _adopt(self, state: BookState, parties: list[str], seq: int, ts: int, trades: np.ndarray,
               config: ExchangeConfig) -> None:
        """``restore`` taking ``state`` over as it is, without a copy."""
        if config is not self.config:  # instruments listed since (or before) the snapshot
            self._use_config(config)
        self._state = state
        self._parties = list(parties)
        self._party_index = {name: i for i, name in enumerate(self._parties)}
        self._seq, self._ts = seq, ts
        self._trades = np.empty(max(64, 2 * len(trades)), TRADE_DTYPE)
        copy_bytes(self._trades[: len(trades)], trades)
        self._prices = {}

    def _budget(self) -> int:
        return self._memory_limit if self._memory_limit is not None else memory_budget.default_budget()

    def fork(self) -> "Exchange":
        """An independent copy: both continue on their own. Cost: a copy of every state
        array (its size is checked against the memory budget first: MemoryBudgetError)."""
        st = self._state
        copied = sum(getattr(st, name).nbytes for name in st.arrays_names()) + self._trades.nbytes
        memory_budget.check(2 * copied, self._budget(), "fork() of this exchange (two copies of its state)",
                            option="Exchange(config, memory_limit=BYTES)")
        clone = type(self).__new__(type(self))
        clone.load_seconds = 0.0
        clone.config = self.config
        clone._memory_limit = self._memory_limit
        clone._instrument_index = self._instrument_index
        clone._grade_index = self._grade_index
        clone._price_unit = self._price_unit
        clone._events = np.empty(64, EVENT_DTYPE)
        clone._action = np.zeros(1, ACTION_DTYPE)
        n_trades = int(self._state.counters[C_TRADE_COUNT])
        clone._adopt(self._state.copy(), self._parties, self._seq, self._ts, self._trades[:n_trades], self.config)
        return clone
