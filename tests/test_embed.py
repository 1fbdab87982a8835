"""The njit API (exchange/embed.py) against the Python API on the same actions.

A random script of new orders (all order types, tifs and self-trade prevention modes),
cancels, replaces, regrades and closes is sent to one exchange through ``Exchange``'s
methods and to another through ``exchange.embed`` inside an ``@njit`` loop that starts
with the default (small) arrays, so it stops for growth and resumes. Both must give the
same events, trades, book and ``state_digest``; and the same when the actions alternate
between Python and njit on one exchange.
"""
from decimal import Decimal

import numpy as np
import pytest
from numba import njit

from exchange import embed
from exchange.engine import Exchange
from exchange.nb.matching_nb import process_one
from exchange.oracles.invariants import check
from exchange.schema import EVENT_DTYPE, NO_VALUE, EventType, Reason

from tests.conftest import make_test_config

PARTIES = ["pA", "pA2", "pB", "pC", "pD", "pU", "b1", "b2"]
SYMBOLS = ["GPU-X", "GPU-Y"]
GRADES = ["A", "B", "C", "D"]
NEW, CANCEL, REPLACE, REGRADE, CLOSE = range(5)
# script columns
K, TS, ID, PARTY, INS, SIDE, TYPE, TIF, PRICE, QTY, GRADE, STP = range(12)


def script(n: int, seed: int) -> np.ndarray:
    """``n`` random actions as int64 rows (columns above); prices in units of 0.001."""
    rng = np.random.default_rng(seed)
    rows = np.zeros((n, 12), np.int64)
    news = []
    for i in range(n):
        r = rows[i]
        r[TS] = i // 3
        dice = rng.integers(0, 1000)
        if dice < 600 or not news:
            side = rng.integers(0, 2)
            r[K], r[SIDE] = NEW, side
            r[PARTY] = rng.integers(0, 6) if side == 1 and rng.random() < 0.9 else rng.integers(0, len(PARTIES))
            r[INS] = -1 if rng.random() < 0.01 else rng.integers(0, 2)
            r[TYPE] = 1 if rng.random() < 0.1 else 0
            r[TIF] = rng.choice([0, 0, 0, 0, 1, 2, 3])
            r[PRICE] = 2000 + rng.integers(-40, 41)
            if (r[TYPE] == 1 and rng.random() < 0.9) or rng.random() < 0.01:
                r[PRICE] = embed.NO_PRICE
            elif rng.random() < 0.01:
                r[PRICE] = 99_999_999  # outside the band: BAD_PRICE
            r[QTY] = rng.integers(1, 21) if rng.random() < 0.97 else rng.choice([0, -3, 2_000_000])
            r[GRADE] = embed.GRADE_ABSENT
            if side == 0 and rng.random() < 0.4:
                r[GRADE] = rng.choice([0, 1, 2, 3, embed.GRADE_UNKNOWN])
            elif side == 1 and rng.random() < 0.02:
                r[GRADE] = 1  # a sell with a min_grade: BAD_GRADE
            r[STP] = rng.integers(0, 3)
            r[ID] = i + 1 if rng.random() < 0.98 or not news else rows[news[rng.integers(0, len(news))], ID]
            news.append(i)
        elif dice < 900:
            target = rows[news[rng.integers(max(0, len(news) - 60), len(news))]]
            r[K] = CANCEL if dice < 780 else REPLACE
            r[ID] = target[ID]
            r[PARTY] = target[PARTY] if rng.random() < 0.9 else rng.integers(0, len(PARTIES))
            r[PRICE] = 2000 + rng.integers(-40, 41) if rng.random() < 0.6 else embed.NO_PRICE
            r[QTY] = rng.integers(1, 25) if rng.random() < 0.7 or r[PRICE] == embed.NO_PRICE else NO_VALUE
        elif dice < 997:
            r[K], r[PARTY] = REGRADE, rng.integers(0, len(PARTIES))
            r[GRADE] = rng.choice([9700, 9400, 9100, 8900, 8100, 7900, 7100, 6900, 9500])
        else:
            r[K], r[INS] = CLOSE, rng.choice([-1, 0, 1])
    return rows


def _price_text(units):
    return None if units == embed.NO_PRICE else str(Decimal(int(units)) / 1000)


