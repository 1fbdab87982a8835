"""Hot-path microbenchmarks (pytest-benchmark). Run:

    pytest bench/ --benchmark-only

Each case prepares a book outside the timing (and runs the kernel once before any
timing, so JIT compilation or cache loading never lands in a measurement), then times
a block of actions through the matching kernel ``process`` on a fresh copy of that book,
and asserts what the block did (events, trades). ``tests/test_bench_smoke.py`` runs
every case once without timing, so they cannot rot.

Cases: insert a resting order; cancel; a marketable order sweeping N price levels;
cross-grade matching with 4 grades populated; replace keeping and losing priority;
a per-call ``Exchange.submit`` from Python.
"""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from bench.workloads import bench_config
from exchange.engine import Exchange, register_providers, run_kernel
from exchange.nb.kernel import load
from exchange.nb.layout import C_EVENT_COUNT, C_LIVE, C_TRADE_COUNT, DONE
from exchange.nb.matching_nb import process
from exchange.schema import (
    ACT_CANCEL, ACT_NEW, ACT_REPLACE, ACTION_DTYPE, BUY, EV_ACCEPTED, EV_CANCELED, EV_FILL,
    EV_REPLACED, EVENT_DTYPE, GRADE_ABSENT, GTC, IOC, LIMIT, NO_VALUE, PRICE_ABSENT, PRICE_OK, SELL,
    TRADE_DTYPE,
)
from exchange.state import BookState

CONFIG = bench_config(1)  # I0: tick 0.001, band 0.500..20.000; p0..p7 over grades A..D
PARTIES = [f"p{k}" for k in range(8)] + [f"b{k}" for k in range(32)]
MID = 2500  # absolute ticks (2.500)
BLOCK = 10_000  # actions per timed block for the per-order cases


def rows(n: int, **fields) -> np.ndarray:
    """n actions with defaults (new, limit/gtc, instrument 0) and ``fields`` (scalars or arrays)."""
    a = np.zeros(n, ACTION_DTYPE)
    a["action"] = ACT_NEW
    a["instrument"] = 0
    a["order_type"] = LIMIT
    a["tif"] = GTC
    a["price_state"] = PRICE_OK
    a["min_grade"] = GRADE_ABSENT
    a["qty"] = 1
    for name, value in fields.items():
        a[name] = value
    return a


def number(actions: np.ndarray, start_seq: int = 0) -> np.ndarray:
    actions["seq"] = start_seq + np.arange(len(actions))
    actions["ts"] = actions["seq"]
    return actions


class Case:
    """A prepared book plus a block of actions; ``run`` applies the block to a fresh copy."""

    def __init__(self, prefill: np.ndarray, block: np.ndarray):
        number(prefill)
        number(block, len(prefill))
        self.block = block
        self.base = BookState(CONFIG, order_capacity=1 << 16, id_capacity=1 << 18)
        register_providers(CONFIG, self.base, {p: i for i, p in enumerate(PARTIES)}, list(PARTIES))
        if len(prefill):
            run_kernel(self.base, prefill, np.empty(4 * len(prefill) + 64, EVENT_DTYPE),
                 np.empty(len(prefill) + 64, TRADE_DTYPE))
        self.live_before = int(self.base.counters[C_LIVE])
        self.base.counters[C_EVENT_COUNT] = 0
        self.base.counters[C_TRADE_COUNT] = 0
        args = self.setup()[0]
        # The compiled entry point (no per-call type dispatch), as the per-call API uses;
        # getting it compiles / loads the kernel outside any timing.
        self.process = load(process, self.block[:0], 0, args[0].arrays, (args[1], args[2]))

    def setup(self):
        """A fresh copy of the book and output buffers (pytest-benchmark's ``setup``)."""
        state = self.base.copy()
        events = np.zeros(3 * len(self.block) + 2 * self.live_before + 4096, EVENT_DTYPE)
        trades = np.zeros(len(self.block) + self.live_before + 64, TRADE_DTYPE)
        return (state, events, trades), {}

    def run(self, state, events, trades):
        end, status = self.process(self.block, 0, state.arrays, (events, trades))
        assert status == DONE and end == len(self.block)
        self.last = (state, events[: state.counters[C_EVENT_COUNT]], trades[: state.counters[C_TRADE_COUNT]])
        return self.last

    def once(self):
        """Set up and run once (no timing): the smoke test's entry."""
        args, _ = self.setup()
        return self.run(*args)


