"""Take-or-pay settlement (docs/RULES.md §6-§7): one hand-computed scenario per term, bad input, the CLI."""
from __future__ import annotations

import argparse
import os

import numpy as np
import pytest

from contracts import cli
from contracts.csvio import InputError, money_text
from contracts.metering import Metering
from contracts.metering_gen import generate_metering
from contracts.report import FILES, render
from contracts.schedule import Contracts, read_trades_csv, scheduled_hours
from contracts.settlement import Settlement, remaining_minimum_hours
from exchange.config import ConfigError, ExchangeConfig

TRADES_HEADER = ("trade_id,seq,ts,instrument,buy_order_id,sell_order_id,buyer,seller,grade,price,"
                 "effective_price,qty,aggressor")


def make_config(periods=3, tick="0.001", **terms) -> ExchangeConfig:
    lines = ["[settlement]"] + [f"{k} = {v}" for k, v in terms.items()]
    lines += ["[[instrument]]", 'symbol = "GPU"', f'tick = "{tick}"', 'price_min = "0"', 'price_max = "100"',
              f"delivery_periods = {periods}"]
    return ExchangeConfig.from_toml("\n".join(lines) + "\n")


def settle(rows, through, qty=30, price="2.000", periods=3, grade="A", **terms):
    """Settle one contract (trade 1, b.buyer <- p.seller); the statement line of each period."""
    config = make_config(periods=periods, **terms)
    ticks = config.instruments[0].price_to_ticks(price)
    contracts = Contracts.from_arrays(config, [1], ["GPU"], ["b.buyer"], ["p.seller"], [grade], [ticks], [qty])
    settlement = Settlement(config, contracts)
    settlement.settle_through(through, Metering.from_rows([(1, *r) for r in rows], contracts))
    return [{k: int(v[0]) for k, v in r.lines.items()} for r in settlement.results]


def check(line, **expected):
    assert {k: line[k] for k in expected} == expected


USD = 1_000_000  # µ$ per dollar; price $2.000 -> p = 2_000_000


# ----------------------------------------------------------- one term each
def test_take_or_pay_below_full_with_under_use():
    [line] = settle([(0, 10, 5, "0.9600")], 0, take_or_pay=8000)
    check(line, sched=10, avail=10, taken=5, minimum=8, deficiency=3, excess=0, makeup=0, billable=8,
          charge=16 * USD, credit=0, net=16 * USD, buyer_pays=16 * USD, provider_receives=16 * USD)


def test_minimum_is_a_ceiling_on_avail():
    [line] = settle([(0, 7, 0, "0.9600")], 0, take_or_pay=8000)  # 7 * 0.8 = 5.6 -> 6
    check(line, avail=7, undelivered=3, minimum=6, deficiency=6, billable=6, charge=12 * USD)


def test_makeup_used_later_then_expires():
    rows = [(0, 10, 1, "0.95"), (1, 10, 8, "0.95"), (2, 10, 5, "0.95"), (3, 10, 10, "0.95")]
    lines = settle(rows, 3, qty=50, periods=5, take_or_pay=5000, makeup_periods=2)
    check(lines[0], minimum=5, deficiency=4, bank_before=0, makeup=0, bank_after=4, billable=5)
    check(lines[1], excess=3, bank_before=4, makeup=3, bank_after=1, billable=5, charge=10 * USD)
    check(lines[2], excess=0, bank_before=1, makeup=0, bank_after=0, billable=5)  # the last hour expired
    check(lines[3], excess=5, bank_before=0, makeup=0, bank_after=0, billable=10)


def test_makeup_bank_is_first_in_first_out():
    rows = [(0, 10, 1, "0.95"), (1, 10, 3, "0.95"), (2, 10, 9, "0.95"), (3, 10, 6, "0.95")]
    lines = settle(rows, 3, qty=50, periods=5, take_or_pay=5000, makeup_periods=2)
    check(lines[1], deficiency=2, bank_after=6)
    check(lines[2], excess=4, bank_before=6, makeup=4, bank_after=2, billable=5)  # 4 of period 0's
    check(lines[3], excess=1, bank_before=2, makeup=1, bank_after=0, billable=5)  # 1 of period 1's


def test_makeup_periods_zero_keeps_no_bank():
    rows = [(0, 10, 1, "0.95"), (1, 10, 9, "0.95")]
    lines = settle(rows, 1, take_or_pay=5000, makeup_periods=0)
    check(lines[1], excess=4, bank_before=0, makeup=0, bank_after=0, billable=9)


