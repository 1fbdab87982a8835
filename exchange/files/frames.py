"""The replay's tables as Arrow, pandas and polars frames (docs/API.md "Frames").

The same columns, names and units as ``trades.csv`` / ``events.csv`` / ``book.csv``
(docs/RULES.md §5), built by the writers' own table builders (``Formatter``) and
``arrow_table`` (what ``replay --format parquet`` writes), so a frame and a file never
disagree. No float touches a price: ``prices="decimal"`` gives exact
``decimal128(38, places)`` columns, ``prices="ticks"`` gives the ``price`` column as
int64 ticks (``effective_price`` stays an exact 6-place decimal: it is the price
divided by the grade's floor, not a multiple of a tick).

Cost: no column can be zero-copy from the engine, because its records are rows (a
numpy structured array) and Arrow's columns are contiguous buffers: integer columns
are one gather copy (8 bytes a value), names (instrument, party, grade, side, event,
reason, tif) become string columns, decimals 16 bytes a value. After that, pandas gets
the Arrow buffers themselves (``pd.ArrowDtype`` columns, no second copy) and polars
takes the Arrow table over with ``pl.from_arrow`` (copying only what its own layout
needs).

pandas and polars are optional (``pip install compute-exchange[pandas]`` /
``[polars]``) and imported only when a frame of theirs is asked for.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from exchange.config import ExchangeConfig
from exchange.files.writers import Formatter, arrow_table

TABLES = ("trades", "events", "book")
PRICES = ("decimal", "ticks")


def check_choice(value, choices: tuple[str, ...], field: str) -> str:
    """``value`` if it is one of ``choices``, else ValueError naming ``field``."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{field}: {value!r} is not one of " + ", ".join(repr(c) for c in choices))
    return value


def to_arrow(what: str, records: np.ndarray, config: ExchangeConfig, parties: list[str],
             prices: str = "decimal") -> pa.Table:
    """The Arrow table of ``what`` ("trades", "events" or "book") over the engine's
    ``records`` (TRADE_DTYPE / EVENT_DTYPE / BOOK_DTYPE rows), ``parties`` naming the
    party indexes. ``prices``: "decimal" (as the Parquet files) or "ticks"."""
    check_choice(what, TABLES, "what")
    check_choice(prices, PRICES, "prices")
    formatter = Formatter(config, parties)
    table = arrow_table(getattr(formatter, what)(records))
    if prices == "ticks" and what != "events":
        at = table.column_names.index("price")
        table = table.set_column(at, "price", pa.array(records["price"], pa.int64()))
    return table


def to_pandas(table: pa.Table):
    """A pandas DataFrame over the Arrow table's buffers (``pd.ArrowDtype`` columns:
    int64, decimal128 and string; empty cells are <NA>, never NaN)."""
    pd = _optional("pandas")
    return table.to_pandas(types_mapper=pd.ArrowDtype)


def to_polars(table: pa.Table):
    """A polars DataFrame (Int64, Decimal and String columns; empty cells are null)."""
    pl = _optional("polars")
    return pl.from_arrow(table)


def _optional(name: str):
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError:
        raise ImportError(f"{name} is not installed: pip install 'compute-exchange[{name}]'") from None
