"""The streamed replay (issue 14): blocks of rows read, matched and written in turn give
the bytes of the whole-file replay (docs/RULES.md §5), whatever the block size.

Each scenario replays one file twice, through the whole-file path (``block_rows=None``)
and in blocks, and compares every output byte, the summary (timings aside) and the
parties. Blocks of 1, 7 and 64 rows put cancels and replaces in other blocks than the
orders they name, and providers' first rows in late blocks.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from exchange.config import ExchangeConfig
from exchange.engine import BatchStream, run_batch
from exchange.files.orders_io import read_orders
from exchange.files.replay import MalformedRows, replay, summary
from exchange.schema import EVENT_DTYPE, TRADE_DTYPE

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "samples" / "orders.csv"
HEADER = "ts,action,order_id,party,instrument,side,type,tif,price,qty,min_grade,goodput"
H100 = "H100-SXM.2027-01"
NAMES = ("trades.csv", "events.csv", "book.csv")


@pytest.fixture(autouse=True, scope="module")
def _kernels_loaded():
    from exchange.files.replay import load_kernels

    load_kernels(ExchangeConfig.default())


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    from exchange.files.generate import generate

    out = tmp_path_factory.mktemp("generated")
    generate(3000, 5, out)
    return out / "orders.csv"


def files(out: Path) -> dict[str, bytes]:
    return {name: (out / name).read_bytes() for name in NAMES}


def without_timings(text: str, out: Path) -> str:
    kept = [line for line in text.splitlines() if not line.startswith(("start-up", "time", "throughput"))]
    return "\n".join(kept).replace(str(out), "OUT")


def both(tmp_path: Path, orders: Path, block_rows: int, **options):
    """(whole-file result, streamed result) of one file, each in a directory of its own."""
    config = ExchangeConfig.default()
    whole = replay(orders, config, tmp_path / "whole", block_rows=None, **options)
    streamed = replay(orders, config, tmp_path / f"blocks-{block_rows}", block_rows=block_rows, **options)
    return whole, streamed


@pytest.mark.parametrize("block_rows", [1, 7, 64, 1 << 18])
def test_the_sample_in_blocks_gives_the_whole_file_bytes(tmp_path, block_rows):
    whole, streamed = both(tmp_path, SAMPLE, block_rows)
    assert files(tmp_path / f"blocks-{block_rows}") == files(tmp_path / "whole")
    config = ExchangeConfig.default()
    assert (without_timings(summary(streamed, config, SAMPLE), tmp_path / f"blocks-{block_rows}")
            == without_timings(summary(whole, config, SAMPLE), tmp_path / "whole"))
    assert streamed.parties == whole.parties
    assert streamed.digests == whole.digests


def test_the_streamed_replay_overlaps_its_stages_and_says_so(tmp_path):
    _, streamed = both(tmp_path, SAMPLE, 64)
    line = next(x for x in summary(streamed, ExchangeConfig.default(), SAMPLE).splitlines() if x.startswith("time"))
    assert line.endswith(", overlapped)")
    assert streamed.seconds == streamed.timings["work"]


@pytest.mark.parametrize("block_rows", [7, 64])
def test_cancels_and_replaces_naming_orders_of_earlier_blocks(tmp_path, generated, block_rows):
    parsed = read_orders(generated, ExchangeConfig.default())
    actions = parsed.actions
    new_seq = {int(a["order_id"]): int(a["seq"]) for a in actions if a["action"] == 0}
    later = [a for a in actions if a["action"] in (1, 2) and int(a["order_id"]) in new_seq
             and new_seq[int(a["order_id"])] // block_rows < int(a["seq"]) // block_rows]
    assert len(later) > 100  # the scenario: many refer across a block boundary
    whole, streamed = both(tmp_path, generated, block_rows)
    assert files(tmp_path / f"blocks-{block_rows}") == files(tmp_path / "whole")
    assert streamed.n_trades == whole.n_trades > 0
    assert streamed.parties == whole.parties


def test_records_kept_by_the_api_equal_the_whole_file_arrays(tmp_path, generated):
    whole, streamed = both(tmp_path, generated, 7)
    assert np.array_equal(streamed.events, whole.events)
    assert np.array_equal(streamed.trades, whole.trades)
    assert np.array_equal(streamed.book, whole.book)


def test_the_command_keeps_no_records_but_counts_them(tmp_path, generated):
    config = ExchangeConfig.default()
    whole = replay(generated, config, tmp_path / "whole", block_rows=None)
    lean = replay(generated, config, tmp_path / "lean", block_rows=64, keep_records=False)
    assert lean.events is None and lean.trades is None
    assert (lean.n_events, lean.n_trades, len(lean.book)) == (len(whole.events), len(whole.trades), len(whole.book))
    for mine, theirs in zip(lean.totals, summary_totals(whole, config)):
        assert np.array_equal(mine, theirs)


def summary_totals(result, config):
    """Per instrument and grade: trades, volume, sum of price x qty, counted in Python."""
    from exchange.files.writers import Formatter

    n_grades = len(config.grades)
    count = np.zeros(len(config.instruments) * n_grades, np.int64)
    volume, notional = count.copy(), count.copy()
    tick_m = Formatter(config, result.parties).tick_m
    for t in result.trades:
        k = int(t["instrument"]) * n_grades + int(t["grade"])
        count[k] += 1
        volume[k] += int(t["qty"])
        notional[k] += int(t["price"]) * int(tick_m[t["instrument"]]) * int(t["qty"])
    return count, volume, notional


def test_a_provider_first_seen_in_a_late_block_keeps_its_grade(tmp_path):
    """p.atlas (a config provider, goodput 0.9712: grade A) first appears in row 6; with
    blocks of 2 rows it is registered only then. Its sale must still be a provider's,
    of grade A, and the parties end with the providers no row named, as run_batch's."""
    orders = tmp_path / "orders.csv"
    orders.write_text("\n".join([
        HEADER,
        f"1,new,1,b.x,{H100},buy,limit,gtc,2.000,5,,",
        f"2,new,2,b.y,{H100},buy,limit,gtc,1.900,5,A,",
        f"3,new,3,b.z,{H100},buy,limit,gtc,1.800,5,,",
        "4,cancel,3,b.z,,,,,,,,",
        "5,replace,2,b.y,,,,,1.950,,,",
        f"6,new,4,p.atlas,{H100},sell,limit,gtc,1.900,8,,",
    ]) + "\n")
    whole, streamed = both(tmp_path, orders, 2)
    assert files(tmp_path / "blocks-2") == files(tmp_path / "whole")
    trades = (tmp_path / "blocks-2" / "trades.csv").read_text().splitlines()
    assert [line.split(",")[6:9] for line in trades[1:]] == [["b.x", "p.atlas", "A"]]
    providers = [p.party for p in ExchangeConfig.default().providers]
    assert streamed.parties == whole.parties == ["b.x", "b.y", "b.z", "p.atlas"] + [
        p for p in providers if p != "p.atlas"]


