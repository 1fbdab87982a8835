"""Results as Arrow, pandas and polars frames: the same columns and units as the replay's
files (docs/RULES.md §5), exact prices, and one answer whichever way in made the result."""
from __future__ import annotations

import csv
import sys
from decimal import Decimal
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from compute_exchange.cli import main
from exchange.config import ExchangeConfig
from exchange.engine import Exchange, run_batch
from exchange.files.orders_io import read_orders
from exchange.schema import ACT_NEW, ACTION_DTYPE, BUY, GRADE_ABSENT, PRICE_OK, SELL

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "samples" / "orders.csv"
NAMES = ("trades", "events", "book")
H100 = "H100-SXM.2027-01"


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    """The sample's replay, as files (CSV and Parquet) and as a run_batch result."""
    out = tmp_path_factory.mktemp("frames")
    for fmt in ("csv", "parquet"):
        code = main(["replay", str(SAMPLE), "--out", str(out / fmt), "--no-progress", "--format", fmt])
        assert code == 0
    config = ExchangeConfig.default()
    parsed = read_orders(SAMPLE, config)
    return out, run_batch(config, parsed.actions, parsed.parties)


def cell(value) -> str:
    return "" if value is None else str(value)


@pytest.mark.parametrize("name", NAMES)
def test_arrow_table_is_what_replay_writes_as_parquet(sample, name):
    out, result = sample
    table = result.to_arrow(name)
    assert table.num_rows > 0
    assert table.equals(pq.read_table(out / "parquet" / f"{name}.parquet"))


