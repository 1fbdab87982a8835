"""Instruments listed while trading runs (issue 13): both engines, the checks and messages
of a configuration file, a listing that takes no seq, listings through ``apply``, and the
njit API and lean calls on a listed instrument."""
from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest
from numba import njit

from exchange import embed
from exchange.config import ConfigError, Instrument
from exchange.engine import Exchange
from exchange.oracles.invariants import check
from exchange.schema import ACT_NEW, ACTION_DTYPE, BUY, GRADE_ABSENT, PRICE_OK, SELL, EventType

from tests.conftest import make_test_config

GPU_Z = Instrument(symbol="GPU-Z", tick="0.01", price_min="1.00", price_max="50.00")


@njit(cache=True)
def embed_new_order(h, order_id, party, side=BUY, price=13000):
    """A 4 GPU-hour limit on instrument code 2 from @njit code; the action's event count."""
    return embed.new_order(h, 0, order_id, party, 2, side, 0, 0, price, 4 if side == BUY else 10,
                           GRADE_ABSENT, 0)


def test_a_listed_instrument_trades_like_a_configured_one(ex):
    ex.submit("pA", "GPU-X", "sell", 5, "2.000")  # resting before the listing
    ex.list_instrument(GPU_Z)
    ex.submit("pA", "GPU-Z", "sell", 10, "12.00")
    events = ex.submit("lab", "GPU-Z", "buy", 4, "13.00")
    assert [(t.instrument, t.seller, t.price, t.qty) for t in ex.trades()] == [("GPU-Z", "pA", 1200, 4)]
    assert [e.seq for e in events] == [2, 2, 2]  # the listing took no seq
    assert [(o.instrument, o.price, o.qty) for o in ex.book()] == [("GPU-X", 2000, 5), ("GPU-Z", 1200, 6)]
    assert ex.best_ask("GPU-Z") == 1200


def test_a_listed_symbol_that_exists_is_refused_as_the_file_would_be(ex):
    with pytest.raises(ValueError, match="instrument GPU-X: duplicate symbol"):
        ex.list_instrument(Instrument(symbol="GPU-X", tick="0.01", price_min="1.00", price_max="50.00"))
    with pytest.raises(ConfigError, match="instrument GPU-W: tick must be > 0, got 0"):
        ex.list_instrument({"symbol": "GPU-W", "tick": "0", "price_min": "1", "price_max": "2"})
    assert [ins.symbol for ins in ex.config.instruments] == ["GPU-X", "GPU-Y"]
    assert ex.submit("lab", "GPU-W", "buy", 1, "1.5")[0].reason.name == "UNKNOWN_INSTRUMENT"


def test_a_finer_tick_keeps_the_other_instruments_prices(ex):
    ex.submit("lab", "GPU-X", "buy", 3, "2.001")
    ex.list_instrument(Instrument(symbol="GPU-F", tick="0.0005", price_min="1.0000", price_max="5.0000"))
    ex.submit("pA", "GPU-F", "sell", 2, "1.0005")
    assert ex.submit("pA", "GPU-X", "sell", 1, "2.0005")[-1].reason.name == "BAD_PRICE"  # off GPU-X's tick
    ex.submit("pA", "GPU-X", "sell", 1, "1.900")  # grade A: effective 1.900 / 0.95 = 2.000 <= 2.001
    assert [(t.instrument, t.price) for t in ex.trades()] == [("GPU-X", 1900)]
    assert [(o.instrument, o.price, o.qty) for o in ex.book()] == [("GPU-X", 2001, 2), ("GPU-F", 2001, 2)]


def test_a_snapshot_from_before_the_listing_forgets_it(ex):
    before = ex.snapshot()
    ex.list_instrument(GPU_Z)
    branch = ex.fork()
    ex.restore(before)
    assert ex.submit("lab", "GPU-Z", "buy", 1, "2.00")[0].reason.name == "UNKNOWN_INSTRUMENT"
    assert branch.submit("lab", "GPU-Z", "buy", 1, "2.00")[0].event.name == "ACCEPTED"


