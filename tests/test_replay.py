"""The replay command (docs/RULES.md §5): order files in, trades / events / book out.

Covers every malformed kind (strict: listed, nothing written, exit 2; lenient:
REJECTED BAD_FIELD), whole-file problems (unknown column, bad config, missing
file), byte-identical reruns, CSV and Parquet inputs agreeing, atomic writes, the
per-call API agreeing with the batch replay, and the bundled sample replayed through the
reference engine giving the same bytes.
"""
from __future__ import annotations

import csv
import hashlib
import io
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from compute_exchange.cli import main
from exchange.config import ExchangeConfig, Grade, Instrument, Provider
from exchange.oracles.reference import ReferenceExchange
from exchange.units import half_even, to_units, units_text

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "samples" / "orders.csv"

HEADER = "ts,action,order_id,party,instrument,side,type,tif,price,qty,min_grade,goodput"
H100 = "H100-SXM.2027-01"


def write(path: Path, *rows: str, header: str = HEADER) -> Path:
    path.write_text("\n".join((header,) + rows) + "\n", encoding="utf-8")
    return path


def replay(tmp_path: Path, orders: Path, *extra: str, out: str = "out") -> tuple[int, Path]:
    out_dir = tmp_path / out
    code = main(["replay", str(orders), "--out", str(out_dir), "--no-progress", *extra])
    return code, out_dir


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def outputs(out_dir: Path) -> dict[str, bytes]:
    return {name: (out_dir / f"{name}.csv").read_bytes() for name in ("trades", "events", "book")}


GOOD = f"1,new,1,b.x,{H100},buy,limit,gtc,2.100,10,,"


@pytest.fixture(autouse=True, scope="module")
def _kernels_loaded():
    """Kernels loaded before the first test, so that a cold cache's one-line note
    (compiling, once per machine) is not the first stderr line a test reads."""
    from exchange.files.replay import load_kernels

    load_kernels(ExchangeConfig.default())


# ----------------------------------------------------------------- malformed
MALFORMED = [
    # (row, column, words in the message)
    ("1,fly,1,b.x,,,,,,,,", "action", "is not one of new, cancel"),
    (",new,1,b.x,H100-SXM.2027-01,buy,,,2.1,10,,", "ts", "missing"),
    ("5,,1,b.x,H100-SXM.2027-01,buy,,,2.1,10,,", "action", "missing"),
    ("5,new,,b.x,H100-SXM.2027-01,buy,,,2.1,10,,", "order_id", "missing"),
    ("5,new,2,,H100-SXM.2027-01,buy,,,2.1,10,,", "party", "missing"),
    ("5,new,2,b.x,,buy,,,2.1,10,,", "instrument", "missing"),
    ("5,new,2,b.x,H100-SXM.2027-01,,,,2.1,10,,", "side", "missing"),
    ("5,new,2,b.x,H100-SXM.2027-01,buy,,,2.1,,,", "qty", "missing"),
    ("5,cancel,,b.x,,,,,,,,", "order_id", "missing"),
    ("5,cancel,1,,,,,,,,,", "party", "missing"),
    ("5,replace,,b.x,,,,,2.2,,,", "order_id", "missing"),
    ("5,replace,1,,,,,,2.2,,,", "party", "missing"),
    ("5,grade,,,,,,,,,,0.9", "party", "missing"),
    ("5,grade,,p.x,,,,,,,,", "goodput", "missing"),
    ("5,close,,,,,,,,,,", "instrument", "missing"),
    ("abc,new,2,b.x,H100-SXM.2027-01,buy,,,2.1,10,,", "ts", "is not an integer"),
    ("5.0,new,2,b.x,H100-SXM.2027-01,buy,,,2.1,10,,", "ts", "is not an integer"),
    ("9223372036854775808,new,2,b.x,H100-SXM.2027-01,buy,,,2.1,10,,", "ts", "outside the int64"),
    ("5,new,1e3,b.x,H100-SXM.2027-01,buy,,,2.1,10,,", "order_id", "is not an integer"),
    ("5,new,2,b.x,H100-SXM.2027-01,buy,,,2.1,1.5,,", "qty", "is not an integer"),
    ("5,new,2,b.x,H100-SXM.2027-01,buy,,,2.1, 10,,", "qty", "is not an integer"),
    ("5,replace,1,b.x,,,,,,ten,,", "qty", "is not an integer"),
    ("5,new,2,b.x,H100-SXM.2027-01,buy,,,2.1e0,10,,", "price", "not a plain decimal"),
    ("5,new,2,b.x,H100-SXM.2027-01,buy,,,NaN,10,,", "price", "not a plain decimal"),
    ("5,new,2,b.x,H100-SXM.2027-01,buy,,,-2.1,10,,", "price", "not a plain decimal"),
    ("5,new,2,b.x,H100-SXM.2027-01,buy,,, 2.1,10,,", "price", "not a plain decimal"),
    ("5,new,2,b.x,H100-SXM.2027-01,buy,,,.,10,,", "price", "not a plain decimal"),
    ("5,replace,1,b.x,,,,,2..1,,,", "price", "not a plain decimal"),
    ("5,new,2,b.x,H100-SXM.2027-01,Buy,,,2.1,10,,", "side", "is not one of buy, sell"),
    ("5,new,2,b.x,H100-SXM.2027-01,buy,LIMIT,,2.1,10,,", "type", "is not one of limit, market"),
    ("5,new,2,b.x,H100-SXM.2027-01,buy,,day,2.1,10,,", "tif", "is not one of gtc"),
    ("5,new,2,b.x,H100-SXM.2027-01,buy,market,day,,10,,", "tif", "is not one of gtc"),
    ("5,new,2,b x,H100-SXM.2027-01,buy,,,2.1,10,,", "party", "is not a party name"),
    ("5,new,2," + "b" * 65 + ",H100-SXM.2027-01,buy,,,2.1,10,,", "party", "is not a party name"),
    ("5,cancel,1,b/x,,,,,,,,", "party", "is not a party name"),
    ("5,new,0,b.x,H100-SXM.2027-01,buy,,,2.1,10,,", "order_id", "is not a positive integer"),
    ("5,cancel,-3,b.x,,,,,,,,", "order_id", "is not a positive integer"),
    ("5,grade,,p.x,,,,,,,,1.0001", "goodput", "outside [0, 1]"),
    ("5,grade,,p.x,,,,,,,,2", "goodput", "outside [0, 1]"),
    ("5,grade,,p.x,,,,,,,,0.12345", "goodput", "more than 4 decimal places"),
    ("5,grade,,p.x,,,,,,,,-0.5", "goodput", "not a plain decimal"),
    ("0,new,2,b.x,H100-SXM.2027-01,buy,,,2.1,10,,", "ts", "lower than the previous row's ts 1"),
    ("5,new,2", "row", "has 3 cells, the header has 12"),
]


