"""settle --format parquet (the same four reports, money as int64 µ$) and the memory guard."""
from __future__ import annotations

import csv
import io
from decimal import Decimal

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from contracts.report import MONEY, REPORTS
from contracts.schedule import read_trades_csv
from contracts.settlement import estimate_bytes
from exchange import memory_budget
from exchange.config import ExchangeConfig
from tests.test_settlement import run_cli, sample  # noqa: F401 - the fixture

METERING = ("trade_id,period,available_hours,used_hours,goodput\n"
            "1,0,4,4,0.9600\n2,1,1,0,0.5\n3,0,2,1,0.85\n1,3,4,4,0.9\n1,1,0,0,0.95\n")


def test_parquet_reports_hold_the_csv_values_with_money_in_micro_dollars(sample, capsys):  # noqa: F811
    tmp, trades = sample
    metering = tmp / "metering.csv"
    metering.write_text(METERING)
    args = [str(trades), "--metering", str(metering), "--through", "3"]
    assert run_cli(*args, "--out", str(tmp / "csv")) == 0
    assert run_cli(*args, "--out", str(tmp / "pq"), "--format", "parquet") == 0
    assert "statements.parquet" in capsys.readouterr().out
    for name in REPORTS:
        text = (tmp / "csv" / f"{name}.csv").read_text()
        rows = list(csv.DictReader(io.StringIO(text)))
        table = pq.read_table(tmp / "pq" / f"{name}.parquet")
        assert table.column_names == text.splitlines()[0].split(",")
        assert table.num_rows == len(rows) > 0
        for field in table.schema:
            assert not pa.types.is_floating(field.type)
            if field.name in MONEY:
                assert field.type == pa.int64() and field.metadata == {b"unit": b"micro-dollars"}
        for row, parquet_row in zip(rows, table.to_pylist()):
            for column, text_value in row.items():
                value = parquet_row[column]
                if column in MONEY:  # dollars with 6 decimals in CSV, µ$ in Parquet
                    assert Decimal(text_value) * 1_000_000 == value
                else:
                    assert str(value) == text_value


def test_switching_format_replaces_the_whole_set(sample):  # noqa: F811
    tmp, trades = sample
    out = tmp / "bills"
    assert run_cli(str(trades), "--out", str(out)) == 0
    assert run_cli(str(trades), "--out", str(out), "--format", "parquet") == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{n}.parquet" for n in REPORTS)


# ------------------------------------------------------------------ memory
def test_parse_size_and_refusal_message():
    assert memory_budget.parse_size("512M") == 512 << 20
    assert memory_budget.parse_size("1.5GiB") == 3 << 29
    assert memory_budget.parse_size("2000") == 2000
    with pytest.raises(ValueError, match="'lots' is not a size"):
        memory_budget.parse_size("lots")
    with pytest.raises(memory_budget.MemoryBudgetError) as error:
        memory_budget.check(3 << 30, 1 << 30, "settling 9 contracts x 30 periods")
    assert str(error.value).startswith("settling 9 contracts x 30 periods needs about 3.0 GiB of memory, "
                                       "more than the budget of 1.0 GiB")
    assert "--memory-limit" in str(error.value)
    memory_budget.check(1 << 30, 1 << 30, "exactly the budget")  # not over: no error


def test_default_budget_is_half_of_what_is_available():
    available = memory_budget.available_bytes()
    assert available > 0
    assert memory_budget.default_budget() == max(available // 2, 256 << 20)


def test_estimate_grows_with_contracts_times_periods(sample):  # noqa: F811
    _, trades = sample
    contracts = read_trades_csv(trades, ExchangeConfig.default())  # 3 contracts, 30 periods
    small = estimate_bytes(contracts)
    assert small >= 3 * 30 * 28  # the metering grid alone: 28 bytes per contract period
    assert estimate_bytes(contracts, keep_lines=True) - small == 3 * 30 * 8 * 23


def test_settle_refuses_beyond_the_memory_limit_and_writes_nothing(sample, capsys):  # noqa: F811
    tmp, trades = sample
    out = tmp / "bills"
    assert run_cli(str(trades), "--memory-limit", "1M", "--out", str(out)) == 2
    err = capsys.readouterr().err
    assert "compute-exchange: settling 3 contracts x 30 periods needs about" in err
    assert "more than the budget of 1.0 MiB" in err and "--memory-limit" in err
    assert not out.exists()
    assert run_cli(str(trades), "--memory-limit", "4G", "--out", str(out)) == 0


def test_memory_limit_flag_rejects_nonsense(sample, capsys):  # noqa: F811
    tmp, trades = sample
    with pytest.raises(SystemExit) as stop:
        run_cli(str(trades), "--memory-limit", "lots", "--out", str(tmp / "o"))
    assert stop.value.code == 2
    assert "invalid size value: 'lots'" in capsys.readouterr().err