def test_both_engines_agree_after_a_listing(config):
    from tests.conftest import ENGINE_CLASSES

    seen = []
    for _, cls in ENGINE_CLASSES:
        ex = cls(config)
        events = ex.submit("pB", "GPU-X", "sell", 5, "2.000")
        ex.list_instrument(GPU_Z)
        events += ex.submit("pB", "GPU-Z", "sell", 5, "10.00")
        events += ex.submit("lab", "GPU-Z", "buy", 7, "11.00")
        events += ex.submit("lab", "GPU-Z", "buy", 1, "9.00")
        events += ex.close("GPU-Z")
        seen.append((events, ex.trades(), ex.book()))
    assert len(ENGINE_CLASSES) == 2
    assert seen[0] == seen[1]


# ------------------------------------------------------------------ through apply
def _rows(*rows):
    """Action rows: (ts, action, order_id, party code, instrument code, side, price units, qty)."""
    out = np.zeros(len(rows), ACTION_DTYPE)
    for i, (ts, action, order_id, party, instrument, side, price, qty) in enumerate(rows):
        out[i] = (0, ts, action, order_id, party, instrument, side, 0, 0, PRICE_OK, price, qty,
                  GRADE_ABSENT, 0, 0)
    return out


def test_apply_lists_a_month_and_trades_it_in_the_same_chunk(ex):
    pa, lab = ex.party_index("pA"), ex.party_index("lab")
    rows = _rows((5, ACT_NEW, 1, pa, 0, SELL, 2000, 5),  # GPU-X, before the listing
                 (6, ACT_NEW, 2, pa, 2, SELL, 12000, 10),  # code 2: GPU-Z, listed before this row
                 (7, ACT_NEW, 3, lab, 2, BUY, 13000, 4))  # units of 0.001: 13.000
    events = ex.apply(rows, listings=[(1, GPU_Z)])
    assert list(rows["seq"]) == [0, 1, 2]  # the listing took no seq
    assert [(e["seq"], e["order_id"], EventType(e["event"]).name) for e in events] == [
        (0, 1, "ACCEPTED"), (1, 2, "ACCEPTED"), (2, 3, "ACCEPTED"), (2, 3, "FILL"), (2, 2, "FILL")]
    assert [(t.instrument, t.seller, t.buyer, t.price, t.qty) for t in ex.trades()] == [
        ("GPU-Z", "pA", "lab", 1200, 4)]
    assert ex.instrument_index("GPU-Z") == 2
    assert ex.submit("lab", "GPU-Z", "buy", 6, "13.00")[-1].leaves_qty == 0  # it goes on trading per call


def test_apply_with_a_listing_gives_the_events_of_the_same_calls(engine_cls, config):
    chunked, by_call = engine_cls(config), engine_cls(config)
    pa, lab = chunked.party_index("pA"), chunked.party_index("lab")
    rows = _rows((1, ACT_NEW, 1, pa, 2, SELL, 12000, 10), (2, ACT_NEW, 2, lab, 2, BUY, 12500, 3))
    events = chunked.apply(rows, listings=[(0, GPU_Z)])
    by_call.list_instrument(GPU_Z)
    expected = by_call.submit("pA", "GPU-Z", "sell", 10, "12.00", order_id=1, ts=1)
    expected += by_call.submit("lab", "GPU-Z", "buy", 3, "12.50", order_id=2, ts=2)
    assert [(e["seq"], e["order_id"], e["event"], e["qty"], e["leaves_qty"]) for e in events] == [
        (e.seq, e.order_id, e.event, e.qty, e.leaves_qty) for e in expected]
    assert chunked.state_digest() == by_call.state_digest()


