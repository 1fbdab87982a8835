"""The replay job: an order file in, trades / events / book out (docs/RULES.md §5).

read (pyarrow + Numba parse) -> match (``engine.run_batch``) -> write (Numba
formatting, atomic renames), then a summary on stdout.
"""
from __future__ import annotations

import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from exchange import memory_budget
from exchange.config import ExchangeConfig
from exchange.files import atomic_dir, orders_io, writers
from exchange.files.orders_io import MAX_REPORTED, check_orders_file, read_orders
from exchange.state import planned_bytes
from exchange.units import half_even, micros_text
from exchange.files.writers import Formatter, OutputError, compile_kernels, csv_cell, group_totals, write_tables
from exchange.nb.kernel import announce_compile

COMPILE_SECONDS = 20  # cold compile of the replay's kernels: 17-18 s of CPU on the 2-CPU dev VM (bench/compile_times.py)


class MalformedRows(ValueError):
    """Strict replay of a file with malformed rows: ``lines`` are the report."""

    def __init__(self, lines: list[str], count: int):
        super().__init__(f"{count} malformed rows")
        self.lines = lines
        self.count = count


@dataclass
class ReplayResult:
    rows: int
    malformed: int
    events: np.ndarray
    trades: np.ndarray
    book: np.ndarray
    parties: list[str]
    digests: dict[str, str]
    timings: dict[str, float] = field(default_factory=dict)
    outputs: list[Path] = field(default_factory=list)
    malformed_report: list[str] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        """Time of the work: reading, matching and writing (start-up excluded)."""
        return sum(v for k, v in self.timings.items() if k != "start")


class Progress:
    """A small progress bar on stderr: one line, redrawn at most 10 times a second.

    On a terminal, with ``rich`` installed (``pip install 'compute-exchange[progress]'``),
    rich draws it; anywhere else (a file, a pipe, no rich) it is the plain line below,
    byte for byte. Either way it is drawn from the caller's thread at most 10 times a
    second (rich without its refresh thread), so it costs the replay nothing measurable."""

    def __init__(self, enabled: bool, stream=None, width: int = 30):
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.width = width
        self.label = ""
        self.total = 0
        self.start = time.perf_counter()
        self.last = 0.0
        self.rich = _RichBar.on(self.stream) if enabled else None

    def phase(self, label: str, total: int = 0) -> None:
        self.label = label
        self.total = total
        self.start = time.perf_counter()
        self.last = 0.0
        self.update(0, force=True)

    def update(self, done: int, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        if not force and now - self.last < 0.1:
            return
        self.last = now
        if self.rich is not None:
            self.rich.draw(self.label, self.total, done)
            return
        if self.total:
            share = min(1.0, done / self.total)
            filled = int(share * self.width)
            rate = done / max(now - self.start, 1e-9) / 1e6
            text = (f"\r{self.label:<10} [{'#' * filled}{'.' * (self.width - filled)}] "
                    f"{share * 100:5.1f}%  {rate:7.1f} MB/s")
        else:
            text = f"\r{self.label:<10} ... {now - self.start:5.1f} s"
        self.stream.write(text.ljust(self.width + 40))
        self.stream.flush()
        self.drawn = True

    def close(self) -> None:
        """Clear the bar's line, so whatever is printed next starts a line of its own."""
        if self.rich is not None:
            self.rich.clear()
        elif self.enabled and getattr(self, "drawn", False):
            self.stream.write("\r" + " " * (self.width + 40) + "\r")
            self.stream.flush()
            self.drawn = False


class _RichBar:
    """``Progress`` drawn by rich: one task per phase (a bar and MB/s where the phase has a
    size, elapsed time where it has none), refreshed only when ``Progress`` draws."""

    @classmethod
    def on(cls, stream) -> "_RichBar | None":
        """A rich bar on ``stream`` when it is a terminal and rich is installed, else None."""
        if not stream.isatty():
            return None
        try:
            from rich.console import Console
            from rich import progress as rp
        except ImportError:
            return None
        return cls(rp, Console(file=stream))

    def __init__(self, rp, console):
        self.rp = rp
        self.console = console
        self.bar = None
        self.task = None
        self.phase = None

    def draw(self, label: str, total: int, done: int) -> None:
        rp = self.rp
        if (label, total) != self.phase:  # a new phase: a new bar (a sized one shows its rate)
            self.clear()
            columns = [rp.TextColumn("{task.description:<10}"), rp.BarColumn()]
            columns += ([rp.TaskProgressColumn(), rp.TransferSpeedColumn()] if total else [])
            self.bar = rp.Progress(*columns, rp.TimeElapsedColumn(), console=self.console,
                                   auto_refresh=False, transient=True)
            self.bar.start()
            self.task = self.bar.add_task(label, total=total or None)
            self.phase = (label, total)
        self.bar.update(self.task, completed=done)
        self.bar.refresh()

    def clear(self) -> None:
        if self.bar is not None:
            self.bar.stop()  # transient: the bar's lines are erased
            self.bar = None
            self.phase = None


# What replay writes into --out: the directory is replaced as one set (atomic_dir).
OUTPUT_NAMES = tuple(f"{name}.{ext}" for name in ("trades", "events", "book") for ext in ("csv", "parquet"))
# Peak memory per byte of CSV input, measured: a 76 MB generated file (1 M rows) peaks
# at 454 MB above the interpreter (actions, events, trades, Arrow batches, output blocks).
BYTES_PER_INPUT_BYTE = 6
BYTES_PER_PARQUET_ROW = 460


def planned_replay_bytes(orders, config: ExchangeConfig) -> int:
    """What a replay of ``orders`` will take at its peak, from the file's size (CSV) or
    row count (Parquet) and the config's price ladders; computed before reading."""
    path = Path(orders)
    rows = parquet_rows(path)
    work = rows * BYTES_PER_PARQUET_ROW if rows is not None else BYTES_PER_INPUT_BYTE * path.stat().st_size
    return work + planned_bytes(config)


def parquet_rows(path: Path) -> int | None:
    """Row count from a Parquet file's footer; None for anything else."""
    if path.suffix.lower() not in (".parquet", ".pq"):
        with open(path, "rb") as handle:
            if handle.read(4) != b"PAR1":
                return None
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path).metadata.num_rows
    except (pa.ArrowException, OSError):
        return 0  # read_orders reports what is wrong with it