@pytest.mark.parametrize("name", NAMES)
def test_arrow_table_reads_as_the_csv_text(sample, name):
    out, result = sample
    table = result.to_arrow(name)
    with open(out / "csv" / f"{name}.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == table.column_names
    assert rows[1:] == [[cell(v) for v in record.values()] for record in table.to_pylist()]


def test_prices_are_exact_decimals_or_integer_ticks(sample):
    _, result = sample
    decimal = result.to_arrow("trades")
    ticks = result.to_arrow("trades", prices="ticks")
    assert pa.types.is_decimal(decimal.schema.field("price").type)
    assert ticks.schema.field("price").type == pa.int64()
    assert ticks.column("price").to_pylist() == result.trades["price"].tolist()
    tick = ExchangeConfig.default().instruments[0].tick  # every default instrument has this tick
    assert decimal.column("price").to_pylist() == [t * tick for t in ticks.column("price").to_pylist()]
    # everything else is the same, effective_price included (a decimal either way)
    assert ticks.drop_columns(["price"]).equals(decimal.drop_columns(["price"]))
    book = result.to_arrow("book", prices="ticks")
    assert book.column("price").to_pylist() == result.book["price"].tolist()


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("prices", ("decimal", "ticks"))
def test_pandas_frame_has_the_columns_and_values_and_no_float(sample, name, prices):
    import pandas as pd

    _, result = sample
    table = result.to_arrow(name, prices)
    frame = result.to_pandas(name, prices)
    assert list(frame.columns) == table.column_names
    for column in frame.columns:
        assert not pd.api.types.is_float_dtype(frame[column].dtype), column
        values = [None if v is pd.NA else v for v in frame[column].tolist()]
        assert values == table.column(column).to_pylist(), column
    if name != "events":
        assert all(isinstance(v, Decimal if prices == "decimal" else int) for v in frame["price"].tolist())


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("prices", ("decimal", "ticks"))
def test_polars_frame_has_the_columns_and_values_and_no_float(sample, name, prices):
    import polars as pl

    _, result = sample
    table = result.to_arrow(name, prices)
    frame = result.to_polars(name, prices)
    assert frame.columns == table.column_names
    for column in frame.columns:
        assert not frame[column].dtype.is_float(), column
        assert frame[column].to_list() == table.column(column).to_pylist(), column
    if name != "events":
        dtype = frame["price"].dtype
        assert isinstance(dtype, pl.Decimal) if prices == "decimal" else dtype == pl.Int64


def test_empty_cells_are_nulls_not_nan(sample):
    _, result = sample
    frame = result.to_pandas("events")
    rejected = frame[frame["event"] == "REJECTED"]
    assert len(rejected) > 0
    assert rejected["leaves_qty"].isna().all()
    assert str(frame["leaves_qty"].dtype) == "int64[pyarrow]"


def test_a_sharded_run_gives_the_tables_of_one_run():
    from exchange.parallel import run_batch_parallel

    config = ExchangeConfig.default()
    parsed = read_orders(SAMPLE, config)
    actions = parsed.actions
    # The sample reuses an order id across instruments (which keeps a run in one piece): drop those rows.
    new = actions["action"] == ACT_NEW
    ids, counts = np.unique(actions["order_id"][new], return_counts=True)
    actions = actions[~(new & np.isin(actions["order_id"], ids[counts > 1]))].copy()
    one = run_batch(config, actions, parsed.parties)
    sharded = run_batch_parallel(config, actions, parsed.parties, threads=2)
    assert sharded.state is None  # merged from the shards' results, not one run's
    for name in NAMES:
        assert sharded.to_arrow(name).equals(one.to_arrow(name)), name


def _orders(parties: dict[str, int], instrument: int) -> np.ndarray:
    """Asks from two providers, a bid crossing both, a bid left resting."""
    rows = [(1, "p.ember", SELL, 1600, 5), (2, "p.atlas", SELL, 1900, 5),
            (3, "b.one", BUY, 2100, 7), (4, "b.two", BUY, 1500, 4)]
    actions = np.zeros(len(rows), ACTION_DTYPE)
    for i, (order_id, party, side, price, qty) in enumerate(rows):
        a = actions[i]
        a["seq"], a["ts"], a["action"], a["order_id"] = i, 10 * i, ACT_NEW, order_id
        a["party"], a["instrument"], a["side"], a["qty"] = parties[party], instrument, side, qty
        a["price_state"], a["price"], a["min_grade"] = PRICE_OK, price, GRADE_ABSENT
    return actions


def test_an_exchange_gives_the_tables_of_a_batch_of_the_same_actions():
    config = ExchangeConfig.default()
    ex = Exchange(config)
    names = ("p.ember", "p.atlas", "b.one", "b.two")
    events = ex.apply(_orders({n: ex.party_index(n) for n in names}, ex.instrument_index(H100)))
    batch = run_batch(config, _orders({n: i for i, n in enumerate(names)}, ex.instrument_index(H100)), names)
    assert len(batch.trades) == 2 and len(batch.book) == 2
    for prices in ("decimal", "ticks"):
        assert ex.to_arrow("trades", prices).equals(batch.to_arrow("trades", prices))
        assert ex.to_arrow("book", prices).equals(batch.to_arrow("book", prices))
        assert ex.to_arrow("events", prices, events=events).equals(batch.to_arrow("events", prices))
    assert ex.to_polars("trades")["buyer"].to_list() == ["b.one", "b.one"]
    assert ex.to_pandas("book")["party"].tolist() == ["b.two", "p.atlas"]


def test_bad_arguments_are_value_errors_naming_the_field(sample):
    _, result = sample
    with pytest.raises(ValueError, match="^what: 'orders'"):
        result.to_arrow("orders")
    with pytest.raises(ValueError, match="^prices: 'float'"):
        result.to_arrow("trades", prices="float")
    with pytest.raises(ValueError, match="^prices: 'float'"):
        result.to_pandas("trades", prices="float")
    merged = type(result)(result.events, result.trades, result.book, result.parties, None)
    with pytest.raises(ValueError, match="^config: "):
        merged.to_arrow("trades")
    assert merged.to_arrow("trades", config=ExchangeConfig.default()).equals(result.to_arrow("trades"))
    ex = Exchange(ExchangeConfig.default())
    with pytest.raises(ValueError, match="^events: "):
        ex.to_arrow("events")
    with pytest.raises(ValueError, match="^events: "):
        ex.to_arrow("events", events=result.trades)
    with pytest.raises(ValueError, match="^events: "):
        ex.to_arrow("trades", events=result.events)


@pytest.mark.parametrize("extra", ("pandas", "polars"))
def test_a_missing_extra_is_named_in_the_import_error(sample, monkeypatch, extra):
    _, result = sample
    monkeypatch.setitem(sys.modules, extra, None)  # import fails as if not installed
    with pytest.raises(ImportError, match=rf"pip install 'compute-exchange\[{extra}\]'"):
        getattr(result, f"to_{extra}")("trades")
