"""Hostile input: configs, API arguments and order files that try to break the exchange.

Each test is one attack and the rule it must hold to: no traceback, no wrong answer
(both engines and replay agree), a one-line error naming the cause.
"""
from __future__ import annotations

from decimal import Decimal

import pytest

from exchange.config import ConfigError, ExchangeConfig
from exchange.engine import Exchange
from exchange.oracles.reference import ReferenceExchange
from exchange.files.replay import replay
from exchange.schema import EventType, Reason

ENGINES = pytest.mark.parametrize("engine_cls", [Exchange, ReferenceExchange], ids=["numba", "reference"])

FINE_BESIDE_COARSE = """
[[instrument]]
symbol = "FINE"
tick = "0.000000000000001"
price_min = "0.001"
price_max = "0.001000001"

[[instrument]]
symbol = "X"
tick = "0.001"
price_min = "0.100"
price_max = "100.000"
"""

HEADER = "ts,action,order_id,party,instrument,side,type,tif,price,qty,min_grade,goodput\n"


# ------------------------------------------------------------ mixed ticks (docs/RULES.md §2)
@ENGINES
def test_a_fine_tick_beside_a_coarse_one_keeps_the_coarse_prices_valid(engine_cls):
    ex = engine_cls(ExchangeConfig.from_toml(FINE_BESIDE_COARSE))
    assert ex.submit("b", "X", "buy", 1, "12.000")[0].event == EventType.ACCEPTED
    assert ex.submit("b", "X", "buy", 1, "99.999")[0].event == EventType.ACCEPTED
    assert ex.submit("b", "FINE", "buy", 1, "0.001000000000001")[0].event == EventType.ACCEPTED
    assert ex.submit("b", "X", "buy", 1, "12.0005")[0].reason == Reason.BAD_PRICE


def test_replay_agrees_on_a_fine_tick_beside_a_coarse_one(tmp_path):
    orders = tmp_path / "orders.csv"
    orders.write_text(HEADER + "1,new,1,b,X,buy,,,12.000,1,,\n"
                      "2,new,2,b,FINE,buy,,,0.001000000000001,1,,\n"
                      "3,new,3,b,X,buy,,,12.0005,1,,\n")
    result = replay(orders, ExchangeConfig.from_toml(FINE_BESIDE_COARSE), tmp_path / "out")
    assert [Reason(e["reason"]).name for e in result.events] == ["NONE", "NONE", "BAD_PRICE"]


def test_a_band_the_finest_tick_cannot_represent_is_a_config_error():
    text = FINE_BESIDE_COARSE.replace('"0.000000000000001"', '"0.000000000000000001"').replace(
        'price_max = "0.001000001"', 'price_max = "0.000000000000000100"').replace(
        'price_min = "0.001"', 'price_min = "0.000000000000000001"')
    with pytest.raises(ConfigError) as caught:
        ExchangeConfig.from_toml(text)
    message = str(caught.value)
    assert "instrument X" in message and "0.001" in message and "[0.100, 100.000]" in message


# ------------------------------------------------------------ off-tick prices (§2, §5)
@ENGINES
@pytest.mark.parametrize("price", ["2.0000000000000000000000000000000001", "2.0001",
                                   Decimal("2.0000000000000000000000000000000001")])
def test_a_price_off_tick_in_any_decimal_is_bad_price(engine_cls, config, price):
    ex = engine_cls(config)
    assert ex.submit("b", "GPU-X", "buy", 1, price)[0].reason == Reason.BAD_PRICE


def test_replay_rejects_the_same_off_tick_price(tmp_path, config):
    orders = tmp_path / "orders.csv"
    orders.write_text(HEADER + "1,new,1,b,GPU-X,buy,,,2.0000000000000000000000000000000001,1,,\n"
                      "2,new,2,b,GPU-X,buy,,,2.0000000000000000000000000000000000,1,,\n")
    result = replay(orders, config, tmp_path / "out")
    assert [Reason(e["reason"]).name for e in result.events] == ["BAD_PRICE", "NONE"]