def test_strict_stops_at_a_malformed_row_in_a_late_block_and_keeps_the_old_set(tmp_path, generated):
    config = ExchangeConfig.default()
    out = tmp_path / "out"
    replay(generated, config, out, block_rows=64)
    before = files(out)
    lines = generated.read_text().splitlines()  # lines[k] is line k + 1 of the file
    cells = lines[2500].split(",")
    cells[1] = "fly"
    lines[2500] = ",".join(cells)
    late = next(k for k in range(2900, len(lines)) if lines[k].split(",")[1] == "new")
    cells = lines[late].split(",")
    cells[9] = "ten"  # qty
    lines[late] = ",".join(cells)
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(lines) + "\n")
    with pytest.raises(MalformedRows) as streamed:
        replay(bad, config, out, block_rows=64)
    with pytest.raises(MalformedRows) as whole:
        replay(bad, config, tmp_path / "never", block_rows=None)
    assert streamed.value.lines == whole.value.lines
    assert streamed.value.count == whole.value.count == 2
    assert streamed.value.lines[0].startswith(f"{bad}:2501: action: 'fly' is not one of")
    assert streamed.value.lines[1] == f"{bad}:{late + 1}: qty: 'ten' is not an integer"
    assert files(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.csv", "out"]  # no staging left


def test_strict_refusal_of_a_fresh_directory_leaves_none(tmp_path):
    orders = tmp_path / "orders.csv"
    rows = [f"{k},new,{k},b.x,{H100},buy,,,2.1,10,," for k in range(1, 40)] + ["40,fly,,,,,,,,,,"]
    orders.write_text("\n".join([HEADER] + rows) + "\n")
    with pytest.raises(MalformedRows):
        replay(orders, ExchangeConfig.default(), tmp_path / "fresh", block_rows=8)
    assert not (tmp_path / "fresh").exists()


@pytest.mark.parametrize("bad_row", [
    "2,new,2,b.x," + H100 + ",buy,,,2.1,zz,,",  # a cell error: streamed, rejected in place
    "2,new,2",  # a row of 3 cells: its seq needs a scan of the file, so the whole-file path
], ids=["cell", "cell-count"])
def test_lenient_rejects_in_blocks_as_the_whole_file_does(tmp_path, bad_row):
    rows = [f"1,new,1,b.x,{H100},buy,,,2.1,10,,"] + [bad_row] * 3 + [
        f"{k},new,{k},p.atlas,{H100},sell,,,2.0,3,," for k in range(3, 30)] + ["31,cancel,1,b.x,,,,,,,,"]
    orders = tmp_path / "orders.csv"
    orders.write_text("\n".join([HEADER] + rows) + "\n")
    whole, streamed = both(tmp_path, orders, 3, lenient=True)
    assert files(tmp_path / "blocks-3") == files(tmp_path / "whole")
    assert streamed.malformed == whole.malformed == 3
    assert streamed.malformed_report == whole.malformed_report
    rejected = [line for line in (tmp_path / "blocks-3" / "events.csv").read_text().splitlines()
                if "REJECTED,BAD_FIELD" in line]
    assert [line.split(",")[0] for line in rejected] == ["1", "2", "3"]


def test_quoted_cells_stream_as_pyarrow_reads_them(tmp_path):
    orders = tmp_path / "orders.csv"
    orders.write_text(HEADER + "\n" + '1,"new",1,"b.x",' + H100 + ',buy,,,"2.100",10,,\n'
                      + f'2,new,2,"p.atlas",{H100},sell,,,1.900,12,,\r\n'
                      + f"3,new,3,b.y,{H100},buy,,,2.2,2,,\n")
    whole, streamed = both(tmp_path, orders, 1)
    assert files(tmp_path / "blocks-1") == files(tmp_path / "whole")
    assert streamed.n_trades == 2


def test_parquet_output_takes_the_whole_file_path(tmp_path, generated):
    import pyarrow.parquet as pq

    config = ExchangeConfig.default()
    a = replay(generated, config, tmp_path / "a", fmt="parquet", block_rows=None)
    b = replay(generated, config, tmp_path / "b", fmt="parquet", block_rows=7)
    for name in ("trades", "events", "book"):
        assert (tmp_path / "a" / f"{name}.parquet").read_bytes() == (tmp_path / "b" / f"{name}.parquet").read_bytes()
        assert pq.ParquetFile(tmp_path / "b" / f"{name}.parquet").metadata.num_rows == {
            "trades": len(a.trades), "events": len(a.events), "book": len(a.book)}[name]
    assert "work" not in b.timings  # not streamed: its stages did not overlap


def test_batch_stream_blocks_equal_one_run_batch():
    config = ExchangeConfig.default()
    parsed = read_orders(SAMPLE, config)
    whole = run_batch(config, parsed.actions, parsed.parties)
    stream = BatchStream(config)
    events, trades = np.empty(4, EVENT_DTYPE), np.empty(4, TRADE_DTYPE)  # grown as needed
    got_events, got_trades = [], []
    for lo in range(0, len(parsed.actions), 333):
        block = parsed.actions[lo: lo + 333]
        seen = 1 + int(block["party"].max()) if len(block) else 0
        events, trades, ne, nt = stream.run(block, parsed.parties[: max(seen, len(stream.parties))], events, trades)
        got_events.append(events[:ne].copy())
        got_trades.append(trades[:nt].copy())
    book, parties = stream.finish()
    assert np.array_equal(np.concatenate(got_events), whole.events)
    assert np.array_equal(np.concatenate(got_trades), whole.trades)
    assert np.array_equal(book, whole.book)
    assert parties == whole.parties


def test_batch_stream_refuses_parties_that_do_not_extend_the_earlier_ones():
    config = ExchangeConfig.default()
    parsed = read_orders(SAMPLE, config)
    stream = BatchStream(config)
    events, trades = np.empty(64, EVENT_DTYPE), np.empty(64, TRADE_DTYPE)
    stream.run(parsed.actions[:10], parsed.parties, events, trades)
    with pytest.raises(ValueError, match="extend"):
        stream.run(parsed.actions[10:20], list(reversed(parsed.parties)), events, trades)


def test_the_memory_estimate_of_a_streamed_replay(tmp_path, generated):
    from exchange.files.replay import planned_replay_bytes
    from exchange.memory_budget import MemoryBudgetError

    config = ExchangeConfig.default()
    big = tmp_path / "big.csv"  # the size of the 10 M-row generated file, sparse
    with open(big, "wb") as handle:
        handle.truncate(795_074_243)
    assert planned_replay_bytes(big, config, streamed=True) < 1.5e9 < 4e9 < planned_replay_bytes(big, config)
    streamed = planned_replay_bytes(generated, config, streamed=True)
    with pytest.raises(MemoryBudgetError):
        replay(generated, config, tmp_path / "o", memory_limit=streamed - 1, keep_records=False)
    assert not (tmp_path / "o").exists()
    result = replay(generated, config, tmp_path / "o", memory_limit=streamed, keep_records=False)
    assert re.fullmatch(r"[0-9a-f]{64}", result.digests["trades"])
