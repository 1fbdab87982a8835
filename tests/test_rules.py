"""One scenario per rule of docs/RULES.md §4 and of the §5 "Exact details", with plain numbers.

Every test runs over each engine of ``engine_cls`` (the reference, and the Numba
engine once it exists) through the per-call API of docs/API.md. Instruments of
the test config (tests/conftest.py) have tick 0.001, so ``"2.000"`` is 2000 ticks.

Providers: pA (A, 0.9600), pA2 (A, 0.9500), pB (B), pC (C), pD (D, 0.7000), pU (ungraded).
Buyers b1, b2, b3 are not providers. Factors: A 9500, B 9000, C 8000, D 7000.
"""
from __future__ import annotations

import random
from decimal import Decimal

import numpy as np
import pytest

from exchange.schema import ACT_CANCEL, ACTION_DTYPE, GRADE_ABSENT, Event, EventType, Reason, Side, Tif

X, Y = "GPU-X", "GPU-Y"
FACTOR = {"A": 9500, "B": 9000, "C": 8000, "D": 7000}

ACC, REJ, FILL, CXL, REP = (EventType.ACCEPTED, EventType.REJECTED, EventType.FILL,
                            EventType.CANCELED, EventType.REPLACED)
NONE = Reason.NONE


# ------------------------------------------------------------ expected events
def acc(seq, oid, qty, ts=0):
    return Event(seq, ts, oid, ACC, NONE, qty, qty, None)


def fill(seq, oid, qty, leaves, trade_id, ts=0):
    return Event(seq, ts, oid, FILL, NONE, qty, leaves, trade_id)


def cxl(seq, oid, qty, reason=NONE, ts=0):
    return Event(seq, ts, oid, CXL, reason, qty, 0, None)


def rej(seq, oid, reason, qty=None, ts=0):
    return Event(seq, ts, oid, REJ, reason, qty, None, None)


def rep(seq, oid, qty, ts=0):
    return Event(seq, ts, oid, REP, NONE, qty, qty, None)


def ids(ex, instrument=None, side=None):
    """Order ids of the book in priority order (optionally one side)."""
    return [o.order_id for o in ex.book(instrument)
            if side is None or o.side == (Side.BUY if side == "buy" else Side.SELL)]


def trade_tuples(ex):
    """(buy id, sell id, grade, price ticks, qty, aggressor) of every trade."""
    return [(t.buy_order_id, t.sell_order_id, t.grade, t.price, t.qty, t.aggressor) for t in ex.trades()]


# ================================================================ §4 priority
def test_grade_adjusted_priority_across_grades(ex):
    # Ask C at 1.700 -> effective 1.700/0.80 = 2.125; ask A at 2.000 -> 2.000/0.95 = 2.105263.
    assert ex.submit("pC", X, "sell", 10, "1.700", order_id=1) == [acc(0, 1, 10)]
    assert ex.submit("pA", X, "sell", 10, "2.000", order_id=2) == [acc(1, 2, 10)]
    # The A ask arrived later but is cheaper in effective terms: it comes first.
    assert ids(ex, X, "sell") == [2, 1]
    assert ex.best_ask(X, "A") == 2000 and ex.best_ask(X, "C") == 1700
    # A buy at 2.200 crosses both (2200*9500 >= 2000*10000, 2200*8000 >= 1700*10000).
    assert ex.submit("b1", X, "buy", 15, "2.200", order_id=3) == [
        acc(2, 3, 15),
        fill(2, 3, 10, 5, 1), fill(2, 2, 10, 0, 1),
        fill(2, 3, 5, 0, 2), fill(2, 1, 5, 5, 2),
    ]
    assert trade_tuples(ex) == [(3, 2, "A", 2000, 10, Side.BUY), (3, 1, "C", 1700, 5, Side.BUY)]
    assert [(t.trade_id, t.seq, t.instrument, t.buyer, t.seller) for t in ex.trades()] == [
        (1, 2, X, "b1", "pA"), (2, 2, X, "b1", "pC")]
    assert ids(ex, X) == [1]
    assert ex.order(1).qty == 5


def test_bid_between_two_effective_prices_meets_only_the_cheaper(ex):
    ex.submit("pC", X, "sell", 10, "1.700", order_id=1)  # effective 2.125
    ex.submit("pA", X, "sell", 10, "2.000", order_id=2)  # effective 2.105263
    # 2.110: 2110*9500 = 20_045_000 >= 20_000_000 (crosses A); 2110*8000 = 16_880_000 < 17_000_000.
    assert ex.submit("b1", X, "buy", 15, "2.110", order_id=3) == [
        acc(2, 3, 15), fill(2, 3, 10, 5, 1), fill(2, 2, 10, 0, 1)]
    assert ids(ex, X) == [3, 1]


def test_equal_effective_prices_tie_by_arrival(ex):
    # C at 1.600 and A at 1.900 are both exactly 2.000 effective: pa1*f2 == pa2*f1.
    ex.submit("pC", X, "sell", 5, "1.600", order_id=1)
    ex.submit("pA", X, "sell", 5, "1.900", order_id=2)
    assert ids(ex, X, "sell") == [1, 2]
    ex.submit("b1", X, "buy", 5, "2.000", order_id=3)
    assert trade_tuples(ex) == [(3, 1, "C", 1600, 5, Side.BUY)]


def test_bids_priority_price_then_arrival(ex):
    ex.submit("b1", X, "buy", 5, "2.000", order_id=1)
    ex.submit("b2", X, "buy", 5, "2.100", order_id=2)
    ex.submit("b3", X, "buy", 5, "2.000", order_id=3)
    assert ids(ex, X, "buy") == [2, 1, 3]
    ex.submit("pA", X, "sell", 12, "1.000", order_id=4)
    assert [t.buy_order_id for t in ex.trades()] == [2, 1, 3]
    assert ex.order(3).qty == 3


def test_cross_condition_is_inclusive(ex):
    ex.submit("b1", X, "buy", 10, "2.000", order_id=1)
    # 1.601 from C: 2000*8000 = 16_000_000 < 1601*10000: no cross, rests.
    assert ex.submit("pC", X, "sell", 5, "1.601", order_id=2) == [acc(1, 2, 5)]
    # 1.600 from C: 2000*8000 == 1600*10000: crosses, at floor(2000*8000/10000) = 1600.
    assert ex.submit("pC", X, "sell", 5, "1.600", order_id=3) == [
        acc(2, 3, 5), fill(2, 3, 5, 0, 1), fill(2, 1, 5, 5, 1)]
    assert trade_tuples(ex) == [(1, 3, "C", 1600, 5, Side.SELL)]


# ============================================================ §4 trade price
def test_resting_ask_trades_at_its_raw_price(ex):
    ex.submit("pB", X, "sell", 5, "1.800", order_id=1)
    ex.submit("b1", X, "buy", 5, "9.999", order_id=2)
    assert trade_tuples(ex) == [(2, 1, "B", 1800, 5, Side.BUY)]