@pytest.mark.parametrize("row,column,words", MALFORMED, ids=[f"{m[1]}:{m[2][:20]}" for m in MALFORMED])
def test_each_malformed_kind_is_reported_and_nothing_written(tmp_path, capsys, row, column, words):
    orders = write(tmp_path / "orders.csv", GOOD, row)
    code, out_dir = replay(tmp_path, orders)
    err = capsys.readouterr().err
    assert code == 2
    first = err.splitlines()[0]
    assert first.startswith(f"{orders}:3: {column}: "), first
    assert words in first
    assert "Traceback" not in err
    assert not (out_dir / "trades.csv").exists()
    assert not out_dir.exists() or not any(out_dir.iterdir())


@pytest.mark.parametrize("row", [m[0] for m in MALFORMED], ids=[f"{m[1]}:{m[2][:20]}" for m in MALFORMED])
def test_each_malformed_kind_is_rejected_bad_field_when_lenient(tmp_path, row):
    orders = write(tmp_path / "orders.csv", GOOD, row, "7,cancel,1,b.x,,,,,,,,")
    code, out_dir = replay(tmp_path, orders, "--lenient")
    assert code == 0
    events = read_csv(out_dir / "events.csv")
    by_seq = {}
    for e in events:
        by_seq.setdefault(int(e["seq"]), []).append(e)
    assert [e["event"] for e in by_seq[0]] == ["ACCEPTED"]
    (bad,) = by_seq[1]
    assert (bad["event"], bad["reason"], bad["leaves_qty"]) == ("REJECTED", "BAD_FIELD", "")
    assert bad["ts"] == "1"  # a malformed row carries the last accepted row's ts
    assert [(e["event"], e["reason"]) for e in by_seq[2]] == [("CANCELED", "")]  # the replay went on


def test_lenient_keeps_the_rows_order_id_and_qty(tmp_path):
    orders = write(tmp_path / "orders.csv", GOOD,
                   f"2,new,7,b.x,{H100},Buy,,,2.1,25,,",  # bad side: id and qty known
                   f"3,new,x,b.x,{H100},buy,,,2.1,y,,",  # neither parses
                   "4,grade,,p.z,,,,,,,,7")
    code, out_dir = replay(tmp_path, orders, "--lenient")
    assert code == 0
    rejected = [e for e in read_csv(out_dir / "events.csv") if e["event"] == "REJECTED"]
    assert [(e["seq"], e["order_id"], e["qty"], e["reason"]) for e in rejected] == [
        ("1", "7", "25", "BAD_FIELD"), ("2", "0", "", "BAD_FIELD"), ("3", "0", "", "BAD_FIELD")]


def test_line_numbers_count_blank_lines_which_take_no_seq(tmp_path, capsys):
    orders = tmp_path / "orders.csv"
    orders.write_bytes((HEADER + "\n\n" + GOOD + "\r\n\r\n\n" + "2,new,2,b.x," + H100
                        + ",buy,,,2.1,zz,,\n").encode())
    code, _ = replay(tmp_path, orders)
    assert code == 2
    assert capsys.readouterr().err.splitlines()[0] == f"{orders}:6: qty: 'zz' is not an integer"
    code, out_dir = replay(tmp_path, orders, "--lenient")
    assert code == 0
    assert [e["seq"] for e in read_csv(out_dir / "events.csv")] == ["0", "1"]


