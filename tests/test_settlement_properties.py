"""Hypothesis properties of take-or-pay settlement (docs/RULES.md §7)."""
from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.csvio import money_text
from contracts.metering import Metering
from contracts.report import netting_csv, render
from contracts.schedule import Contracts
from contracts.settlement import Settlement
from exchange.config import ExchangeConfig

PARTIES = ["b.a", "b.b", "p.x", "p.y", "m.both"]

terms = st.fixed_dictionaries({
    "take_or_pay": st.integers(0, 10_000),
    "makeup_periods": st.integers(0, 4),
    "sla_credit": st.integers(0, 30_000),
    "credit_cap": st.integers(0, 10_000),
    "fee": st.integers(0, 500),
})


def build_config(t1, t2, periods1, periods2) -> ExchangeConfig:
    lines = []
    for name, periods, terms_ in (("I1", periods1, t1), ("I2", periods2, t2)):
        lines += ["[[instrument]]", f'symbol = "{name}"', 'tick = "0.001"', 'price_min = "0"', 'price_max = "50"',
                  f"delivery_periods = {periods}"] + [f"{k} = {v}" for k, v in terms_.items()]
    return ExchangeConfig.from_toml("\n".join(lines) + "\n")


def goodput_text(bp: int) -> str:
    return f"{bp // 10_000}.{bp % 10_000:04d}"


@st.composite
def scenarios(draw, full_take_or_pay=False):
    t1, t2 = draw(terms), draw(terms)
    if full_take_or_pay:
        t1["take_or_pay"] = t2["take_or_pay"] = 10_000
    config = build_config(t1, t2, draw(st.integers(1, 6)), draw(st.integers(1, 6)))
    n = draw(st.integers(1, 12))
    trade_ids = draw(st.lists(st.integers(1, 10**6), min_size=n, max_size=n, unique=True))
    pairs = draw(st.lists(st.tuples(st.sampled_from(PARTIES), st.sampled_from(PARTIES)), min_size=n, max_size=n))
    contracts = Contracts.from_arrays(
        config, trade_ids, draw(st.lists(st.sampled_from(["I1", "I2"]), min_size=n, max_size=n)),
        [b for b, _ in pairs], [s for _, s in pairs], draw(st.lists(st.sampled_from("ABCD"), min_size=n, max_size=n)),
        draw(st.lists(st.integers(0, 50_000), min_size=n, max_size=n)),
        draw(st.lists(st.integers(1, 200), min_size=n, max_size=n)),
    )
    rows = []
    for c in range(n):
        for t in range(int(contracts.periods[c])):
            if draw(st.booleans()):
                rows.append((int(contracts.trade_id[c]), t, draw(st.integers(0, 60)), draw(st.integers(0, 60)),
                             goodput_text(draw(st.integers(0, 10_000)))))
    rows = draw(st.permutations(rows))
    last = draw(st.integers(0, contracts.max_periods - 1))
    return config, contracts, rows, last


@settings(max_examples=150, deadline=None)
@given(scenarios())
def test_money_conserves_every_period(scenario):
    """Smoke test: ``paid = received + fees`` repeats the kernel's own arithmetic
    (pays = net + fee, receives = net - fee), so it catches bookkeeping slips, not
    wrong rules; tests/test_settlement_reference.py checks the rules (docs/RULES.md §7)."""
    config, contracts, rows, last = scenario
    s = Settlement(config, contracts)
    s.settle_through(last, Metering.from_rows(rows, contracts))
    for r in s.results:
        lines = r.lines
        assert lines["buyer_pays"].sum() == lines["provider_receives"].sum() + 2 * lines["fee_each"].sum()
        assert r.buyer_payments == r.provider_receipts + r.fees
        assert r.fees == 2 * lines["fee_each"].sum()
        assert (lines["net"] >= 0).all() and (lines["credit"] <= lines["charge"]).all()


@settings(max_examples=100, deadline=None)
@given(scenarios())
def test_net_positions_sum_to_minus_fees(scenario):
    """Smoke test: the netting total follows from ``paid = received + fees`` (the
    kernel's own arithmetic); the rules are checked against contracts/reference.py."""
    config, contracts, rows, last = scenario
    s = Settlement(config, contracts)
    s.settle_through(last, Metering.from_rows(rows, contracts))
    totals = {}
    for line in netting_csv(s).splitlines()[1:]:
        period, party, position, gross, net = line.split(",")
        if party == "*":
            totals[int(period)] = position
    for r in s.results:
        sums = r.party_sums
        assert int((sums[:, 1] - sums[:, 0]).sum()) == -r.fees
        assert totals[r.period] == money_text(np.array([-r.fees])).to_pylist()[0]


@settings(max_examples=150, deadline=None)
@given(scenarios(full_take_or_pay=True), st.data())
def test_more_availability_never_lowers_a_bill_at_full_take_or_pay(scenario, data):
    config, contracts, rows, last = scenario
    raised = [(tid, t, a + data.draw(st.integers(0, 20)), u, g) for tid, t, a, u, g in rows]
    bills = []
    for metering in (rows, raised):
        s = Settlement(config, contracts)
        s.settle_through(last, Metering.from_rows(metering, contracts))
        bills.append([dict(zip(r.contract.tolist(), r.lines["buyer_pays"].tolist())) for r in s.results])
    for before, after in zip(*bills):
        for c in before:
            assert after[c] >= before[c]


@settings(max_examples=150, deadline=None)
@given(scenarios(), st.data())
def test_period_by_period_equals_all_at_once(scenario, data):
    config, contracts, rows, last = scenario
    at_once = Settlement(config, contracts)
    at_once.settle_through(last, Metering.from_rows(rows, contracts))

    stepwise = Settlement(config, contracts)
    for t in range(last + 1):  # metering arrives as each period closes, in pieces
        arrived = [r for r in rows if r[1] == t]
        cut = data.draw(st.integers(0, len(arrived)))
        stepwise.add_metering(arrived[:cut])
        stepwise.settle_period(arrived[cut:])
    assert stepwise.next_period == at_once.next_period == last + 1
    for a, b in zip(at_once.results, stepwise.results):
        assert np.array_equal(a.contract, b.contract)
        assert all(np.array_equal(a.lines[k], b.lines[k]) for k in a.lines)
        assert np.array_equal(a.party_sums, b.party_sums)
    assert np.array_equal(at_once.bank, stepwise.bank)
    assert render(at_once) == render(stepwise)