@pytest.mark.parametrize("provider, grade, price", [
    ("pA", "A", 1900),  # floor(2001 * 9500 / 10000) = floor(1900.95)
    ("pB", "B", 1800),  # floor(2001 * 9000 / 10000) = floor(1800.9)
    ("pC", "C", 1600),  # floor(2001 * 8000 / 10000) = floor(1600.8)
    ("pD", "D", 1400),  # floor(2001 * 7000 / 10000) = floor(1400.7)
])
def test_resting_bid_trades_at_floor_of_grade_adjusted_price(ex, provider, grade, price):
    ex.submit("b1", X, "buy", 10, "2.001", order_id=1)
    assert ex.submit(provider, X, "sell", 4, "1.000", order_id=2) == [
        acc(1, 2, 4), fill(1, 2, 4, 0, 1), fill(1, 1, 4, 6, 1)]
    assert trade_tuples(ex) == [(1, 2, grade, price, 4, Side.SELL)]
    # Never below the seller's limit, never above the buyer's (in effective terms).
    assert 1000 <= price and price * 10000 <= 2001 * FACTOR[grade]


def test_trade_against_resting_bid_may_print_below_price_min(ex):
    # The band bounds order prices only: a market sell from D against a bid at the band
    # minimum 0.100 trades at floor(100 * 7000 / 10000) = 70 ticks = 0.070.
    ex.submit("b1", X, "buy", 5, "0.100", order_id=1)
    assert ex.submit("pD", X, "sell", 5, order_type="market", order_id=2) == [
        acc(1, 2, 5), fill(1, 2, 5, 0, 1), fill(1, 1, 5, 0, 1)]
    assert trade_tuples(ex) == [(1, 2, "D", 70, 5, Side.SELL)]


# =============================================================== min_grade
def test_min_grade_on_incoming_buy_skips_lower_grades(ex):
    ex.submit("pC", X, "sell", 5, "1.000", order_id=1)  # cheapest, but grade C
    ex.submit("pB", X, "sell", 5, "2.000", order_id=2)
    ex.submit("pA", X, "sell", 5, "2.100", order_id=3)
    assert ex.submit("b1", X, "buy", 8, "3.000", min_grade="B", order_id=4) == [
        acc(3, 4, 8), fill(3, 4, 5, 3, 1), fill(3, 3, 5, 0, 1),  # A 2.100 -> 2.2105 effective
        fill(3, 4, 3, 0, 2), fill(3, 2, 3, 2, 2)]  # B 2.000 -> 2.2222 effective
    assert ids(ex, X, "sell") == [1, 2]


def test_min_grade_admits_its_own_grade_and_better(ex):
    ex.submit("pA2", X, "sell", 5, "2.000", order_id=1)  # A exactly on the floor 0.9500
    ex.submit("pB", X, "sell", 5, "1.000", order_id=2)
    ex.submit("b1", X, "buy", 10, "3.000", min_grade="A", order_id=3)
    assert trade_tuples(ex) == [(3, 1, "A", 2000, 5, Side.BUY)]
    assert ids(ex, X) == [3, 2]  # the B ask and the A-only bid rest side by side: incompatible


def test_min_grade_on_resting_bids_for_incoming_sell(ex):
    ex.submit("b1", X, "buy", 5, "2.100", min_grade="A", order_id=1)
    ex.submit("b2", X, "buy", 5, "2.000", order_id=2)  # default min_grade: the lowest grade, D
    assert ex.order(2).min_grade == "D"
    # A C sell cannot meet the A-only bid; it meets the next admitting bid.
    assert ex.submit("pC", X, "sell", 5, "1.000", order_id=3) == [
        acc(2, 3, 5), fill(2, 3, 5, 0, 1), fill(2, 2, 5, 0, 1)]
    # An A sell meets the A-only bid.
    assert ex.submit("pA", X, "sell", 5, "1.000", order_id=4) == [
        acc(3, 4, 5), fill(3, 4, 5, 0, 2), fill(3, 1, 5, 0, 2)]
    assert trade_tuples(ex) == [(2, 3, "C", 1600, 5, Side.SELL), (1, 4, "A", 1995, 5, Side.SELL)]


def test_default_min_grade_admits_lowest_grade(ex):
    ex.submit("pD", X, "sell", 5, "1.000", order_id=1)
    ex.submit("b1", X, "buy", 5, "1.429", order_id=2)  # 1429*7000 = 10_003_000 >= 10_000_000
    assert trade_tuples(ex) == [(2, 1, "D", 1000, 5, Side.BUY)]


def test_market_buy_respects_min_grade(ex):
    ex.submit("pD", X, "sell", 5, "0.500", order_id=1)
    ex.submit("pB", X, "sell", 5, "50.000", order_id=2)
    assert ex.submit("b1", X, "buy", 8, order_type="market", min_grade="C", order_id=3) == [
        acc(2, 3, 8), fill(2, 3, 5, 3, 1), fill(2, 2, 5, 0, 1), cxl(2, 3, 3, Reason.IOC)]
    assert ids(ex, X) == [1]


# ================================================== self-trade prevention
def test_self_trade_stops_matching_and_cancels_incoming_remainder(ex):
    ex.submit("pA", X, "sell", 5, "2.000", order_id=1)  # effective 2.105
    ex.submit("pB", X, "sell", 5, "2.000", order_id=2)  # effective 2.222: pB's own
    ex.submit("pC", X, "sell", 50, "1.500", order_id=3)  # effective 1.875... best of all
    # pB buys min_grade B: pC is incompatible; meets pA, then its own ask: stop.
    assert ex.submit("pB", X, "buy", 20, "2.500", min_grade="B", order_id=4) == [
        acc(3, 4, 20), fill(3, 4, 5, 15, 1), fill(3, 1, 5, 0, 1), cxl(3, 4, 15, Reason.SELF_TRADE)]
    # Resting orders untouched (the own ask keeps its quantity and place).
    assert ids(ex, X) == [3, 2]
    assert ex.order(2).qty == 5 and ex.order(2).arrival_seq == 1


def test_self_trade_first_in_line_cancels_whole_incoming(ex):
    ex.submit("b1", X, "buy", 5, "2.000", order_id=1)
    ex.submit("pA", X, "buy", 5, "2.000", order_id=2)
    ex.submit("b2", X, "buy", 5, "1.900", order_id=3)
    ex.submit("pA", X, "sell", 10, "1.000", order_id=4)
    # Meets b1 (5), then its own bid 2 -> stop; b2 never reached.
    assert trade_tuples(ex) == [(1, 4, "A", 1900, 5, Side.SELL)]
    assert ids(ex, X) == [2, 3]


def test_self_trade_skips_incompatible_own_order(ex):
    # pC's own bid admits only A: a C sell is not compatible with it, so it is skipped.
    ex.submit("pC", X, "buy", 5, "2.100", min_grade="A", order_id=1)
    ex.submit("b1", X, "buy", 5, "1.900", order_id=2)
    assert ex.submit("pC", X, "sell", 5, "1.000", order_id=3) == [
        acc(2, 3, 5), fill(2, 3, 5, 0, 1), fill(2, 2, 5, 0, 1)]
    assert trade_tuples(ex) == [(2, 3, "C", 1520, 5, Side.SELL)]  # floor(1900*8000/10000)
    assert ids(ex, X) == [1]


def test_self_trade_skips_incompatible_own_ask(ex):
    ex.submit("pC", X, "sell", 5, "1.000", order_id=1)  # pC's own C ask
    ex.submit("pA", X, "sell", 5, "2.000", order_id=2)
    assert ex.submit("pC", X, "buy", 5, "3.000", min_grade="B", order_id=3) == [
        acc(2, 3, 5), fill(2, 3, 5, 0, 1), fill(2, 2, 5, 0, 1)]
    assert ids(ex, X) == [1]


def test_own_order_that_does_not_cross_is_no_self_trade(ex):
    ex.submit("pA", X, "sell", 5, "2.000", order_id=1)
    assert ex.submit("pA", X, "buy", 5, "1.800", order_id=2) == [acc(1, 2, 5)]
    assert ids(ex, X) == [2, 1]