def test_sla_credit():
    [line] = settle([(0, 6, 6, "0.95")], 0, sla_credit=5000)
    check(line, avail=6, undelivered=4, taken=6, minimum=6, billable=6, charge=12 * USD,
          sla=4 * USD, goodput_cr=0, credit=4 * USD, net=8 * USD, buyer_pays=8 * USD)


def test_goodput_credit_on_taken_floors():
    [line] = settle([(0, 10, 10, "0.9000")], 0)  # floor A 9500: 10 * 2e6 * 500 / 9500 = 1052631.57
    check(line, goodput_bp=9000, taken=10, charge=20 * USD, goodput_cr=1_052_631,
          credit=1_052_631, net=20 * USD - 1_052_631)
    [line] = settle([(0, 10, 4, "0.8550")], 0, take_or_pay=0)  # credit on taken (4), not billable
    check(line, billable=4, goodput_cr=800_000, net=7_200_000)


def test_goodput_at_or_above_floor_gives_no_credit():
    [line] = settle([(0, 10, 10, "0.9500")], 0)
    check(line, goodput_cr=0, net=20 * USD)


def test_credit_cap_binds():
    [line] = settle([(0, 4, 4, "0.5000")], 0, sla_credit=20000, credit_cap=2500)
    # sla = 6 * 2e6 * 2 = 24e6, goodput_cr = 4 * 2e6 * 4500 / 9500 = 3789473; cap = 8e6 * 25% = 2e6
    check(line, charge=8 * USD, sla=24 * USD, goodput_cr=3_789_473, credit=2 * USD, net=6 * USD)


def test_fees_each_side_floor():
    [line] = settle([(0, 7, 7, "0.95")], 0, qty=21, price="2.347", fee=25)
    # charge = 7 * 2_347_000 = 16_429_000; fee = floor(16_429_000 * 25 / 10000) = 41_072
    check(line, charge=16_429_000, net=16_429_000, fee_each=41_072, buyer_pays=16_470_072,
          provider_receives=16_387_928)


def test_remainder_hours_go_to_first_periods():
    lines = settle([], 2, qty=32)
    assert [line["sched"] for line in lines] == [11, 11, 10]
    assert scheduled_hours(32, 3, np.arange(-1, 4)).tolist() == [0, 11, 11, 10, 0]
    assert scheduled_hours(2, 3, np.arange(3)).tolist() == [1, 1, 0]
    assert remaining_minimum_hours(np.array([32]), np.array([3]), np.array([8000]), 1).tolist() == [9 + 8]
    assert remaining_minimum_hours(np.array([32]), np.array([3]), np.array([10000]), 0).tolist() == [32]
    assert remaining_minimum_hours(np.array([32]), np.array([3]), np.array([8000]), 3).tolist() == [0]


def test_over_use_and_over_availability_are_clipped():
    [line] = settle([(0, 15, 20, "0.95")], 0, take_or_pay=8000)
    check(line, available_hours=15, used_hours=20, avail=10, undelivered=0, taken=10, minimum=8, excess=2,
          billable=10, charge=20 * USD)


def test_missing_rows_mean_full_availability_no_use_floor_goodput():
    lines = settle([(1, 10, 10, "0.95")], 2, take_or_pay=8000, sla_credit=10000)
    check(lines[0], metered=0, available_hours=10, used_hours=0, goodput_bp=9500, avail=10, undelivered=0,
          taken=0, minimum=8, deficiency=8, billable=8, sla=0, goodput_cr=0, net=16 * USD)
    check(lines[1], metered=1, taken=10)
    check(lines[2], metered=0, billable=8)


def test_outage_lowers_minimum():
    [line] = settle([(0, 5, 0, "0.95")], 0, take_or_pay=8000)
    check(line, avail=5, undelivered=5, minimum=4, billable=4)


def test_money_text_is_exact():
    assert money_text(np.array([0, 1, -1, 2_345_000, -12_000_001, 2**62])).to_pylist() == [
        "0.000000", "0.000001", "-0.000001", "2.345000", "-12.000001", "4611686018427.387904"]


# ------------------------------------------------------------------ the API
def test_period_by_period_as_metering_arrives_equals_all_at_once():
    config = ExchangeConfig.default()
    contracts = Contracts.from_arrays(config, [5, 3, 9], ["H100-SXM.2027-01", "B200.2027-01", "A100-80G.2027-01"],
                                      ["b.x", "b.y", "b.x"], ["p.atlas", "p.ember", "p.ion"], ["A", "C", "D"],
                                      [2100, 3500, 1234], [100, 61, 7])
    rows = [(5, t, 3 + t % 2, t % 5, "0.9000") for t in range(6)] + [(3, 2, 0, 0, "0.7")]
    at_once = Settlement(config, contracts)
    at_once.settle_through(5, Metering.from_rows(rows, contracts))
    stepwise = Settlement(config, contracts)
    for t in range(6):
        stepwise.settle_period([r for r in rows if r[1] == t])
    assert render(at_once) == render(stepwise)
    with pytest.raises(InputError, match="already settled"):
        stepwise.add_metering([(5, 0, 1, 1, "0.9")])
    with pytest.raises(InputError, match="duplicate"):
        stepwise.add_metering([(5, 7, 1, 1, "0.9"), (5, 7, 2, 2, "0.9")])