def replay(orders, config: ExchangeConfig | None = None, out_dir="out", *, lenient: bool = False,
           fmt: str = "csv", progress: Progress | None = None,
           memory_limit: int | None = None) -> ReplayResult:
    """Replay an order file. Raises OrdersError (the file), MalformedRows (strict mode),
    OutputError / atomic_dir.OutputDirError (the output directory), MemoryBudgetError
    (the estimate exceeds ``memory_limit``, default half of the memory available).

    Everything that can be checked cheaply (the file, its header, the output directory,
    the memory estimate) is checked before any kernel is compiled or loaded. The outputs
    replace ``out_dir`` as one set: a kill at any moment leaves the old set or the new."""
    config = config or ExchangeConfig.default()
    progress = progress or Progress(False)
    check_orders_file(orders)
    budget = memory_limit or memory_budget.default_budget()
    memory_budget.check(planned_replay_bytes(orders, config), budget, f"replay of {orders}")
    # Entering makes the staging directory beside out_dir: proof that it can be written,
    # before any kernel is loaded. out_dir itself appears only when the writing starts.
    with atomic_dir.replace(out_dir, owns=OUTPUT_NAMES) as stage:
        result = _replay(orders, config, stage, lenient, fmt, progress, shown_as=out_dir)
    result.outputs = [Path(out_dir) / path.name for path in result.outputs]
    return result


