"""An order file over many instruments (``compute-exchange generate`` makes four).

``write_many(out_dir, rows, seed, n_instruments)`` writes ``config.toml`` (instruments
I0..In-1, tick 0.001, band 1.000..5.000, 8 providers) and ``orders.csv`` holding
``bench.workloads.mixed``: the standard mix spread evenly over the instruments, plus
regrades, replaces, reused ids, a close, unknown instruments and grades. It is the
input of the sharded-replay benchmark and tests. Same arguments, same bytes; about
a second per million rows (the CSV is formatted by the replay's writer kernels).

    python -m bench.many_instruments --rows 1000000 --instruments 1000 --out many/
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from exchange.schema import ACT_CLOSE, ACT_GRADE, ACT_NEW, ACT_REPLACE, GRADE_UNKNOWN, NO_VALUE, PRICE_OK
from exchange.files.writers import K_DICT, K_FIXED, K_INT, Column, Table, write_tables

from .workloads import bench_config, mixed

UNKNOWN_SYMBOL = "X-UNKNOWN.2027-01"


def orders_table(rows: int, seed: int, n_instruments: int, shared_ids: bool = False):
    """(config, writers.Table of the order file) for ``mixed(rows, seed, n_instruments)``;
    ``shared_ids``: some order ids are reused in another instrument (the file cannot be split)."""
    _, actions, parties = mixed(rows, seed, n_instruments=n_instruments, shared_ids=shared_ids)
    # The band of the `many` workload: 4,001 levels a ladder, so 1,000 instruments' ladders
    # take 0.5 GB, not 2.5 GB (prices stay around 2.500, as in mixed()).
    config = bench_config(n_instruments, price_min="1.000", price_max="5.000")
    kind = actions["action"].astype(np.int64)
    is_new, is_close = kind == ACT_NEW, kind == ACT_CLOSE
    is_grade, is_replace = kind == ACT_GRADE, kind == ACT_REPLACE
    takes_id = ~(is_grade | is_close)
    instrument = actions["instrument"].astype(np.int64)
    min_grade = actions["min_grade"].astype(np.int64)
    grades = tuple(g.name for g in config.grades)
    priced = (is_new | is_replace) & (actions["price_state"] == PRICE_OK)
    no = NO_VALUE
    columns = [
        Column("ts", K_INT, actions["ts"].astype(np.int64)),
        Column("action", K_DICT, kind, ("new", "cancel", "replace", "grade", "close")),
        Column("order_id", K_INT, np.where(takes_id, actions["order_id"].astype(np.int64), no)),
        Column("party", K_DICT, np.where(is_close, -1, actions["party"]).astype(np.int64), tuple(parties)),
        Column("instrument", K_DICT, np.where(is_new | is_close, np.where(instrument < 0, n_instruments, instrument),
                                              -1), tuple(i.symbol for i in config.instruments) + (UNKNOWN_SYMBOL,)),
        Column("side", K_DICT, np.where(is_new, actions["side"], -1).astype(np.int64), ("buy", "sell")),
        Column("type", K_DICT, np.where(is_new, actions["order_type"], -1).astype(np.int64), ("limit", "market")),
        Column("tif", K_DICT, np.where(is_new, actions["tif"], -1).astype(np.int64),
               ("gtc", "ioc", "fok", "post_only")),
        Column("price", K_FIXED, np.where(priced, actions["price"].astype(np.int64), no), places=3),
        Column("qty", K_INT, np.where(is_new | is_replace, actions["qty"].astype(np.int64), no)),
        Column("min_grade", K_DICT, np.where(is_new, np.where(min_grade == GRADE_UNKNOWN, len(grades), min_grade),
                                             -1), grades + ("Z",)),
        Column("goodput", K_FIXED, np.where(is_grade, actions["goodput"].astype(np.int64), no), places=4),
    ]
    return config, Table("orders", columns, len(actions))


def write_many(out_dir, rows: int, seed: int = 1, n_instruments: int = 1000, shared_ids: bool = False) -> dict:
    """Write ``config.toml`` and ``orders.csv`` into ``out_dir``; returns their paths."""
    config, table = orders_table(rows, seed, n_instruments, shared_ids)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    config_path = out / "config.toml"
    tmp = out / ".config.toml.tmp"
    tmp.write_text(config.to_toml(), encoding="utf-8")
    tmp.replace(config_path)
    write_tables(out, [table], "csv", digest_of=())
    return {"config": config_path, "orders": out / "orders.csv"}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.many_instruments", description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--instruments", type=int, default=1000)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    for name, path in write_many(args.out, args.rows, args.seed, args.instruments).items():
        print(f"{name:<7} {path}")


if __name__ == "__main__":
    main()