def test_rows_for_later_periods_wait():
    config = make_config()
    contracts = Contracts.from_arrays(config, [1], ["GPU"], ["b"], ["p"], ["A"], [2000], [30])
    s = Settlement(config, contracts)
    s.add_metering([(1, 2, 0, 0, "0.95")])
    assert s.settle_period().lines["metered"].tolist() == [0]
    s.settle_period()
    assert s.settle_period().lines["available_hours"].tolist() == [0]
    with pytest.raises(ValueError, match="past the delivery window"):
        s.settle_period()


def test_contracts_from_trade_records_and_overflow_guard():
    from exchange.schema import TRADE_DTYPE

    records = np.zeros(2, TRADE_DTYPE)
    records["trade_id"], records["buyer"], records["seller"] = [7, 2], [0, 1], [2, 2]
    records["grade"], records["price"], records["qty"] = [0, 3], [2000, 1500], [31, 5]
    c = Contracts.from_trade_records(make_config(), records, ["b.z", "b.a", "p.q"])
    assert c.trade_id.tolist() == [2, 7] and c.parties == ("b.a", "b.z", "p.q")
    assert c.buyer.tolist() == [0, 1] and c.p.tolist() == [1_500_000, 2_000_000]
    assert c.floor_bp.tolist() == [7000, 9500] and c.sched(0).tolist() == [2, 11]
    config = make_config(sla_credit=10**12)
    with pytest.raises(ConfigError, match="instrument GPU"):
        Contracts.from_arrays(config, [1], ["GPU"], ["b"], ["p"], ["A"], [100_000], [1_000_000])
    with pytest.raises(ValueError, match="unknown grade"):
        Contracts.from_arrays(make_config(), [1], ["GPU"], ["b"], ["p"], ["Z"], [1], [1])


# ------------------------------------------------------------- files, CLI
def run_cli(*argv):
    parser = argparse.ArgumentParser(prog="compute-exchange")
    cli.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["settle", *argv])
    return cli.run(args)


def write_trades(path, rows):
    body = [f"{tid},0,0,{ins},1,2,{b},{s},{g},{price},0,{qty},buy" for tid, ins, b, s, g, price, qty in rows]
    path.write_text("\n".join([TRADES_HEADER, *body]) + "\n")
    return path


@pytest.fixture
def sample(tmp_path):
    trades = write_trades(tmp_path / "trades.csv", [
        (1, "H100-SXM.2027-01", "b.one", "p.atlas", "A", "2.100", 95),
        (2, "A100-80G.2027-01", "b.two", "p.ion", "D", "1.250", 30),
        (3, "B200.2027-01", "b.one", "p.ember", "C", "4.000", 45),
    ])
    return tmp_path, trades


def test_cli_writes_four_files_and_summary(sample, capsys):
    tmp, trades = sample
    metering = tmp / "metering.csv"
    metering.write_text("trade_id,period,available_hours,used_hours,goodput\n"
                        "1,0,4,4,0.9600\n2,1,1,0,0.5\n3,0,2,1,0.85\n1,3,4,4,0.9\n")
    assert run_cli(str(trades), "--metering", str(metering), "--through", "1", "--out", str(tmp / "out")) == 0
    out = capsys.readouterr().out
    assert "contracts: 3" in out and "periods settled: 0..1" in out and "conservation" in out and "OK" in out
    assert sorted(os.listdir(tmp / "out")) == sorted(FILES)
    statements = (tmp / "out" / "statements.csv").read_text().splitlines()
    assert statements[0].startswith("trade_id,period,instrument,buyer,provider,grade,p,metered,")
    assert len(statements) == 1 + 3 * 2
    assert statements[1].startswith("1,0,H100-SXM.2027-01,b.one,p.atlas,A,2.100000,1,4,4,9600,9500,4,4,0,4,")
    netting = (tmp / "out" / "netting.csv").read_text()
    assert netting.startswith("period,party,net_position,gross_flows,net_flows\n0,b.one,")
    assert "\r" not in netting
    obligations = (tmp / "out" / "obligations.csv").read_text().splitlines()
    assert obligations == ["buyer,provider,contracts,min_hours,obligation",
                           # trade 1: 95 h / 30: periods 2..4 have 4 h, 5..29 have 3 h; 80% -> 4*3 + 3*25
                           "b.one,p.atlas,1,87,182.700000",
                           "b.one,p.ember,1,41,164.000000",  # B200 100%: 45 h: periods 2..14 2 h, 15..29 1 h
                           "b.two,p.ion,1,28,35.000000"]  # A100 60%: 28 periods of 1 h -> 1 each


