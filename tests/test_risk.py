"""Obligation network, clearing in rounds and compression (docs/RULES.md §8)."""
from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from contracts.clearing import clear
from contracts.compression import compress, strongly_connected
from contracts.network import ObligationNetwork

M = 1_000_000  # µ$ per dollar


def network(edges, cash=None, external=None, parties=()):
    """edges: (debtor, creditor, µ$)."""
    return ObligationNetwork.from_edges([e[0] for e in edges], [e[1] for e in edges], [e[2] for e in edges],
                                        cash or {}, external or {}, parties=parties)


# ---------------------------------------------------------------- the R package systemicrisk's example
# default_clearing(L, ea, el) with ea = (1/2, 5/8, 3/4) external assets, el = (3/2, 1/2, 1/2) external
# liabilities and L = matrix(c(0,x,1-x, 1-x,0,x, x,1-x,0), nrow=3) at x = 0.5: every bank owes each
# other bank 1/2. Scaled by 8 dollars a unit so every input is whole µ$.
UNIT = 8 * M


def systemicrisk_example():
    edges = [(a, b, UNIT // 2) for a in ("b1", "b2", "b3") for b in ("b1", "b2", "b3") if a != b]
    cash = {"b1": UNIT // 2, "b2": UNIT * 5 // 8, "b3": UNIT * 3 // 4}
    external = {"b1": UNIT * 3 // 2, "b2": UNIT // 2, "b3": UNIT // 2}
    return network(edges, cash, external)


def test_systemicrisk_example_eisenberg_noe():
    # pbar = (5/2, 3/2, 3/2) units; Π = 1/5 from b1, 1/3 from b2 and b3.
    # Round 1 (all pay in full): b1 has 1/2 + 1 = 3/2 < 5/2 -> defaults; b2 5/8 + 1 >= 3/2; b3 3/4 + 1 >= 3/2.
    # With b1 paying 1/2 + 1/3 p2 + 1/3 p3 = 3/2: b2 has 5/8 + 3/10 + 1/2 = 57/40 < 3/2 -> round 2;
    # b3 has 3/4 + 3/10 + 1/2 = 31/20 >= 3/2.
    # Round 3 check: p1 = 1 + p2/3, p2 = 9/8 + p1/5 -> p1 = 165/112, p2 = 159/112; b3 has
    # 3/4 + 33/112 + 53/112 = 170/112 >= 168/112: no new default.
    result = clear(systemicrisk_example(), method="exact")
    assert result.default_round.tolist() == [1, 2, 0]
    assert result.payment == [Fraction(165, 112) * UNIT, Fraction(159, 112) * UNIT, Fraction(3, 2) * UNIT]
    assert [(r.round, r.new_defaults, r.defaulted) for r in result.rounds] == [(1, 1, 1), (2, 1, 2)]
    assert result.lost.tolist() == [0, 0, 0]  # no bankruptcy costs under Eisenberg-Noe


def test_systemicrisk_example_with_bankruptcy_costs():
    # default_clearing(L, ea, el, alpha=0.5, beta=0.7). Round 1 as above (b1). Round 2: b1 pays
    # 0.5 * 1/2 + 0.7 * 1 = 0.95; b2 has 5/8 + 0.95/5 + 1/2 = 1.315 < 3/2 and b3 has
    # 3/4 + 0.19 + 1/2 = 1.44 < 3/2: both default in round 2, and everybody pays alpha e + beta inflow.
    result = clear(systemicrisk_example(), alpha_bp=5000, beta_bp=7000, method="exact")
    assert result.default_round.tolist() == [1, 2, 2]
    p = result.payment
    e = [UNIT // 2, UNIT * 5 // 8, UNIT * 3 // 4]
    inflow = [p[1] / 3 + p[2] / 3, p[0] / 5 + p[2] / 3, p[0] / 5 + p[1] / 3]
    for i in range(3):
        assert p[i] == Fraction(1, 2) * e[i] + Fraction(7, 10) * inflow[i]
    en = clear(systemicrisk_example(), method="exact").payment
    assert all(p[i] < en[i] for i in range(3))
    assert (result.lost > 0).all()


def test_a_party_with_exactly_enough_does_not_default():
    # B holds nothing and passes on exactly what A pays it.
    net = network([("A", "B", 10 * M), ("B", "C", 10 * M)], cash={"A": 10 * M})
    for method in ("exact", "fast"):
        assert clear(net, method=method).default_round.tolist() == [0, 0, 0]


def test_contagion_round_by_round():
    # A has $9 for its $10: round 1. B passes on only $9 of its $10: round 2. C gets $9.
    net = network([("A", "B", 10 * M), ("B", "C", 10 * M)], cash={"A": 9 * M})
    for method in ("exact", "fast"):
        result = clear(net, method=method)
        assert result.default_round.tolist() == [1, 2, 0]
        assert result.paid.tolist() == [9 * M, 9 * M, 0]
        assert [r.shortfall for r in result.rounds] == [1 * M, 2 * M]


def test_greatest_solution_of_a_cycle_without_cash():
    # A owes B $10 and B owes A $10, nobody has cash: p = 0 also solves the equations, but the
    # clearing vector is the greatest solution: both pay in full.
    net = network([("A", "B", 10 * M), ("B", "A", 10 * M)])
    for method in ("exact", "fast"):
        result = clear(net, method=method)
        assert result.default_round.tolist() == [0, 0]
        assert result.paid.tolist() == [10 * M, 10 * M]


def test_external_debt_ranks_equally():
    # A owes B $6 and outsiders $4, has $5: it pays half of each; B receives $3.
    net = network([("A", "B", 6 * M)], cash={"A": 5 * M}, external={"A": 4 * M})
    result = clear(net, method="exact")
    assert result.paid.tolist() == [5 * M, 0]
    assert result.received.tolist() == [0, 3 * M]


def test_shock_removes_basis_points_rounded_down():
    net = network([("A", "B", 5)], cash={"A": 999})
    assert net.shocked({"A": 3333}).cash.tolist() == [666, 0]  # 999 * 0.6667 = 666.03
    assert net.shocked({"A": 10000}).cash.tolist() == [0, 0]
    with pytest.raises(ValueError, match="unknown party"):
        net.shocked({"Z": 1})


def test_rows_for_the_same_pair_add_up():
    net = network([("A", "B", 3), ("A", "B", 4), ("B", "A", 1)])
    assert list(zip(net.debtor.tolist(), net.creditor.tolist(), net.amount.tolist())) == [(0, 1, 7), (1, 0, 1)]
    assert net.owed.tolist() == [7, 1] and net.receivable.tolist() == [1, 7]


def test_alpha_beta_out_of_range_is_an_error():
    with pytest.raises(ValueError, match="alpha"):
        clear(network([("A", "B", 1)]), alpha_bp=10001)


# ------------------------------------------------------------------------- compression
def test_compression_hand_example():
    # A->B 10, B->C 5, C->A 7. Net: A -3, B +5, C -2. C's 2 can only reach B through A (2 edges),
    # A's 3 goes straight to B: least total 2*2 + 3 = 7 (A->B 5, B->C 0, C->A 2), of 22 gross.
    net = network([("A", "B", 10), ("B", "C", 5), ("C", "A", 7)])
    report = compress(net)
    assert (report.gross, report.compressed) == (22, 7)
    assert [(c.component, c.parties, c.gross, c.compressed) for c in report.components] == [(1, 3, 22, 7)]
    assert report.components[0].circular_share_micros == 681818  # 15/22 = 0.6818181...


def test_components_are_numbered_by_first_party():
    net = network([("x", "y", 1), ("y", "x", 1), ("a", "b", 2), ("b", "a", 3), ("m", "x", 5)])
    labels, count = strongly_connected(net)
    assert count == 3 and labels.tolist() == [0, 0, 1, 2, 2]  # {a, b}, {m}, {x, y}
    report = compress(net)
    assert [c.first for c in report.components] == ["a", "x"]
    assert [c.compressed for c in report.components] == [1, 0]


# ------------------------------------------------------------------------- properties
@st.composite
def networks(draw, max_parties=7, max_amount=20):
    n = draw(st.integers(2, max_parties))
    names = [f"p{k}" for k in range(n)]
    pairs = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=3 * n))
    edges = [(names[a], names[b], draw(st.integers(0, max_amount))) for a, b in pairs if a != b]
    cash = {name: draw(st.integers(0, max_amount)) for name in names}
    external = {name: draw(st.integers(0, max_amount // 4)) for name in names}
    return network(edges, cash, external, parties=names)


def rates():
    return st.tuples(st.integers(0, 10000), st.integers(0, 10000))


def exact_inflow(net, p):
    inflow = [Fraction(0)] * len(net)
    owed = net.owed.tolist()
    for j, i, a in zip(net.debtor.tolist(), net.creditor.tolist(), net.amount.tolist()):
        if a:
            inflow[i] += Fraction(a, owed[j]) * p[j]
    return inflow


PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(networks(), rates())
def test_fixed_point_limited_liability_absolute_priority(net, ab):
    alpha, beta = Fraction(ab[0], 10000), Fraction(ab[1], 10000)
    result = clear(net, *ab, method="exact")
    p, inflow = result.payment, exact_inflow(net, result.payment)
    for i in range(len(net)):
        pbar, e = int(net.owed[i]), int(net.cash[i])
        assert 0 <= p[i] <= pbar
        if e + inflow[i] >= pbar:
            assert p[i] == pbar and not result.defaulted[i]  # a non-defaulter pays in full
        else:
            assert p[i] == alpha * e + beta * inflow[i] and result.defaulted[i]


@PROPERTY
@given(networks(max_amount=1000))
def test_greatest_fixed_point_against_an_lp(net):
    # Eisenberg-Noe: the clearing vector maximises sum(p) over p <= pbar, p <= e + Π^T p, p >= 0.
    n = len(net)
    result = clear(net, method="exact")
    owed = net.owed.astype(float)
    pi = np.zeros((n, n))
    for j, i, a in zip(net.debtor.tolist(), net.creditor.tolist(), net.amount.tolist()):
        if a:
            pi[j, i] += a / owed[j]
    lp = linprog(-np.ones(n), A_ub=np.eye(n) - pi.T, b_ub=net.cash.astype(float),
                 bounds=list(zip([0.0] * n, owed)), method="highs")
    assert lp.status == 0
    assert float(sum(result.payment)) == pytest.approx(-lp.fun, abs=1e-6)
    assert all(float(result.payment[i]) >= lp.x[i] - 1e-6 for i in range(n))


@PROPERTY
@given(networks(max_parties=9, max_amount=12), rates(), st.booleans())
def test_fast_path_agrees_with_exact_path(net, ab, big):
    if big:  # the same shape at realistic sizes: ties stay ties, amounts reach billions of dollars
        scale = 10**15 + 7
        net = ObligationNetwork(net.parties, net.debtor, net.creditor, net.amount * scale, net.cash * scale,
                                net.external_debt * scale)
    exact = clear(net, *ab, method="exact")
    fast = clear(net, *ab, method="fast")
    assert fast.default_round.tolist() == exact.default_round.tolist()
    assert [(r.round, r.new_defaults, r.defaulted) for r in fast.rounds] == \
        [(r.round, r.new_defaults, r.defaulted) for r in exact.rounds]
    tolerance = np.maximum(1, 1e-9 * net.owed) + 1  # +1: the floors of two close values
    assert (np.abs(fast.paid - exact.paid) <= tolerance).all()
    assert (np.abs(fast.received - exact.received) <= np.maximum(1, 1e-9 * net.receivable) + 1).all()


@PROPERTY
@given(networks(max_amount=50))
def test_compression_keeps_net_positions_and_never_grows(net):
    report = compress(net)
    n = len(net)
    before = np.bincount(net.creditor, net.amount, n) - np.bincount(net.debtor, net.amount, n)
    after = np.bincount(net.creditor, report.amount, n) - np.bincount(net.debtor, report.amount, n)
    assert (before == after).all()
    assert ((report.amount >= 0) & (report.amount <= net.amount)).all()
    assert report.compressed == int(report.amount.sum()) <= report.gross
    assert report.compressed >= int(np.maximum(before, 0).sum())  # every net credit must still arrive


@PROPERTY
@given(networks(max_amount=50))
def test_acyclic_network_is_not_compressed_and_clears_the_same(net):
    # keep only obligations from a lower to a higher index: no cycle
    keep = net.debtor < net.creditor
    acyclic = ObligationNetwork(net.parties, net.debtor[keep], net.creditor[keep], net.amount[keep],
                                net.cash, net.external_debt)
    report = compress(acyclic)
    assert report.compressed == report.gross and not report.components
    squeezed = ObligationNetwork(net.parties, acyclic.debtor, acyclic.creditor, report.amount, net.cash,
                                 net.external_debt)
    assert clear(squeezed).payment == clear(acyclic).payment


# ------------------------------------------------------------------------- simulate's stress step
@pytest.fixture(scope="module")
def small_run():
    from simulation import run_simulation

    return run_simulation(days=3, seed=11, buyers=150, providers=8, whatif="none")


def test_simulation_stress_without_a_shock_nobody_defaults(small_run):
    from simulation.stress import obligation_network, stress

    net = obligation_network(small_run.base)
    # each party owes exactly what it paid in settlement, and holds what it paid beyond its receipts
    for name, (paid, received, _) in small_run.base.party_money.items():
        k = net.index(name)
        assert int(net.owed[k]) == paid and int(net.cash[k]) == max(paid - received, 0)
    clearing, shocks = stress(small_run.base, {})
    assert shocks == {} and not clearing.rounds and (clearing.paid == net.owed).all()


def test_simulation_stress_step_reports_default_rounds(small_run):
    net_owed = small_run.stress.network.owed
    (shocked, bp), = small_run.shocks.items()
    k = small_run.stress.network.index(shocked)
    assert bp == 5000 and net_owed[k] == net_owed.max()  # the buyer owing the most
    assert small_run.stress.default_round[k] == 1
    lines = small_run.tables["stress.csv"].splitlines()
    assert lines[0] == "round,new_defaults,defaulted,shortfall" and lines[1].startswith("1,")
    assert f"round 1: {small_run.stress.rounds[0].new_defaults} default" in small_run.summary


@PROPERTY
@given(networks(max_amount=50))
def test_compression_total_is_the_lp_minimum_whichever_solver(net):
    # min sum(L') s.t. 0 <= L' <= L, net positions kept: an LP over small integers (exact in floats)
    n, m = len(net), len(net.amount)
    incidence = np.zeros((n, m))
    incidence[net.creditor, np.arange(m)] += 1
    incidence[net.debtor, np.arange(m)] -= 1
    lp = linprog(np.ones(m), A_eq=incidence, b_eq=incidence @ net.amount, bounds=list(zip([0] * m, net.amount)),
                 method="highs") if m else None
    best = round(lp.fun) if m else 0
    assert compress(net, solver="networkx").compressed == best
    assert compress(net, solver="auto").compressed == best


def test_closed_class_detection():
    # A <-> B owe only each other: closed when both are defaulters. C owes A and D: not closed.
    from contracts.clearing import closed_classes

    net = network([("A", "B", 5), ("B", "A", 3), ("C", "A", 1), ("C", "D", 1), ("D", "C", 1)])
    everyone = np.ones(4, bool)
    assert closed_classes(net, everyone).tolist() == [True, True, False, False]
    assert closed_classes(net, np.array([True, False, True, True])).tolist() == [False] * 4


@PROPERTY
@given(networks(max_parties=9, max_amount=12), rates())
def test_fast_path_iterative_solver_agrees_with_exact_path(net, ab):
    # the solver large networks use (monotone iteration, GMRES fallback), forced on small ones
    from contracts import clearing

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(clearing, "DIRECT_LIMIT", 0)
        fast = clear(net, *ab, method="fast")
    exact = clear(net, *ab, method="exact")
    assert fast.default_round.tolist() == exact.default_round.tolist()
    assert (np.abs(fast.paid - exact.paid) <= np.maximum(1, 1e-9 * net.owed) + 1).all()


def test_network_from_a_settlement_in_memory():
    # lab buys 300 hours at $2.000 from cloud over 30 periods: 10 hours a period, 80 % take-or-pay ->
    # 8 hours a period. After settling periods 0..9, 20 periods remain: 160 hours x $2 = $320.
    from contracts import Contracts, Settlement
    from exchange.config import ExchangeConfig

    config = ExchangeConfig.default()
    contracts = Contracts.from_arrays(config, [1], ["H100-SXM.2027-01"], ["lab"], ["cloud"], ["A"], [2000], [300])
    settlement = Settlement(config, contracts)
    settlement.settle_through(9)
    net = ObligationNetwork.from_settlement(settlement, cash={"lab": 100 * M})
    assert net.parties == ("cloud", "lab")
    assert list(zip(net.debtor.tolist(), net.creditor.tolist(), net.amount.tolist())) == [(1, 0, 320 * M)]
    result = clear(net)
    assert result.default_round.tolist() == [0, 1] and result.paid.tolist() == [0, 100 * M]
