"""The ``settle`` subcommand: trades + metering -> the four settlement reports.

``compute_exchange/cli.py`` calls ``add_parser(subparsers)`` and dispatches to ``run(args)``.
Without ``--through`` the settled periods are 0 .. the highest metered
period; with no metering and no ``--through`` nothing is settled and only the
obligations are reported.
"""
from __future__ import annotations

import argparse
import sys

from exchange import memory_budget
from exchange.files.atomic_dir import OutputDirError
from exchange.config import ConfigError, ExchangeConfig
from exchange.units import micros_text

from .csvio import InputError
from .metering_grid import read_metering_grid
from .report import FORMATS, write_outputs
from .schedule import read_trades_csv
from .settlement import Settlement, estimate_bytes

EXAMPLE = """example (the whole pipeline, from generated data):
  compute-exchange generate --rows 100000 --seed 7 --out data
  compute-exchange replay data/orders.csv --config data/config.toml --out data/out
  compute-exchange settle data/out/trades.csv --config data/config.toml --metering data/metering.csv \\
      --through 11 --out data/bills

Settles periods 0..K of every contract (K = --through, else the highest metered
period) and writes statements, parties, netting and obligations (.csv, or .parquet
with --format parquet: money as int64 micro-dollars) into DIR. DIR is replaced as a
whole, at once: a reader sees the previous reports or the new ones, never a mix; it
must hold nothing but earlier reports. A bad metering or trades row is reported as
FILE:LINE: column: what is wrong; then nothing is written and the exit status is 2.
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "settle",
        help="take-or-pay settlement of trades from metering data",
        description="Turn trades into take-or-pay contracts and settle them from metering rows "
                    "(docs/RULES.md §6-§7).",
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("trades", metavar="TRADES.csv", help="trades.csv written by replay")
    parser.add_argument("--config", metavar="CONFIG.toml", help="exchange configuration (default: bundled)")
    parser.add_argument("--metering", metavar="METERING.csv",
                        help="trade_id,period,available_hours,used_hours,goodput rows (missing rows: "
                             "full availability, no use, goodput at the floor)")
    parser.add_argument("--through", metavar="PERIOD", type=int,
                        help="settle periods 0..PERIOD (default: the highest metered period)")
    parser.add_argument("--out", metavar="DIR", required=True,
                        help="directory for the four reports (replaced as a whole)")
    parser.add_argument("--format", choices=FORMATS, default="csv",
                        help="csv (money as dollars with 6 decimals) or parquet (money as int64 "
                             "micro-dollars); default csv")
    parser.add_argument("--memory-limit", metavar="SIZE", type=memory_budget.parse_size,
                        help="refuse to plan more memory than this, e.g. 8G (default: half of the "
                             "memory available)")
    parser.set_defaults(run=run)
    return parser


def _dollars(micros: int) -> str:
    return micros_text(micros, grouping=True)


def run(args) -> int:
    """Run ``settle``; 0 on success, 2 with a message on stderr for bad input."""
    fmt = getattr(args, "format", "csv")
    budget = getattr(args, "memory_limit", None) or memory_budget.default_budget()
    try:
        config = ExchangeConfig.load(args.config) if args.config else ExchangeConfig.default()
        contracts = read_trades_csv(args.trades, config)
        memory_budget.check(estimate_bytes(contracts), budget,
                            f"settling {len(contracts):,} contracts x {contracts.max_periods} periods")
        periods = contracts.max_periods
        if args.through is not None and not 0 <= args.through < max(periods, 1):
            raise InputError([f"--through {args.through}: periods are 0..{max(periods, 1) - 1}"])
        metering = read_metering_grid(args.metering, contracts) if args.metering else None
        last = (metering.max_period if metering is not None else -1) if args.through is None else args.through
        settlement = Settlement(config, contracts, keep_lines=False)
        if metering is not None:
            settlement.add_metering(metering)
        written = write_outputs(settlement, args.out, last if last >= 0 else None, fmt)
    # One form everywhere: a file's problems as FILE:LINE: column: what is wrong, anything
    # else as "compute-exchange: " and the message.
    except InputError as error:
        for message in error.messages:
            print(message if _names_a_line(message) else f"compute-exchange: {message}", file=sys.stderr)
        return 2
    except OutputDirError as error:
        print(f"compute-exchange: {error}", file=sys.stderr)
        return 2
    except (ConfigError, ValueError) as error:
        print(f"compute-exchange: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"compute-exchange: {args.out}: {error.strerror or error}", file=sys.stderr)
        return 2

    results = settlement.results
    paid = sum(r.buyer_payments for r in results)
    received = sum(r.provider_receipts for r in results)
    fees = sum(r.fees for r in results)
    conserved = all(r.conserved for r in results)
    _, _, _, hours, owed = settlement.obligations()
    settled = f"0..{last}" if last >= 0 else "none"
    rows = len(metering) if metering is not None else 0
    print(f"contracts: {len(contracts):,} ({len(contracts.parties)} parties), metering rows: {rows:,}")
    print(f"periods settled: {settled} ({written['lines']:,} statement lines)")
    print(f"buyers paid: ${_dollars(paid)}  providers received: ${_dollars(received)}  fees: ${_dollars(fees)}")
    print(f"conservation (paid = received + fees, every period): {'OK' if conserved else 'FAILED'}")
    print(f"remaining obligation: {int(hours.sum()):,} GPU-hours, ${_dollars(int(owed.sum()))}")
    print(f"wrote {', '.join(written['files'])} to {args.out}")
    return 0 if conserved else 1


def _names_a_line(message: str) -> bool:
    """Whether a message is already in FILE:LINE: form."""
    import re

    return re.match(r"^[^:]+:[0-9]+: ", message) is not None