def via_python(ex: Exchange, rows) -> list[tuple]:
    """Each row through the Python API; the events as plain tuples."""
    out = []
    for r in rows.tolist():
        if r[K] == NEW:
            events = ex.submit(PARTIES[r[PARTY]], "NOPE" if r[INS] < 0 else SYMBOLS[r[INS]],
                               "sell" if r[SIDE] else "buy", r[QTY], _price_text(r[PRICE]),
                               order_type="market" if r[TYPE] else "limit",
                               tif=["gtc", "ioc", "fok", "post_only"][r[TIF]],
                               min_grade={-1: None, -2: "Z"}.get(r[GRADE]) or (GRADES[r[GRADE]] if r[GRADE] >= 0 else None),
                               order_id=r[ID], ts=r[TS],
                               stp=["cancel_incoming", "cancel_resting", "cancel_both"][r[STP]])
        elif r[K] == CANCEL:
            events = ex.cancel(r[ID], PARTIES[r[PARTY]], ts=r[TS])
        elif r[K] == REPLACE:
            events = ex.replace(r[ID], PARTIES[r[PARTY]], price=_price_text(r[PRICE]),
                                qty=None if r[QTY] == NO_VALUE else r[QTY], ts=r[TS])
        elif r[K] == REGRADE:
            events = ex.regrade(PARTIES[r[PARTY]], str(Decimal(r[GRADE]) / 10000), ts=r[TS])
        else:
            events = ex.close("NOPE" if r[INS] < 0 else SYMBOLS[r[INS]], ts=r[TS])
        out += [(e.seq, e.ts, e.order_id, int(e.event), int(e.reason), NO_VALUE if e.qty is None else e.qty,
                 NO_VALUE if e.leaves_qty is None else e.leaves_qty, e.trade_id or 0) for e in events]
    return out


@njit(cache=True)
def drive(h, rows, start, log, logged):
    """rows[start:] through exchange.embed; each action's events appended to ``log``.
    Returns (the row not yet done, its code) or (len(rows), 0)."""
    for i in range(start, rows.shape[0]):
        r = rows[i]
        if r[0] == 0:
            n = embed.new_order(h, r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11])
        elif r[0] == 1:
            n = embed.cancel(h, r[1], r[2], r[3])
        elif r[0] == 2:
            n = embed.replace(h, r[1], r[2], r[3], r[8], r[9])
        elif r[0] == 3:
            n = embed.regrade(h, r[1], r[3], r[10])
        else:
            n = embed.close(h, r[1], r[4])
        if n < 0:
            return i, n
        happened = embed.events(h)
        for j in range(happened.shape[0]):
            log[logged[0]] = happened[j]
            logged[0] += 1
        dealt = embed.trades(h)
        for j in range(dealt.shape[0]):
            logged[1] += dealt[j].qty
        logged[2] += embed.traded_qty(h)
    return rows.shape[0], 0


def via_njit(ex: Exchange, rows, traded=None) -> list[tuple]:
    """``rows`` through ``drive``; ``traded`` (a list) gets the GPU-hours read back through
    ``embed.trades`` and through ``embed.traded_qty``."""
    log = np.zeros(60 * len(rows) + 1000, EVENT_DTYPE)
    logged = np.zeros(3, np.int64)  # events logged, qty of embed.trades(h), embed.traded_qty(h)
    step = 0
    with ex.embedded() as emb:
        while step < len(rows):
            step, code = drive(emb.handle, rows, step, log, logged)
            emb.resume(code)
    if traded is not None:
        traded += [int(logged[1]), int(logged[2])]
    return [tuple(e) for e in log[: logged[0]].tolist()]


def fresh():
    ex = Exchange(make_test_config())
    for name in PARTIES:
        ex.party_index(name)
    return ex


def assert_same(a: Exchange, b: Exchange):
    assert a.trades() == b.trades()
    assert a.book() == b.book()
    assert a.state_digest() == b.state_digest()
    check(b._state, b.config)


@pytest.mark.parametrize("seed", [1, 2])
def test_njit_actions_give_the_python_api_events(seed):
    rows = script(3000, seed)
    python, jitted = fresh(), fresh()
    expected = via_python(python, rows)
    traded = []
    got = via_njit(jitted, rows, traded)
    assert got == expected
    assert_same(python, jitted)
    assert traded == [sum(t.qty for t in python.trades())] * 2 and traded[0] > 0
    kinds = {(e[3], e[4]) for e in expected}
    assert (2, 0) in kinds and (3, 15) in kinds and (4, 0) in kinds and (3, 16) in kinds  # fill, stp, replace, regraded
    assert len(process_one.signatures) == 1  # one compiled kernel behind both APIs


def test_python_and_njit_calls_mix_on_one_exchange():
    rows = script(2400, 3)
    python, mixed = fresh(), fresh()
    expected = via_python(python, rows)
    got = []
    for part in range(6):
        chunk = rows[part * 400:(part + 1) * 400]
        got += via_njit(mixed, chunk) if part % 2 else via_python(mixed, chunk)
    assert got == expected
    assert_same(python, mixed)