# ============================================================ order types
def test_ioc_partial_fill_cancels_remainder(ex):
    ex.submit("pA", X, "sell", 4, "2.000", order_id=1)
    assert ex.submit("b1", X, "buy", 10, "2.200", tif="ioc", order_id=2) == [
        acc(1, 2, 10), fill(1, 2, 4, 6, 1), fill(1, 1, 4, 0, 1), cxl(1, 2, 6, Reason.IOC)]
    assert ex.book() == []


@pytest.mark.parametrize("kwargs, reason", [
    (dict(price="1.000", tif="ioc"), Reason.IOC),
    (dict(price="1.000", tif="fok"), Reason.FOK),
    (dict(order_type="market"), Reason.IOC),
    (dict(order_type="market", tif="fok"), Reason.IOC),  # tif is ignored on a market
])
def test_order_that_cannot_trade_is_accepted_then_canceled(ex, kwargs, reason):
    ex.submit("b2", X, "buy", 5, "2.000", order_id=1)  # same side: nothing to meet
    assert ex.submit("b1", X, "buy", 7, order_id=2, **kwargs) == [acc(1, 2, 7), cxl(1, 2, 7, reason)]
    assert ex.submit("b1", Y, "buy", 7, order_id=3, **kwargs) == [acc(2, 3, 7), cxl(2, 3, 7, reason)]
    assert ids(ex) == [1]
    assert ex.order(2) is None


def test_market_order_matches_at_any_price_and_cancels_remainder_ioc(ex):
    ex.submit("pA", X, "sell", 5, "99.000", order_id=1)
    ex.submit("pB", X, "sell", 5, "100.000", order_id=2)
    assert ex.submit("b1", X, "buy", 12, order_type="market", order_id=3) == [
        acc(2, 3, 12), fill(2, 3, 5, 7, 1), fill(2, 1, 5, 0, 1),
        fill(2, 3, 5, 2, 2), fill(2, 2, 5, 0, 2), cxl(2, 3, 2, Reason.IOC)]


def test_market_sell_meets_bids_at_any_price(ex):
    ex.submit("b1", X, "buy", 5, "0.200", order_id=1)
    assert ex.submit("pB", X, "sell", 3, order_type="market", tif="post_only", order_id=2) == [
        acc(1, 2, 3), fill(1, 2, 3, 0, 1), fill(1, 1, 3, 2, 1)]
    assert trade_tuples(ex) == [(1, 2, "B", 180, 3, Side.SELL)]


def test_market_order_with_price_is_bad_price(ex):
    assert ex.submit("b1", X, "buy", 5, "2.000", order_type="market", order_id=1) == [
        rej(0, 1, Reason.BAD_PRICE, 5)]
    assert ex.submit("pA", X, "sell", 5, "2.000", order_type="market", order_id=1) == [
        rej(1, 1, Reason.BAD_PRICE, 5)]


def test_fok_short_of_quantity_does_nothing(ex):
    ex.submit("pA", X, "sell", 5, "2.000", order_id=1)
    ex.submit("pB", X, "sell", 3, "2.000", order_id=2)
    ex.submit("pC", X, "sell", 50, "9.000", order_id=3)  # does not cross 2.200
    before = ex.book()
    # 2.300 crosses A (2300*9500 >= 2000*10000) and B (2300*9000 >= 2000*10000): 8 < 10.
    assert ex.submit("b1", X, "buy", 10, "2.300", tif="fok", order_id=4) == [
        acc(3, 4, 10), cxl(3, 4, 10, Reason.FOK)]
    assert ex.book() == before and ex.trades() == []


def test_fok_fills_completely_over_several_orders(ex):
    ex.submit("pA", X, "sell", 5, "2.000", order_id=1)
    ex.submit("pB", X, "sell", 5, "2.000", order_id=2)
    assert ex.submit("b1", X, "buy", 8, "2.300", tif="fok", order_id=3) == [
        acc(2, 3, 8), fill(2, 3, 5, 3, 1), fill(2, 1, 5, 0, 1), fill(2, 3, 3, 0, 2), fill(2, 2, 3, 2, 2)]


def test_fok_blocked_by_self_trade(ex):
    ex.submit("pA", X, "sell", 5, "2.000", order_id=1)  # effective 2.105
    ex.submit("pB", X, "sell", 5, "2.000", order_id=2)  # effective 2.222, pB's own
    ex.submit("pA2", X, "sell", 50, "2.100", order_id=3)  # effective 2.2105 -- before pB's
    ex.submit("pC", X, "sell", 50, "1.800", order_id=4)  # effective 2.25 -- behind pB's
    assert ids(ex, X) == [1, 3, 2, 4]
    # pB buys 70: 5 + 50 before its own ask, which stops the walk; 4's 50 behind it do not count.
    before = ex.book()
    assert ex.submit("pB", X, "buy", 70, "3.000", tif="fok", order_id=5) == [
        acc(4, 5, 70), cxl(4, 5, 70, Reason.FOK)]
    assert ex.book() == before and ex.trades() == []
    # 55 is exactly what lies before the own ask: it fills.
    assert ex.submit("pB", X, "buy", 55, "3.000", tif="fok", order_id=6) == [
        acc(5, 6, 55), fill(5, 6, 5, 50, 1), fill(5, 1, 5, 0, 1),
        fill(5, 6, 50, 0, 2), fill(5, 3, 50, 0, 2)]


def test_post_only_rests_when_nothing_crosses(ex):
    ex.submit("pA", X, "sell", 5, "2.000", order_id=1)
    assert ex.submit("b1", X, "buy", 5, "2.000", tif="post_only", order_id=2) == [acc(1, 2, 5)]
    assert ex.order(2).tif == Tif.POST_ONLY


def test_post_only_rejected_against_own_order(ex):
    ex.submit("pA", X, "sell", 5, "2.000", order_id=1)
    # WOULD_CROSS whatever the party of the crossing order -- here its own.
    assert ex.submit("pA", X, "buy", 4, "2.200", tif="post_only", order_id=2) == [
        rej(1, 2, Reason.WOULD_CROSS, 4)]
    assert ex.submit("b1", X, "buy", 4, "2.200", tif="post_only", order_id=2) == [
        rej(2, 2, Reason.WOULD_CROSS, 4)]
    assert ids(ex) == [1]
    # The rejected id was not used up.
    assert ex.submit("b1", X, "buy", 4, "2.000", order_id=2) == [acc(3, 2, 4)]


def test_post_only_ignores_incompatible_crossing_orders(ex):
    ex.submit("pC", X, "sell", 5, "1.000", order_id=1)
    assert ex.submit("b1", X, "buy", 5, "2.000", tif="post_only", min_grade="B", order_id=2) == [
        acc(1, 2, 5)]
    assert ex.submit("pA", X, "sell", 5, "2.200", tif="post_only", order_id=3) == [acc(2, 3, 5)]
    assert ex.submit("pA", X, "sell", 5, "1.900", tif="post_only", order_id=4) == [
        rej(3, 4, Reason.WOULD_CROSS, 5)]


def test_gtc_remainder_rests(ex):
    ex.submit("pA", X, "sell", 5, "2.000", order_id=1)
    assert ex.submit("b1", X, "buy", 8, "2.200", order_id=2) == [
        acc(1, 2, 8), fill(1, 2, 5, 3, 1), fill(1, 1, 5, 0, 1)]
    o = ex.order(2)
    assert (o.instrument, o.side, o.party, o.price, o.qty, o.grade, o.min_grade, o.tif, o.arrival_seq) == (
        X, Side.BUY, "b1", 2200, 3, None, "D", Tif.GTC, 1)


