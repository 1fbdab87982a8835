"""The ``risk`` subcommand: liabilities + assets -> clearing in rounds, compression, pictures (RULES §8).

``compute_exchange/cli.py`` calls ``add_parser(subparsers)``; the parser's ``run`` default runs it.
Every bad cell, header or flag is one line on stderr (``FILE:LINE: column: what is wrong``
or ``--flag VALUE: what is wrong``), exit status 2, nothing written.
"""
from __future__ import annotations

import argparse
import os
import re
import sys

from exchange.files import atomic_dir

from .clearing import clear
from .csvio import InputError
from .network import BP, load_network
from .risk_report import clearing_csv, components_csv, rounds_csv, summary

EXAMPLE = """example:
  compute-exchange risk examples/dealweb/deals.csv --assets examples/dealweb/assets.csv \\
      --shock OpenAI=5000 --compress --plot --out out/dealweb

Reads every liabilities file (a deals file debtor,creditor,amount[,kind][,source] or a
settlement's obligations.csv), the assets file party,cash[,external_debt], applies the
shocks (PARTY=BP removes BP basis points of that party's cash), clears the network in
rounds (Eisenberg-Noe; --alpha/--beta bankruptcy costs in bp, Rogers-Veraart) and writes
clearing.csv, rounds.csv and, with --compress, components.csv into DIR (with --plot also
network.png and shortfall_by_round.png).
"""


OUTPUT_NAMES = ("clearing.csv", "rounds.csv", "components.csv", "*.png")
FILE_LINE = re.compile(r"^[^:\n]+:[0-9]+: ")


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "risk", help="default cascades and circular obligations of an obligation network",
        description="Clear an obligation network in rounds and measure how much of it is circular (RULES §8).",
        epilog=EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("liabilities", nargs="+", metavar="LIABILITIES.csv",
                        help="deals files (debtor,creditor,amount[,...]) and/or obligations.csv from settle")
    parser.add_argument("--assets", metavar="ASSETS.csv", required=True, help="party,cash[,external_debt] rows")
    parser.add_argument("--shock", metavar="PARTY=BP", action="append", default=[],
                        help="remove BP basis points of PARTY's cash (repeatable; shocks on one party add up)")
    parser.add_argument("--alpha", metavar="BP", default=str(BP),
                        help="share of a defaulter's cash that is realised, in bp (default 10000)")
    parser.add_argument("--beta", metavar="BP", default=str(BP),
                        help="share of what a defaulter receives that is passed on, in bp (default 10000)")
    parser.add_argument("--compress", action="store_true", help="also write components.csv (circular share)")
    parser.add_argument("--plot", action="store_true",
                        help="also draw network.png and shortfall_by_round.png (needs matplotlib)")
    parser.add_argument("--method", choices=("auto", "exact", "fast"), default="auto",
                        help="exact Fractions or the sparse fast path (default: exact up to 60 parties)")
    parser.add_argument("--out", metavar="DIR", required=True, help="output directory, created if missing")
    parser.set_defaults(run=run)
    return parser


def parse_bp(flag: str, text: str) -> int:
    """A whole number of bp in 0..10000; ValueError naming the flag otherwise."""
    if not re.fullmatch(r"[0-9]{1,5}", text) or int(text) > BP:
        raise ValueError(f"{flag} {text}: expected a whole number of bp in 0..10000")
    return int(text)


def parse_shocks(texts, parties) -> dict:
    """``PARTY=BP`` flags -> {party: total bp}; InputError listing every bad one."""
    shocks, errors = {}, []
    known = set(parties)
    for text in texts:
        party, sep, bp = text.rpartition("=")
        if not sep or not party:
            errors.append(f"--shock {text}: expected PARTY=BP")
            continue
        try:
            value = parse_bp("--shock", bp)
        except ValueError:
            errors.append(f"--shock {text}: {bp!r} is not a whole number of bp in 0..10000")
            continue
        if party not in known:
            errors.append(f"--shock {text}: unknown party {party}")
            continue
        shocks[party] = shocks.get(party, 0) + value
    for party, total in shocks.items():
        if total > BP:
            errors.append(f"--shock {party}: the shocks add up to {total} bp, more than 10000")
    if errors:
        raise InputError(errors)
    return shocks


def run(args) -> int:
    """Run ``risk``; 0 on success, 2 with a message on stderr for bad input."""
    try:
        errors = []
        rates = {}
        for flag in ("alpha", "beta"):
            try:
                rates[flag] = parse_bp(f"--{flag}", getattr(args, flag))
            except ValueError as error:
                errors.append(str(error))
        if errors:
            raise InputError(errors)
        network = load_network(args.liabilities, args.assets)
        shocks = parse_shocks(args.shock, network.parties)
        network = network.shocked(shocks)
        result = clear(network, rates["alpha"], rates["beta"], method=args.method)
        texts = {"clearing.csv": clearing_csv(result), "rounds.csv": rounds_csv(result)}
        report = None
        if args.compress:
            from .compression import compress

            report = compress(network)
            texts["components.csv"] = components_csv(report)
        pictures = []
        # One output set: the whole directory is swapped in at once (old set or new, never a mix).
        with atomic_dir.replace(args.out, owns=OUTPUT_NAMES) as stage:
            for name, text in texts.items():
                (stage / name).write_text(text, encoding="utf-8", newline="\n")
            if args.plot:
                from . import risk_plots

                if risk_plots.available():
                    pictures = [os.path.basename(p) for p in risk_plots.render(result, stage)]
                else:
                    print("note: matplotlib is not installed; no pictures drawn (pip install matplotlib)",
                          file=sys.stderr)
    except InputError as error:
        for message in error.messages:  # FILE:LINE: messages bare, the others after the command's name
            print(message if FILE_LINE.match(message) else f"compute-exchange: {message}", file=sys.stderr)
        return 2
    except ValueError as error:
        print(f"compute-exchange: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"compute-exchange: {args.out}: {error.strerror or error}", file=sys.stderr)
        return 2
    print(summary(result, report, shocks))
    print(f"wrote {', '.join(list(texts) + pictures)} to {args.out}")
    return 0
