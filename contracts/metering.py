"""Metering rows (docs/RULES.md §7): ``trade_id,period,available_hours,used_hours,goodput``.

All five cells are required; hours are integers >= 0; goodput is a decimal in
[0, 1] with at most 4 places (kept as bp). A row naming an unknown trade, a
period outside the contract's ``0..P-1`` or repeating an earlier
``(trade_id, period)`` is an error. Every problem is reported, one line each,
as ``FILE:LINE: column: what is wrong``, and the whole input is refused.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import localcontext

import numpy as np
import pyarrow as pa

from exchange.schema import BP

from .csvio import (
    InputError,
    Table,
    cell_errors,
    distinct_cells,
    exact_decimal,
    int_cells,
    read_table,
    shown,
)
from .schedule import Contracts, duplicates

METERING_COLUMNS = ("trade_id", "period", "available_hours", "used_hours", "goodput")


@dataclass(frozen=True, repr=False, eq=False)
class Metering:
    """Validated metering rows as columns (file order); ``contract`` indexes ``Contracts``."""

    contract: np.ndarray
    period: np.ndarray
    available_hours: np.ndarray
    used_hours: np.ndarray
    goodput_bp: np.ndarray
    line: np.ndarray
    source: str = "<rows>"

    def __len__(self) -> int:
        return len(self.contract)

    def __repr__(self) -> str:
        return f"<Metering {len(self)} rows from {self.source}>"

    @property
    def max_period(self) -> int:
        """Highest metered period, -1 when there are no rows."""
        return int(self.period.max()) if len(self) else -1

    def select(self, mask) -> Metering:
        mask = np.asarray(mask)
        return Metering(self.contract[mask], self.period[mask], self.available_hours[mask],
                        self.used_hours[mask], self.goodput_bp[mask], self.line[mask], self.source)

    @classmethod
    def empty(cls) -> Metering:
        z = np.zeros(0, np.int64)
        return cls(z, z, z, z, z, z)

    @classmethod
    def from_rows(cls, rows, contracts: Contracts, source: str = "<rows>") -> Metering:
        """Validate rows ``(trade_id, period, available_hours, used_hours, goodput)``.

        Cells may be ints or text (goodput as text or Decimal, never float); the
        "line" of a row is its 1-based position. InputError lists every problem.
        """
        rows = [tuple(r) for r in rows]
        bad = [k + 1 for k, r in enumerate(rows) if len(r) != len(METERING_COLUMNS)]
        if bad:
            raise InputError([f"{source}:{k}: row: expected 5 cells" for k in bad])
        for k, r in enumerate(rows):
            if isinstance(r[4], float):
                raise InputError([f"{source}:{k + 1}: goodput: a float is not exact; give text or Decimal"])
        columns = {name: pa.array([str(r[j]) for r in rows], type=pa.string())
                   for j, name in enumerate(METERING_COLUMNS)}
        return validate(Table(source, columns, np.arange(len(rows), dtype=np.int64) + 1), contracts)


def read_metering(path, contracts: Contracts) -> Metering:
    """Read and validate a metering CSV; InputError lists every bad cell as FILE:LINE."""
    return validate(read_table(path, METERING_COLUMNS), contracts)


def parse_goodput(text: str) -> int:
    """Goodput text as bp; ValueError saying why not."""
    if not text:
        raise ValueError("empty")
    value = exact_decimal(text)
    if not 0 <= value <= 1:
        raise ValueError(f"{shown(text)} is outside [0, 1]")
    with localcontext() as exact:  # as many digits as the text has: no rounding
        exact.prec = len(text) + 8
        scaled = value * BP
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{shown(text)} has more than 4 decimal places")
    return int(scaled)


def validate(table: Table, contracts: Contracts) -> Metering:
    cols = table.columns
    errors = []

    def integer(name):
        values, ok = int_cells(cols[name])
        errors.extend(cell_errors(table, name, ~ok, lambda r, t: f"{t!r} is not an integer" if t else "empty"))
        return values, ok

    trade_id, ok_id = integer("trade_id")
    contract = contracts.index_of(trade_id)
    known = ok_id & (contract >= 0)
    errors += cell_errors(table, "trade_id", ok_id & ~known, lambda r, t: f"unknown trade_id {t}")

    period, ok_period = integer("period")
    limit = np.where(known, contracts.periods[np.maximum(contract, 0)] if len(contracts) else 0, 0)
    outside = known & ok_period & ((period < 0) | (period >= limit))
    errors += cell_errors(table, "period", outside,
                          lambda r, t: f"period {t} is outside 0..{limit[r] - 1} of trade {trade_id[r]}")
    placed = known & ok_period & ~outside
    dup, first_line = duplicates(contract * (contracts.max_periods + 1) + period, placed, table.lines)
    errors += cell_errors(table, "period", dup, lambda r, t: (
        f"duplicate row for trade {trade_id[r]} period {t} (first on line {first_line[r]})"))

    hours = {}
    for name in ("available_hours", "used_hours"):
        values, ok = integer(name)
        errors += cell_errors(table, name, ok & (values < 0), lambda r, t: f"{t} is negative")
        hours[name] = values

    goodput_by_text, why, codes = distinct_cells(cols["goodput"], parse_goodput)
    bad_gp = np.isin(codes, list(why))
    errors += cell_errors(table, "goodput", bad_gp, lambda r, t: why[int(codes[r])])
    lookup = np.array([0 if v is None else v for v in goodput_by_text], dtype=np.int64)

    if errors:
        order = {name: k for k, name in enumerate(METERING_COLUMNS)}
        errors.sort(key=lambda e: (e[0], order[e[1]]))
        raise InputError([e[2] for e in errors])
    return Metering(contract.astype(np.int64), period, hours["available_hours"], hours["used_hours"],
                    lookup[codes] if len(codes) else np.zeros(0, np.int64), table.lines, table.source)
