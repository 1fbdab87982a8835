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
import pyarrow.compute as pc

from .csvio import int_text, write_lines_atomically
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
            columns = _period_rows(contracts, p, np.random.default_rng([seed, p]))
            counts.append(len(columns[0]))
            yield columns

    directory = os.path.dirname(os.path.abspath(out_path))
    os.makedirs(directory, exist_ok=True)
    write_lines_atomically(out_path, list(METERING_COLUMNS), periods())
    return sum(counts)


def _period_rows(contracts, p, rng) -> list:
    """Text columns of period ``p``'s metering rows, in trade_id order."""
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
    frac = pc.utf8_lpad(int_text(goodput[sel] % 10_000), width=4, padding="0")
    goodput_text = pc.binary_join_element_wise(int_text(goodput[sel] // 10_000), frac, ".")
    return [int_text(contracts.trade_id[contract[sel]]), int_text(period[sel]), int_text(available[sel]),
            int_text(used[sel]), goodput_text]