def test_cli_without_metering_settles_nothing(sample, capsys):
    tmp, trades = sample
    assert run_cli(str(trades), "--out", str(tmp / "o")) == 0
    assert (tmp / "o" / "statements.csv").read_text().count("\n") == 1
    assert "periods settled: none" in capsys.readouterr().out


def test_generated_metering_settles_and_is_deterministic(sample, capsys):
    tmp, trades = sample
    config = ExchangeConfig.default()
    n = generate_metering(trades, config, 3, tmp / "m1.csv")
    generate_metering(trades, config, 3, tmp / "m2.csv")
    assert (tmp / "m1.csv").read_bytes() == (tmp / "m2.csv").read_bytes()
    assert 0 < n < 90
    assert run_cli(str(trades), "--metering", str(tmp / "m1.csv"), "--out", str(tmp / "o")) == 0
    assert "OK" in capsys.readouterr().out


BAD_METERING = [
    ("x,0,1,1,0.9", "trade_id: 'x' is not an integer"),
    ("77,0,1,1,0.9", "trade_id: unknown trade_id 77"),
    ("1,30,1,1,0.9", "period: period 30 is outside 0..29 of trade 1"),
    ("1,-1,1,1,0.9", "period: period -1 is outside 0..29 of trade 1"),
    ("1,0,2,2,0.9", "period: duplicate row for trade 1 period 0 (first on line 2)"),
    ("1,1,-3,1,0.9", "available_hours: -3 is negative"),
    ("1,1,3,1.5,0.9", "used_hours: '1.5' is not an integer"),
    ("1,1,3,,0.9", "used_hours: empty"),
    ("1,1,3,1,1.2", "goodput: 1.2 is outside [0, 1]"),
    ("1,1,3,1,0.12345", "goodput: 0.12345 has more than 4 decimal places"),
    ("1,1,3,1,1e-1", "goodput: '1e-1' is not a plain decimal number"),
    ("1,1,3,1,", "goodput: empty"),
]


@pytest.mark.parametrize("row,message", BAD_METERING)
def test_bad_metering_row_is_reported_and_nothing_written(sample, capsys, row, message):
    tmp, trades = sample
    metering = tmp / "metering.csv"
    metering.write_text(f"trade_id,period,available_hours,used_hours,goodput\n1,0,4,4,0.96\n{row}\n")
    out = tmp / "out"
    assert run_cli(str(trades), "--metering", str(metering), "--out", str(out)) == 2
    err = capsys.readouterr().err
    assert f"{metering}:3: {message}" in err
    assert "Traceback" not in err
    assert not out.exists()


def test_all_bad_metering_rows_are_reported_together(sample, capsys):
    tmp, trades = sample
    metering = tmp / "metering.csv"
    metering.write_text("trade_id,period,available_hours,used_hours,goodput\n"
                        + "\n".join(row for row, _ in BAD_METERING) + "\n")
    (tmp / "out").mkdir()
    assert run_cli(str(trades), "--metering", str(metering), "--out", str(tmp / "out")) == 2
    err = capsys.readouterr().err
    for line, (row, message) in enumerate(BAD_METERING, start=2):
        if "duplicate" not in message:
            assert f"{metering}:{line}: {message}" in err
    assert os.listdir(tmp / "out") == []


def test_bad_metering_file_shape(sample, capsys):
    tmp, trades = sample
    metering = tmp / "metering.csv"
    metering.write_text("trade_id,period,available_hours,goodput\n1,0,1,0.9\n")
    assert run_cli(str(trades), "--metering", str(metering), "--out", str(tmp / "o")) == 2
    assert f"{metering}:1: used_hours: missing column" in capsys.readouterr().err
    metering.write_text("trade_id,period,available_hours,used_hours,goodput\n1,0,1,1\n\n1,1,1,1,0.9,7\n")
    assert run_cli(str(trades), "--metering", str(metering), "--out", str(tmp / "o")) == 2
    err = capsys.readouterr().err
    assert f"{metering}:2: row: expected 5 cells, got 4" in err
    assert f"{metering}:4: row: expected 5 cells, got 6" in err
    assert run_cli(str(trades), "--metering", str(tmp / "nope.csv"), "--out", str(tmp / "o")) == 2
    assert "nope.csv: no such file" in capsys.readouterr().err
    assert not (tmp / "o").exists()