# ================================================================ cancel
def test_cancel_ends_a_resting_order(ex):
    ex.submit("b1", X, "buy", 5, "2.000", order_id=1)
    ex.submit("pA", X, "sell", 2, "1.000", order_id=2)
    assert ex.cancel(1, "b1") == [cxl(2, 1, 3)]
    assert ex.order(1) is None and ex.book() == []
    assert ex.cancel(1, "b1") == [rej(3, 1, Reason.UNKNOWN_ORDER)]


def test_cancel_not_owner_and_unknown(ex):
    ex.submit("b1", X, "buy", 5, "2.000", order_id=1)
    assert ex.cancel(1, "b2") == [rej(1, 1, Reason.NOT_OWNER)]
    assert ex.cancel(42, "b2") == [rej(2, 42, Reason.UNKNOWN_ORDER)]
    assert ids(ex) == [1]


def test_rejected_cancel_row_echoes_the_rows_qty(ex):
    """§5: a REJECTED event's qty is the row's qty, also when an action array's cancel row
    carries one (the per-call cancel has none: the event's qty is empty)."""
    ex.submit("b1", X, "buy", 5, "2.000", order_id=1)
    rows = np.zeros(2, ACTION_DTYPE)
    rows["action"] = ACT_CANCEL
    rows["order_id"] = [42, 1]
    rows["party"] = ex.party_index("b2")
    rows["instrument"] = -1
    rows["qty"] = [7, 3]
    rows["min_grade"] = GRADE_ABSENT
    rows["ts"] = 5
    events = ex.apply(rows)
    assert [(e["order_id"], e["event"], e["reason"], e["qty"]) for e in events] == [
        (42, int(REJ), int(Reason.UNKNOWN_ORDER), 7), (1, int(REJ), int(Reason.NOT_OWNER), 3)]
    assert ids(ex) == [1]


def test_unknown_order_after_fill(ex):
    ex.submit("b1", X, "buy", 5, "2.000", order_id=1)
    ex.submit("pA", X, "sell", 5, "1.000", order_id=2)
    assert ex.order(1) is None
    assert ex.cancel(1, "b1") == [rej(2, 1, Reason.UNKNOWN_ORDER)]
    assert ex.replace(1, "b1", qty=3) == [rej(3, 1, Reason.UNKNOWN_ORDER, 3)]
    # Not owner and unknown at once: UNKNOWN_ORDER first.
    assert ex.cancel(1, "b2") == [rej(4, 1, Reason.UNKNOWN_ORDER)]


# =============================================================== replace
def test_replace_qty_cut_keeps_priority(ex):
    ex.submit("b1", X, "buy", 10, "2.000", order_id=1)
    ex.submit("b2", X, "buy", 10, "2.000", order_id=2)
    assert ex.replace(1, "b1", qty=4) == [rep(2, 1, 4)]
    assert ids(ex, X) == [1, 2]
    assert ex.order(1).qty == 4 and ex.order(1).arrival_seq == 0
    ex.submit("pA", X, "sell", 6, "1.000", order_id=3)
    assert [(t.buy_order_id, t.qty) for t in ex.trades()] == [(1, 4), (2, 2)]


def test_replace_that_changes_nothing_keeps_priority(ex):
    ex.submit("b1", X, "buy", 10, "2.000", order_id=1)
    ex.submit("b2", X, "buy", 10, "2.000", order_id=2)
    # Prices compare by value: "2.0" is 2.000.
    assert ex.replace(1, "b1", price="2.0", qty=10) == [rep(2, 1, 10)]
    assert ex.replace(1, "b1") == [rep(3, 1, 10)]
    assert ex.replace(1, "b1", price=Decimal("2.00000")) == [rep(4, 1, 10)]
    assert ids(ex, X) == [1, 2] and ex.order(1).arrival_seq == 0


def test_replace_price_change_loses_priority(ex):
    ex.submit("b1", X, "buy", 10, "2.001", order_id=1)
    ex.submit("b2", X, "buy", 10, "2.000", order_id=2)
    assert ids(ex, X) == [1, 2]
    assert ex.replace(1, "b1", price="2.000") == [rep(2, 1, 10)]
    assert ids(ex, X) == [2, 1]
    assert ex.order(1).arrival_seq == 2 and ex.order(1).price == 2000


def test_replace_price_change_with_qty_cut_loses_priority(ex):
    ex.submit("pA", X, "sell", 10, "2.000", order_id=1)
    ex.submit("pA2", X, "sell", 10, "2.001", order_id=2)
    assert ex.replace(1, "pA", price="2.001", qty=5) == [rep(2, 1, 5)]
    assert ids(ex, X) == [2, 1]


def test_replace_qty_increase_loses_priority(ex):
    ex.submit("b1", X, "buy", 10, "2.000", order_id=1)
    ex.submit("b2", X, "buy", 10, "2.000", order_id=2)
    assert ex.replace(1, "b1", qty=15) == [rep(2, 1, 15)]
    assert ids(ex, X) == [2, 1]
    assert ex.order(1).qty == 15 and ex.order(1).arrival_seq == 2


def test_replace_qty_is_new_open_quantity_after_partial_fill(ex):
    ex.submit("b1", X, "buy", 10, "2.000", order_id=1)
    ex.submit("b2", X, "buy", 10, "2.000", order_id=2)
    ex.submit("pA", X, "sell", 6, "1.000", order_id=3)  # b1 has 4 open
    # 5 > 4 open: an increase, so it loses its place.
    assert ex.replace(1, "b1", qty=5) == [rep(3, 1, 5)]
    assert ids(ex, X) == [2, 1]
    # 3 < 5: a cut, keeps its (new) place.
    assert ex.replace(1, "b1", qty=3) == [rep(4, 1, 3)]
    assert ex.order(1).arrival_seq == 3


def test_replace_rearrival_trades_at_once(ex):
    ex.submit("pA", X, "sell", 5, "2.000", order_id=1)
    ex.submit("b1", X, "buy", 10, "1.800", order_id=2)
    assert ex.replace(2, "b1", price="2.200", ts=7) == [
        rep(2, 2, 10, ts=7), fill(2, 2, 5, 5, 1, ts=7), fill(2, 1, 5, 0, 1, ts=7)]
    t = ex.trades()[0]
    assert (t.seq, t.ts, t.price, t.aggressor, t.buy_order_id) == (2, 7, 2000, Side.BUY, 2)
    o = ex.order(2)
    assert (o.price, o.qty, o.arrival_seq, o.tif) == (2200, 5, 2, Tif.GTC)


def test_replace_rearrival_of_ask_meets_bids(ex):
    ex.submit("b1", X, "buy", 5, "2.000", order_id=1)
    ex.submit("pB", X, "sell", 5, "2.500", order_id=2)
    assert ex.replace(2, "pB", price="1.500", qty=8) == [
        rep(2, 2, 8), fill(2, 2, 5, 3, 1), fill(2, 1, 5, 0, 1)]
    assert trade_tuples(ex) == [(1, 2, "B", 1800, 5, Side.SELL)]
    assert ex.order(2).qty == 3 and ex.order(2).grade == "B"


