"""Bad settle input is one `FILE:LINE: column: what is wrong` line, exit 2, nothing written
(docs/RULES.md §7): never a traceback, whatever the file holds."""
from __future__ import annotations

import shlex

import numpy as np
import pytest

from contracts.csvio import MAX_LINE, InputError
from contracts.metering import Metering
from contracts.metering_grid import read_metering_grid
from contracts.schedule import read_trades_csv
from exchange.config import ExchangeConfig
from tests.test_settlement import TRADES_HEADER, run_cli

METERING_HEADER = "trade_id,period,available_hours,used_hours,goodput"


def trade(tid, price="2.100", qty=10, ins="H100-SXM.2027-01"):
    return f"{tid},0,0,{ins},1,2,b.x,p.atlas,A,{price},0,{qty},buy"


@pytest.fixture
def trades(tmp_path):
    path = tmp_path / "trades.csv"
    path.write_text("\n".join([TRADES_HEADER, trade(1), trade(2, "4.000", 30)]) + "\n")
    return path


def refused(tmp_path, capsys, *argv):
    """Run settle; it must exit 2, write nothing and print no traceback; returns stderr."""
    out = tmp_path / "bills"
    assert run_cli(*argv, "--out", str(out)) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert not out.exists()
    return err


def test_price_too_large_for_int64_is_a_price_error(tmp_path, capsys):
    path = tmp_path / "t.csv"
    path.write_text(f"{TRADES_HEADER}\n{trade(1, '1000000000000000000000000000000')}\n")
    err = refused(tmp_path, capsys, str(path))
    assert f"{path}:2: price: 1000000000000000000000000000000 is too large for exact settlement" in err


def test_quantity_that_overflows_at_its_price_is_a_qty_error(tmp_path, capsys):
    path = tmp_path / "t.csv"
    path.write_text(f"{TRADES_HEADER}\n{trade(1, '20.000', 10**15)}\n")  # 10^15 h x 2e7 µ$ x 1e4 > 2^63
    err = refused(tmp_path, capsys, str(path))
    assert f"{path}:2: qty: {10**15} hours at this price overflow exact settlement" in err


def test_forty_decimal_off_tick_price_is_refused(tmp_path, capsys):
    price = "2.1" + "0" * 38 + "1"  # 40 decimals: 28-digit Decimal arithmetic would round it onto the tick
    path = tmp_path / "t.csv"
    path.write_text(f"{TRADES_HEADER}\n{trade(1, price)}\n{trade(2, '2.1' + '0' * 39)}\n")
    err = refused(tmp_path, capsys, str(path))
    assert f"{path}:2: price: {price[:40]}… is not a whole number of ticks (0.001) of H100-SXM.2027-01" in err
    assert f"{path}:3:" not in err  # 2.1000... with 40 zeros is on the tick


def test_echoed_values_are_cut_to_forty_characters(tmp_path, capsys):
    path = tmp_path / "t.csv"
    path.write_text(f"{TRADES_HEADER}\n{trade(1, qty='q' * 500)}\n")
    err = refused(tmp_path, capsys, str(path))
    assert f"{path}:2: qty: '{'q' * 40}…' is not an integer" in err
    assert "q" * 41 not in err


@pytest.mark.parametrize("body,line,where", [
    (f"{TRADES_HEADER}\r{trade(1)}\r", 1, "header"),
    (f"{TRADES_HEADER}\n{trade(1)}\r{trade(2)}\n", 2, "row"),
])
def test_lone_cr_in_trades(tmp_path, capsys, body, line, where):
    path = tmp_path / "t.csv"
    path.write_bytes(body.encode())
    err = refused(tmp_path, capsys, str(path))
    assert f"{path}:{line}: {where}: lone CR line ending; use LF or CRLF line endings" in err


@pytest.mark.parametrize("body,line,where", [
    (f"{METERING_HEADER}\r1,0,1,1,0.9\r", 1, "header"),
    (f"{METERING_HEADER}\n1,0,1,1,0.9\n1,1,1,1,0.9\r1,2,1,1,0.9\n", 3, "row"),
])
def test_lone_cr_in_metering(tmp_path, capsys, trades, body, line, where):
    path = tmp_path / "m.csv"
    path.write_bytes(body.encode())
    err = refused(tmp_path, capsys, str(trades), "--metering", str(path))
    assert f"{path}:{line}: {where}: lone CR line ending; use LF or CRLF line endings" in err


def test_crlf_metering_is_fine(tmp_path, capsys, trades):
    path = tmp_path / "m.csv"
    path.write_bytes(f"{METERING_HEADER}\r\n1,0,1,1,0.9\r\n2,0,1,0,0.95\r\n".encode())
    assert run_cli(str(trades), "--metering", str(path), "--out", str(tmp_path / "b")) == 0
    assert "metering rows: 2" in capsys.readouterr().out


def test_overlong_metering_line_is_value_too_long_and_later_rows_still_checked(tmp_path, capsys, trades):
    path = tmp_path / "m.csv"
    with open(path, "wb") as handle:
        handle.write(f"{METERING_HEADER}\n1,0,1,1,0.9\n1,1,1,1,".encode())
        handle.write(b"9" * (MAX_LINE + 5))
        handle.write(b"\n1,2,1,x,0.9\n")
    err = refused(tmp_path, capsys, str(trades), "--metering", str(path))
    assert err.splitlines() == [
        f"{path}:3: goodput: value too long (the line is over {MAX_LINE:,} bytes)",
        f"{path}:4: used_hours: 'x' is not an integer",
    ]


