"""Take-or-pay settlement driven period by period (docs/RULES.md §7).

    settlement = Settlement(config, contracts)
    settlement.add_metering(rows_or_Metering)      # any time, any periods not yet settled
    result = settlement.settle_period()            # the next period: PeriodResult
    results = settlement.settle_through(K, metering=None)

Period t of every contract is settled in one kernel call over all contracts
(contracts whose window is shorter have no line). The make-up bank is the
only state carried between periods, so settling through K at once equals
settling 0, 1, ..., K one at a time. Metering for a period is frozen once that
period is settled (a later row for it is an error); rows after the settled
periods wait for their turn.

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


class Settlement:
    """Settles ``contracts`` period by period; ``results`` holds every settled period."""

    def __init__(self, config: ExchangeConfig, contracts: Contracts, keep_lines: bool = True):
        self.config = config
        self.contracts = contracts
        self.keep_lines = keep_lines
        self.next_period = 0
        self.results: list[PeriodResult] = []
        c = contracts
        width = max(1, int(np.minimum(c.makeup_periods, c.periods).max()) if len(c) else 1)
        self.bank = np.zeros((len(c), width), dtype=np.int64)
        self._pending: list[Metering] = []
        self._seen = np.zeros((len(c), max(c.max_periods, 1)), dtype=bool)

    @property
    def periods(self) -> int:
        """Periods in the longest delivery window (settling stops there)."""
        return self.contracts.max_periods

    def add_metering(self, metering) -> None:
        """Add validated metering (a ``Metering``, or rows as ``Metering.from_rows`` takes).

        InputError if a row repeats one already added or belongs to a settled period.
        """
        if not isinstance(metering, Metering):
            metering = Metering.from_rows(metering, self.contracts)
        if not len(metering):
            return
        errors = []
        settled = metering.period < self.next_period
        for k in np.flatnonzero(settled)[:1000]:
            errors.append(f"{metering.source}:{metering.line[k]}: period: period {metering.period[k]} "
                          "is already settled")
        seen = self._seen[metering.contract, metering.period] & ~settled
        for k in np.flatnonzero(seen)[:1000]:
            errors.append(f"{metering.source}:{metering.line[k]}: period: duplicate row for trade "
                          f"{self.contracts.trade_id[metering.contract[k]]} period {metering.period[k]}")
        if errors:
            raise InputError(errors)
        self._seen[metering.contract, metering.period] = True
        self._pending.append(metering)

    def settle_period(self, metering=None) -> PeriodResult:
        """Settle the next period (after adding ``metering``, if given)."""
        return self.settle_through(self.next_period, metering)[0]

    def settle_through(self, last: int, metering=None) -> list[PeriodResult]:
        """Settle periods ``next_period .. last`` in one kernel call; returns their results."""
        if not isinstance(last, (int, np.integer)) or isinstance(last, bool):
            raise TypeError("last period must be an int")
        if last < self.next_period:
            raise ValueError(f"period {last} is already settled (next is {self.next_period})")
        if last >= self.periods:
            raise ValueError(f"period {last} is past the delivery window (periods 0..{self.periods - 1})")
        if metering is not None:
            self.add_metering(metering)
        t0, n, c = self.next_period, last - self.next_period + 1, self.contracts
        m_avail = np.full((n, len(c)), -1, dtype=np.int64)
        m_used = np.zeros((n, len(c)), dtype=np.int64)
        m_goodput = np.zeros((n, len(c)), dtype=np.int64)
        waiting = []
        for chunk in self._pending:
            now = chunk.period <= last
            if not now.all():
                waiting.append(chunk.select(~now))
                chunk = chunk.select(now)
            rows = (chunk.period - t0, chunk.contract)
            m_avail[rows] = chunk.available_hours
            m_used[rows] = chunk.used_hours
            m_goodput[rows] = chunk.goodput_bp
        party_sums = np.zeros((n, len(c.parties), 4), dtype=np.int64)
        lines = np.zeros((n, settle_nb.NCOL, len(c)), np.int64) if self.keep_lines else settle_nb.no_lines()
        settle_nb.settle_block(t0, c.qty, c.periods, c.p, c.floor_bp, c.take_or_pay, c.makeup_periods,
                               c.sla_credit, c.credit_cap, c.fee, c.buyer, c.provider,
                               m_avail, m_used, m_goodput, self.bank, party_sums, lines)
        self._pending = waiting
        self.next_period = last + 1
        out = []
        for i in range(n):
            contract, cols = None, None
            if self.keep_lines:
                contract = np.flatnonzero(lines[i, settle_nb.S_ACTIVE])
                cols = {name: lines[i, k, contract] for k, name in enumerate(settle_nb.LINE_COLUMNS)
                        if name != "active"}
            out.append(PeriodResult(t0 + i, contract, cols, party_sums[i]))
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


def remaining_minimum_hours(qty, periods, take_or_pay, t) -> np.ndarray:
    """Sum of ``ceil(sched * take_or_pay / 10000)`` over periods ``t .. P-1`` (full availability)."""
    base, extra = qty // periods, qty % periods
    left = np.maximum(periods - t, 0)
    long_periods = np.clip(extra - t, 0, left)  # periods still ahead that carry the extra hour
    ceil = lambda h: (h * take_or_pay + settle_nb.BP - 1) // settle_nb.BP  # noqa: E731
    return long_periods * ceil(base + 1) + (left - long_periods) * ceil(base)
