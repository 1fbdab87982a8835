"""The ``compute-exchange`` command (also ``python -m compute_exchange``).

Every problem with the user's input (a missing file, a bad config, a malformed
order file, an unwritable output directory) is one clear line on stderr and exit
status 2, never a traceback.
"""
from __future__ import annotations

import argparse
import re
import sys

EXIT_OK = 0
EXIT_INPUT = 2

DESCRIPTION = "A goodput-graded order book for GPU-hour contracts, with take-or-pay settlement."

EPILOG = """\
examples:
  compute-exchange replay samples/orders.csv --out out/
  compute-exchange generate --rows 1000000 --seed 7 --out data/
  compute-exchange replay data/orders.csv --config data/config.toml --out data/out
  compute-exchange settle data/out/trades.csv --config data/config.toml --metering data/metering.csv --out data/bills
  compute-exchange risk examples/dealweb/deals.csv --assets examples/dealweb/assets.csv --shock OpenAI=5000 --out risk/
  compute-exchange simulate --days 30 --seed 1 --out sim/
  compute-exchange sweep --seeds 1-8 --days 7 --workers 2 --out sweep/
  compute-exchange bench --quick
"""

REPLAY_HELP = """\
Replay an order file (CSV, or Parquet with the same columns) through the matching
engine and write trades.csv, events.csv and book.csv (docs/RULES.md §5) into --out, each
atomically. A summary goes to stdout: rows, trades, volume and VWAP per instrument
and grade, throughput and the sha256 of trades.csv.

Malformed rows are listed as FILE:LINE: column: what is wrong and nothing is
written (exit status 2), unless --lenient turns them into REJECTED BAD_FIELD events.
"""

REPLAY_EPILOG = """\
examples:
  compute-exchange replay samples/orders.csv --out out/
  compute-exchange replay orders.parquet --config my.toml --out out/ --format parquet
  compute-exchange replay orders.csv --lenient --progress
  compute-exchange replay many.csv --config many.toml --workers 2 --out out/   (sharded, same bytes)
"""

GENERATE_HELP = """\
Write a realistic exchange configuration (config.toml) and order file (orders.csv)
into --out: four instruments, providers whose goodput drifts across the grade
floors, buyers of several sizes, every order type and tif, cancels, replaces and
a close. The same --rows and --seed always give the same bytes.
"""

