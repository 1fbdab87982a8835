"""Stress step of a run: its take-or-pay obligations cleared in rounds after a shock (docs/RULES.md §8).

    clearing, shocks = stress(branch)                          # the largest buyer loses half its cash
    clearing, shocks = stress(branch, {"b.0007": 10000}, alpha_bp=9000)

The network is what the run's settlement billed: every buyer owes each provider
what that provider received from it over all settled periods, and the
exchange's fees (outside the network) as external debt, so each party owes
exactly what it paid. Each party's cash is what it paid beyond what it received
(0 for a net receiver): without a shock everyone has exactly enough, and a
party that buys with what it earns selling fails when its own buyers fail.
Without shocks the default is one: the buyer that owes the most loses
``DEFAULT_SHOCK_BP`` of its cash. Cost: one clearing of a network of
buyer x provider pairs (exact path when small).
"""
from __future__ import annotations

import numpy as np

from contracts.clearing import Clearing, clear
from contracts.network import ObligationNetwork

from .market import Branch, SimulationError

DEFAULT_SHOCK_BP = 5000


def obligation_network(branch: Branch) -> ObligationNetwork:
    """Buyer -> provider what settlement billed (fees as external debt); cash = paid beyond received."""
    c = branch.contracts
    parties = tuple(c.parties)
    if not len(c):
        return ObligationNetwork.from_arrays(parties, [], [], [])
    totals = branch.per_contract
    fees = np.zeros(len(parties), np.int64)
    np.add.at(fees, c.buyer, 2 * totals["fee_each"])
    money = np.array([branch.party_money.get(name, (0, 0, 0))[:2] for name in parties], np.int64)
    cash = np.maximum(money[:, 0] - money[:, 1], 0)
    return ObligationNetwork.from_arrays(parties, c.buyer, c.provider, totals["provider_receives"], cash, fees)


def stress(branch: Branch, shocks: dict | None = None, alpha_bp: int = 10_000,
           beta_bp: int = 10_000) -> tuple[Clearing, dict]:
    """Clear the branch's obligation network after ``shocks`` ({party: bp}); None: the default shock.

    Returns (clearing, the shocks applied). SimulationError for an unknown party or bad bp.
    """
    network = obligation_network(branch)
    if shocks is None:
        owed = network.owed
        shocks = {network.parties[int(np.argmax(owed))]: DEFAULT_SHOCK_BP} if len(owed) and owed.max() > 0 else {}
    try:
        return clear(network.shocked(shocks), alpha_bp, beta_bp), dict(shocks)
    except ValueError as error:
        raise SimulationError(str(error)) from None


def rounds_rows(clearing: Clearing) -> list:
    """(round, new_defaults, defaulted, shortfall µ$) per round that adds defaulters."""
    return [(r.round, r.new_defaults, r.defaulted, r.shortfall) for r in clearing.rounds]
