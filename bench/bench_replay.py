"""End-to-end replay throughput: read (pyarrow + Numba parse), match (the engine),
write (Numba CSV formatting, hashing, atomic directory swap), on a generated order file.

    pytest bench/bench_replay.py --benchmark-only              # 10 M rows (the target: 2 M rows/s)
    BENCH_ROWS=1000000 pytest bench/bench_replay.py -s         # smaller
    pytest bench/bench_replay.py --benchmark-only -k streamed  # what the command runs

Two paths: ``streamed`` (the command's: blocks of rows read, matched and written on
overlapping threads, no records kept) and ``whole`` (``block_rows=None``: read all, match
all, write all; what Parquet output takes). The order file is generated once per (rows,
seed) into ``$BENCH_DATA`` (default: ``.benchmarks/data``) and reused. The stage times
are printed and stored in the benchmark's ``extra_info`` (streamed: each stage's busy
time, they overlap; ``work`` is the wall time). For peak memory run the command under
``/usr/bin/time -v`` (a process's maximum RSS covers every run it made).
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from exchange.config import ExchangeConfig
from exchange.files.generate import generate_orders
from exchange.files.replay import replay
from exchange.files.writers import write_tables

ROWS = int(os.environ.get("BENCH_ROWS", 10_000_000))
SEED = int(os.environ.get("BENCH_SEED", 1))
DATA = Path(os.environ.get("BENCH_DATA", ".benchmarks/data"))


@pytest.fixture(scope="module")
def orders_file() -> Path:
    directory = DATA / f"orders-{ROWS}-{SEED}"
    path = directory / "orders.csv"
    if not path.exists():
        directory.mkdir(parents=True, exist_ok=True)
        write_tables(directory, [generate_orders(ROWS, SEED)], "csv", digest_of=())
    return path


@pytest.mark.parametrize("path", ["streamed", "whole"])
def test_replay_throughput(benchmark, orders_file, tmp_path, path):
    config = ExchangeConfig.default()
    options = {"keep_records": False} if path == "streamed" else {"block_rows": None}
    replay(orders_file, config, tmp_path / "warm", **options)  # compile / load the kernels once
    results = []

    def run():
        results.append(replay(orders_file, config, tmp_path / "out", **options))

    benchmark.pedantic(run, rounds=3, iterations=1)
    best = min(results, key=lambda r: r.seconds)
    rate = best.rows / best.seconds
    split = {k: round(v, 3) for k, v in best.timings.items()}
    benchmark.extra_info.update(rows=best.rows, trades=best.n_trades, events=best.n_events,
                                rows_per_s=round(rate), **{f"{k}_s": v for k, v in split.items()})
    print(f"\n{path} replay of {best.rows:,} rows ({orders_file.stat().st_size / 1e6:.0f} MB): "
          f"{best.seconds:.2f} s = {rate / 1e6:.2f} M rows/s; "
          + ", ".join(f"{k} {v:.2f} s" for k, v in best.timings.items())
          + f"; {best.n_trades:,} trades, {best.n_events:,} events")