def test_overlong_metering_line_costs_one_block_of_memory(tmp_path, trades):
    """The reader never holds the long line: with 64 KiB blocks it still finds it."""
    path = tmp_path / "m.csv"
    with open(path, "wb") as handle:
        handle.write(f"{METERING_HEADER}\n1,0,".encode())
        handle.writelines(b"7" * 100_000 for _ in range(40))
        handle.write(b",1,1,0.9\n")
    contracts = read_trades_csv(trades, ExchangeConfig.default())
    with pytest.raises(InputError) as error:
        read_metering_grid(path, contracts, block_bytes=1 << 16, max_line=1 << 17)
    assert error.value.messages == [f"{path}:2: available_hours: value too long (the line is over 131,072 bytes)"]


def test_overlong_trades_line(tmp_path, capsys):
    path = tmp_path / "t.csv"
    with open(path, "wb") as handle:
        handle.write(f"{TRADES_HEADER}\n{trade(1)}\n5,0,0,H100-SXM.2027-01,1,2,b.x,p.atlas,A,2.".encode())
        handle.write(b"1" * (MAX_LINE + 1))
        handle.write(b",0,10,buy\n")
    err = refused(tmp_path, capsys, str(path))
    assert f"{path}:3: price: value too long (the line is over {MAX_LINE:,} bytes)" in err


def test_forty_decimal_goodput_is_more_than_four_places(tmp_path, capsys, trades):
    goodput = "0.95" + "0" * 36 + "1"  # 41 characters
    path = tmp_path / "m.csv"
    path.write_text(f"{METERING_HEADER}\n1,0,1,1,{goodput}\n")
    err = refused(tmp_path, capsys, str(trades), "--metering", str(path))
    assert f"{path}:2: goodput: {goodput[:40]}… has more than 4 decimal places" in err
    contracts = read_trades_csv(trades, ExchangeConfig.default())
    with pytest.raises(InputError, match="has more than 4 decimal places"):
        Metering.from_rows([(1, 0, 1, 1, goodput)], contracts)


def test_small_blocks_read_the_same_grid(tmp_path, trades):
    """Lines cut across block boundaries (and a CRLF split between blocks) read the same."""
    rng = np.random.default_rng(5)
    rows = [f"{tid},{t},{rng.integers(0, 30)},{rng.integers(0, 30)},0.{rng.integers(0, 10_000):04d}"
            for tid in (1, 2) for t in range(30) if rng.random() < 0.8]
    path = tmp_path / "m.csv"
    path.write_bytes((METERING_HEADER + "\r\n" + "\r\n".join(rows) + "\r\n").encode())
    contracts = read_trades_csv(trades, ExchangeConfig.default())
    whole = read_metering_grid(path, contracts)
    for block in (1, 2, 7, 64):
        small = read_metering_grid(path, contracts, block_bytes=block)
        assert small.rows == whole.rows == len(rows)
        for name in ("available_hours", "used_hours", "goodput_bp", "line"):
            assert np.array_equal(getattr(small, name), getattr(whole, name))


def test_quoted_metering_reads_like_plain(tmp_path, trades):
    plain, quoted = tmp_path / "p.csv", tmp_path / "q.csv"
    plain.write_text(f"{METERING_HEADER}\n1,0,3,2,0.9100\n2,4,0,0,1\n")
    quoted.write_text(f'{METERING_HEADER}\n"1",0,3,2,"0.9100"\n2,4,0,0,1\n')
    contracts = read_trades_csv(trades, ExchangeConfig.default())
    a, b = read_metering_grid(plain, contracts), read_metering_grid(quoted, contracts)
    assert a.rows == b.rows == 2
    assert np.array_equal(a.goodput_bp, b.goodput_bp) and a.goodput_bp[0, 0] == 9100
    assert np.array_equal(a.available_hours, b.available_hours)


def test_help_example_is_a_pipeline_that_runs(tmp_path, monkeypatch, capsys):
    """Every command of settle's --help example works in order (with fewer rows)."""
    from contracts.cli import EXAMPLE
    from exchange.cli import main

    commands = [shlex.split(line.replace("\\\n", " ")) for line in
                EXAMPLE.replace("\\\n", " ").splitlines() if line.strip().startswith("compute-exchange")]
    assert [c[1] for c in commands] == ["generate", "replay", "settle"]
    monkeypatch.chdir(tmp_path)
    for argv in commands:
        argv = ["2000" if a == "100000" else a for a in argv[1:]]
        assert main(argv) == 0, argv
    assert (tmp_path / "data" / "bills" / "statements.csv").exists()
    assert "periods settled: 0..11" in capsys.readouterr().out


@pytest.mark.parametrize("ids", [(1, 2), (7, 10**15)])  # a dense id table, then binary search
def test_trade_ids_are_found_dense_or_sparse(tmp_path, ids):
    path = tmp_path / "t.csv"
    path.write_text("\n".join([TRADES_HEADER, trade(ids[0]), trade(ids[1], "4.000", 30)]) + "\n")
    contracts = read_trades_csv(path, ExchangeConfig.default())
    metering = tmp_path / "m.csv"
    metering.write_text(f"{METERING_HEADER}\n{ids[1]},2,1,0,0.9\n{ids[0]},0,3,3,1\n")
    grid = read_metering_grid(metering, contracts)
    assert grid.available_hours[2, 1] == 1 and grid.available_hours[0, 0] == 3
    assert grid.goodput_bp[0, 0] == 10_000 and grid.line[2, 1] == 2 and grid.rows == 2
    metering.write_text(f"{METERING_HEADER}\n{ids[1] + 1},0,1,0,0.9\n0,0,1,0,0.9\n")
    with pytest.raises(InputError) as error:
        read_metering_grid(metering, contracts)
    assert error.value.messages == [f"{metering}:2: trade_id: unknown trade_id {ids[1] + 1}",
                                    f"{metering}:3: trade_id: unknown trade_id 0"]
