"""An ``Exchange``'s trades, book or events as Arrow, pandas or polars tables
(docs/API.md "Frames"); the conversion itself is exchange/files/frames.py.

A mixin of ``exchange.engine.Exchange``, which holds the attributes declared below.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from exchange.config import ExchangeConfig
from exchange.entries import ENTRIES
from exchange.nb.layout import C_TRADE_COUNT
from exchange.schema import EVENT_DTYPE
from exchange.state import BookState

if TYPE_CHECKING:  # the frames' types; pandas and polars are optional
    import pandas
    import polars
    import pyarrow


class Frames:
    """``Exchange``'s ``to_arrow`` / ``to_pandas`` / ``to_polars``."""

    config: ExchangeConfig
    _state: BookState
    _parties: list[str]
    _trades: np.ndarray

    def to_arrow(self, what: str, prices: str = "decimal", *,
                 events: np.ndarray | None = None) -> pyarrow.Table:
        """Every trade so far ("trades"), the resting orders ("book"), or ``events`` ("events")
        as a ``pyarrow.Table`` with the columns and units of the replay's CSV files
        (docs/RULES.md §5, docs/API.md "Frames"). ``prices``: "decimal" (exact ``decimal128``)
        or "ticks" (int64). The exchange keeps no event history (it would cost every call),
        so "events" converts the EVENT_DTYPE rows you pass (what ``apply()`` returned).
        Every column is built anew (records are rows, Arrow columns contiguous: no zero-copy)."""
        from exchange.files import frames

        frames.check_choice(what, frames.TABLES, "what")
        if what == "trades":
            records = self._trades[: self._state.counters[C_TRADE_COUNT]]
        elif what == "book":
            records = self._state.resting_orders(ENTRIES.dump_book)
        elif not isinstance(events, np.ndarray) or events.dtype != EVENT_DTYPE or events.ndim != 1:
            raise ValueError("events: expected a 1-D EVENT_DTYPE array (what apply() returned); "
                             "the exchange keeps no event history")
        else:
            records = events
        if what != "events" and events is not None:
            raise ValueError(f"events: only for what='events', not {what!r}")
        return frames.to_arrow(what, records, self.config, self._parties, prices)

    def to_pandas(self, what: str, prices: str = "decimal", *,
                  events: np.ndarray | None = None) -> pandas.DataFrame:
        """``to_arrow``'s table as a pandas DataFrame (``pd.ArrowDtype`` columns, no float);
        needs ``pip install compute-exchange[pandas]``."""
        from exchange.files import frames

        return frames.to_pandas(self.to_arrow(what, prices, events=events))

    def to_polars(self, what: str, prices: str = "decimal", *,
                  events: np.ndarray | None = None) -> polars.DataFrame:
        """``to_arrow``'s table as a polars DataFrame; needs ``pip install compute-exchange[polars]``."""
        from exchange.files import frames

        return frames.to_polars(self.to_arrow(what, prices, events=events))