def test_replace_rearrival_meeting_own_order_is_self_trade(ex):
    ex.submit("pA", X, "sell", 5, "2.000", order_id=1)
    ex.submit("pA", X, "buy", 5, "1.500", order_id=2)
    assert ex.replace(2, "pA", price="2.500") == [rep(2, 2, 5), cxl(2, 2, 5, Reason.SELF_TRADE)]
    assert ids(ex) == [1] and ex.order(2) is None


def test_replace_post_only_rearrival_that_would_cross_is_rejected(ex):
    ex.submit("pA", X, "sell", 5, "2.000", order_id=1)
    ex.submit("b1", X, "buy", 10, "1.800", tif="post_only", order_id=2)
    assert ex.replace(2, "b1", price="2.200", qty=12) == [rej(2, 2, Reason.WOULD_CROSS, 12)]
    o = ex.order(2)
    assert (o.price, o.qty, o.arrival_seq, o.tif) == (1800, 10, 1, Tif.POST_ONLY)
    # A post_only re-arrival that does not cross is fine, and keeps its tif.
    assert ex.replace(2, "b1", price="1.850") == [rep(3, 2, 10)]
    assert ex.order(2).tif == Tif.POST_ONLY and ex.order(2).arrival_seq == 3


def test_replace_rejects_and_their_precedence(ex):
    ex.submit("b1", X, "buy", 10, "2.000", order_id=1)
    ex.submit("pA", X, "sell", 5, "3.000", tif="post_only", order_id=2)
    s = 2
    cases = [
        (dict(order_id=9, party="b2", qty=0, price="0.0001"), 9, Reason.UNKNOWN_ORDER),
        (dict(order_id=1, party="b2", qty=0, price="0.0001"), 1, Reason.NOT_OWNER),
        (dict(order_id=1, party="b1", qty=0, price="0.0001"), 1, Reason.BAD_QTY),
        (dict(order_id=1, party="b1", qty=1_000_001), 1, Reason.BAD_QTY),
        (dict(order_id=1, party="b1", qty=-3), 1, Reason.BAD_QTY),
        (dict(order_id=1, party="b1", qty=5, price="0.0001"), 1, Reason.BAD_PRICE),
        (dict(order_id=1, party="b1", price="100.001"), 1, Reason.BAD_PRICE),
        (dict(order_id=1, party="b1", price="2.0005"), 1, Reason.BAD_PRICE),
        (dict(order_id=2, party="pA", price="2.0005"), 2, Reason.BAD_PRICE),
        (dict(order_id=2, party="pA", price="1.900"), 2, Reason.WOULD_CROSS),
    ]
    for kwargs, oid, reason in cases:
        order_id, party = kwargs.pop("order_id"), kwargs.pop("party")
        assert ex.replace(order_id, party, **kwargs) == [rej(s, oid, reason, kwargs.get("qty"))], reason
        s += 1
    assert [(o.order_id, o.price, o.qty, o.arrival_seq) for o in ex.book()] == [(1, 2000, 10, 0), (2, 3000, 5, 1)]


def test_replace_max_qty_bounds_new_open_qty(ex):
    ex.submit("b1", X, "buy", 10, "2.000", order_id=1)
    assert ex.replace(1, "b1", qty=1_000_000) == [rep(1, 1, 1_000_000)]


# =============================================================== regrade
def test_regrade_within_grade_touches_nothing(ex):
    ex.submit("pA", X, "sell", 5, "2.000", order_id=1)
    assert ex.regrade("pA", "0.9500") == []  # still A (floor 0.9500 inclusive)
    assert ex.regrade("pA", Decimal("0.99")) == []
    assert ids(ex) == [1] and ex.order(1).arrival_seq == 0


def test_regrade_across_grade_cancels_asks_in_config_order(ex):
    ex.submit("pA", Y, "sell", 5, "2.000", order_id=1)
    ex.submit("pA", X, "sell", 6, "2.500", order_id=2)
    ex.submit("pA", X, "sell", 7, "2.100", order_id=3)
    ex.submit("pA", X, "buy", 4, "1.000", order_id=4)  # its bids stay
    ex.submit("pA2", X, "sell", 8, "2.050", order_id=5)  # another provider's asks stay
    ex.submit("pA", Y, "sell", 9, "1.900", order_id=6)
    assert ex.regrade("pA", "0.9100", ts=3) == [  # A -> B
        cxl(6, 3, 7, Reason.REGRADED, ts=3), cxl(6, 2, 6, Reason.REGRADED, ts=3),  # X first, priority order
        cxl(6, 6, 9, Reason.REGRADED, ts=3), cxl(6, 1, 5, Reason.REGRADED, ts=3),  # then Y
    ]
    assert ids(ex) == [4, 5]
    # New sells carry the new grade.
    ex.submit("pA", X, "sell", 1, "2.000", order_id=7)
    assert ex.order(7).grade == "B"


def test_regrade_to_ungraded_then_sells_rejected(ex):
    ex.submit("pD", X, "sell", 5, "2.000", order_id=1)
    assert ex.regrade("pD", "0.6999") == [cxl(1, 1, 5, Reason.REGRADED)]
    assert ex.submit("pD", X, "sell", 5, "2.000", order_id=2) == [rej(2, 2, Reason.PROVIDER_UNGRADED, 5)]
    # Ungraded -> ungraded: nothing; back to a grade: sells accepted again.
    assert ex.regrade("pD", "0.1") == []
    assert ex.regrade("pD", "0.7") == []
    assert ex.submit("pD", X, "sell", 5, "2.000", order_id=2) == [acc(5, 2, 5)]
    assert ex.order(2).grade == "D"


def test_first_grade_registers_a_provider(ex):
    assert ex.submit("newp", X, "sell", 5, "2.000", order_id=1) == [rej(0, 1, Reason.NOT_A_PROVIDER, 5)]
    ex.submit("newp", X, "buy", 5, "1.000", order_id=2)
    assert ex.regrade("newp", "0.9100") == []  # registers; its bid untouched
    assert ex.submit("newp", X, "sell", 5, "2.000", order_id=1) == [acc(3, 1, 5)]
    assert ex.order(1).grade == "B"
    # A first grade that is ungraded still registers the party as a provider.
    assert ex.regrade("newu", "0.0000") == []
    assert ex.submit("newu", X, "sell", 5, "2.000", order_id=3) == [rej(5, 3, Reason.PROVIDER_UNGRADED, 5)]


def test_ungraded_provider_from_config(ex):
    assert ex.submit("pU", X, "sell", 5, "2.000", order_id=1) == [rej(0, 1, Reason.PROVIDER_UNGRADED, 5)]
    # An ungraded provider may still buy.
    assert ex.submit("pU", X, "buy", 5, "2.000", order_id=1) == [acc(1, 1, 5)]


# ================================================================= close
def test_close_cancels_bids_then_asks_in_priority_order(ex):
    ex.submit("b1", X, "buy", 1, "1.000", order_id=1)
    ex.submit("pA", X, "sell", 2, "3.000", order_id=2)
    ex.submit("b2", X, "buy", 3, "1.100", order_id=3)
    ex.submit("pC", X, "sell", 4, "2.500", order_id=4)  # effective 3.125, before A's 3.158
    ex.submit("b3", Y, "buy", 5, "1.000", order_id=5)
    assert ex.close(X, ts=5) == [
        cxl(5, 3, 3, Reason.CLOSED, ts=5), cxl(5, 1, 1, Reason.CLOSED, ts=5),
        cxl(5, 4, 4, Reason.CLOSED, ts=5), cxl(5, 2, 2, Reason.CLOSED, ts=5),
    ]
    assert ids(ex) == [5]
    assert ex.submit("b1", X, "buy", 1, "1.000", order_id=6) == [rej(6, 6, Reason.INSTRUMENT_CLOSED, 1, ts=5)]
    assert ex.close(X) == [rej(7, 0, Reason.INSTRUMENT_CLOSED, ts=5)]
    assert ex.close("NOPE") == [rej(8, 0, Reason.UNKNOWN_INSTRUMENT, ts=5)]
    assert ex.cancel(1, "b1") == [rej(9, 1, Reason.UNKNOWN_ORDER, ts=5)]
    # The other instrument trades on.
    assert ex.submit("pA", Y, "sell", 5, "1.000", order_id=6)[0] == acc(10, 6, 5, ts=5)
    assert ex.close(Y) == [cxl(11, 5, 5, Reason.CLOSED, ts=5), cxl(11, 6, 5, Reason.CLOSED, ts=5)]
    assert ex.book() == []