def test_an_invalid_listing_in_apply_changes_nothing(ex):
    pa = ex.party_index("pA")
    rows = _rows((1, ACT_NEW, 1, pa, 0, SELL, 2000, 5), (2, ACT_NEW, 2, pa, 2, SELL, 12000, 10))
    before, seqs = ex.state_digest(), rows["seq"].copy()
    bad_tick = {"symbol": "GPU-W", "tick": "0", "price_min": "1", "price_max": "2"}
    with pytest.raises(ConfigError, match=r"listings\[1\]: .*instrument GPU-W: tick must be > 0, got 0"):
        ex.apply(rows, listings=[(1, GPU_Z), (2, bad_tick)])
    with pytest.raises(ValueError, match=r"listings\[0\]: .*instrument GPU-X: duplicate symbol"):
        ex.apply(rows, listings=[(1, {"symbol": "GPU-X", "tick": "0.01", "price_min": "1", "price_max": "2"})])
    assert ex.state_digest() == before
    assert [ins.symbol for ins in ex.config.instruments] == ["GPU-X", "GPU-Y"]
    assert list(rows["seq"]) == list(seqs)
    refused = ex.submit("pA", "GPU-Z", "sell", 1, "12.00")[0]
    assert (refused.seq, refused.reason.name) == (0, "UNKNOWN_INSTRUMENT")  # the refused calls took no seq


def test_a_row_before_its_listing_cannot_use_the_new_code(ex):
    pa = ex.party_index("pA")
    rows = _rows((1, ACT_NEW, 1, pa, 2, SELL, 12000, 10), (2, ACT_NEW, 2, pa, 0, SELL, 2000, 5))
    before = ex.state_digest()
    with pytest.raises(ValueError, match="instrument code 2"):
        ex.apply(rows, listings=[(1, GPU_Z)])
    rows[1]["ts"] = 0  # ts going back after the listing
    rows[0]["instrument"] = 0
    with pytest.raises(ValueError, match="ts"):
        ex.apply(rows, listings=[(1, GPU_Z)])
    assert ex.state_digest() == before
    assert [ins.symbol for ins in ex.config.instruments] == ["GPU-X", "GPU-Y"]


@pytest.mark.parametrize("listings, message", [
    ([(2, GPU_Z), (1, GPU_Z)], r"listings\[1\]: row 1 is not an int in 2\.\.2"),
    ([(3, GPU_Z)], r"listings\[0\]: row 3 is not an int in 0\.\.2"),
    ([(-1, GPU_Z)], r"listings\[0\]: row -1"),
    ([GPU_Z], r"listings\[0\]: .* is not a \(row, instrument\) pair"),
    ([(True, GPU_Z)], r"listings\[0\]: row True"),
    (GPU_Z, r"listings: .* is not a list of \(row, instrument\) pairs"),
])
def test_listings_must_be_row_instrument_pairs_in_row_order(ex, listings, message):
    pa = ex.party_index("pA")
    rows = _rows((1, ACT_NEW, 1, pa, 0, SELL, 2000, 5), (2, ACT_NEW, 2, pa, 0, SELL, 2001, 5))
    before = ex.state_digest()
    with pytest.raises(ValueError, match=message):
        ex.apply(rows, listings=listings)
    assert ex.state_digest() == before and len(ex.config.instruments) == 2


def test_listings_after_the_last_row_and_on_an_empty_chunk(ex):
    pa = ex.party_index("pA")
    second = Instrument(symbol="GPU-Z2", tick="0.01", price_min="1.00", price_max="50.00")
    assert len(ex.apply(np.zeros(0, ACTION_DTYPE), listings=[(0, GPU_Z)])) == 0
    events = ex.apply(_rows((4, ACT_NEW, 7, pa, 2, SELL, 12000, 1)), listings=[(1, second)])
    assert EventType(events[0]["event"]).name == "ACCEPTED" and events[0]["seq"] == 0
    assert [ins.symbol for ins in ex.config.instruments] == ["GPU-X", "GPU-Y", "GPU-Z", "GPU-Z2"]
    assert ex.book("GPU-Z")[0].order_id == 7 and ex.book("GPU-Z2") == []


