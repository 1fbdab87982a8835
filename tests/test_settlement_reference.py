"""The settlement kernel against the plain-integer reference (docs/RULES.md §7), line by line.

contracts/reference.py settles one contract at a time from the rules with Python
ints and a list for the make-up bank; here random terms, schedules and metering
(missing rows, outages, over-use, low goodput, make-up use and expiry) go through
both, and every quantity of every statement line must agree: through the API with
kept lines, and through the streaming sink in small blocks of contracts.
"""
from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts import settle_nb
from contracts.metering import Metering
from contracts.reference import settle_contract
from contracts.schedule import Contracts
from contracts.settlement import Settlement
from exchange.config import ExchangeConfig

terms = st.fixed_dictionaries({
    "take_or_pay": st.integers(0, 10_000),
    "makeup_periods": st.integers(0, 7),
    "sla_credit": st.integers(0, 30_000),
    "credit_cap": st.integers(0, 10_000),
    "fee": st.integers(0, 10_000),
})
GRADES = {"A": 9500, "B": 9000, "C": 8000, "D": 7000}


def config_of(instruments) -> ExchangeConfig:
    lines = []
    for k, (periods, t) in enumerate(instruments):
        lines += ["[[instrument]]", f'symbol = "I{k}"', 'tick = "0.001"', 'price_min = "0"',
                  'price_max = "100"', f"delivery_periods = {periods}"] + [f"{n} = {v}" for n, v in t.items()]
    return ExchangeConfig.from_toml("\n".join(lines) + "\n")


@st.composite
def metering_row(draw, sched, floor):
    """One period's row: normal, outage, over-use, over-availability or low goodput."""
    kind = draw(st.sampled_from(["normal", "outage", "over_use", "over_avail", "low_goodput", "idle"]))
    available = sched
    if kind == "outage":
        available = draw(st.integers(0, max(sched - 1, 0)))
    elif kind == "over_avail":
        available = sched + draw(st.integers(1, 20))
    used = draw(st.integers(0, available))
    if kind == "over_use":
        used = available + draw(st.integers(1, 20))
    elif kind == "idle":
        used = 0
    goodput = draw(st.integers(0, floor - 1)) if kind == "low_goodput" else draw(st.integers(floor, 10_000))
    return available, used, goodput


@st.composite
def books(draw):
    instruments = [(draw(st.integers(1, 8)), draw(terms)) for _ in range(draw(st.integers(1, 3)))]
    config = config_of(instruments)
    n = draw(st.integers(1, 6))
    contracts = []
    for k in range(n):
        ins = draw(st.integers(0, len(instruments) - 1))
        periods = instruments[ins][0]
        grade = draw(st.sampled_from(sorted(GRADES)))
        qty = draw(st.integers(1, 12 * periods))
        ticks = draw(st.integers(0, 60_000))
        rows = {}
        for t in range(periods):
            if draw(st.booleans()):  # about half the rows are missing
                sched = qty // periods + (1 if t < qty % periods else 0)
                rows[t] = draw(metering_row(sched, GRADES[grade]))
        contracts.append((k + 1, ins, grade, ticks, qty, rows))
    through = draw(st.integers(0, max(instruments[c[1]][0] for c in contracts) - 1))
    return config, instruments, contracts, through


def expected_lines(instruments, contracts, through):
    out = {}
    for trade_id, ins, grade, ticks, qty, rows in contracts:
        periods, t = instruments[ins]
        lines = settle_contract(qty=qty, periods=periods, p=ticks * 1000, floor_bp=GRADES[grade],
                                metering=rows, through=through, **t)
        for period, line in enumerate(lines):
            out[trade_id, period] = line
    return out


def build(config, contracts):
    book = Contracts.from_arrays(config, [c[0] for c in contracts], [f"I{c[1]}" for c in contracts],
                                 ["b.x"] * len(contracts), ["p.y"] * len(contracts), [c[2] for c in contracts],
                                 [c[3] for c in contracts], [c[4] for c in contracts])
    rows = [(tid, t, a, u, f"{g // 10_000}.{g % 10_000:04d}")
            for tid, _, _, _, _, metering in contracts for t, (a, u, g) in metering.items()]
    return book, rows


@settings(max_examples=300, deadline=None)
@given(books())
def test_kernel_matches_the_reference_line_by_line(book):
    config, instruments, contracts, through = book
    expected = expected_lines(instruments, contracts, through)
    book_, rows = build(config, contracts)
    s = Settlement(config, book_)
    s.settle_through(through, Metering.from_rows(rows, book_))
    got = {}
    for r in s.results:
        for j, c in enumerate(r.contract.tolist()):
            got[int(book_.trade_id[c]), r.period] = {k: int(v[j]) for k, v in r.lines.items()}
    assert got == expected


@settings(max_examples=150, deadline=None)
@given(books(), st.integers(1, 3))
def test_streamed_lines_in_small_blocks_match_the_reference(book, block):
    """The CLI's path: lines handed to a sink a few contracts at a time, nothing kept."""
    config, instruments, contracts, through = book
    expected = expected_lines(instruments, contracts, through)
    book_, rows = build(config, contracts)
    s = Settlement(config, book_, keep_lines=False)
    s.block_contracts = block
    got, order = {}, []

    def sink(lines):
        for j, c in enumerate(lines.contract.tolist()):
            key = (int(book_.trade_id[c]), lines.period)
            order.append((lines.period, key[0]))
            got[key] = {name: int(lines.lines[k, j]) for k, name in enumerate(settle_nb.LINE_COLUMNS)
                        if name != "active"}

    s.settle_through(through, Metering.from_rows(rows, book_), sink=sink)
    assert got == expected
    assert order == sorted(order)  # period, then trade_id: the order of statements.csv
    for r in s.results:
        assert r.lines is None
        paid = sum(v["buyer_pays"] for (tid, t), v in expected.items() if t == r.period)
        assert r.buyer_payments == paid


def test_reference_bank_by_hand():
    """The reference itself on the make-up scenario of tests/test_settlement.py (FIFO, expiry)."""
    rows = {0: (10, 1, 9500), 1: (10, 3, 9500), 2: (10, 9, 9500), 3: (10, 6, 9500)}
    lines = settle_contract(qty=50, periods=5, p=2_000_000, floor_bp=9500, take_or_pay=5000, makeup_periods=2,
                            sla_credit=0, credit_cap=10_000, fee=0, metering=rows, through=4)
    assert [ln["deficiency"] for ln in lines] == [4, 2, 0, 0, 5]
    assert [ln["makeup"] for ln in lines] == [0, 0, 4, 1, 0]  # 4 of period 0's, then 1 of period 1's
    assert [ln["bank_after"] for ln in lines] == [4, 6, 2, 0, 5]
    assert lines[4]["metered"] == 0 and lines[4]["billable"] == 5
    assert np.sum([ln["buyer_pays"] for ln in lines]) == 2_000_000 * (5 + 5 + 5 + 5 + 5)
