"""After trading: simulated delivery metering, and settling every contract period by period.

Both are pure functions of what trading left (contracts, agents, the seed), so the
run loop (``market.Market``) only hands them over. Cost: O(contracts x periods)
numpy work and memory for the metering; the settlement walks its periods in Python.
"""
from __future__ import annotations

import numpy as np

from contracts import Contracts, Metering, PeriodResult, Settlement

# The per-contract totals a Branch keeps (statement line names, plus pay_per_use = taken x price).
TOTALS = ("sched", "avail", "taken", "minimum", "deficiency", "makeup", "billable", "charge", "credit",
          "net", "fee_each", "buyer_pays", "provider_receives", "pay_per_use")


def simulate_metering(contracts: Contracts, seed: int, providers, makers, buyers, agent_names) -> Metering:
    """One metering row per contract and delivery period, from simulated delivery days.

    Providers go on drifting around their quality, with outages (1-3 days,
    part of the hours unavailable, goodput down); buyers use their usual
    share of what is delivered, a buyer that left uses nothing. The random
    draws depend only on the seed and the agents, so two branches of a run
    meter the same weather. Agents are numbered providers, market makers, buyers.
    """
    n, P = len(contracts), contracts.max_periods
    rng = np.random.default_rng([seed, 2])
    n_agents = len(agent_names)
    n_prov = len(providers)
    buyer0 = n_prov + len(makers)
    # providers: goodput path, availability
    quality = np.concatenate([providers.quality, np.full(len(makers), float(makers.goodput_bp))])
    goodput = np.concatenate([providers.goodput, np.full(len(makers), float(makers.goodput_bp))])
    noise = rng.standard_normal((P, len(quality)))
    start = rng.random((P, len(quality))) < 0.02
    length = rng.integers(1, 4, size=(P, len(quality)))
    share_up = rng.uniform(0.0, 0.6, size=(P, len(quality)))
    drop = rng.uniform(500.0, 3000.0, size=(P, len(quality)))
    gp = np.zeros((n_agents, P), np.int64)
    avail_share = np.ones((n_agents, P))
    left = np.zeros(len(quality), np.int64)
    left[: n_prov] = providers.outage_left[: n_prov] // 24
    for t in range(P):
        goodput = goodput + 0.5 * (quality - goodput) + 60.0 * noise[t]
        left = np.where(left > 0, left - 1, np.where(start[t], length[t], 0))
        down = left > 0
        measured = np.where(down, goodput - drop[t], goodput)
        gp[: len(quality), t] = np.clip(np.round(measured), 0, 10_000).astype(np.int64)
        avail_share[: len(quality), t] = np.where(down, share_up[t], 1.0)
    # buyers: usage share per day (market makers resell nearly everything)
    use = np.ones((n_agents, P))
    use[n_prov: buyer0] = 0.95
    daily = rng.normal(0.0, 0.08, size=(len(buyers), P))
    base_use = np.where(buyers.active, buyers.use, 0.0)
    use[buyer0:] = np.clip(base_use[:, None] + daily, 0.0, 1.1) * (base_use[:, None] > 0)

    agent_index = {name: k for k, name in enumerate(agent_names)}
    agent_of = np.array([agent_index[name] for name in contracts.parties], np.int64)
    seller, buyer = agent_of[contracts.provider], agent_of[contracts.buyer]
    contract = np.repeat(np.arange(n, dtype=np.int64), P)
    period = np.tile(np.arange(P, dtype=np.int64), n)
    keep = period < contracts.periods[contract]
    contract, period = contract[keep], period[keep]
    qty, periods = contracts.qty[contract], contracts.periods[contract]
    sched = qty // periods + (period < qty % periods)
    available = np.floor(sched * avail_share[seller[contract], period]).astype(np.int64)
    used = np.floor(available * use[buyer[contract], period]).astype(np.int64)
    goodput_bp = gp[seller[contract], period]
    lines = np.arange(1, len(contract) + 1, dtype=np.int64)
    return Metering(contract, period, available, used, goodput_bp, lines, source="<simulated metering>")


def settle_all(config, contracts: Contracts, metering: Metering, statements: bool):
    """Settle every period of every contract; returns (Settlement or None, per-contract totals,
    {party: (paid, received, fees)}). AssertionError if a period does not conserve money.

    ``statements=False`` drops each period's lines once counted (memory: totals only)."""
    n = len(contracts)
    totals = {name: np.zeros(n, np.int64) for name in TOTALS}
    if not n:
        return None, totals, {}
    settlement = Settlement(config, contracts, keep_lines=True)
    settlement.add_metering(metering)
    paid = np.zeros(len(contracts.parties), np.int64)
    received, fees = paid.copy(), paid.copy()
    for _ in range(settlement.periods):
        result = settlement.settle_period()
        if not result.conserved:
            raise AssertionError(f"settlement period {result.period} does not conserve money")
        k, lines = result.contract, result.lines
        for name in totals:
            if name == "pay_per_use":
                totals[name][k] += lines["taken"] * contracts.p[k]
            else:
                totals[name][k] += lines[name]
        paid += result.party_sums[:, 0]
        received += result.party_sums[:, 1]
        fees += result.party_sums[:, 2]
        if not statements:  # keep the period's money, drop its lines
            settlement.results[-1] = PeriodResult(result.period, None, None, result.party_sums)
    money = {name: (int(paid[k]), int(received[k]), int(fees[k])) for k, name in enumerate(contracts.parties)}
    return settlement, totals, money