def test_quoted_cells_and_line_numbers(tmp_path, capsys):
    orders = tmp_path / "orders.csv"
    orders.write_text(HEADER + "\n" + '1,"new",1,"b.x",' + H100 + ',buy,,,"2.100",10,,\n'
                      + '2,new,2,"b\nx",' + H100 + ",buy,,,2.1,10,,\n"
                      + "3,new,3,b.x," + H100 + ",buy,,,2.1,q,,\n")
    code, _ = replay(tmp_path, orders)
    lines = capsys.readouterr().err.splitlines()
    assert code == 2
    assert lines[0].startswith(f"{orders}:3: party: ")
    assert lines[1] == f"{orders}:5: qty: 'q' is not an integer"


def test_at_most_fifty_listed_then_a_count(tmp_path, capsys):
    rows = [GOOD] + [f"2,new,{k},b.x,{H100},buy,,,2.1,x,," for k in range(2, 62)]
    orders = write(tmp_path / "orders.csv", *rows)
    code, out_dir = replay(tmp_path, orders)
    err = capsys.readouterr().err.splitlines()
    assert code == 2
    listed = [line for line in err if ": qty: " in line]
    assert len(listed) == 50
    assert any("10 more malformed rows" in line for line in err)
    assert "60 malformed rows" in err[-1]
    assert not out_dir.exists()


def test_ts_backwards_compares_with_the_last_accepted_row(tmp_path, capsys):
    orders = write(tmp_path / "orders.csv", "10" + GOOD[1:],
                   "20,fly,,,,,,,,,,",  # malformed: its ts does not count
                   f"15,new,2,b.x,{H100},buy,,,2.1,10,,",  # fine: 15 >= 10
                   f"12,new,3,b.x,{H100},buy,,,2.1,10,,")  # backwards from 15
    code, _ = replay(tmp_path, orders)
    err = capsys.readouterr().err.splitlines()
    assert code == 2
    assert err[0].startswith(f"{orders}:3: action:")
    assert err[1] == f"{orders}:5: ts: '12' is lower than the previous row's ts 15 (ts must not decrease)"
    assert len(err) == 3


def test_semantic_problems_are_rejected_events_not_errors(tmp_path):
    orders = write(
        tmp_path / "orders.csv",
        f"1,new,1,b.x,{H100},buy,,,2.1005,10,,",  # off tick
        "2,new,2,b.x,GPU-NOPE,buy,,,2.1,10,,",  # unknown instrument
        f"3,new,3,b.x,{H100},buy,,,2.1,0,,",  # qty 0
        f"4,new,4,b.x,{H100},buy,,,,10,,",  # limit without a price
        f"5,new,5,b.x,{H100},buy,market,,2.1,10,,",  # market with a price
        f"6,new,6,p.atlas,{H100},sell,,,2.1,10,B,",  # min_grade on a sell
        f"7,new,7,b.x,{H100},buy,,,2.1,10,Z,",  # unknown grade
        f"8,new,8,b.x,{H100},buy,,,2.1000,10,,",  # more places than the tick, on tick: fine
        f"9,new,9,b.x,{H100},buy,market,ioc,,5,,",  # market: tif a valid word, ignored
        "10,cancel,8,b.y,,,,,zz,qq,,",  # unused cells are ignored; not the owner
        "11,close,,,GPU-NOPE,,,,,,,",
        f"12,new,10,b.x,{H100},buy,,,25.000,10,,",  # outside the band
    )
    code, out_dir = replay(tmp_path, orders)
    assert code == 0
    first = {}
    for e in read_csv(out_dir / "events.csv"):
        first.setdefault(e["seq"], (e["event"], e["reason"]))
    assert first == {
        "0": ("REJECTED", "BAD_PRICE"), "1": ("REJECTED", "UNKNOWN_INSTRUMENT"),
        "2": ("REJECTED", "BAD_QTY"), "3": ("REJECTED", "BAD_PRICE"), "4": ("REJECTED", "BAD_PRICE"),
        "5": ("REJECTED", "BAD_GRADE"), "6": ("REJECTED", "BAD_GRADE"), "7": ("ACCEPTED", ""),
        "8": ("ACCEPTED", ""), "9": ("REJECTED", "NOT_OWNER"), "10": ("REJECTED", "UNKNOWN_INSTRUMENT"),
        "11": ("REJECTED", "BAD_PRICE"),
    }


# ------------------------------------------------------------ whole-file errors
def test_unknown_column_is_one_clear_error(tmp_path, capsys):
    orders = write(tmp_path / "orders.csv", GOOD + ",x", header=HEADER + ",colour")
    code, out_dir = replay(tmp_path, orders)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and "unknown column 'colour'" in err[0] and str(orders) in err[0]
    assert not out_dir.exists()