def test_blank_lines_keep_line_numbers(sample, capsys):
    tmp, trades = sample
    metering = tmp / "metering.csv"
    metering.write_text("trade_id,period,available_hours,used_hours,goodput\n\n1,0,1,1,0.9\n\n1,0,1,1,2\n")
    assert run_cli(str(trades), "--metering", str(metering), "--out", str(tmp / "o")) == 2
    err = capsys.readouterr().err
    assert f"{metering}:5: period: duplicate row for trade 1 period 0 (first on line 3)" in err
    assert f"{metering}:5: goodput: 2 is outside [0, 1]" in err


def test_bad_trades_rows(tmp_path, capsys):
    trades = write_trades(tmp_path / "t.csv", [
        (1, "H100-SXM.2027-01", "b", "p.atlas", "A", "2.1005", 10),
        (1, "NOPE", "b", "p.atlas", "A", "2.100", 10),
        (3, "H100-SXM.2027-01", "b", "p.atlas", "Q", "2.100", 0),
    ])
    assert run_cli(str(trades), "--out", str(tmp_path / "o")) == 2
    err = capsys.readouterr().err
    assert f"{trades}:2: price: 2.1005 is not a whole number of ticks (0.001) of H100-SXM.2027-01" in err
    assert f"{trades}:3: trade_id: duplicate trade_id 1 (first on line 2)" in err
    assert f"{trades}:3: instrument: unknown instrument 'NOPE'" in err
    assert f"{trades}:4: grade: unknown grade 'Q'" in err
    assert f"{trades}:4: qty: 0 must be >= 1" in err
    with pytest.raises(InputError):
        read_trades_csv(trades, ExchangeConfig.default())


@pytest.mark.parametrize("term,value,message", [
    ("take_or_pay", "12000", "term take_or_pay = 12000 is outside 0..10000"),
    ("credit_cap", "-1", "term credit_cap = -1 is outside 0..10000"),
    ("fee", "10001", "term fee = 10001 is outside 0..10000"),
    ("sla_credit", "-5", "term sla_credit = -5 must be >= 0"),
    ("makeup_periods", "-1", "term makeup_periods = -1 must be >= 0"),
    ("makeup_periods", "1.5", "term makeup_periods must be a TOML integer"),
    ("take_or_pay", '"80"', "term take_or_pay must be a TOML integer"),
])
def test_config_term_out_of_range_names_instrument_and_term(sample, capsys, term, value, message):
    tmp, trades = sample
    config = tmp / "c.toml"
    config.write_text('[[instrument]]\nsymbol = "H100-SXM.2027-01"\ntick = "0.001"\nprice_min = "0.5"\n'
                      f'price_max = "20"\n{term} = {value}\n')
    assert run_cli(str(trades), "--config", str(config), "--out", str(tmp / "o")) == 2
    err = capsys.readouterr().err
    assert "instrument H100-SXM.2027-01" in err and message in err and "Traceback" not in err
    assert not (tmp / "o").exists()


def test_config_tick_not_whole_micros_and_unknown_settlement_key(sample, capsys):
    tmp, trades = sample
    config = tmp / "c.toml"
    config.write_text('[[instrument]]\nsymbol = "H100-SXM.2027-01"\ntick = "0.0000001"\nprice_min = "0.5"\n'
                      'price_max = "0.6"\n')
    trades = write_trades(tmp / "t.csv", [(1, "H100-SXM.2027-01", "b", "p", "A", "0.5000001", 1)])
    assert run_cli(str(trades), "--config", str(config), "--out", str(tmp / "o")) == 2
    assert "instrument H100-SXM.2027-01: tick 1E-7 is not a whole number of micro-dollars" in capsys.readouterr().err
    config.write_text('[settlement]\nbogus = 1\n[[instrument]]\nsymbol = "X"\ntick = "0.01"\nprice_min = "0"\n'
                      'price_max = "1"\n')
    assert run_cli(str(trades), "--config", str(config), "--out", str(tmp / "o")) == 2
    assert "[settlement]: unknown key 'bogus'" in capsys.readouterr().err


def test_through_outside_window(sample, capsys):
    tmp, trades = sample
    assert run_cli(str(trades), "--through", "30", "--out", str(tmp / "o")) == 2
    assert "--through 30: periods are 0..29" in capsys.readouterr().err
