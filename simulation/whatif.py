"""What-if: fork the market at a chosen moment and run an alternative beside it.

    base = Market(config, params).run_until(fork_hour)
    alt = base.fork("alt")                 # Exchange.fork() + a copy of every agent and the random state
    apply(alt, "both")                     # the largest buyer leaves; a provider falls two grades
    base_branch, alt_branch = base.settle(), alt.settle()

Both branches draw the same random numbers after the fork (the generator is
copied), so what differs is what the intervention caused. The base branch is
exactly the run without the fork.
"""
from __future__ import annotations

import numpy as np

from .market import Market, SimulationError

SCENARIOS = ("buyer-exit", "provider-downgrade", "both")


def largest_buyer(market: Market) -> int:
    """The active buyer with the most demand (index into ``market.buyers``)."""
    need = np.where(market.buyers.active, market.buyers.need, -1.0)
    return int(np.argmax(need))


def buyer_exit(market: Market) -> str:
    """The largest buyer stops buying: its resting bids are cancelled and it uses none of what it bought."""
    b = largest_buyer(market)
    buyers = market.buyers
    buyers.active[b] = False
    agent = market.buyer0 + b
    name = buyers.names[b]
    ts = market.hour * 3600
    for oid in market.ledger.open_orders(agent):
        market.call(market.exchange.cancel, oid, name, ts=ts)
    note = f"buyer {name} (largest demand) stops buying and leaves its take-or-pay contracts unused"
    market.notes.append(note)
    return name


def downgrade_target(market: Market) -> int:
    """The provider to downgrade: the one with most capacity among those in the best grade held."""
    grade = market.provider_grade
    graded = np.flatnonzero(grade < len(market.floors))
    if not len(graded):
        raise SimulationError("no graded provider to downgrade")
    best = graded[grade[graded] == grade[graded].min()]
    capacity = market.providers.capacity.sum(axis=1)[best]
    return int(best[np.argmax(capacity)])


def provider_downgrade(market: Market, grades: int = 2) -> str:
    """A provider falls ``grades`` grades for good: its quality drops just above the lower floor."""
    k = downgrade_target(market)
    prov = market.providers
    floors = market.floors
    old = int(market.provider_grade[k])
    new = old + grades
    bp = int(floors[new]) + 150 if new < len(floors) else max(0, int(floors[-1]) - 500)
    prov.quality[k] = float(bp)
    prov.goodput[k] = float(bp)
    prov.reported_bp[k] = bp
    market.provider_grade[k] = market.config.grade_index(bp)
    market.call(market.exchange.regrade, prov.names[k], market.goodput_text(bp), ts=market.hour * 3600)
    grade_names = [g.name for g in market.config.grades] + ["ungraded"]
    note = (f"provider {prov.names[k]} falls from grade {grade_names[old]} to {grade_names[min(new, len(floors))]} "
            f"(goodput {market.goodput_text(bp)})")
    market.notes.append(note)
    return prov.names[k]


def apply(market: Market, scenario: str) -> dict:
    """Apply a scenario to a (forked) market; returns {role: party} of who it touched."""
    if scenario not in SCENARIOS:
        raise SimulationError(f"unknown what-if {scenario!r} (choose from {', '.join(SCENARIOS)}, none)")
    touched = {}
    if scenario in ("buyer-exit", "both"):
        touched["exited_buyer"] = buyer_exit(market)
    if scenario in ("provider-downgrade", "both"):
        touched["downgraded_provider"] = provider_downgrade(market)
    return touched


def run_branches(config, params, scenario: str | None, fork_day: int | None = None, statements: bool = False):
    """Run the base market and, if ``scenario``, an alternative forked at ``fork_day``.

    Returns (base Branch, alt Branch or None, {role: party}, fork hour, Timings at the fork).
    """
    if scenario is not None and scenario not in SCENARIOS:
        raise SimulationError(f"unknown what-if {scenario!r} (choose from {', '.join(SCENARIOS)}, none)")
    day = params.days // 2 if fork_day is None else fork_day
    if isinstance(day, bool) or not isinstance(day, (int, np.integer)) or not 0 <= day <= params.days:
        raise SimulationError(f"fork day must be in 0..{params.days}, got {fork_day!r}")
    market = Market(config, params)
    fork_hour = day * 24
    market.run_until(fork_hour)
    alt, touched, at_fork = None, {}, market.timings.copy()
    if scenario is not None:
        alt = market.fork("alt")
        touched = apply(alt, scenario)
    base_branch = market.settle(statements)
    alt_branch = alt.settle(statements) if alt is not None else None
    return base_branch, alt_branch, touched, fork_hour, at_fork