@pytest.mark.parametrize("header,words", [
    ("action,order_id,party", "missing required column 'ts'"),
    ("ts,order_id,party", "missing required column 'action'"),
    ("ts,action,ts", "column 'ts' appears twice"),
])
def test_header_problems(tmp_path, capsys, header, words):
    orders = write(tmp_path / "orders.csv", "1,new,1", header=header)
    code, _ = replay(tmp_path, orders)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and words in err[0]


def test_optional_columns_may_be_left_out(tmp_path):
    orders = write(tmp_path / "orders.csv", f"1,new,1,b.x,{H100},buy,2.1,10",
                   f"2,new,2,p.atlas,{H100},sell,1.9,4", "3,cancel,1,b.x,,,,",
                   header="ts,action,order_id,party,instrument,side,price,qty")
    code, out_dir = replay(tmp_path, orders)
    assert code == 0
    (trade,) = read_csv(out_dir / "trades.csv")
    assert (trade["price"], trade["qty"], trade["aggressor"]) == ("1.995", "4", "sell")


@pytest.mark.parametrize("text,words", [
    ("[[instrument]]\nsymbol='X'\ntick='0.001'\nprice_min='1'\nprice_max='2'\ncolour=1\n", "unknown key 'colour'"),
    ("[grades]\nA=9000\nB=9000\n[[instrument]]\nsymbol='X'\ntick='0.001'\nprice_min='1'\nprice_max='2'\n",
     "duplicate grade floor"),
    ("[[instrument]]\nsymbol='X'\ntick='0.01'\nprice_min='1.005'\nprice_max='2'\n", "not a whole number of ticks"),
    ("this is not toml", "invalid TOML"),
])
def test_bad_config_is_one_clear_error(tmp_path, capsys, text, words):
    config = tmp_path / "bad.toml"
    config.write_text(text)
    orders = write(tmp_path / "orders.csv", GOOD)
    code, out_dir = replay(tmp_path, orders, "--config", str(config))
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and str(config) in err[0] and words in err[0]
    assert not out_dir.exists()


def test_missing_files_are_one_clear_error(tmp_path, capsys):
    code, _ = replay(tmp_path, tmp_path / "nope.csv")
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "nope.csv: no such file" in err[0]
    orders = write(tmp_path / "orders.csv", GOOD)
    code, _ = replay(tmp_path, orders, "--config", str(tmp_path / "nope.toml"))
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "nope.toml: no such file" in err[0]


def test_empty_file_and_header_only(tmp_path, capsys):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    code, _ = replay(tmp_path, empty)
    assert code == 2 and "empty file" in capsys.readouterr().err
    only = write(tmp_path / "only.csv")
    code, out_dir = replay(tmp_path, only)
    assert code == 0
    assert (out_dir / "trades.csv").read_text() == (
        "trade_id,seq,ts,instrument,buy_order_id,sell_order_id,buyer,seller,grade,price,"
        "effective_price,qty,aggressor\n")
    assert (out_dir / "events.csv").read_text() == "seq,ts,order_id,event,reason,qty,leaves_qty\n"
    assert (out_dir / "book.csv").read_text() == (
        "instrument,side,order_id,party,price,qty,grade,min_grade,tif,arrival_seq\n")


# -------------------------------------------------------------- output format
def test_output_formats_exactly(tmp_path):
    orders = write(
        tmp_path / "orders.csv",
        f"1,new,1,b.x,{H100},buy,,,2.1,10,C,",
        f"2,new,2,p.cumulus,{H100},sell,,,1.8,4,,",  # B (0.9230): trades at the bid
        f"3,new,3,p.atlas,{H100},sell,,post_only,2.5,7,,",
        f"4,new,4,b.y,{H100},buy,market,,,3,,",
        "5,cancel,1,b.x,,,,,,,,",
    )
    code, out_dir = replay(tmp_path, orders)
    assert code == 0
    # 2.100 * 9000 / 10000 = 1.890 (floor); effective 1.890 * 10000 / 9000 = 2.1 exactly
    # 2.500 at A (9500): effective 2.631578947... -> 2.631579
    assert (out_dir / "trades.csv").read_text() == (
        "trade_id,seq,ts,instrument,buy_order_id,sell_order_id,buyer,seller,grade,price,"
        "effective_price,qty,aggressor\n"
        f"1,1,2,{H100},1,2,b.x,p.cumulus,B,1.890,2.100000,4,sell\n"
        f"2,3,4,{H100},4,3,b.y,p.atlas,A,2.500,2.631579,3,buy\n")
    assert (out_dir / "events.csv").read_text() == (
        "seq,ts,order_id,event,reason,qty,leaves_qty\n"
        "0,1,1,ACCEPTED,,10,10\n"
        "1,2,2,ACCEPTED,,4,4\n1,2,2,FILL,,4,0\n1,2,1,FILL,,4,6\n"
        "2,3,3,ACCEPTED,,7,7\n"
        "3,4,4,ACCEPTED,,3,3\n3,4,4,FILL,,3,0\n3,4,3,FILL,,3,4\n"
        "4,5,1,CANCELED,,6,0\n")
    assert (out_dir / "book.csv").read_text() == (
        "instrument,side,order_id,party,price,qty,grade,min_grade,tif,arrival_seq\n"
        f"{H100},sell,3,p.atlas,2.500,4,A,,post_only,2\n")