def test_a_bad_code_is_refused_and_changes_nothing():
    ex = fresh()
    rows = script(10, 4)
    before = ex.state_digest()
    bad = rows.copy()
    bad[0] = (NEW, 0, 1, len(PARTIES), 0, 0, 0, 0, 2000, 5, -1, 0)  # party code not registered
    with pytest.raises(ValueError, match="party"):
        via_njit(ex, bad)
    assert ex.state_digest() == before
    bad[0] = (NEW, 0, 1, 0, 0, 0, 0, 4, 2000, 5, -1, 0)  # tif 4 is no tif
    with pytest.raises(ValueError, match="tif"):
        via_njit(ex, bad)
    assert ex.state_digest() == before


def test_ts_going_back_is_refused():
    ex = fresh()
    ex.submit("b1", "GPU-X", "buy", 1, "1.000", ts=50)
    rows = script(5, 5)  # ts 0, 0, 0, 1, 1
    with pytest.raises(ValueError, match="ts"):
        via_njit(ex, rows)
    assert len(ex.book()) == 1


def test_a_python_call_while_njit_actions_are_unsynced_is_refused():
    ex = fresh()
    rows = script(30, 6)
    emb = ex.embedded()
    log, logged = np.zeros(5000, EVENT_DTYPE), np.zeros(3, np.int64)
    step, code = drive(emb.handle, rows, 0, log, logged)
    assert (step, code) == (30, 0)
    ex.submit("b1", "GPU-X", "buy", 1, "1.000", ts=100)  # seq 0 again: the njit actions took 0..29
    with pytest.raises(ValueError, match="not synced"):
        emb.sync()


def test_the_njit_agents_example_runs_and_grows_as_it_goes():
    from examples.njit_agents import simulate

    grown, stats = simulate(20_000, seed=3, reserve=False)  # starts small: stops to grow, resumes
    reserved, again = simulate(20_000, seed=3, reserve=True)
    assert stats == again and stats["actions"] == 20_000
    assert grown.state_digest() == reserved.state_digest()
    assert stats["traded"] == sum(t.qty for t in grown.trades()) > 0
    assert grown.submit("lab-0", "H100-SXM.2027-01", "buy", 1, "0.600")[0].seq == 20_000  # the Python API goes on


def test_lean_calls_leave_the_state_the_python_calls_leave():
    """submit_fast / cancel_fast for new orders and cancels (the other rows through the
    Python API, on the same exchange): same book, trades and digest; each returns what
    its events say: the order's filled quantity, the cancelled open quantity."""
    rows = script(3000, 7)
    python, lean = fresh(), fresh()
    for r in rows:
        expected = via_python(python, r[None, :])
        incoming = [e for e in expected if e[2] == r[ID] and e[3] == 2]  # FILLs of this order
        if r[K] == NEW:
            got = lean.submit_fast(*(int(r[c]) for c in (PARTY, INS, SIDE, QTY, PRICE, TYPE, TIF, ID, GRADE, STP, TS)))
            assert got == sum(e[5] for e in incoming)
        elif r[K] == CANCEL:
            got = lean.cancel_fast(int(r[ID]), int(r[PARTY]), int(r[TS]))
            assert got == sum(e[5] for e in expected if e[3] == 3)  # CANCELED
        else:
            via_python(lean, r[None, :])
    assert_same(python, lean)


@pytest.mark.parametrize("bad", [2.0, "3", None, True])
def test_lean_calls_refuse_what_is_not_an_int(bad):
    ex = fresh()
    with pytest.raises(ValueError, match="int"):
        ex.submit_fast(6, 0, 0, bad, 2000)
    with pytest.raises(ValueError, match="int"):
        ex.cancel_fast(bad, 6)
    assert ex.state_digest() == fresh().state_digest()


def test_ids_moved_to_the_direct_table_keep_their_orders():
    """reserve(dense_ids=...) moves hashed ids below the bound into the direct table: a
    resting order there can still be cancelled, an ended id is still a duplicate."""
    plain, moved = fresh(), fresh()
    for ex in (plain, moved):
        ex.submit("b1", "GPU-X", "buy", 5, "1.000", order_id=3)
        ex.submit("b1", "GPU-X", "buy", 5, "1.001", order_id=7)
        ex.cancel(7, "b1")
    moved.reserve(dense_ids=4096)
    check(moved._state, moved.config)
    for ex in (plain, moved):
        assert ex.cancel(3, "b1")[0].event == EventType.CANCELED
        assert ex.submit("b1", "GPU-X", "buy", 1, "1.000", order_id=7)[0].reason == Reason.DUPLICATE_ID
    assert plain.state_digest() == moved.state_digest()
    assert len(moved._state.id_direct) == 4096 and not moved._state.id_keys.any()