def resting_book(n: int, seed: int = 7) -> np.ndarray:
    """n non-crossing resting orders: bids below MID - 50, asks (raw) above MID + 50."""
    rng = np.random.default_rng(seed)
    side = rng.integers(0, 2, n).astype(np.int8)
    distance = 50 + rng.integers(0, 1500, n)  # inside the band (0.500..20.000)
    return rows(n, order_id=np.arange(1, n + 1), side=side,
                party=np.where(side == SELL, rng.integers(0, 8, n), 8 + rng.integers(0, 32, n)),
                price=np.where(side == SELL, MID + distance, MID - distance), qty=rng.integers(1, 20, n))


# ------------------------------------------------------------------ cases
def case_insert() -> tuple[Case, callable]:
    book = resting_book(10_000)
    rng = np.random.default_rng(1)
    block = rows(BLOCK, order_id=10**6 + np.arange(BLOCK), side=BUY, party=8 + rng.integers(0, 32, BLOCK),
                 price=MID - 60 - rng.integers(0, 500, BLOCK), qty=rng.integers(1, 20, BLOCK))
    case = Case(book, block)

    def check(state, events, trades):
        assert len(events) == BLOCK and np.all(events["event"] == EV_ACCEPTED) and len(trades) == 0
        assert state.counters[C_LIVE] == case.live_before + BLOCK
    return case, check


def case_cancel() -> tuple[Case, callable]:
    book = resting_book(BLOCK)
    order = np.random.default_rng(2).permutation(BLOCK)
    block = rows(BLOCK, action=ACT_CANCEL, order_id=book["order_id"][order], party=book["party"][order],
                 price_state=PRICE_ABSENT, qty=NO_VALUE)
    case = Case(book, block)

    def check(state, events, _trades):
        assert len(events) == BLOCK and np.all(events["event"] == EV_CANCELED)
        assert state.counters[C_LIVE] == 0
    return case, check