# ============================================================ reject reasons
@pytest.mark.parametrize("args, kwargs, reason", [
    (("b1", "NOPE", "buy", 5, "2.000"), {}, Reason.UNKNOWN_INSTRUMENT),
    (("b1", X, "buy", 5, "2.000"), dict(order_id=1), Reason.DUPLICATE_ID),
    (("b1", X, "sell", 5, "2.000"), {}, Reason.NOT_A_PROVIDER),
    (("pU", X, "sell", 5, "2.000"), {}, Reason.PROVIDER_UNGRADED),
    (("b1", X, "buy", 5, "2.000"), dict(min_grade="E"), Reason.BAD_GRADE),
    (("b1", X, "buy", 5, "2.000"), dict(min_grade="a"), Reason.BAD_GRADE),
    (("pA", X, "sell", 5, "2.000"), dict(min_grade="A"), Reason.BAD_GRADE),
    (("b1", X, "buy", 0, "2.000"), {}, Reason.BAD_QTY),
    (("b1", X, "buy", -1, "2.000"), {}, Reason.BAD_QTY),
    (("b1", X, "buy", 1_000_001, "2.000"), {}, Reason.BAD_QTY),
    (("b1", X, "buy", 5), {}, Reason.BAD_PRICE),  # a limit with no price
    (("b1", X, "buy", 5, "2.0005"), {}, Reason.BAD_PRICE),  # off tick
    (("b1", X, "buy", 5, "0.099"), {}, Reason.BAD_PRICE),  # below the band
    (("b1", X, "buy", 5, "100.001"), {}, Reason.BAD_PRICE),  # above the band
    (("b1", X, "buy", 5, "0"), {}, Reason.BAD_PRICE),
    (("b1", X, "buy", 5, 101), {}, Reason.BAD_PRICE),
    (("b1", X, "buy", 5, "2.000"), dict(order_type="market"), Reason.BAD_PRICE),
    (("b1", X, "buy", 5, "3.000"), dict(tif="post_only"), Reason.WOULD_CROSS),
])
def test_each_reject_reason(ex, args, kwargs, reason):
    ex.submit("pA", X, "sell", 5, "2.000", order_id=1)
    digest = ex.state_digest()
    book = ex.book()
    kwargs.setdefault("order_id", 2)
    assert ex.submit(*args, **kwargs) == [rej(1, kwargs["order_id"], reason, args[3])]
    assert ex.book() == book and ex.trades() == []
    # A rejected action leaves everything unchanged but the row count (seq).
    ex2 = ex.fork()
    assert ex2.state_digest() == ex.state_digest() != digest


@pytest.mark.parametrize("args, kwargs, reason", [
    # unknown instrument beats everything
    (("b1", "NOPE", "sell", 0, "0.0001"), dict(order_id=1, min_grade="Z", tif="post_only"), Reason.UNKNOWN_INSTRUMENT),
    # closed beats duplicate id and the rest
    (("b1", Y, "sell", 0), dict(order_id=1, min_grade="Z"), Reason.INSTRUMENT_CLOSED),
    # duplicate id beats not-a-provider, bad grade, qty, price
    (("b1", X, "sell", 0, "0.0001"), dict(order_id=1, min_grade="Z"), Reason.DUPLICATE_ID),
    # not a provider beats bad grade, qty, price
    (("b1", X, "sell", 0, "0.0001"), dict(min_grade="Z"), Reason.NOT_A_PROVIDER),
    # ungraded beats min_grade on a sell, qty, price
    (("pU", X, "sell", 0, "0.0001"), dict(min_grade="A"), Reason.PROVIDER_UNGRADED),
    # bad grade beats qty and price
    (("pB", X, "sell", 0, "0.0001"), dict(min_grade="A"), Reason.BAD_GRADE),
    (("b1", X, "buy", 0, "0.0001"), dict(min_grade="Z"), Reason.BAD_GRADE),
    # bad qty beats bad price
    (("b1", X, "buy", 0, "0.0001"), {}, Reason.BAD_QTY),
    (("b1", X, "buy", 2_000_000), dict(order_type="market", tif="post_only"), Reason.BAD_QTY),
    # bad price beats would-cross
    (("b1", X, "buy", 5, "3.0001"), dict(tif="post_only"), Reason.BAD_PRICE),
])
def test_reject_precedence_with_several_at_once(ex, args, kwargs, reason):
    ex.submit("pA", X, "sell", 5, "2.000", order_id=1)
    ex.close(Y)
    kwargs.setdefault("order_id", 2)
    assert ex.submit(*args, **kwargs) == [rej(2, kwargs["order_id"], reason, args[3])]
    assert ids(ex) == [1]


def test_duplicate_id_even_after_the_order_ended(ex):
    ex.submit("pA", X, "sell", 5, "2.000", order_id=1)
    ex.submit("b1", X, "buy", 5, "2.000", order_id=2)  # fills 1 and 2 completely
    ex.submit("b1", X, "buy", 5, "1.000", order_id=3)
    ex.cancel(3, "b1")
    ex.submit("b1", X, "buy", 5, "1.000", tif="ioc", order_id=4)  # accepted then canceled
    s = 5
    for oid in (1, 2, 3, 4):
        assert ex.submit("b2", X, "buy", 5, "1.000", order_id=oid) == [rej(s, oid, Reason.DUPLICATE_ID, 5)]
        s += 1
    # The same id on another instrument is still a duplicate: ids are exchange-wide.
    assert ex.submit("b2", Y, "buy", 5, "1.000", order_id=1) == [rej(s, 1, Reason.DUPLICATE_ID, 5)]


def test_rejected_id_is_not_used_up(ex):
    assert ex.submit("b1", X, "buy", 0, "1.000", order_id=7) == [rej(0, 7, Reason.BAD_QTY, 0)]
    assert ex.submit("b1", X, "buy", 5, "1.000", order_id=7) == [acc(1, 7, 5)]


def test_automatic_order_ids(ex):
    # None means 1 + the highest id ever accepted (0 if none); a rejected one does not count.
    assert ex.submit("b1", X, "buy", 5, "1.000") == [acc(0, 1, 5)]
    assert ex.submit("b1", X, "buy", 5, "1.000", order_id=10) == [acc(1, 10, 5)]
    assert ex.submit("b1", X, "buy", 0, "1.000") == [rej(2, 11, Reason.BAD_QTY, 0)]
    assert ex.submit("b1", X, "buy", 5, "1.000") == [acc(3, 11, 5)]
    assert ex.submit("b1", X, "buy", 5, "1.000", order_id=4) == [acc(4, 4, 5)]
    assert ex.submit("b1", X, "buy", 5, "1.000") == [acc(5, 12, 5)]


