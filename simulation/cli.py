"""``compute-exchange simulate``: run the bundled compute-market simulation.

compute_exchange/cli.py wires it in with two lines:

    from simulation import cli as simulation_cli; simulation_cli.add_parser(sub)   # build_parser
    if args.command == "simulate": return simulation_cli.run(args)                  # main

``python -m simulation ...`` runs the same command on its own.
Bad options or an unusable configuration: one line on stderr, exit status 2.
"""
from __future__ import annotations

import argparse
import sys

from exchange import memory_budget

EXIT_OK = 0
EXIT_INPUT = 2

HELP = """\
Run an agent-based market for GPU-hours on the exchange: providers whose goodput
drifts and drops into outages (regraded as they report it), buyers of several sizes
whose demand grows and jumps, market makers quoting around a reference price; each
instrument closes at the end of its window, every trade becomes a take-or-pay
contract settled from simulated metering. A what-if branch is forked mid-run.

Writes into --out: summary.csv, trades.csv, prices.csv, depth.csv, bills.csv,
revenue.csv, whatif.csv, stress.csv (the run's take-or-pay obligations cleared in
rounds after a shock, docs/RULES.md §8), alt/ (the what-if branch), plots/*.png and SHA256SUMS.
Prints the summary, the what-if comparison, the speed and a sha256 digest of the
CSV outputs. The same options give the same bytes.
"""

EPILOG = """\
examples:
  compute-exchange simulate --days 30 --seed 1 --out sim/
  compute-exchange simulate --days 7 --buyers 500 --whatif buyer-exit --fork-day 3 --out sim7/
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``simulate`` command to an argparse subparsers object."""
    parser = subparsers.add_parser("simulate", help="run the bundled compute-market simulation",
                                   description=HELP, epilog=EPILOG,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=30, metavar="N", help="simulated trading days (default: 30)")
    parser.add_argument("--seed", type=int, default=0, metavar="S", help="random seed (default: 0)")
    parser.add_argument("--config", metavar="CONFIG.toml",
                        help="exchange configuration (default: the bundled one); every instrument must be "
                             "a monthly window MODEL.YYYY-MM of a GPU model the simulation knows")
    parser.add_argument("--out", metavar="DIR", required=True, help="output directory, created if missing")
    parser.add_argument("--buyers", type=int, default=2000, metavar="N", help="buyers (default: 2000)")
    parser.add_argument("--providers", type=int, default=60, metavar="N",
                        help="simulated providers besides the configuration's (default: 60)")
    parser.add_argument("--whatif", default="both", choices=("none", "buyer-exit", "provider-downgrade", "both"),
                        help="the alternative branch (default: both: the largest buyer leaves and a provider "
                             "falls two grades)")
    parser.add_argument("--fork-day", type=int, default=None, metavar="D",
                        help="day of the fork and of the depth picture (default: the middle)")
    parser.add_argument("--statements", action="store_true",
                        help="also write the full settlement reports (statements.csv etc.; large)")
    parser.add_argument("--no-plots", dest="plots", action="store_false", help="skip the PNG plots")
    parser.add_argument("--memory-limit", metavar="SIZE", type=memory_budget.parse_size, default=None,
                        help="refuse to plan more memory than this, e.g. 8G (default: half of the "
                             "memory available)")
    parser.add_argument("--shock", metavar="PARTY=BP", action="append", default=None,
                        help="stress step: remove BP basis points of PARTY's cash before clearing the run's "
                             "take-or-pay obligations (repeatable; default: the buyer owing the most loses 5000)")
    parser.add_argument("--no-stress", dest="stress", action="store_false",
                        help="skip the stress step (stress.csv, default rounds in the summary)")
    parser.set_defaults(simulate=run)
    return parser


# Memory per agent (buyer or provider), a generous bound: its name, per-instrument
# positions and per-period usage rows; the exchange's own book comes on top.
BYTES_PER_AGENT = 1024


def _error(message: str) -> int:
    print(f"compute-exchange: {message}", file=sys.stderr)
    return EXIT_INPUT


def run(args) -> int:
    """Run the command for parsed ``args``; returns the exit status."""
    from .api import run_simulation
    from .market import SimulationError

    if args.days < 0:
        return _error(f"--days must be a positive number of days, got {args.days}")
    agents = max(args.buyers, 0) + max(args.providers, 0)
    try:
        memory_budget.check(agents * BYTES_PER_AGENT, args.memory_limit or memory_budget.default_budget(),
                            f"a simulation of {agents:,} agents")
    except memory_budget.MemoryBudgetError as error:
        return _error(str(error))
    if args.plots:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            return _error("the plots need matplotlib: pip install 'compute-exchange[sim]' (or use --no-plots)")
    shocks = None
    if args.shock is not None:
        shocks = {}
        for text in args.shock:
            party, sep, bp = text.rpartition("=")
            if not sep or not party or not bp.isdigit() or int(bp) > 10_000:
                return _error(f"--shock {text}: expected PARTY=BP with BP a whole number in 0..10000")
            shocks[party] = shocks.get(party, 0) + int(bp)
    try:
        result = run_simulation(days=args.days, seed=args.seed, config=args.config, buyers=args.buyers,
                                providers=args.providers, whatif=args.whatif, fork_day=args.fork_day,
                                out=args.out, statements=args.statements, plots=args.plots,
                                stress=args.stress, shocks=shocks)
    except SimulationError as error:
        return _error(str(error))
    except OSError as error:  # atomic_dir.OutputDirError's message names the directory itself
        return _error(str(error) if error.strerror is None else f"{args.out}: cannot write: {error.strerror}")
    print(result.summary)
    return EXIT_OK


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="compute-exchange")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    add_parser(sub)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return EXIT_OK