# ------------------------------------------------------------ API arguments (docs/API.md)
@ENGINES
@pytest.mark.parametrize("call", [
    lambda ex: ex.submit("b", "GPU-X", "buy", 1, Decimal("1e999999")),
    lambda ex: ex.submit("b", "GPU-X", "buy", 1, Decimal("-1e999999")),
    lambda ex: ex.submit("b", "GPU-X", "buy", 1, Decimal("1e-999999")),
], ids=["huge", "huge-negative", "tiny"])
def test_extreme_decimal_prices_are_bad_price(engine_cls, config, call):
    assert call(engine_cls(config))[0].reason == Reason.BAD_PRICE


@ENGINES
@pytest.mark.parametrize("call", [
    lambda ex: ex.regrade("pX", Decimal("1e999999")),
    lambda ex: ex.regrade("pX", Decimal("1e-999999")),
    lambda ex: ex.submit(["b"], "GPU-X", "buy", 1, "1.000"),
    lambda ex: ex.submit({"b": 1}, "GPU-X", "buy", 1, "1.000"),
    lambda ex: ex.cancel(1, ["b"]),
    lambda ex: ex.submit("b", "", "buy", 1, "1.000"),
    lambda ex: ex.submit("b", ["GPU-X"], "buy", 1, "1.000"),
    lambda ex: ex.close(""),
    lambda ex: ex.submit("b", "GPU-X", "buy", 1, "1.000", min_grade=["A"]),
    lambda ex: ex.submit("b", "GPU-X", "buy", 2**64, "1.000"),
    lambda ex: ex.submit("b", "GPU-X", [], 1, "1.000"),
    lambda ex: ex.submit("b", "GPU-X", "buy", 1, "1e3"),
    lambda ex: ex.submit("b", "GPU-X", "buy", 1, "١٢"),
], ids=["goodput-huge", "goodput-tiny", "party-list", "party-dict", "cancel-party-list",
        "instrument-empty", "instrument-list", "close-empty", "grade-list", "qty-2**64",
        "side-list", "price-exponent", "price-arabic-digits"])
def test_hostile_arguments_raise_value_error_and_change_nothing(engine_cls, config, call):
    ex = engine_cls(config)
    before = ex.state_digest()
    with pytest.raises(ValueError):
        call(ex)
    assert ex.state_digest() == before


@ENGINES
def test_no_id_after_the_largest_is_a_value_error(engine_cls, config):
    ex = engine_cls(config)
    assert ex.submit("b", "GPU-X", "buy", 1, "1.000", order_id=2**63 - 1)[0].event == EventType.ACCEPTED
    with pytest.raises(ValueError, match="order_id"):
        ex.submit("b", "GPU-X", "buy", 1, "1.000")


@ENGINES
def test_empty_strings_are_empty_cells(engine_cls, config):
    """docs/RULES.md §5: an empty cell is "not given": defaults apply, a limit without price is BAD_PRICE."""
    ex = engine_cls(config)
    events = ex.submit("b", "GPU-X", "buy", 2, "1.000", order_type="", tif="", min_grade="")
    assert events[0].event == EventType.ACCEPTED
    assert ex.order(events[0].order_id).min_grade == "D"
    assert ex.submit("b", "GPU-X", "buy", 1, "")[0].reason == Reason.BAD_PRICE
    assert ex.replace(events[0].order_id, "b", price="", qty=1)[0].event == EventType.REPLACED
    assert ex.order(events[0].order_id).price == 1000


# ------------------------------------------------------------ order files (§5)
def _replay_cli(args, capsys):
    """The command in-process: (exit status, stderr lines)."""
    from compute_exchange.cli import main

    status = main(args)
    err = capsys.readouterr().err
    return status, [line for line in err.splitlines() if line]


