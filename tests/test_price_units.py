"""Prices when instruments have different ticks (docs/RULES.md §2, §4 Replace, §5).

A replace row names only an order id, so its price cannot be read in the order's
ticks before the engine finds the order. Rows carry prices in the exchange's price
unit (the gcd of all ticks) and the engine converts them to the order's instrument.
"""
import pytest

from exchange.config import ExchangeConfig
from exchange.engine import Exchange
from exchange.oracles.reference import ReferenceExchange
from exchange.files.replay import replay
from exchange.schema import EventType, Reason

MIXED = ExchangeConfig.from_toml("""
[[instrument]]
symbol = "FINE"
tick = "0.001"
price_min = "0.100"
price_max = "10.000"

[[instrument]]
symbol = "COARSE"
tick = "0.05"
price_min = "0.10"
price_max = "10.00"
""")


def test_price_unit_is_the_gcd_of_the_ticks():
    assert str(MIXED.price_unit) == "0.001"
    assert [MIXED.units_per_tick(i) for i in range(2)] == [1, 50]


@pytest.mark.parametrize("engine_cls", [Exchange, ReferenceExchange], ids=["numba", "reference"])
def test_replace_price_is_checked_against_the_orders_own_tick(engine_cls):
    ex = engine_cls(MIXED)
    ex.submit("b", "COARSE", "buy", 5, "1.05", order_id=7)
    # The same id on FINE is a rejected duplicate: it does not make order 7 a FINE order.
    assert ex.submit("b", "FINE", "buy", 5, "1.001", order_id=7)[0].reason == Reason.DUPLICATE_ID
    assert ex.replace(7, "b", price="1.001")[0].reason == Reason.BAD_PRICE  # off COARSE's tick
    assert ex.replace(7, "b", price="1.10")[0].event == EventType.REPLACED
    assert ex.order(7).price == 22  # 1.10 in ticks of 0.05
    ex.submit("s", "FINE", "buy", 1, "1.0005")  # finer than any tick: BAD_PRICE
    assert ex.submit("b", "FINE", "buy", 1, "1.0005")[0].reason == Reason.BAD_PRICE


def test_replay_reads_replace_prices_in_the_orders_own_ticks(tmp_path):
    orders = tmp_path / "orders.csv"
    orders.write_text(
        "ts,action,order_id,party,instrument,side,type,tif,price,qty,min_grade,goodput\n"
        "1,new,7,b,COARSE,buy,limit,gtc,1.05,5,,\n"
        "2,new,7,b,FINE,buy,limit,gtc,1.001,5,,\n"
        "3,replace,7,b,,,,,1.001,,,\n"
        "4,replace,7,b,,,,,1.10,,,\n")
    config = tmp_path / "config.toml"
    config.write_text(MIXED.to_toml())
    result = replay(orders, ExchangeConfig.load(config), tmp_path / "out")
    reasons = [(int(e["seq"]), Reason(e["reason"]).name) for e in result.events]
    assert reasons == [(0, "NONE"), (1, "DUPLICATE_ID"), (2, "BAD_PRICE"), (3, "NONE")]
    assert (tmp_path / "out" / "book.csv").read_text().splitlines()[1].startswith("COARSE,buy,7,b,1.10,5")