# ======================================================== prices and fields
@pytest.mark.parametrize("price, ticks", [
    ("2.1000", 2100), ("2.1", 2100), ("2.100", 2100), (Decimal("2.1"), 2100), (Decimal("2.10000"), 2100),
    (2, 2000), ("0.100", 100), ("0.1", 100), ("100.000", 100000), (100, 100000), ("100", 100000),
])
def test_prices_on_tick_and_inside_the_inclusive_band(ex, price, ticks):
    assert ex.submit("b1", X, "buy", 5, price, order_id=1) == [acc(0, 1, 5)]
    assert ex.order(1).price == ticks
    assert ex.submit("pA", X, "sell", 5, price, order_id=2) == [acc(1, 2, 5)]
    assert ex.order(2).price == ticks  # 2 does not cross 1: pb*9500 < pa*10000


@pytest.mark.parametrize("call", [
    lambda ex: ex.submit("b1", X, "buy", 5.0, "2.000"),
    lambda ex: ex.submit("b1", X, "buy", True, "2.000"),
    lambda ex: ex.submit("b1", X, "buy", "5", "2.000"),
    lambda ex: ex.submit("b1", X, "BUY", 5, "2.000"),
    lambda ex: ex.submit("b1", X, "bid", 5, "2.000"),
    lambda ex: ex.submit("b1", X, "buy", 5, 2.0),
    lambda ex: ex.submit("b1", X, "buy", 5, "2e3"),
    lambda ex: ex.submit("b1", X, "buy", 5, "abc"),
    lambda ex: ex.submit("b1", X, "buy", 5, " 2.000"),
    lambda ex: ex.submit("b1", X, "buy", 5, "NaN"),
    lambda ex: ex.submit("b1", X, "buy", 5, "2.000", tif="GTC"),
    lambda ex: ex.submit("b1", X, "buy", 5, "2.000", tif="day"),
    lambda ex: ex.submit("b1", X, "buy", 5, order_type="market", tif="xx"),
    lambda ex: ex.submit("b1", X, "buy", 5, "2.000", order_type="stop"),
    lambda ex: ex.submit("bad party", X, "buy", 5, "2.000"),
    lambda ex: ex.submit("", X, "buy", 5, "2.000"),
    lambda ex: ex.submit("x" * 65, X, "buy", 5, "2.000"),
    lambda ex: ex.submit("b1", X, "buy", 5, "2.000", order_id=0),
    lambda ex: ex.submit("b1", X, "buy", 5, "2.000", order_id=-4),
    lambda ex: ex.submit("b1", X, "buy", 5, "2.000", ts=-1),
    lambda ex: ex.cancel(0, "b1"),
    lambda ex: ex.cancel(1, "b 1"),
    lambda ex: ex.replace(1, "b1", qty=2.0),
    lambda ex: ex.replace(1, "b1", price=2.5),
    lambda ex: ex.regrade("pA", 0.9),
    lambda ex: ex.regrade("pA", "1.5"),
    lambda ex: ex.regrade("pA", "0.95001"),
    lambda ex: ex.regrade("pA", "-0.5"),
])
def test_malformed_arguments_raise_value_error_and_take_no_seq(ex, call):
    digest = ex.state_digest()
    with pytest.raises(ValueError):
        call(ex)
    assert ex.state_digest() == digest
    assert ex.submit("b1", X, "buy", 5, "2.000", order_id=1) == [acc(0, 1, 5)]


@pytest.mark.parametrize("field, call", [
    ("qty", lambda ex: ex.submit("b1", X, "buy", 5.0, "2.000")),
    ("side", lambda ex: ex.submit("b1", X, "Buy", 5, "2.000")),
    ("price", lambda ex: ex.submit("b1", X, "buy", 5, 2.5)),
    ("price", lambda ex: ex.submit("b1", X, "buy", 5, "2,5")),
    ("goodput", lambda ex: ex.regrade("pA", 0.95)),
])
def test_value_error_names_the_field(ex, field, call):
    with pytest.raises(ValueError, match=field):
        call(ex)


def test_ts_defaults_to_last_and_must_not_go_back(ex):
    assert ex.submit("b1", X, "buy", 5, "1.000", order_id=1, ts=100) == [acc(0, 1, 5, ts=100)]
    assert ex.submit("b1", X, "buy", 5, "1.000", order_id=2) == [acc(1, 2, 5, ts=100)]
    with pytest.raises(ValueError, match="ts"):
        ex.cancel(1, "b1", ts=99)
    assert ex.cancel(1, "b1", ts=100) == [cxl(2, 1, 5, ts=100)]
    # A rejected row still counts as a row: its ts is the new last ts.
    assert ex.close("NOPE", ts=150) == [rej(3, 0, Reason.UNKNOWN_INSTRUMENT, ts=150)]
    with pytest.raises(ValueError):
        ex.regrade("pA", "0.9", ts=149)
    assert ex.regrade("pA", "0.9") == []
    assert ex.submit("pB", X, "sell", 5, "0.500", order_id=3) == [
        acc(5, 3, 5, ts=150), fill(5, 3, 5, 0, 1, ts=150), fill(5, 2, 5, 0, 1, ts=150)]
    assert ex.trades()[0].ts == 150


def test_enum_arguments_are_accepted(ex):
    from exchange.schema import OrderType
    assert ex.submit("b1", X, Side.BUY, 5, "1.000", order_type=OrderType.LIMIT, tif=Tif.POST_ONLY,
                     order_id=1) == [acc(0, 1, 5)]
    assert ex.order(1).tif == Tif.POST_ONLY


def test_event_field_types(ex):
    ex.submit("pA", X, "sell", 5, "2.000", order_id=1)
    events = ex.submit("b1", X, "buy", 7, "2.200", tif="ioc", order_id=2)
    assert [type(e.event) for e in events] == [EventType] * 4
    assert [type(e.reason) for e in events] == [Reason] * 4
    assert [e.trade_id for e in events] == [None, 1, 1, None]
    assert events[-1] == cxl(1, 2, 2, Reason.IOC)
    assert isinstance(ex.trades()[0].aggressor, Side)


# ================================================================ queries
def test_queries_best_prices_depth_book(ex):
    ex.submit("pA", X, "sell", 5, "2.000", order_id=1)
    ex.submit("pA2", X, "sell", 3, "2.000", order_id=2)
    ex.submit("pC", X, "sell", 4, "1.700", order_id=3)
    ex.submit("pB", X, "sell", 2, "2.200", order_id=4)
    ex.submit("b1", X, "buy", 6, "1.500", min_grade="A", order_id=5)
    ex.submit("b2", X, "buy", 7, "1.400", order_id=6)
    ex.submit("b3", X, "buy", 1, "1.500", min_grade="A", order_id=7)
    assert ids(ex) == [5, 7, 6, 1, 2, 3, 4]
    assert ids(ex, Y) == []
    assert ex.best_ask(X, "A") == 2000 and ex.best_ask(X, "B") == 2200
    assert ex.best_ask(X, "C") == 1700 and ex.best_ask(X, "D") is None
    # AMBIGUOUS in docs/API.md ("grade None = over all"): read here as the raw price of the
    # top of the ask book (lowest effective price), not the lowest raw price (1700) of any grade.
    assert ex.best_ask(X) == 2000
    assert ex.best_bid(X) == 1500 and ex.best_bid(X, "A") == 1500
    assert ex.best_bid(X, "B") == 1400 and ex.best_bid(X, "D") == 1400
    assert ex.best_bid(Y) is None and ex.best_ask(Y) is None
    assert ex.depth(X, "sell") == [(2000, "A", 8), (1700, "C", 4), (2200, "B", 2)]
    assert ex.depth(X, "sell", levels=2) == [(2000, "A", 8), (1700, "C", 4)]
    assert ex.depth(X, "buy") == [(1500, "A", 7), (1400, "D", 7)]
    assert ex.depth(X, Side.BUY, 1) == [(1500, "A", 7)]
    o = ex.order(3)
    assert (o.instrument, o.side, o.party, o.price, o.qty, o.grade, o.min_grade, o.tif, o.arrival_seq) == (
        X, Side.SELL, "pC", 1700, 4, "C", None, Tif.GTC, 2)
    assert ex.order(99) is None


