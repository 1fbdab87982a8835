"""Systemic-risk layer at scale (docs/RULES.md §8): clearing and compression of 100,000 parties with
1,000,000 obligations (targets: clearing <= 5 s, compression <= 30 s).

    pytest bench/bench_risk.py --benchmark-only

Not collected by the default ``pytest`` run (testpaths = tests); tests/test_bench_smoke.py runs
``make_network`` and both steps once on a small network. The network: random debtor -> creditor
pairs with amounts from $1 to $1M, every party's cash just covering its net position plus a thin
buffer (0-3 % of what it owes), and the 1 % largest debtors lose all their cash: contagion runs over
several rounds.
"""
from __future__ import annotations

import numpy as np
import pytest

from contracts.clearing import clear
from contracts.compression import compress
from contracts.network import ObligationNetwork

PARTIES = 100_000
OBLIGATIONS = 1_000_000


def make_network(parties: int = PARTIES, obligations: int = OBLIGATIONS, seed: int = 7) -> ObligationNetwork:
    """A random obligation network whose thin buffers let a shock to the largest debtors spread."""
    rng = np.random.default_rng(seed)
    debtor = rng.integers(0, parties, obligations)
    creditor = (debtor + rng.integers(1, parties, obligations)) % parties  # never the debtor itself
    amount = rng.integers(1, 1_000_000, obligations) * 1_000_000  # $1 .. $1M in µ$
    names = [f"p{k:06d}" for k in range(parties)]
    owed = np.bincount(debtor, weights=amount, minlength=parties).astype(np.int64)
    due = np.bincount(creditor, weights=amount, minlength=parties).astype(np.int64)
    buffer = owed * rng.integers(0, 300, parties) // 10_000
    cash = np.maximum(owed - due, 0) + buffer
    shocked = np.argsort(-owed, kind="stable")[: max(parties // 100, 1)]
    cash[shocked] = 0
    return ObligationNetwork.from_arrays(names, debtor, creditor, amount, cash)


@pytest.fixture(scope="module")
def network():
    return make_network()


def test_clearing_100k_parties_1m_obligations(benchmark, network):
    result = benchmark.pedantic(lambda: clear(network, method="fast"), rounds=3, iterations=1, warmup_rounds=1)
    assert len(result.rounds) >= 3, "the benchmark should cascade over several rounds"
    assert (result.paid <= network.owed).all()


def test_compression_100k_parties_1m_obligations(benchmark, network):
    report = benchmark.pedantic(lambda: compress(network), rounds=1, iterations=1)
    assert report.compressed <= report.gross
