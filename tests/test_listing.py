"""Instruments listed while trading runs (issue 13): both engines, the checks and messages
of a configuration file, and a listing that takes no seq."""
from __future__ import annotations

import pytest

from exchange.config import ConfigError, Instrument

GPU_Z = Instrument(symbol="GPU-Z", tick="0.01", price_min="1.00", price_max="50.00")


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