def test_best_ask_over_all_grades_ties_by_arrival(ex):
    # C ask at 1.600 -> 1.600/0.80 = 2.000 effective; A ask at 1.900 -> 1.900/0.95 = 2.000 effective.
    ex.submit("pC", X, "sell", 5, "1.600", order_id=1)
    ex.submit("pA", X, "sell", 5, "1.900", order_id=2)
    # Equal effective prices: the earlier arrival is first in priority, whatever its grade.
    assert ids(ex, X, "sell") == [1, 2]
    assert ex.best_ask(X) == 1600
    # The same two asks in the other arrival order: the A ask is first.
    ex.submit("pA", Y, "sell", 5, "1.900", order_id=3)
    ex.submit("pC", Y, "sell", 5, "1.600", order_id=4)
    assert ids(ex, Y, "sell") == [3, 4]
    assert ex.best_ask(Y) == 1900
    # A buy meets the first in priority: on X the C ask at its raw 1.600.
    ex.submit("b1", X, "buy", 5, "2.000", order_id=5)
    assert trade_tuples(ex) == [(5, 1, "C", 1600, 5, Side.BUY)]
    assert ex.best_ask(X) == 1900


# ============================================================ state and forks
def _script(ex, seed, n, first_id=1):
    """A deterministic mix of actions; returns the events, in order."""
    rng = random.Random(seed)
    parties = ["pA", "pA2", "pB", "pC", "pD", "pU", "b1", "b2", "b3"]
    events = []
    next_id = first_id
    live = []
    for _ in range(n):
        r = rng.random()
        if r < 0.6:
            kind = rng.random()
            kwargs = dict(order_id=next_id)
            next_id += 1
            if kind < 0.1:
                kwargs["order_type"] = "market"
                price = None
            else:
                price = f"{rng.randint(1500, 2500) / 1000:.3f}"
                kwargs["tif"] = rng.choice(["gtc", "gtc", "gtc", "ioc", "fok", "post_only"])
            side = rng.choice(["buy", "sell"])
            if side == "buy" and rng.random() < 0.3:
                kwargs["min_grade"] = rng.choice("ABCD")
            evs = ex.submit(rng.choice(parties), rng.choice([X, Y]), side, rng.randint(1, 20), price, **kwargs)
            live.append(kwargs["order_id"])
        elif r < 0.8 and live:
            oid = rng.choice(live)
            o = ex.order(oid)
            evs = ex.cancel(oid, o.party if o is not None else "b1")
        elif r < 0.93 and live:
            oid = rng.choice(live)
            o = ex.order(oid)
            evs = ex.replace(oid, o.party if o is not None else "b1",
                             price=rng.choice([None, f"{rng.randint(1500, 2500) / 1000:.3f}"]),
                             qty=rng.choice([None, rng.randint(1, 20)]))
        else:
            evs = ex.regrade(rng.choice(["pA", "pB", "pC", "pD", "pU"]),
                             f"{rng.randint(6500, 10000) / 10000:.4f}")
        events.append(evs)
    return events


def test_snapshot_restore_and_fork_continue_identically(ex):
    _script(ex, seed=1, n=150)
    snap = ex.snapshot()
    digest = ex.state_digest()
    fork = ex.fork()
    assert type(fork) is type(ex)
    first = _script(ex, seed=2, n=150, first_id=1000)
    after = ex.state_digest()
    assert _script(fork, seed=2, n=150, first_id=1000) == first
    assert fork.state_digest() == after
    ex.restore(snap)
    assert ex.state_digest() == digest
    assert _script(ex, seed=2, n=150, first_id=1000) == first
    assert ex.state_digest() == after
    ex.restore(snap)  # a snapshot may be used again
    assert ex.state_digest() == digest


def test_same_input_same_output(engine_cls, config):
    a, b = engine_cls(config), engine_cls(config)
    assert _script(a, seed=3, n=300) == _script(b, seed=3, n=300)
    assert a.trades() == b.trades() and a.book() == b.book() and a.state_digest() == b.state_digest()


# ============================================================ invariants
def _assert_no_compatible_crossing_pair_rests(ex):
    grades = [g.name for g in ex.config.grades]
    for symbol in (X, Y):
        bids = [o for o in ex.book(symbol) if o.side == Side.BUY]
        asks = [o for o in ex.book(symbol) if o.side == Side.SELL]
        for b in bids:
            for a in asks:
                if grades.index(a.grade) <= grades.index(b.min_grade):
                    assert b.price * FACTOR[a.grade] < a.price * 10000, (b, a)


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_quantity_conservation_and_invariants(ex, seed):
    """Without replaces: per order, submitted = filled + cancelled + resting; fills within limits."""
    rng = random.Random(seed)
    parties = ["pA", "pB", "pC", "pD", "b1", "b2"]
    accepted, filled, cancelled = {}, {}, {}
    limits = {}
    for oid in range(1, 400):
        if rng.random() < 0.25 and accepted:
            target = rng.choice(sorted(accepted))
            o = ex.order(target)
            events = ex.cancel(target, o.party if o else "b1")
        else:
            side = rng.choice(["buy", "sell"])
            market = rng.random() < 0.1
            price = None if market else f"{rng.randint(1800, 2300) / 1000:.3f}"
            kwargs = dict(order_id=oid, tif=rng.choice(["gtc", "gtc", "ioc", "fok", "post_only"]))
            if market:
                kwargs["order_type"] = "market"
            if side == "buy" and rng.random() < 0.3:
                kwargs["min_grade"] = rng.choice("ABC")
            party = rng.choice(parties)
            events = ex.submit(party, X, side, rng.randint(1, 30), price, **kwargs)
            limits[oid] = (side, None if market else round(float(price) * 1000))
        for e in events:
            if e.event == ACC:
                accepted[e.order_id] = e.qty
            elif e.event == FILL:
                filled[e.order_id] = filled.get(e.order_id, 0) + e.qty
            elif e.event == CXL:
                cancelled[e.order_id] = cancelled.get(e.order_id, 0) + e.qty
        _assert_no_compatible_crossing_pair_rests(ex)
    for oid, qty in accepted.items():
        o = ex.order(oid)
        resting = o.qty if o is not None else 0
        assert qty == filled.get(oid, 0) + cancelled.get(oid, 0) + resting, oid
    for t in ex.trades():
        bside, bprice = limits[t.buy_order_id]
        sside, sprice = limits[t.sell_order_id]
        assert (bside, sside) == ("buy", "sell")
        if sprice is not None:
            assert t.price >= sprice
        if bprice is not None:
            assert t.price * 10000 <= bprice * FACTOR[t.grade]
    assert sum(t.qty for t in ex.trades()) * 2 == sum(filled.values())
