"""Settlement throughput: 1 M contracts x 30 periods (target: <= 2 s on one core).

    pytest bench/bench_settlement.py --benchmark-only

Not collected by the default ``pytest`` run (testpaths = tests). Metering has a
row for ~90% of contract periods (outages, under- and over-use, goodput dips),
the default terms (80% take-or-pay, make-up over 2 periods, SLA and goodput
credits, cap, fees). Statement lines are not kept (``keep_lines=False``): the
measured work is every §7 quantity for every contract period plus the per-party
totals, from metering rows to settled money.
"""
from __future__ import annotations

import numpy as np
import pytest

from contracts import settle_nb
from contracts.metering import Metering
from contracts.schedule import Contracts, scheduled_hours
from contracts.settlement import Settlement
from exchange.config import ExchangeConfig

N_CONTRACTS = 1_000_000
PERIODS = 30


@pytest.fixture(scope="module")
def book():
    config = ExchangeConfig.default()
    rng = np.random.default_rng(42)
    n = N_CONTRACTS
    buyers = np.array([f"b.{k}" for k in range(2000)], dtype=object)
    providers = np.array([p.party for p in config.providers], dtype=object)
    contracts = Contracts.from_arrays(
        config, np.arange(1, n + 1), rng.integers(0, len(config.instruments), n),
        buyers[rng.integers(0, len(buyers), n)], providers[rng.integers(0, len(providers), n)],
        rng.integers(0, len(config.grades), n), rng.integers(1000, 4000, n), rng.integers(1, 5000, n),
    )
    period = np.repeat(np.arange(PERIODS, dtype=np.int64), n)
    contract = np.tile(np.arange(n, dtype=np.int64), PERIODS)
    keep = rng.random(len(period)) < 0.9
    period, contract = period[keep], contract[keep]
    sched = scheduled_hours(contracts.qty[contract], contracts.periods[contract], period)
    available = np.where(rng.random(len(sched)) < 0.1, sched * 3 // 4, sched)
    used = available * rng.integers(30, 130, len(sched)) // 100
    goodput = np.clip(contracts.floor_bp[contract] + rng.integers(-300, 400, len(sched)), 0, 10_000)
    metering = Metering(contract, period, available, used, goodput, np.arange(len(period)) + 2, "<bench>")
    return config, contracts, metering


def test_settle_1m_contracts_30_periods(benchmark, book):
    config, contracts, metering = book

    def settle():
        s = Settlement(config, contracts, keep_lines=False)
        return s.settle_through(PERIODS - 1, metering)

    results = benchmark.pedantic(settle, rounds=5, iterations=1, warmup_rounds=1)
    assert len(results) == PERIODS and all(r.conserved for r in results)


def test_settle_kernel_only(benchmark, book):
    """The kernel alone on dense metering (what settle_through does after scattering rows)."""
    config, contracts, metering = book
    c = contracts
    m_avail = np.full((PERIODS, len(c)), -1, np.int64)
    m_used = np.zeros((PERIODS, len(c)), np.int64)
    m_goodput = np.zeros((PERIODS, len(c)), np.int64)
    m_avail[metering.period, metering.contract] = metering.available_hours
    m_used[metering.period, metering.contract] = metering.used_hours
    m_goodput[metering.period, metering.contract] = metering.goodput_bp

    def kernel():
        bank = np.zeros((len(c), 2), np.int64)
        sums = np.zeros((PERIODS, len(c.parties), 4), np.int64)
        settle_nb.settle_block(0, c.qty, c.periods, c.p, c.floor_bp, c.take_or_pay, c.makeup_periods,
                               c.sla_credit, c.credit_cap, c.fee, c.buyer, c.provider,
                               m_avail, m_used, m_goodput, bank, sums, settle_nb.no_lines())
        return sums

    sums = benchmark.pedantic(kernel, rounds=5, iterations=1, warmup_rounds=1)
    assert sums[:, :, 0].sum() == sums[:, :, 1].sum() + sums[:, :, 2].sum()
