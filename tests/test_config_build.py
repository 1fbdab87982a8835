"""A configuration built in code (issue 13): the same configuration, checks and error
messages as the TOML file it stands for."""
from __future__ import annotations

from decimal import Decimal

import pytest

from exchange.config import ConfigError, ExchangeConfig, Grade, Instrument, Provider, SettlementTerms

TOML = """
[grades]
A = 9500
B = 9000

[settlement]
fee = 25

[[instrument]]
symbol = "H100"
tick = "0.001"
price_min = "0.100"
price_max = "10.000"

[[instrument]]
symbol = "B200"
tick = "0.01"
price_min = "1.00"
price_max = "20.00"
max_qty = 500
take_or_pay = 8000

[[provider]]
party = "p.atlas"
goodput = "0.9712"

[[provider]]
party = "p.ember"
goodput = "0.91"
"""


def _same(a: ExchangeConfig, b: ExchangeConfig) -> bool:
    return (a.instruments, a.grades, a.providers, a.settlement) == (
        b.instruments, b.grades, b.providers, b.settlement)


def test_objects_build_the_configuration_the_toml_file_describes():
    built = ExchangeConfig.build(
        instruments=[
            Instrument(symbol="H100", tick="0.001", price_min="0.100", price_max="10.000"),
            Instrument(symbol="B200", tick=Decimal("0.01"), price_min="1.00", price_max="20.00", max_qty=500,
                       terms=SettlementTerms(take_or_pay=8000, fee=25)),
        ],
        grades=[Grade("A", 9500), Grade("B", 9000)],
        providers=[Provider("p.atlas", 9712), Provider("p.ember", 9100)],
        settlement=SettlementTerms(fee=25),
    )
    assert _same(built, ExchangeConfig.from_toml(TOML))
    assert built.instruments[0].tick == Decimal("0.001")
    assert built.instruments[1].terms.take_or_pay == 8000


def test_plain_dicts_and_pairs_build_the_same_configuration():
    built = ExchangeConfig.build(
        instruments=[
            {"symbol": "H100", "tick": "0.001", "price_min": "0.100", "price_max": "10.000"},
            {"symbol": "B200", "tick": "0.01", "price_min": "1.00", "price_max": "20.00", "max_qty": 500,
             "take_or_pay": 8000},
        ],
        grades={"A": 9500, "B": 9000},
        providers=[("p.atlas", "0.9712"), {"party": "p.ember", "goodput": "0.91"}],
        settlement={"fee": 25},
    )
    assert _same(built, ExchangeConfig.from_toml(TOML))


@pytest.mark.parametrize("objects,toml", [
    (dict(instruments=[Instrument(symbol="X", tick="0", price_min="1", price_max="2")]),
     '[[instrument]]\nsymbol = "X"\ntick = "0"\nprice_min = "1"\nprice_max = "2"\n'),
    (dict(instruments=[Instrument(symbol="X", tick="0.01", price_min="1.005", price_max="2")]),
     '[[instrument]]\nsymbol = "X"\ntick = "0.01"\nprice_min = "1.005"\nprice_max = "2"\n'),
    (dict(instruments=[{"symbol": "X", "tick": "0.01", "price_min": "1", "price_max": "2", "colour": 1}]),
     '[[instrument]]\nsymbol = "X"\ntick = "0.01"\nprice_min = "1"\nprice_max = "2"\ncolour = 1\n'),
    (dict(instruments=[Instrument(symbol="X", tick="0.01", price_min="1", price_max="2")],
          providers=[Provider("bad name", 9000)]),
     '[[instrument]]\nsymbol = "X"\ntick = "0.01"\nprice_min = "1"\nprice_max = "2"\n'
     '[[provider]]\nparty = "bad name"\ngoodput = "0.9"\n'),
    (dict(instruments=[Instrument(symbol="X", tick="0.01", price_min="1", price_max="2")],
          providers=[("p.a", "1.5")]),
     '[[instrument]]\nsymbol = "X"\ntick = "0.01"\nprice_min = "1"\nprice_max = "2"\n'
     '[[provider]]\nparty = "p.a"\ngoodput = "1.5"\n'),
    (dict(instruments=[Instrument(symbol="X", tick="0.01", price_min="1", price_max="2")],
          grades={"A": 0}),
     '[grades]\nA = 0\n[[instrument]]\nsymbol = "X"\ntick = "0.01"\nprice_min = "1"\nprice_max = "2"\n'),
    (dict(instruments=[Instrument(symbol="X", tick="0.01", price_min="1", price_max="2")],
          settlement={"fee": 20_000}),
     '[settlement]\nfee = 20000\n[[instrument]]\nsymbol = "X"\ntick = "0.01"\nprice_min = "1"\nprice_max = "2"\n'),
    (dict(instruments=[]), ""),
])
def test_a_bad_value_gets_the_message_its_toml_file_gets(objects, toml):
    with pytest.raises(ConfigError) as built:
        ExchangeConfig.build(source="my.toml", **objects)
    with pytest.raises(ConfigError) as loaded:
        ExchangeConfig.from_toml(toml, source="my.toml")
    assert str(built.value) == str(loaded.value)


def test_two_grades_of_one_name_are_refused():
    with pytest.raises(ConfigError, match="duplicate grade name 'A'"):
        ExchangeConfig.build(instruments=[Instrument(symbol="X", tick="0.01", price_min="1", price_max="2")],
                             grades=[Grade("A", 9500), Grade("A", 9000)])


def test_a_built_configuration_runs_an_exchange():
    from exchange.engine import Exchange

    config = ExchangeConfig.build(
        instruments=[Instrument(symbol="H100", tick="0.001", price_min="0.100", price_max="10.000")],
        providers=[Provider("p.atlas", 9712)])
    ex = Exchange(config)
    ex.submit("p.atlas", "H100", "sell", 10, "2.000")
    ex.submit("lab-1", "H100", "buy", 4, "2.200")
    assert [(t.seller, t.grade, t.price, t.qty) for t in ex.trades()] == [("p.atlas", "A", 2000, 4)]