def test_effective_price_rounds_half_even():
    from exchange.files.writers import effective_micros

    # N * 10**-places * 10000 / factor, to 6 places, ties to even
    cases = [(2, 6, 8000, 2), (6, 6, 8000, 8), (1, 6, 8000, 1), (3, 6, 8000, 4), (5, 12, 8000, 0),
             (2100, 3, 9000, 2333333), (1, 3, 7000, 1429), (2000, 3, 8000, 2500000),
             (2, 7, 8000, 0), (6, 7, 8000, 1), (20, 7, 8000, 2)]
    got = effective_micros(np.array([c[0] for c in cases], np.int64), np.array([c[1] for c in cases], np.int64),
                            np.array([c[2] for c in cases], np.int64))
    for (n, places, factor, _), value in zip(cases, got):
        exact = Decimal(n).scaleb(-places) * 10000 / factor
        assert Decimal(int(value)).scaleb(-6) == exact.quantize(Decimal("0.000001"))
    assert list(got) == [c[3] for c in cases]


def test_other_ticks_and_names_that_need_quoting(tmp_path):
    """Prices print with the tick's places per instrument; a replace is priced in its
    order's instrument's ticks; symbols with a comma are quoted."""
    config = ExchangeConfig(
        instruments=(
            Instrument("GPU,X", Decimal("0.01"), Decimal("1"), Decimal("50")),
            Instrument("GPU-Y", Decimal("0.0025"), Decimal("0.5"), Decimal("20")),
        ),
        grades=(Grade("A", 9500), Grade("B", 9000)),
        providers=(Provider("p1", 9600),),
    )
    cfg = tmp_path / "config.toml"
    cfg.write_text(config.to_toml())
    orders = write(
        tmp_path / "orders.csv",
        '1,new,1,b.x,"GPU,X",buy,,,2.5,10,,',
        "2,new,2,b.x,GPU-Y,buy,,,2.0025,10,,",
        "3,new,3,b.x,GPU-Y,buy,,,2.001,10,,",  # off a 0.0025 tick
        "4,replace,2,b.x,,,,,2.0050,,,",  # GPU-Y ticks
        "5,replace,1,b.x,,,,,2.61,,,",  # GPU,X ticks
        "6,new,4,p1,GPU-Y,sell,,,1.9,3,,",
    )
    code, out_dir = replay(tmp_path, orders, "--config", str(cfg))
    assert code == 0
    events = [(e["seq"], e["event"], e["reason"]) for e in read_csv(out_dir / "events.csv")]
    assert ("2", "REJECTED", "BAD_PRICE") in events
    assert ("3", "REPLACED", "") in events and ("4", "REPLACED", "") in events
    trades = (out_dir / "trades.csv").read_text().splitlines()
    assert trades[1] == "1,5,6,GPU-Y,2,4,b.x,p1,A,1.9025,2.002632,3,sell"
    book = (out_dir / "book.csv").read_text().splitlines()
    assert book[1] == '"GPU,X",buy,1,b.x,2.61,10,,B,gtc,4'
    assert book[2] == "GPU-Y,buy,2,b.x,2.0050,7,,B,gtc,3"


# ---------------------------------------------------------- determinism, formats
@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    from exchange.files.generate import generate

    out = tmp_path_factory.mktemp("generated")
    generate(3000, 11, out)
    return out / "orders.csv"


def test_two_runs_give_identical_bytes(tmp_path, generated, capsys):
    code1, out1 = replay(tmp_path, generated, out="a")
    code2, out2 = replay(tmp_path, generated, out="b")
    assert code1 == code2 == 0
    assert outputs(out1) == outputs(out2)
    summary = capsys.readouterr().out
    digest = hashlib.sha256((out1 / "trades.csv").read_bytes()).hexdigest()
    assert f"trades.csv sha256 {digest}" in summary
    assert "rows       3,000" in summary and "throughput" in summary and "vwap" in summary


