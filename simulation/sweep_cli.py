"""``compute-exchange sweep``: many simulations over a parameter grid, on dask.distributed.

compute_exchange/cli.py wires it in like ``simulate``: ``sweep_cli.add_parser(sub)`` and
``sweep_cli.run(args)``. Bad grid files or flags: one line on stderr, exit status 2;
some grid points failed: they are listed, the table is written, exit status 1.
"""
from __future__ import annotations

import argparse
import sys

EXIT_OK = 0
EXIT_FAILED_POINTS = 1
EXIT_INPUT = 2

HELP = """\
Run the compute-market simulation (compute-exchange simulate) once per point of a
parameter grid, each run a task on dask.distributed: an embedded local cluster of
--workers processes (default: one per CPU) or a running cluster (--scheduler).

The grid is a TOML file (--grid) and/or flags; flags override the file. Each key
takes one value or a list; the grid is every combination:
  seeds = "1-8"   days = [7, 30]   buyers = 2000   providers = 60
  grade_mix = ["15:50:35", "50:30:20"]   whatif = ["both", "none"]   config = "x.toml"

Writes into --out: sweep.csv and sweep.parquet (one row per run, in grid order:
volume and effective VWAP by grade, take-or-pay charges, paid-but-unused hours and
their cost, credits, the what-if fork's alt-minus-base deltas, stress default rounds
when the simulation has a stress step), plots/*.png (spread across the grid), and
points/ (one file per finished run; --resume skips those). The same grid gives the
same sweep.csv, byte for byte, whatever the number of workers.
"""

EPILOG = """\
examples:
  compute-exchange sweep --seeds 1-8 --days 7 --workers 2 --out sweep/
  compute-exchange sweep --grid grid.toml --out sweep/ --resume
  dask scheduler &  dask worker tcp://HOST:8786 --nthreads 1 --nworkers 4 &
  compute-exchange sweep --grid grid.toml --scheduler tcp://HOST:8786 --out sweep/
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``sweep`` command to an argparse subparsers object."""
    parser = subparsers.add_parser("sweep", help="run the simulation over a parameter grid on dask",
                                   description=HELP, epilog=EPILOG,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--grid", metavar="GRID.toml", help="the grid (flags override its fields)")
    parser.add_argument("--seeds", metavar="A-B", help="seeds: a range 1-8, a list 1,3,5, or both 0-3,10")
    parser.add_argument("--days", metavar="N[,N...]", help="simulated days (default: 30)")
    parser.add_argument("--buyers", metavar="N[,N...]", help="buyers (default: 2000)")
    parser.add_argument("--providers", metavar="N[,N...]", help="simulated providers (default: 60)")
    parser.add_argument("--grade-mix", metavar="A:B:C[,...]",
                        help="quality buyers' minimum-grade shares, best grade first (default: 15:50:35)")
    parser.add_argument("--whatif", metavar="NAME[,...]",
                        help="none, buyer-exit, provider-downgrade, both (default: both)")
    parser.add_argument("--shock", metavar="SHOCK[;...]",
                        help="stress shock passed to the simulation's stress step, when it has one")
    parser.add_argument("--config", metavar="CONFIG.toml", help="exchange configuration (default: the bundled one)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, metavar="N",
                       help="size of the embedded local cluster, in processes (default: the CPU count)")
    where.add_argument("--scheduler", metavar="tcp://HOST:PORT", help="use this running dask cluster")
    parser.add_argument("--resume", action="store_true", help="skip grid points already in --out/points")
    parser.add_argument("--no-plots", dest="plots", action="store_false", help="skip the PNG plots")
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                        help="progress bar (default: a bar on a terminal, plain lines otherwise)")
    parser.add_argument("--out", metavar="DIR", required=True, help="output directory, created if missing")
    return parser


def _error(message: str) -> int:
    print(f"compute-exchange sweep: {message}", file=sys.stderr)
    return EXIT_INPUT


def run(args) -> int:
    """Run the command for parsed ``args``; returns the exit status."""
    from exchange.cluster import ClusterError, DaskMissing, require_dask

    from .grid import GridError, build_grid
    from .market import SimulationError
    from .sweep import run_sweep

    try:
        require_dask()
    except DaskMissing as error:
        return _error(str(error))
    if args.workers is not None and args.workers < 1:
        return _error(f"--workers must be a positive number of processes, got {args.workers}")
    flags = {"seed": args.seeds, "days": args.days, "buyers": args.buyers, "providers": args.providers,
             "grade_mix": args.grade_mix, "whatif": args.whatif, "shock": args.shock}
    try:
        grid = build_grid(args.grid, flags, args.config)
        result = run_sweep(grid, args.out, workers=args.workers, scheduler=args.scheduler, resume=args.resume,
                           plots=args.plots, progress=args.progress)
    except (GridError, SimulationError, ClusterError) as error:
        return _error(str(error))
    except OSError as error:
        return _error(f"{args.out}: cannot write: {error.strerror or error}")
    where = f"{result.workers} workers" if result.ran else "nothing to run"
    print(f"sweep: {len(result.rows)} grid points: {result.ran} run, {result.skipped} already done (--resume), "
          f"{len(result.failed)} failed; {where}; {result.seconds:.1f} s")
    for point, message in result.failed:
        print(f"compute-exchange sweep: {point.label()} failed: {message}", file=sys.stderr)
    for note in result.notes:
        print(f"note: {note}")
    print("wrote " + " ".join(result.files))
    return EXIT_FAILED_POINTS if result.failed else EXIT_OK
