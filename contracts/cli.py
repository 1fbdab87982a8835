"""The ``settle`` subcommand: trades + metering -> the four settlement reports.

``exchange/cli.py`` calls ``add_parser(subparsers)`` and dispatches to ``run(args)``.
Without ``--through`` the settled periods are 0 .. the highest metered
period; with no metering and no ``--through`` nothing is settled and only the
obligations are reported.
"""
from __future__ import annotations

import argparse
import sys

from exchange.config import ConfigError, ExchangeConfig
from exchange.units import micros_text

from .csvio import InputError
from .metering import Metering, read_metering
from .report import write_reports
from .schedule import read_trades_csv
from .settlement import Settlement

EXAMPLE = """example:
  compute-exchange settle out/trades.csv --metering out/metering.csv --through 11 --out out/settlement

Settles periods 0..K of every contract (K = --through, else the highest metered
period) and writes statements.csv, parties.csv, netting.csv and obligations.csv
into DIR. A bad metering or trades row is reported as FILE:LINE: column: why;
then nothing is written and the exit status is 2.
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
    parser.add_argument("--out", metavar="DIR", required=True, help="directory for the four CSV reports")
    parser.set_defaults(run=run)
    return parser


def _dollars(micros: int) -> str:
    return micros_text(micros, grouping=True)


def run(args) -> int:
    """Run ``settle``; 0 on success, 2 with a message on stderr for bad input."""
    try:
        config = ExchangeConfig.load(args.config) if args.config else ExchangeConfig.default()
        contracts = read_trades_csv(args.trades, config)
        metering = read_metering(args.metering, contracts) if args.metering else Metering.empty()
        last = metering.max_period if args.through is None else args.through
        periods = contracts.max_periods
        if args.through is not None and not 0 <= args.through < max(periods, 1):
            raise InputError([f"--through {args.through}: periods are 0..{max(periods, 1) - 1}"])
        settlement = Settlement(config, contracts)
        if last >= 0:
            settlement.settle_through(last, metering)
        texts = write_reports(settlement, args.out)
    except InputError as error:
        for message in error.messages:
            print(f"error: {message}", file=sys.stderr)
        return 2
    except (ConfigError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"error: {args.out}: {error.strerror or error}", file=sys.stderr)
        return 2

    results = settlement.results
    paid = sum(r.buyer_payments for r in results)
    received = sum(r.provider_receipts for r in results)
    fees = sum(r.fees for r in results)
    conserved = all(r.conserved for r in results)
    _, _, _, hours, owed = settlement.obligations()
    lines = texts["statements.csv"].count("\n") - 1
    settled = f"0..{last}" if last >= 0 else "none"
    print(f"contracts: {len(contracts):,} ({len(contracts.parties)} parties), metering rows: {len(metering):,}")
    print(f"periods settled: {settled} ({lines:,} statement lines)")
    print(f"buyers paid: ${_dollars(paid)}  providers received: ${_dollars(received)}  fees: ${_dollars(fees)}")
    print(f"conservation (paid = received + fees, every period): {'OK' if conserved else 'FAILED'}")
    print(f"remaining obligation: {int(hours.sum()):,} GPU-hours, ${_dollars(int(owed.sum()))}")
    print(f"wrote {', '.join(texts)} to {args.out}")
    return 0 if conserved else 1