def test_table_kernels_match_the_generic_column_formatter(tmp_path, generated):
    """trades / events / book are formatted by kernels over the engine's records; the
    bytes equal those of the generic column formatter, block boundaries included."""
    import dataclasses

    import exchange.files.writers as writers
    from exchange.files.replay import replay as run_replay

    config = ExchangeConfig.default()
    result = run_replay(generated, config, tmp_path / "out", lenient=True)
    formatter = writers.Formatter(config, result.parties)
    tables = [formatter.trades(result.trades), formatter.events(result.events), formatter.book(result.book)]
    assert all(t.kernel is not None and t.n for t in tables)
    for block in (writers.BLOCK_ROWS, 7):
        writers.BLOCK_ROWS, saved = block, writers.BLOCK_ROWS
        try:
            for table in tables:
                generic = dataclasses.replace(table, kernel=None, kernel_args=())
                assert writers.csv_bytes(table) == writers.csv_bytes(generic), table.name
        finally:
            writers.BLOCK_ROWS = saved
    assert writers.csv_bytes(tables[0]) == (tmp_path / "out" / "trades.csv").read_bytes()


def test_parquet_input_gives_identical_outputs(tmp_path, generated):
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    text_columns = pacsv.read_csv(generated, convert_options=pacsv.ConvertOptions(
        column_types={c: pa.string() for c in HEADER.split(",")}, strings_can_be_null=True))
    # typed integers (nulls for empty cells) and text for the rest, as a user would write it
    typed = text_columns.set_column(0, "ts", text_columns.column("ts").cast(pa.int64()))
    for name in ("order_id", "qty"):
        i = typed.schema.get_field_index(name)
        typed = typed.set_column(i, name, typed.column(name).cast(pa.int64()))
    pq.write_table(typed, tmp_path / "orders.parquet")
    pq.write_table(text_columns, tmp_path / "orders_text.parquet")
    code, out_csv = replay(tmp_path, generated, out="csv")
    code_a, out_pq = replay(tmp_path, tmp_path / "orders.parquet", out="pq")
    code_b, out_pq2 = replay(tmp_path, tmp_path / "orders_text.parquet", out="pq2")
    assert code == code_a == code_b == 0
    assert outputs(out_csv) == outputs(out_pq) == outputs(out_pq2)


def test_parquet_output_holds_the_same_tables(tmp_path, generated):
    import pyarrow.parquet as pq

    code, out_csv = replay(tmp_path, generated, out="csv")
    code2, out_pq = replay(tmp_path, generated, "--format", "parquet", out="pq")
    assert code == code2 == 0
    for name in ("trades", "events", "book"):
        rows = read_csv(out_csv / f"{name}.csv")
        table = pq.read_table(out_pq / f"{name}.parquet").to_pylist()
        assert len(rows) == len(table)
        for row, record in zip(rows[:200], table[:200]):
            assert list(row) == list(record)
            for key, text in row.items():
                value = record[key]
                assert ("" if value is None else str(value)) == text, (name, key)


def test_parquet_malformed_rows_report_row_numbers(tmp_path, capsys):
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({"ts": [1, 2], "action": ["close", "nope"], "instrument": ["GPU-Z", None]})
    pq.write_table(table, tmp_path / "bad.parquet")
    code, _ = replay(tmp_path, tmp_path / "bad.parquet")
    assert code == 2
    assert capsys.readouterr().err.splitlines()[0].endswith("bad.parquet:2: action: 'nope' is not one of "
                                                           "new, cancel, replace, grade, close")


# ------------------------------------------------------------------ atomicity
def test_interrupted_write_leaves_no_partial_trades_csv(tmp_path, generated, monkeypatch):
    import exchange.files.writers as writers

    code, out_dir = replay(tmp_path, generated)
    assert code == 0
    before = outputs(out_dir)
    real = writers._format_block
    calls = {"n": 0}

    def failing(*args):
        calls["n"] += 1
        if calls["n"] == 2:  # midway through the outputs
            raise OSError(28, "No space left on device")
        return real(*args)

    monkeypatch.setattr(writers, "BLOCK_ROWS", 256)
    monkeypatch.setattr(writers, "_format_block", failing)
    code = main(["replay", str(generated), "--out", str(out_dir), "--no-progress"])
    assert code == 2
    assert outputs(out_dir) == before  # the old files are untouched
    assert sorted(p.name for p in out_dir.iterdir()) == ["book.csv", "events.csv", "trades.csv"]

    fresh = tmp_path / "fresh"
    calls["n"] = 0
    code = main(["replay", str(generated), "--out", str(fresh), "--no-progress"])
    assert code == 2
    assert list(fresh.iterdir()) == []


def test_keyboard_interrupt_mid_write_leaves_nothing(tmp_path, generated, monkeypatch):
    import exchange.files.writers as writers

    real = writers._format_block
    calls = {"n": 0}

    def interrupted(*args):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(writers, "BLOCK_ROWS", 512)
    monkeypatch.setattr(writers, "_format_block", interrupted)
    out = tmp_path / "out"
    assert main(["replay", str(generated), "--out", str(out), "--no-progress"]) == 130
    assert list(out.iterdir()) == []


