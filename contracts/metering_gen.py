"""A realistic, deterministic metering file for a trades.csv (same seed, same bytes).

Every contract period gets a row, except about 4% left missing. Each row
draws one of a few situations: normal use (60-100% of what was available),
under-use (10-60%), over-use (used above what was available), an outage
(part or all of the scheduled hours unavailable) or over-availability (more
hours offered than scheduled). Goodput sits a little above the grade floor and
dips below it in about 7% of rows. Rows are written period by period, as they
would arrive, in trade_id order within a period.
"""
from __future__ import annotations

import os

import numpy as np

from exchange.writers import K_FIXED, K_INT, Column, Table, csv_bytes

from .csvio import write_lines_atomically
from .metering import METERING_COLUMNS
from .schedule import read_trades_csv, scheduled_hours


def generate_metering(trades_csv_path, config, seed, out_path) -> int:
    """Write metering rows for every contract of ``trades_csv_path``; returns the row count.

    One period at a time, each with its own random stream (seed, period), so memory
    stays bounded by one period's rows however many trades there are."""
    contracts = read_trades_csv(trades_csv_path, config)
    counts = []

    def periods():
        for p in range(contracts.max_periods):
            count, lines = _period_rows(contracts, p, np.random.default_rng([seed, p]))
            counts.append(count)
            yield lines

    directory = os.path.dirname(os.path.abspath(out_path))
    os.makedirs(directory, exist_ok=True)
    write_lines_atomically(out_path, list(METERING_COLUMNS), periods())
    return sum(counts)


def _period_rows(contracts, p, rng) -> tuple[int, memoryview]:
    """CSV lines of period ``p``'s metering rows, in trade_id order (formatted by the
    Numba CSV kernel of exchange.writers: no Python object per row)."""
    contract = np.flatnonzero(contracts.periods > p)
    rows = len(contract)
    period = np.full(rows, p, np.int64)
    sched = scheduled_hours(contracts.qty[contract], contracts.periods[contract], period)

    situation = rng.choice(5, size=rows, p=[0.62, 0.16, 0.08, 0.08, 0.06])
    available = sched.copy()
    outage = situation == 3
    available[outage] = (sched[outage] * rng.integers(0, 90, size=int(outage.sum())) // 100)
    extra = situation == 4
    available[extra] = sched[extra] + 1 + sched[extra] * rng.integers(0, 30, size=int(extra.sum())) // 100
    share = np.select([situation == 1, situation == 2], [rng.integers(10, 60, rows), rng.integers(101, 140, rows)],
                      rng.integers(60, 101, rows))
    used = available * share // 100

    floor = contracts.floor_bp[contract]
    goodput = np.minimum(floor + rng.integers(0, 400, rows), 10_000)
    dip = rng.random(rows) < 0.07
    goodput[dip] = np.maximum(floor[dip] - rng.integers(50, 1500, int(dip.sum())), 0)

    sel = np.flatnonzero(rng.random(rows) >= 0.04)  # about 4% of rows are missing
    table = Table("metering", [
        Column("trade_id", K_INT, contracts.trade_id[contract[sel]]), Column("period", K_INT, period[sel]),
        Column("available_hours", K_INT, available[sel]), Column("used_hours", K_INT, used[sel]),
        Column("goodput", K_FIXED, goodput[sel], places=4),  # bp as a decimal fraction: 9500 -> 0.9500
    ], len(sel))
    header = len(",".join(METERING_COLUMNS)) + 1
    return len(sel), memoryview(csv_bytes(table))[header:]
