"""Take-or-pay settlement driven period by period (docs/RULES.md §7).

    settlement = Settlement(config, contracts)
    settlement.add_metering(rows_or_Metering)      # any time, any periods not yet settled (or a MeteringGrid)
    result = settlement.settle_period()            # the next period: PeriodResult
    results = settlement.settle_through(K, metering=None)

Period t of every contract is settled by the kernel over all contracts, a block
of contracts at a time (contracts whose window is shorter have no line). The
make-up bank is the only state carried between periods, so settling through K
at once equals settling 0, 1, ..., K one at a time. Statement lines go to a
``sink`` as they are made (or are kept in the results, ``keep_lines=True``).
Metering for a period is frozen once that period is settled (a later row for it
is an error); rows after the settled periods wait for their turn.

Choices where docs/RULES.md §7 leaves room (see also contracts/report.py):
- A contract period with no metering row is settled as full availability
  (available_hours = sched), used_hours = 0 and goodput = the grade floor; its
  statement line shows those assumed values with ``metered`` = 0.
- ``bank_before`` is the usable bank at the start of the period;
  ``bank_after`` the bank carried into the next period, i.e. after make-up,
  after the oldest entry expired and with this period's deficiency added.
  What expired is ``bank_before - makeup + deficiency - bank_after``.
- The remaining obligation uses ``minimum`` at full availability for every
  period after the last settled one; the make-up bank does not reduce it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from exchange.config import ExchangeConfig

from . import settle_nb
from .csvio import InputError
from .metering import Metering
from .metering_grid import BYTES_PER_CELL, NO_ROW, MeteringGrid
from .schedule import Contracts


@dataclass(frozen=True, repr=False, eq=False)
class PeriodResult:
    """One settled period.

    ``lines``: {column: array over the contracts active in the period} in
    trade_id order (None unless the Settlement keeps lines); ``contract``: their
    contract indices. ``party_sums[party, (paid, received, fees, lines)]`` in µ$.
    """

    period: int
    contract: np.ndarray | None
    lines: dict | None
    party_sums: np.ndarray

    @property
    def buyer_payments(self) -> int:
        return int(self.party_sums[:, settle_nb.PAID].sum())

    @property
    def provider_receipts(self) -> int:
        return int(self.party_sums[:, settle_nb.RECEIVED].sum())

    @property
    def fees(self) -> int:
        """Fees the exchange keeps (both sides)."""
        return int(self.party_sums[:, settle_nb.FEES].sum())

    @property
    def conserved(self) -> bool:
        return self.buyer_payments == self.provider_receipts + self.fees

    def __repr__(self) -> str:
        return (f"<PeriodResult period {self.period}: buyers pay {self.buyer_payments} µ$, "
                f"providers receive {self.provider_receipts} µ$, fees {self.fees} µ$>")


@dataclass(frozen=True, repr=False, eq=False)
class LineBlock:
    """Statement lines of one period for a block of contracts, as the kernel left them.

    ``lines[k, j]``: column ``settle_nb.LINE_COLUMNS[k]`` of contract ``contract[j]``
    (only contracts active in the period). A view of a reused buffer: valid only
    during the ``sink`` call that receives it.
    """

    period: int
    contract: np.ndarray
    lines: np.ndarray

    def column(self, name: str) -> np.ndarray:
        return self.lines[settle_nb.COL[name]]


class Settlement:
    """Settles ``contracts`` period by period; ``results`` holds every settled period.

    Metering is held in a ``MeteringGrid`` (28 bytes per contract period, allocated
    with the first metering). ``keep_lines`` keeps every statement line in the
    results (8 x 23 bytes per contract period); without it, lines are handed to the
    ``sink`` of ``settle_through`` a block of contracts at a time and dropped.
    """

    block_contracts = 1 << 16  # contracts per kernel call when lines are not kept

    def __init__(self, config: ExchangeConfig, contracts: Contracts, keep_lines: bool = True):
        self.config = config
        self.contracts = contracts
        self.keep_lines = keep_lines
        self.next_period = 0
        self.results: list[PeriodResult] = []
        c = contracts
        width = max(1, int(np.minimum(c.makeup_periods, c.periods).max()) if len(c) else 1)
        self.bank = np.zeros((len(c), width), dtype=np.int64)
        self.grid: MeteringGrid | None = None

    @property
    def periods(self) -> int:
        """Periods in the longest delivery window (settling stops there)."""
        return self.contracts.max_periods

    def add_metering(self, metering) -> None:
        """Add validated metering: a ``MeteringGrid``, a ``Metering``, or rows as
        ``Metering.from_rows`` takes.

        InputError if a row repeats one already added or belongs to a settled period.
        The first grid is taken over, not copied (later metering is stored into it).
        Cost: O(rows) for rows; O(P x C) to merge a grid into one already holding rows.
        """
        if isinstance(metering, MeteringGrid):
            if self.grid is None and self.next_period == 0:
                self.grid = metering
                return
            metering = metering.to_metering()
        elif not isinstance(metering, Metering):
            metering = Metering.from_rows(metering, self.contracts)
        if not len(metering):
            return
        if self.grid is None:
            self.grid = MeteringGrid.empty(self.contracts)
        errors = []
        settled = metering.period < self.next_period
        for k in np.flatnonzero(settled)[:1000]:
            errors.append(f"{metering.source}:{metering.line[k]}: period: period {metering.period[k]} "
                          "is already settled")
        seen = (self.grid.line[metering.period, metering.contract] != 0) & ~settled
        for k in np.flatnonzero(seen)[:1000]:
            errors.append(f"{metering.source}:{metering.line[k]}: period: duplicate row for trade "
                          f"{self.contracts.trade_id[metering.contract[k]]} period {metering.period[k]}")
        if errors:
            raise InputError(errors)
        self.grid = MeteringGrid.merged(self.grid, metering)

    def settle_period(self, metering=None) -> PeriodResult:
        """Settle the next period (after adding ``metering``, if given)."""
        return self.settle_through(self.next_period, metering)[0]

    def settle_through(self, last: int, metering=None, sink=None) -> list[PeriodResult]:
        """Settle periods ``next_period .. last``, one period at a time; returns their results.

        ``sink(LineBlock)``, if given, receives every statement line in output order
        (period, then trade_id), a block of contracts at a time.
        Cost: one kernel pass over all contracts per period.
        """
        if not isinstance(last, (int, np.integer)) or isinstance(last, bool):
            raise TypeError("last period must be an int")
        if last < self.next_period:
            raise ValueError(f"period {last} is already settled (next is {self.next_period})")
        if last >= self.periods:
            raise ValueError(f"period {last} is past the delivery window (periods 0..{self.periods - 1})")
        if metering is not None:
            self.add_metering(metering)
        c = self.contracts
        n_contracts = len(c)
        block = n_contracts if self.keep_lines else min(self.block_contracts, max(n_contracts, 1))
        buffer = np.empty(settle_nb.NCOL * block, np.int64) if (self.keep_lines or sink) else None
        unmetered = None
        out = []
        for t in range(self.next_period, last + 1):
            party_sums = np.zeros((1, len(c.parties), 4), dtype=np.int64)
            kept = []
            for c0 in range(0, n_contracts, max(block, 1)):
                c1 = min(n_contracts, c0 + block)
                if self.grid is not None:
                    rows = slice(t, t + 1), slice(c0, c1)
                    m_avail = self.grid.available_hours[rows]
                    m_used, m_goodput = self.grid.used_hours[rows], self.grid.goodput_bp[rows]
                else:
                    if unmetered is None or unmetered.shape[1] != c1 - c0:
                        unmetered = np.full((1, c1 - c0), NO_ROW, np.int64)
                    m_avail = m_used = m_goodput = unmetered
                if buffer is not None:
                    lines = buffer[: settle_nb.NCOL * (c1 - c0)].reshape(1, settle_nb.NCOL, c1 - c0)
                    lines[0, settle_nb.COL["active"]] = 0  # the kernel marks only the active ones
                else:
                    lines = settle_nb.no_lines()
                part = slice(c0, c1)
                settle_nb.settle_block(t, c.qty[part], c.periods[part], c.p[part], c.floor_bp[part],
                                       c.take_or_pay[part], c.makeup_periods[part], c.sla_credit[part],
                                       c.credit_cap[part], c.fee[part], c.buyer[part], c.provider[part],
                                       m_avail, m_used, m_goodput, self.bank[part], party_sums, lines)
                if buffer is None:
                    continue
                active = np.flatnonzero(lines[0, settle_nb.COL["active"]])
                if len(active) == c1 - c0:
                    view = lines[0]
                else:
                    view = lines[0][:, active]
                piece = LineBlock(t, active + c0, view)
                if sink is not None and len(active):
                    sink(piece)
                if self.keep_lines:
                    kept.append(piece)
            contract, cols = None, None
            if self.keep_lines:
                contract = np.concatenate([k.contract for k in kept]) if kept else np.zeros(0, np.int64)
                cols = {name: (np.concatenate([k.lines[j] for k in kept]) if kept else np.zeros(0, np.int64))
                        for j, name in enumerate(settle_nb.LINE_COLUMNS) if name != "active"}
            out.append(PeriodResult(t, contract, cols, party_sums[0]))
            self.next_period = t + 1
        self.results.extend(out)
        return out

    def obligations(self):
        """Remaining take-or-pay obligation per buyer->provider pair over periods >= next_period.

        Returns (buyer index, provider index, contracts, min_hours, obligation µ$), sorted by
        (buyer, provider) name; every pair with a contract is listed.
        """
        c, t = self.contracts, self.next_period
        hours = remaining_minimum_hours(c.qty, c.periods, c.take_or_pay, t)
        money = hours * c.p
        key = c.buyer.astype(np.int64) * max(len(c.parties), 1) + c.provider
        order = np.argsort(key, kind="stable")
        keys, starts = np.unique(key[order], return_index=True)
        if not len(keys):
            z = np.zeros(0, np.int64)
            return z, z, z, z, z
        counts = np.diff(np.append(starts, len(order)))
        return (keys // max(len(c.parties), 1), keys % max(len(c.parties), 1), counts,
                np.add.reduceat(hours[order], starts), np.add.reduceat(money[order], starts))


FIXED_BYTES = 160 << 20  # kernel and formatting buffers of one block, Arrow and Numba working memory
BYTES_PER_CONTRACT = 200  # the contract columns (int64 and int32) and bookkeeping


def estimate_bytes(contracts: Contracts, keep_lines: bool = False) -> int:
    """What settling ``contracts`` allocates: the metering grid (28 bytes per contract
    period), the make-up bank, the contract columns and one block of lines; with
    ``keep_lines`` also every statement line (8 x 23 bytes per contract period)."""
    c = contracts
    periods = max(c.max_periods, 1)
    width = max(1, int(np.minimum(c.makeup_periods, c.periods).max()) if len(c) else 1)
    need = len(c) * (BYTES_PER_CELL * periods + 8 * width + BYTES_PER_CONTRACT) + FIXED_BYTES
    if keep_lines:
        need += len(c) * periods * 8 * (settle_nb.NCOL - 1)
    return need


def remaining_minimum_hours(qty, periods, take_or_pay, t) -> np.ndarray:
    """Sum of ``ceil(sched * take_or_pay / 10000)`` over periods ``t .. P-1`` (full availability)."""
    base, extra = qty // periods, qty % periods
    left = np.maximum(periods - t, 0)
    long_periods = np.clip(extra - t, 0, left)  # periods still ahead that carry the extra hour
    ceil = lambda h: (h * take_or_pay + settle_nb.BP - 1) // settle_nb.BP
    return long_periods * ceil(base + 1) + (left - long_periods) * ceil(base)