# ------------------------------------------------------------- batch = per call
def _feed(exchange, row: dict):
    def opt(key):
        return row[key] or None

    ts = int(row["ts"])
    action = row["action"]
    if action == "new":
        return exchange.submit(row["party"], row["instrument"], row["side"], int(row["qty"]), opt("price"),
                               order_type=row["type"] or "limit", tif=row["tif"] or "gtc",
                               min_grade=opt("min_grade"), order_id=int(row["order_id"]), ts=ts,
                               stp=row.get("stp") or "cancel_incoming")
    if action == "cancel":
        return exchange.cancel(int(row["order_id"]), row["party"], ts=ts)
    if action == "replace":
        qty = int(row["qty"]) if row["qty"] else None
        return exchange.replace(int(row["order_id"]), row["party"], price=opt("price"), qty=qty, ts=ts)
    if action == "grade":
        return exchange.regrade(row["party"], row["goodput"], ts=ts)
    assert action == "close"
    return exchange.close(row["instrument"], ts=ts)


@pytest.mark.parametrize("seed", [3, 4])
def test_cli_trades_equal_the_per_call_api(tmp_path, seed):
    from conftest import ENGINE_CLASSES

    from exchange.files.generate import generate

    generate(4000, seed, tmp_path / "gen")
    orders = tmp_path / "gen" / "orders.csv"
    code, out_dir = replay(tmp_path, orders)
    assert code == 0
    config = ExchangeConfig.default()
    cli_trades = read_csv(out_dir / "trades.csv")
    cli_events = read_csv(out_dir / "events.csv")
    assert len(cli_trades) > 100
    for _, engine_cls in ENGINE_CLASSES:
        exchange = engine_cls(config)
        events = []
        for row in read_csv(orders):
            events += _feed(exchange, row)
        ins = {i.symbol: i for i in config.instruments}
        api_trades = [
            {"trade_id": str(t.trade_id), "seq": str(t.seq), "ts": str(t.ts), "instrument": t.instrument,
             "buy_order_id": str(t.buy_order_id), "sell_order_id": str(t.sell_order_id), "buyer": t.buyer,
             "seller": t.seller, "grade": t.grade, "price": ins[t.instrument].format_price(t.price),
             "qty": str(t.qty), "aggressor": t.aggressor.name.lower()}
            for t in exchange.trades()]
        assert [{k: v for k, v in t.items() if k != "effective_price"} for t in cli_trades] == api_trades
        api_events = [
            {"seq": str(e.seq), "ts": str(e.ts), "order_id": str(e.order_id), "event": e.event.name,
             "reason": "" if e.reason.name == "NONE" else e.reason.name,
             "qty": "" if e.qty is None else str(e.qty),
             "leaves_qty": "" if e.leaves_qty is None else str(e.leaves_qty)} for e in events]
        assert cli_events == api_events, engine_cls.__name__


# ------------------------------------------------------------------ the sample
def _csv_bytes(header: str, rows) -> bytes:
    buffer = io.StringIO()
    out = csv.writer(buffer, lineterminator="\n")
    out.writerow(header.split(","))
    out.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def reference_outputs(orders: Path, config: ExchangeConfig) -> dict[str, bytes]:
    """trades / events / book of an order file replayed through the reference engine,
    written with the csv module and the public formatting functions (docs/RULES.md §5)."""
    ref = ReferenceExchange(config)
    events = []
    for row in read_csv(orders):
        events += _feed(ref, row)
    ins = {i.symbol: i for i in config.instruments}
    floor = {g.name: g.floor_bp for g in config.grades}

    def effective(t):  # price x 10000 / factor, half-even to 6 places
        micros = to_units(ins[t.instrument].format_price(t.price), 6)
        return units_text(half_even(micros * 10_000, floor[t.grade]), 6)

    def empty(value):
        return "" if value is None else value

    trades = [(t.trade_id, t.seq, t.ts, t.instrument, t.buy_order_id, t.sell_order_id, t.buyer, t.seller,
               t.grade, ins[t.instrument].format_price(t.price), effective(t), t.qty, t.aggressor.name.lower())
              for t in ref.trades()]
    event_rows = [(e.seq, e.ts, e.order_id, e.event.name, "" if e.reason.name == "NONE" else e.reason.name,
                   empty(e.qty), empty(e.leaves_qty)) for e in events]
    book = [(o.instrument, o.side.name.lower(), o.order_id, o.party, ins[o.instrument].format_price(o.price),
             o.qty, empty(o.grade), empty(o.min_grade), o.tif.name.lower(), o.arrival_seq) for o in ref.book()]
    return {
        "trades": _csv_bytes("trade_id,seq,ts,instrument,buy_order_id,sell_order_id,buyer,seller,grade,price,"
                             "effective_price,qty,aggressor", trades),
        "events": _csv_bytes("seq,ts,order_id,event,reason,qty,leaves_qty", event_rows),
        "book": _csv_bytes("instrument,side,order_id,party,price,qty,grade,min_grade,tif,arrival_seq", book),
    }