@pytest.mark.parametrize("lenient", [False, True], ids=["strict", "lenient"])
@pytest.mark.parametrize("body, line, column", [
    (b"1,\xff,x,y\n", 2, "row"),  # a non-UTF-8 byte in a row pyarrow cannot show
    (b"1,\xff,p\n", 2, "action"),
    (b'1,grade,p"x\n', 2, "party"),  # a stray quote inside a cell is text
    (b'1,"r\n2,grade,p\n', 2, "row"),  # an unterminated quote runs to the end
], ids=["non-utf8-extra-cell", "non-utf8-cell", "stray-quote", "open-quote"])
def test_broken_rows_are_reported_at_their_line(tmp_path, capsys, body, line, column, lenient):
    orders = tmp_path / "orders.csv"
    orders.write_bytes(b"ts,action,party\n" + body)
    args = ["replay", str(orders), "--out", str(tmp_path / "out")] + (["--lenient"] if lenient else [])
    status, err = _replay_cli(args, capsys)
    assert status == (0 if lenient else 2)
    assert f"{orders}:{line}: {column}: " in err[0]
    assert not any("Traceback" in e for e in err)
    assert (tmp_path / "out" / "events.csv").exists() == lenient


def test_a_row_longer_than_a_read_block_is_one_malformed_cell(tmp_path, capsys):
    orders = tmp_path / "orders.csv"
    with open(orders, "w") as handle:
        handle.write("ts,action,party,goodput\n")
        handle.writelines(f"{i},grade,p{i % 5},0.9\n" for i in range(50_000))
        handle.write("50000,grade,p,0." + "9" * 6_000_000 + "\n")
        handle.write("50001,grade,p,0.91\n")
    status, err = _replay_cli(["replay", str(orders), "--lenient", "--out", str(tmp_path / "out")], capsys)
    assert status == 0
    assert err[0].startswith(f"{orders}:50002: goodput: ")
    assert len(err[0]) < 200  # the 6 MB cell is cut, not echoed
    events = (tmp_path / "out" / "events.csv").read_text().splitlines()
    assert events[1:] == ["50000,49999,0,REJECTED,BAD_FIELD,,"]  # ts: the last accepted row's


# ------------------------------------------------------------ configs
@pytest.mark.parametrize("text, names", [
    ("instrument = [1]", "[[instrument]] #1"),
    ('provider = [1]\n[[instrument]]\nsymbol = "A"\ntick = "0.01"\nprice_min = "1"\nprice_max = "2"',
     "[[provider]] #1"),
    ('provider = 5\n[[instrument]]\nsymbol = "A"\ntick = "0.01"\nprice_min = "1"\nprice_max = "2"',
     "provider"),
    ('[[instrument]]\nsymbol = "A"\ntick = "10000000000000000000"\nprice_min = "0"\nprice_max = "0"', "tick"),
    ('[[instrument]]\nsymbol = "A\\nB"\ntick = "0.01"\nprice_min = "1"\nprice_max = "2"', "symbol"),
    ('[[instrument]]\nsymbol = "A"\ntick = "0.01"\nprice_min = "1"\nprice_max = "2"\nmax_qty = 10000000000000000000',
     "max_qty"),
    ('[[instrument]]\nsymbol = "A"\ntick = "1e-999999"\nprice_min = "0"\nprice_max = "0"', "tick"),
], ids=["instrument-int", "provider-int", "provider-scalar", "tick-huge", "symbol-newline", "max-qty-huge",
        "tick-tiny"])
def test_hostile_configs_are_one_line_config_errors(text, names):
    with pytest.raises(ConfigError) as caught:
        ExchangeConfig.from_toml(text, source="bad.toml")
    message = str(caught.value)
    assert message.startswith("bad.toml: ") and names in message and "\n" not in message


def _levels_config(instruments: int, levels: int) -> ExchangeConfig:
    top = Decimal(levels) / 1000
    return ExchangeConfig.from_toml("".join(
        f'[[instrument]]\nsymbol = "I{k}"\ntick = "0.001"\nprice_min = "0.001"\nprice_max = "{top:.3f}"\n'
        for k in range(instruments)), source="levels.toml")