def test_rows_after_a_finer_listing_read_prices_in_the_finer_unit(ex):
    """A listing with a finer tick changes config.price_unit for the rows after it (docs/API.md)."""
    pa, lab = ex.party_index("pA"), ex.party_index("lab")
    fine = Instrument(symbol="GPU-F", tick="0.0005", price_min="1.0000", price_max="5.0000")
    rows = _rows((1, ACT_NEW, 1, lab, 0, BUY, 2000, 3),  # 2000 units of 0.001: 2.000
                 (2, ACT_NEW, 2, pa, 0, SELL, 3800, 1))  # 3800 units of 0.0005: 1.900 (A: effective 2.000)
    ex.apply(rows, listings=[(1, fine)])
    assert [(t.instrument, t.price, t.qty) for t in ex.trades()] == [("GPU-X", 1900, 1)]
    assert ex.config.price_unit == Decimal("0.0005")


# ------------------------------------------------------------------ the njit API and the lean calls
def test_the_njit_api_trades_a_listed_instrument():
    from tests.conftest import NjitExchange

    seen = []
    for cls in (Exchange, NjitExchange):  # NjitExchange: every call through exchange.embed in @njit
        ex = cls(make_test_config())
        ex.submit("pA", "GPU-X", "sell", 5, "2.000")  # the njit handle is built before the listing
        ex.list_instrument(GPU_Z)
        events = ex.submit("pA", "GPU-Z", "sell", 10, "12.00") + ex.submit("lab", "GPU-Z", "buy", 4, "13.00")
        seen.append((events, ex.trades(), ex.book(), ex.state_digest()))
        check(ex._state, ex.config)
    assert seen[0] == seen[1]
    assert [t.instrument for t in seen[1][1]] == ["GPU-Z"]


def test_an_embedding_held_across_a_listing_gets_a_new_handle():
    ex = Exchange(make_test_config())
    lab, pa = ex.party_index("lab"), ex.party_index("pA")
    with ex.embedded() as emb:
        before = emb.handle
        assert embed_new_order(before, 3, 1) == -embed.E_INSTRUMENT  # code 2: not listed yet
        ex.list_instrument(GPU_Z)
        after = emb.handle
        assert after is not before
        assert embed_new_order(after, 2, pa, side=SELL, price=12000) == 1  # ACCEPTED
        assert embed_new_order(after, 3, lab, price=13000) == 3  # ACCEPTED and two FILLs
    assert [(t.instrument, t.qty) for t in ex.trades()] == [("GPU-Z", 4)]
    check(ex._state, ex.config)


def test_submit_fast_sees_a_listed_instrument():
    ex = Exchange(make_test_config())
    pa, lab = ex.party_index("pA"), ex.party_index("lab")
    assert ex.submit_fast(pa, 0, SELL, 5, 2000) == 0  # builds the lean table before the listing
    ex.list_instrument(GPU_Z)
    assert ex.submit_fast(pa, 2, SELL, 10, 12000) == 0
    assert ex.submit_fast(lab, 2, BUY, 4, 13000) == 4
    assert [(t.instrument, t.price, t.qty) for t in ex.trades()] == [("GPU-Z", 1200, 4)]
    check(ex._state, ex.config)


def test_a_listing_beyond_the_memory_budget_is_refused_like_a_config():
    from exchange.memory_budget import MemoryBudgetError
    from exchange.state import planned_bytes

    config = make_test_config()
    ex = Exchange(config, memory_limit=planned_bytes(config) + 1000)  # no room for GPU-Z's ladders
    before = ex.state_digest()
    with pytest.raises(MemoryBudgetError, match="listing GPU-Z"):
        ex.list_instrument(GPU_Z)
    with pytest.raises(MemoryBudgetError, match=r"listings\[0\]: listing GPU-Z"):
        ex.apply(np.zeros(0, ACTION_DTYPE), listings=[(0, GPU_Z)])
    assert ex.state_digest() == before and len(ex.config.instruments) == 2