def test_bundled_sample_replays_as_the_reference_engine_does(tmp_path, capsys):
    assert SAMPLE.stat().st_size < 1_000_000
    code, out_dir = replay(tmp_path, SAMPLE)
    assert code == 0
    written = outputs(out_dir)
    expected = reference_outputs(SAMPLE, ExchangeConfig.default())
    assert written["trades"].count(b"\n") > 100 and written["book"].count(b"\n") > 10
    for name in ("trades", "events", "book"):
        assert written[name] == expected[name], name
    digest = hashlib.sha256(written["trades"]).hexdigest()
    assert f"trades.csv sha256 {digest}" in capsys.readouterr().out


def test_bundled_sample_is_what_the_generator_makes():
    """The sample predates the generator's `stp` column, which is drawn after every other
    column: without that last column the generator still makes the sample byte for byte."""
    from exchange.files.generate import orders_csv_bytes

    lines = orders_csv_bytes(5000, 7).decode().split("\n")
    assert lines[0].endswith(",min_grade,goodput,stp")
    assert "\n".join(line.rsplit(",", 1)[0] for line in lines).encode() == SAMPLE.read_bytes()


# ------------------------------------------------------------------ generate
def test_generate_same_seed_same_bytes(tmp_path):
    assert main(["generate", "--rows", "2000", "--seed", "5", "--out", str(tmp_path / "a")]) == 0
    assert main(["generate", "--rows", "2000", "--seed", "5", "--out", str(tmp_path / "b")]) == 0
    assert main(["generate", "--rows", "2000", "--seed", "6", "--out", str(tmp_path / "c")]) == 0
    a, b, c = ((tmp_path / d / "orders.csv").read_bytes() for d in "abc")
    assert a == b != c
    assert (tmp_path / "a" / "config.toml").read_bytes() == (tmp_path / "b" / "config.toml").read_bytes()
    ExchangeConfig.load(tmp_path / "a" / "config.toml")


def test_generated_file_has_every_kind_of_row(generated, tmp_path):
    rows = read_csv(generated)
    assert {r["action"] for r in rows} == {"new", "cancel", "replace", "grade", "close"}
    new = [r for r in rows if r["action"] == "new"]
    assert {r["type"] for r in new} >= {"limit", "market", ""}
    assert {r["tif"] for r in new} >= {"gtc", "ioc", "fok", "post_only"}
    assert {r["instrument"] for r in new} >= set(FAIR_SYMBOLS)
    assert {r["min_grade"] for r in new if r["side"] == "buy"} >= {"", "A", "B", "C", "D"}
    stp = [r["stp"] for r in new]
    assert set(stp) == {"", "cancel_incoming", "cancel_resting", "cancel_both"}
    assert 0.8 < stp.count("") / len(stp) < 0.95  # the default stays the rule
    assert {r["stp"] for r in rows if r["action"] != "new"} == {""}
    goodputs = [Decimal(r["goodput"]) for r in rows if r["action"] == "grade"]
    assert min(goodputs) < Decimal("0.70") < Decimal("0.95") < max(goodputs)  # ungraded .. A
    sellers = {r["party"] for r in new if r["side"] == "sell"}
    buyers = {r["party"] for r in new if r["side"] == "buy"}
    assert sellers & buyers  # providers that also buy
    assert [r["ts"] for r in rows] == sorted([r["ts"] for r in rows], key=int)
    code, out_dir = replay(tmp_path, generated)
    reasons = {e["reason"] for e in read_csv(out_dir / "events.csv")}
    assert {"IOC", "FOK", "REGRADED", "CLOSED", "WOULD_CROSS", "PROVIDER_UNGRADED", "SELF_TRADE"} <= reasons


FAIR_SYMBOLS = ("H100-SXM.2027-01", "H200-SXM.2027-01", "B200.2027-01", "A100-80G.2027-01")


# ------------------------------------------------------------------ the command
def test_help_says_what_and_gives_an_example(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    assert "replay" in text and "generate" in text and "example" in text
    for command in ("replay", "generate", "settle", "simulate", "bench"):
        with pytest.raises(SystemExit) as exit_:
            main([command, "--help"])
        assert exit_.value.code == 0, command
        text = capsys.readouterr().out
        assert f"compute-exchange {command} " in text[text.index("example"):], command


def test_progress_bar_goes_to_stderr(tmp_path, capsys, generated):
    code = main(["replay", str(generated), "--out", str(tmp_path / "o"), "--progress"])
    captured = capsys.readouterr()
    assert code == 0
    assert "reading" in captured.err and "%" in captured.err
    assert "reading" not in captured.out


def test_python_dash_m_exchange(tmp_path):
    import subprocess
    import sys

    orders = write(tmp_path / "orders.csv", GOOD, "2,fly,,,,,,,,,,")
    proc = subprocess.run([sys.executable, "-m", "compute_exchange", "replay", str(orders), "--out",
                           str(tmp_path / "o")], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 2
    assert proc.stderr.splitlines()[0] == (f"{orders}:3: action: 'fly' is not one of new, cancel, "
                                           "replace, grade, close")
    assert "Traceback" not in proc.stderr