def test_a_config_beyond_the_memory_budget_is_refused_before_allocating():
    from exchange.memory_budget import MemoryBudgetError

    with pytest.raises(MemoryBudgetError) as caught:
        Exchange(_levels_config(30, 10_000_000), memory_limit=1 << 30)
    assert "levels.toml" in str(caught.value) and "GiB" in str(caught.value)


def test_fork_beyond_the_memory_budget_is_refused():
    from exchange.memory_budget import MemoryBudgetError

    ex = Exchange(_levels_config(1, 1_000_000), memory_limit=100 << 20)  # ladders: 64 MiB
    with pytest.raises(MemoryBudgetError, match="fork"):
        ex.fork()
    assert Exchange(_levels_config(1, 1_000_000), memory_limit=1 << 30).fork().book() == []


# ------------------------------------------------------------ commands
def test_generate_refuses_what_memory_cannot_hold_and_a_negative_seed(tmp_path, capsys):
    status, err = _replay_cli(["generate", "--rows", "1000000000000", "--out", str(tmp_path / "g")], capsys)
    assert status == 2 and err[0].startswith("compute-exchange: generate --rows") and "memory" in err[0]
    with pytest.raises(SystemExit) as exit_:
        _replay_cli(["generate", "--rows", "10", "--seed", "-1", "--out", str(tmp_path / "g")], capsys)
    assert exit_.value.code == 2
    assert not (tmp_path / "g").exists()


def test_a_failed_generate_leaves_no_config_behind(tmp_path, capsys, monkeypatch):
    import exchange.files.generate as generate

    def broken(*_args, **_kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(generate, "generate_orders", broken)
    status, err = _replay_cli(["generate", "--rows", "10", "--out", str(tmp_path / "g")], capsys)
    assert status == 2 and err[0].startswith("compute-exchange: ")
    assert not (tmp_path / "g" / "config.toml").exists()


@pytest.mark.parametrize("problem", ["missing-orders", "bad-header", "bad-config", "out-is-a-file"])
def test_input_problems_are_found_before_any_kernel_is_loaded(tmp_path, capsys, monkeypatch, problem):
    import exchange.files.replay as replay_module

    def no_kernels(_config):
        raise AssertionError("the kernels were loaded before the inputs were checked")

    monkeypatch.setattr(replay_module, "load_kernels", no_kernels)
    orders = tmp_path / "orders.csv"
    orders.write_text(HEADER + "1,grade,,p,,,,,,,,0.9\n")
    args = ["replay", str(orders), "--out", str(tmp_path / "out")]
    if problem == "missing-orders":
        args[1] = str(tmp_path / "typo.csv")
    elif problem == "bad-header":
        orders.write_text("ts,acton\n1,new\n")
    elif problem == "bad-config":
        (tmp_path / "c.toml").write_text("instrument = [1]\n")
        args += ["--config", str(tmp_path / "c.toml")]
    else:
        (tmp_path / "out").write_text("a file")
    status, err = _replay_cli(args, capsys)
    expected = f"{orders}:1: header: " if problem == "bad-header" else "compute-exchange: "
    assert status == 2 and len(err) == 1 and err[0].startswith(expected)


def test_an_error_after_the_progress_bar_starts_on_a_line_of_its_own(tmp_path, capsys):
    orders = tmp_path / "orders.csv"
    orders.write_text(HEADER + "1,fly,,,,,,,,,,\n")
    from compute_exchange.cli import main

    status = main(["replay", str(orders), "--out", str(tmp_path / "out"), "--progress"])
    err = capsys.readouterr().err
    assert status == 2
    report = next(line for line in err.split("\n") if f"{orders}:2: action:" in line)
    assert report.split("\r")[-1].startswith(f"{orders}:2: action:")
    assert "[" not in report.split("\r")[-1]  # nothing of the bar on the error's line