def case_sweep(levels: int) -> tuple[Case, callable]:
    """One buy crossing ``levels`` ask levels (grade A, one order each) of a deeper book."""
    asks = rows(levels + 100, order_id=np.arange(1, levels + 101), side=SELL, party=0,
                price=MID + np.arange(levels + 100), qty=5)
    block = rows(1, order_id=10**6, side=BUY, party=8, tif=IOC, qty=5 * levels,
                 price=(MID + levels) * 10000 // 9500 + 1)  # effective price above the levels-th ask
    case = Case(asks, block)

    def check(_state, events, trades):
        assert len(trades) == levels and trades["qty"].sum() == 5 * levels
        assert np.count_nonzero(events["event"] == EV_FILL) == 2 * levels
    return case, check


def case_cross_grade(per_grade: int = 25) -> tuple[Case, callable]:
    """Asks of all 4 grades at interleaved effective prices; one buy admitting every grade
    meets them in effective-price order across the 4 ladders."""
    factors = np.array([9500, 9000, 8000, 7000])
    providers = np.array([0, 2, 4, 6])  # one provider per grade
    grade = np.tile(np.arange(4), per_grade)
    step = np.repeat(np.arange(per_grade), 4)
    effective = MID + 4 * step + grade  # interleaved: A, B, C, D, A, B, ...
    raw = effective * factors[grade] // 10000
    asks = rows(4 * per_grade, order_id=np.arange(1, 4 * per_grade + 1), side=SELL,
                party=providers[grade], price=raw, qty=3)
    block = rows(1, order_id=10**6, side=BUY, party=8, tif=IOC, qty=3 * 4 * per_grade,
                 price=MID + 4 * per_grade + 10)
    case = Case(asks, block)

    def check(_state, _events, trades):
        assert len(trades) == 4 * per_grade
        assert set(trades["grade"].tolist()) == {0, 1, 2, 3}
    return case, check


def case_replace(keep_priority: bool) -> tuple[Case, callable]:
    """Replace every order of a 10,000-order book: a qty decrease keeps its place; a price
    change (non-crossing) is a fresh arrival."""
    book = resting_book(BLOCK)
    book["qty"] = 20
    order = np.random.default_rng(3).permutation(BLOCK)
    target = book[order]
    if keep_priority:
        block = rows(BLOCK, action=ACT_REPLACE, order_id=target["order_id"], party=target["party"],
                     price_state=PRICE_ABSENT, qty=10)
    else:
        block = rows(BLOCK, action=ACT_REPLACE, order_id=target["order_id"], party=target["party"],
                     price=np.where(target["side"] == SELL, target["price"] + 1, target["price"] - 1),
                     qty=NO_VALUE)
    case = Case(book, block)

    def check(state, events, trades):
        assert len(events) == BLOCK and np.all(events["event"] == EV_REPLACED) and len(trades) == 0
        arrivals = state.orders["arrival"][: BLOCK]
        if keep_priority:
            assert arrivals.max() < BLOCK  # every order kept its arrival (prefill seqs)
        else:
            assert arrivals.min() >= BLOCK  # every order re-arrived with the block
    return case, check


class PerCall:
    """``Exchange.submit`` of a resting (non-crossing) order, from Python, one call."""

    def __init__(self):
        self.exchange = Exchange(CONFIG)
        for i in range(2000):
            self.exchange.submit(f"b{i % 32}", "I0", "buy", 5, f"{(MID - 100 - i % 500) / 1000:.3f}")
            self.exchange.submit(f"p{i % 8}", "I0", "sell", 5, f"{(MID + 100 + i % 500) / 1000:.3f}")
        self.ids = itertools.count(10**7)

    def run(self):
        return self.exchange.submit("b1", "I0", "buy", 3, "2.300", order_id=next(self.ids))

    @staticmethod
    def check(events):
        assert len(events) == 1 and events[0].event == EV_ACCEPTED


ALL_CASES = {
    "insert": case_insert,
    "cancel": case_cancel,
    "sweep_1": lambda: case_sweep(1),
    "sweep_10": lambda: case_sweep(10),
    "sweep_100": lambda: case_sweep(100),
    "sweep_1000": lambda: case_sweep(1000),
    "cross_grade_4": case_cross_grade,
    "replace_keep_priority": lambda: case_replace(True),
    "replace_lose_priority": lambda: case_replace(False),
}
PER_ORDER = {"insert", "cancel", "replace_keep_priority", "replace_lose_priority"}


# ---------------------------------------------------------------- benchmarks
@pytest.mark.parametrize("name", list(ALL_CASES))
def test_hotpath(benchmark, name):
    case, check = ALL_CASES[name]()
    rounds = 20 if name in PER_ORDER else 200
    result = benchmark.pedantic(case.run, setup=case.setup, rounds=rounds, iterations=1, warmup_rounds=1)
    check(*result)
    per = BLOCK if name in PER_ORDER else 1
    benchmark.extra_info["actions_per_round"] = per
    benchmark.extra_info["ns_per_action"] = benchmark.stats.stats.median / per * 1e9


def test_per_call_submit(benchmark):
    per_call = PerCall()
    per_call.run()  # warm: the compiled entry point is looked up on the first call
    events = benchmark(per_call.run)
    PerCall.check(events)