def _replay(orders, config, out_dir, lenient, fmt, progress, shown_as) -> ReplayResult:
    from exchange.engine import run_batch

    timings = {}
    t0 = time.perf_counter()
    progress.phase("start-up")  # a first run on a machine compiles the kernels (announced on stderr)
    load_kernels(config)
    timings["start"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    size = Path(orders).stat().st_size if Path(orders).is_file() else 0
    progress.phase("reading", size)
    parsed = read_orders(orders, config, progress=progress.update)
    report = parsed.report(str(orders), MAX_REPORTED)
    if parsed.n_malformed and not lenient:
        progress.close()
        raise MalformedRows(report, parsed.n_malformed)
    timings["read"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    progress.phase("matching")
    result = run_batch(config, parsed.actions, parsed.parties)
    timings["match"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    progress.phase("writing")
    formatter = Formatter(config, result.parties)
    tables = [formatter.trades(result.trades), formatter.events(result.events),
              formatter.book(result.book)]
    try:  # out_dir exists from the writing on (a failed write leaves it, empty, as it always did)
        Path(shown_as).mkdir(exist_ok=True)
    except OSError as error:
        raise OutputError(f"{shown_as}: cannot create the output directory: {error.strerror}") from None
    digests = write_tables(out_dir, tables, fmt, shown_as=shown_as)
    timings["write"] = time.perf_counter() - t0
    progress.close()
    outputs = [Path(out_dir) / f"{t.name}.{fmt}" for t in tables]
    return ReplayResult(len(parsed.actions), parsed.n_malformed, result.events, result.trades,
                        result.book, result.parties, digests, timings, outputs, report)


def load_kernels(config: ExchangeConfig) -> None:
    """Compile (first run on a machine, announced by one line on stderr) or load from
    cache every kernel the replay uses, on a four-row file with a trade and a resting
    order of each side, so the timed phases measure the work and not the JIT."""
    from exchange.engine import BATCH_KERNELS, run_batch

    announce_compile("the replay's kernels (reader, matching engine, writers)", COMPILE_SECONDS,
                     orders_io.KERNELS + BATCH_KERNELS + writers.KERNELS)

    ins = config.instruments[0]
    symbol = csv_cell(ins.symbol)  # a symbol may hold a comma or a quote
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "warm.csv"
        path.write_text("ts,action,order_id,party,instrument,side,type,tif,price,qty,min_grade,goodput\n"
                        "0,grade,,warm.p,,,,,,,,1\n"  # a provider, a resting ask, a bid resting, a trade
                        f"0,new,1,warm.p,{symbol},sell,limit,gtc,{ins.price_max:f},2,,\n"
                        f"0,new,2,warm.b,{symbol},buy,limit,gtc,{ins.price_min:f},1,,\n"
                        f"0,new,3,warm.b,{symbol},buy,market,,,1,,\n", encoding="utf-8")
        parsed = read_orders(path, config)
        result = run_batch(config, parsed.actions, parsed.parties)
        formatter = Formatter(config, result.parties)
        compile_kernels([formatter.trades(result.trades), formatter.events(result.events),
                         formatter.book(result.book)])
        empty = np.zeros(0, np.int64)
        group_totals(empty, 1, empty, empty)  # the summary's


def summary(result: ReplayResult, config: ExchangeConfig, orders, fmt: str = "csv") -> str:
    """The text the replay prints: rows, trades, volume and VWAP per instrument and
    grade, throughput and the trades digest."""
    fmt_ = Formatter(config, result.parties)
    t = result.trades
    n_grades = len(config.grades)
    n_keys = len(config.instruments) * n_grades
    keys = (t["instrument"].astype(np.int64) * n_grades + t["grade"].astype(np.int64))
    price_n = t["price"].astype(np.int64) * fmt_.tick_m[t["instrument"].astype(np.int64)]
    count, volume, notional = group_totals(keys, n_keys, price_n, t["qty"].astype(np.int64))
    lines = [f"orders     {orders}",
             f"config     {config.source}",
             f"rows       {result.rows:,}" + (f" ({result.malformed:,} malformed, rejected BAD_FIELD)"
                                              if result.malformed else ""),
             f"events     {len(result.events):,}",
             f"trades     {len(t):,}",
             f"resting    {len(result.book):,}",
             ""]
    header = f"{'instrument':<20} {'grade':<5} {'trades':>10} {'volume':>14} {'vwap':>12} {'eff. vwap':>12}"
    lines.append(header)
    for i, ins in enumerate(config.instruments):
        places = int(fmt_.places[i])
        for g, grade in enumerate(config.grades):
            k = i * n_grades + g
            if not count[k]:
                continue
            vol = int(volume[k])
            # VWAP in micro-dollars: notional (N * 10**-places) / volume.
            vwap = half_even(int(notional[k]) * 10 ** (6 - places) if places <= 6 else int(notional[k]),
                                    vol if places <= 6 else vol * 10 ** (places - 6))
            eff = half_even(vwap * 10_000, grade.floor_bp)
            lines.append(f"{ins.symbol:<20} {grade.name:<5} {int(count[k]):>10,} {vol:>14,} "
                         f"{micros_text(vwap):>12} {micros_text(eff):>12}")
    if not len(t):
        lines.append("(no trades)")
    total = result.seconds
    rate = result.rows / total if total > 0 else float("inf")
    start = result.timings.get("start", 0.0)
    lines += ["",
              f"start-up   {start:.3f} s (loading the compiled kernels; a first run on a machine compiles "
              f"them{', as this one did' if start > 5 else ''})",
              f"time       {total:.3f} s (read {result.timings['read']:.3f} s, match "
              f"{result.timings['match']:.3f} s, write {result.timings['write']:.3f} s)",
              f"throughput {rate:,.0f} rows/s",
              f"trades.csv sha256 {result.digests['trades']}" if fmt == "csv" else
              f"trades sha256 {result.digests['trades']} (of its CSV form)",
              "wrote      " + " ".join(str(p) for p in result.outputs)]
    return "\n".join(lines)