GENERATE_EPILOG = """\
example:
  compute-exchange generate --rows 10000000 --seed 1 --out bench-data/
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="compute-exchange", description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    replay = sub.add_parser("replay", help="replay an order file into trades, events and book",
                            description=REPLAY_HELP, epilog=REPLAY_EPILOG,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    replay.add_argument("orders", metavar="ORDERS", help="order file: CSV with a header, or Parquet")
    replay.add_argument("--config", metavar="CONFIG.toml",
                        help="exchange configuration (default: the bundled sample's)")
    replay.add_argument("--out", metavar="DIR", required=True,
                        help="output directory, created if missing; replaced as a whole by the new "
                             "trades, events and book, so it must hold nothing else")
    replay.add_argument("--lenient", action="store_true",
                        help="malformed rows become REJECTED BAD_FIELD events instead of errors")
    replay.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                        help="progress bar on stderr (default: when stderr is a terminal)")
    replay.add_argument("--format", choices=("csv", "parquet"), default="csv",
                        help="output format (default: csv)")
    _memory_limit_option(replay)
    replay.add_argument("--workers", type=int, metavar="N",
                        help="split by instrument over a local dask cluster of N processes (same outputs)")
    replay.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                        help="split by instrument over a running dask cluster; its workers read ORDERS themselves")

    generate = sub.add_parser("generate", help="write a realistic config and order file",
                              description=GENERATE_HELP, epilog=GENERATE_EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    generate.add_argument("--rows", type=_positive, required=True, metavar="N", help="rows in orders.csv")
    generate.add_argument("--seed", type=_seed, default=0, metavar="S", help="random seed (default: 0)")
    generate.add_argument("--out", metavar="DIR", required=True, help="output directory")
    generate.add_argument("--config", metavar="CONFIG.toml",
                          help="configuration to generate for (default: the bundled sample's)")
    _memory_limit_option(generate)

    from contracts import cli as contracts_cli
    from contracts import risk_cli
    from simulation import cli as simulation_cli
    from simulation import sweep_cli

    contracts_cli.add_parser(sub)
    risk_cli.add_parser(sub)
    simulation_cli.add_parser(sub)
    sweep_cli.add_parser(sub)
    bench = sub.add_parser("bench", add_help=False,
                           help="run the throughput benchmarks (the same as python -m bench)",
                           description="Run the throughput benchmarks; options as python -m bench --help.")
    bench.add_argument("bench_args", nargs=argparse.REMAINDER)
    return parser


def _memory_limit_option(parser) -> None:
    from exchange.memory_budget import parse_size

    parser.add_argument("--memory-limit", metavar="SIZE", type=parse_size, default=None,
                        help="refuse to plan more memory than this, e.g. 8G (default: half of the "
                             "memory available)")


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if not 0 <= value < 2**63:
        raise argparse.ArgumentTypeError(f"{text!r} must be in 0..2**63-1")
    return value


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be >= 0")
    return value


_FILE_LINE = re.compile(r"^[^\n]+?:[0-9]+: [a-z_]+: ")


def _error(message: str) -> int:
    """One line on stderr: a file's problem as FILE:LINE: column: what is wrong, anything
    else after "compute-exchange: "."""
    print(message if _FILE_LINE.match(message) else f"compute-exchange: {message}", file=sys.stderr)
    return EXIT_INPUT


def _load_config(path):
    from exchange.config import ExchangeConfig

    return ExchangeConfig.load(path) if path else ExchangeConfig.default()


def _replay(args) -> int:
    from exchange.files.atomic_dir import OutputDirError
    from exchange.config import ConfigError
    from exchange.memory_budget import MemoryBudgetError
    from exchange.files.orders_io import OrdersError
    from exchange.files.replay import MalformedRows, Progress, replay, summary
    from exchange.files.writers import OutputError

    show = sys.stderr.isatty() if args.progress is None else args.progress
    progress = Progress(show)
    try:
        progress.phase("config")  # a config of 100,000 instruments takes seconds to read
        config = _load_config(args.config)
        if args.workers is not None or args.scheduler is not None:
            from exchange.files.distributed_replay import ClusterError, DaskMissing, replay_distributed

            try:
                result = replay_distributed(args.orders, config, args.out, lenient=args.lenient, fmt=args.format,
                                            workers=args.workers, scheduler=args.scheduler)
            except (ClusterError, DaskMissing) as error:
                progress.close()
                return _error(str(error))
        else:
            result = replay(args.orders, config, args.out, lenient=args.lenient, fmt=args.format,
                            progress=progress, memory_limit=args.memory_limit, keep_records=False)
    except MalformedRows as bad:
        progress.close()
        for line in bad.lines:
            print(line, file=sys.stderr)
        print(f"compute-exchange: {args.orders}: {bad.count} malformed "
              f"row{'s' if bad.count != 1 else ''}; nothing written "
              f"(--lenient turns them into REJECTED BAD_FIELD events)", file=sys.stderr)
        return EXIT_INPUT
    except (ConfigError, OrdersError, OutputError, OutputDirError, MemoryBudgetError) as error:
        progress.close()  # the error starts a line of its own, not the progress bar's
        return _error(str(error))
    except BaseException:
        progress.close()
        raise
    if args.lenient and result.malformed:
        for line in result.malformed_report:
            print(line, file=sys.stderr)
        print(f"compute-exchange: {args.orders}: {result.malformed} malformed "
              f"row{'s' if result.malformed != 1 else ''} became "
              "REJECTED BAD_FIELD events", file=sys.stderr)
    print(summary(result, config, args.orders, args.format))
    return EXIT_OK


def _generate(args) -> int:
    from exchange.config import ConfigError
    from exchange.files.generate import generate
    from exchange.memory_budget import MemoryBudgetError

    try:
        config = _load_config(args.config)
        from contracts.metering_gen import generate_metering

        written = generate(args.rows, args.seed, args.out, config, memory_limit=args.memory_limit,
                           metering=generate_metering)
    except (ConfigError, MemoryBudgetError) as error:
        return _error(str(error))
    except OSError as error:  # atomic_dir.OutputDirError included: its message names the directory
        if error.strerror is None and str(error):
            return _error(str(error))
        return _error(f"{args.out}: cannot write: {error.strerror or error}")
    for name, path in written.items():
        print(f"{name:<9} {path}")
    return EXIT_OK


def _stderr_notes() -> None:
    """The library's notes (a first run compiling its kernels) as one stderr line each."""
    import logging

    class ToStderr(logging.Handler):  # whatever sys.stderr is at the time (tests swap it)
        def emit(self, record):
            print(f"compute-exchange: {record.getMessage()}", file=sys.stderr, flush=True)

    logger = logging.getLogger("exchange")
    if not any(type(h).__name__ == "ToStderr" for h in logger.handlers):  # main() may run many times
        logger.addHandler(ToStderr())


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    _stderr_notes()
    if argv[:1] == ["bench"]:  # its options are the runner's own: hand them over unparsed
        from bench.runner import main as bench_main

        bench_main(argv[1:])
        return EXIT_OK
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_INPUT
    try:
        if args.command == "replay":
            return _replay(args)
        if args.command == "generate":
            return _generate(args)
        if args.command == "simulate":
            from simulation import cli as simulation_cli

            return int(simulation_cli.run(args) or 0)
        if args.command == "sweep":
            from simulation import sweep_cli

            return sweep_cli.run(args)
        return int(args.run(args) or 0)  # settle, risk: their parser's run
    except KeyboardInterrupt:
        print("compute-exchange: interrupted; nothing was renamed into place", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
