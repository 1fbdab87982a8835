"""The replay job: an order file in, trades / events / book out (docs/RULES.md §5).

read (pyarrow + Numba parse) -> match (``engine.run_batch``) -> write (Numba
formatting, atomic renames), then a summary on stdout.
"""
from __future__ import annotations

import contextlib
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from exchange import memory_budget
from exchange.buffers import records_copy
from exchange.config import ExchangeConfig
from exchange.files import atomic_dir, orders_io, writers
from exchange.files.orders_io import (
    MAX_REPORTED, NotStreamable, OrderStream, check_orders_file, read_orders,
)
from exchange.schema import EVENT_DTYPE, TRADE_DTYPE
from exchange.state import joined_records, planned_bytes
from exchange.units import half_even, micros_text
from exchange.files.writers import (
    CsvStream, Formatter, OutputError, compile_kernels, csv_cell, group_totals, write_tables,
)
from exchange.nb import orderids_nb
from exchange.nb.kernel import announce_compile, load

COMPILE_SECONDS = 20  # cold compile of the replay's kernels: 17-18 s of CPU on the 2-CPU dev VM (bench/compile_times.py)


class MalformedRows(ValueError):
    """Strict replay of a file with malformed rows: ``lines`` are the report."""

    def __init__(self, lines: list[str], count: int):
        super().__init__(f"{count} malformed rows")
        self.lines = lines
        self.count = count


@dataclass
class ReplayResult:
    """What a replay did. ``events`` and ``trades`` are None when the replay did not keep
    them (``keep_records=False``: only the files hold them); ``counts`` and ``totals``
    are there either way."""

    rows: int
    malformed: int
    events: np.ndarray | None
    trades: np.ndarray | None
    book: np.ndarray
    parties: list[str]
    digests: dict[str, str]
    timings: dict[str, float] = field(default_factory=dict)
    outputs: list[Path] = field(default_factory=list)
    malformed_report: list[str] = field(default_factory=list)
    # (events, trades, resting orders) written; None: the lengths of the arrays.
    counts: tuple[int, int, int] | None = None
    # Per instrument * grade: trade count, volume, sum of price * qty (trade_totals).
    totals: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    @property
    def seconds(self) -> float:
        """Time of the work: reading, matching and writing (start-up excluded). When the
        three overlapped (a streamed replay), the time from the first row read to the
        last byte written (``timings["work"]``); else their sum."""
        if "work" in self.timings:
            return self.timings["work"]
        return sum(v for k, v in self.timings.items() if k != "start")

    @property
    def n_events(self) -> int:
        return self.counts[0] if self.counts is not None else len(self.events)

    @property
    def n_trades(self) -> int:
        return self.counts[1] if self.counts is not None else len(self.trades)


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
# A streamed replay (CSV out) holds a few blocks (prefetched Arrow batches, two sets of
# event and trade buffers, text buffers) and the book and id table, which grow with the
# rows. Measured: the 10 M-row generated file (795 MB, 1.6 M orders resting at the end)
# peaks at 856 MB RSS, 600 MB above the interpreter's 258 MB (bench/HISTORY.md).
BLOCK_ROWS = 1 << 18
STREAMED_BYTES = 256 << 20
STREAMED_BYTES_PER_INPUT_BYTE = 0.5
STREAMED_BYTES_PER_ROW = 40


def planned_replay_bytes(orders, config: ExchangeConfig, streamed: bool = False) -> int:
    """What a replay of ``orders`` will take at its peak, from the file's size (CSV) or
    row count (Parquet) and the config's price ladders; computed before reading.
    ``streamed``: a replay that keeps only a few blocks of records (the book and the
    id table still grow with the file)."""
    path = Path(orders)
    rows = parquet_rows(path)
    if streamed:
        per_row = STREAMED_BYTES_PER_ROW if rows is not None else STREAMED_BYTES_PER_INPUT_BYTE
        work = STREAMED_BYTES + int(per_row * (rows if rows is not None else path.stat().st_size))
    else:
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
           memory_limit: int | None = None, keep_records: bool = True,
           block_rows: int | None = BLOCK_ROWS) -> ReplayResult:
    """Replay an order file. Raises OrdersError (the file), MalformedRows (strict mode),
    OutputError / atomic_dir.OutputDirError (the output directory), MemoryBudgetError
    (the estimate exceeds ``memory_limit``, default half of the memory available).

    Everything that can be checked cheaply (the file, its header, the output directory,
    the memory estimate) is checked before any kernel is compiled or loaded. The outputs
    replace ``out_dir`` as one set: a kill at any moment leaves the old set or the new.

    CSV output is streamed: ``block_rows`` rows at a time are read, matched and written,
    on three threads (``_replay_streamed``), so memory is that of a few blocks and the
    book. ``keep_records``: also return every event and trade (``result.events`` /
    ``result.trades``; memory then grows with the file, as the whole-file path's).
    ``block_rows=None``, Parquet output and files that cannot be read a block at a time
    (``orders_io.NotStreamable``) take the whole-file path: read all, match all, write
    all. Both give the same bytes."""
    config = config or ExchangeConfig.default()
    progress = progress or Progress(False)
    check_orders_file(orders)
    streamed = fmt == "csv" and block_rows is not None
    budget = memory_limit or memory_budget.default_budget()
    memory_budget.check(planned_replay_bytes(orders, config, streamed and not keep_records), budget,
                        f"replay of {orders}")
    # Entering makes the staging directory beside out_dir: proof that it can be written,
    # before any kernel is loaded. out_dir itself appears only when the writing starts.
    with atomic_dir.replace(out_dir, owns=OUTPUT_NAMES) as stage:
        result = None
        if streamed:
            try:
                result = _replay_streamed(orders, config, stage, lenient, progress, out_dir,
                                          block_rows, keep_records)
            except NotStreamable:
                for name in OUTPUT_NAMES:
                    (stage / name).unlink(missing_ok=True)
        if result is None:
            result = _replay(orders, config, stage, lenient, fmt, progress, shown_as=out_dir)
    result.outputs = [Path(out_dir) / path.name for path in result.outputs]
    return result


def _make_out_dir(shown_as) -> bool:
    """Create the output directory (it exists from the writing on, as it always did;
    the staged set replaces it at the end). Returns whether it was created."""
    path = Path(shown_as)
    existed = path.exists()
    try:
        path.mkdir(exist_ok=True)
    except OSError as error:
        raise OutputError(f"{shown_as}: cannot create the output directory: {error.strerror}") from None
    return not existed


def _replay_streamed(orders, config, out_dir, lenient, progress, shown_as, block_rows,
                     keep_records) -> ReplayResult:
    """Read, match and write ``block_rows`` rows at a time, the three overlapped.

    Threads: pyarrow tokenizes the file ahead in one (orders_io's prefetch); this one
    parses a block (a Numba kernel) and matches it (``BatchStream``); two writers format
    and write the block before it (``CsvStream``), one events.csv, the other trades.csv
    (and its sha256). The kernels, hashing and file writes release the GIL. Two sets of
    event and trade buffers take turns: the writers have one while the engine fills the
    other, and each is reused (the OS zeroes fresh memory on first touch, which made
    matching 3x slower in a whole-file replay).

    Strict mode: at the first malformed row, matching and writing stop; the rest of the
    file is still read so that the report lists the rows and count ``read_orders`` gives.
    Timings: ``work`` is the wall time; ``read``, ``match`` and ``write`` the time
    spent in each stage (waits included for reading), which overlap."""
    from concurrent.futures import ThreadPoolExecutor

    from exchange.engine import BatchStream

    timings = {}
    t0 = time.perf_counter()
    progress.phase("start-up")
    load_kernels(config)
    timings["start"] = time.perf_counter() - t0

    start = time.perf_counter()
    size = Path(orders).stat().st_size if Path(orders).is_file() else 0
    progress.phase("reading", size)
    stream = OrderStream(orders, config, block_rows, lenient=lenient, progress=progress.update)
    engine = BatchStream(config)
    formatter = Formatter(config, [])
    n_keys = len(config.instruments) * len(config.grades)
    totals = [np.zeros(n_keys, np.int64) for _ in range(3)]
    kept_events, kept_trades = [], []
    n_events = n_trades = 0
    sets = [_Buffers(block_rows), _Buffers(block_rows)]  # in turn
    spent = {"read": 0.0, "match": 0.0, "write": 0.0}
    files = None
    created = False

    def write_block(name, records, parties):
        began = time.perf_counter()
        files.append(name, records, parties)
        spent["events" if name == "events" else "trades"] += time.perf_counter() - began

    spent.update(trades=0.0, events=0.0)
    # Two writers, one per file: events are twice the text of trades, which are hashed too.
    writers_ = {name: ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"replay-{name}")
                for name in ("events", "trades")}
    blocks = stream.blocks()
    try:
        created = _make_out_dir(shown_as)
        files = CsvStream(out_dir, formatter, digest_of=("trades",), shown_as=shown_as)
        number = 0
        while True:
            began = time.perf_counter()
            actions = next(blocks, None)
            spent["read"] += time.perf_counter() - began
            if actions is None:
                break
            if stream.n_malformed and not lenient:
                continue  # strict: only the report is wanted now
            began = time.perf_counter()
            turn = sets[number % 2]
            number += 1
            turn.wait()  # the writers are done with this set (or raise their error)
            parties = stream.parties
            turn.events, turn.trades, ne, nt = engine.run(actions, parties, turn.events, turn.trades)
            events, trades = turn.events[:ne], turn.trades[:nt]
            for total, part in zip(totals, trade_totals(trades, formatter, n_keys)):
                total += part
            n_events += ne
            n_trades += nt
            if keep_records:
                kept_events.append(records_copy(events))
                kept_trades.append(records_copy(trades))
            names = tuple(parties)
            turn.pending = (writers_["trades"].submit(write_block, "trades", trades, names),
                            writers_["events"].submit(write_block, "events", events, names))
            spent["match"] += time.perf_counter() - began
        parsed = stream.finish()
        report = parsed.report(str(orders), MAX_REPORTED)
        if parsed.n_malformed and not lenient:
            progress.close()
            raise MalformedRows(report, parsed.n_malformed)
        began = time.perf_counter()
        book, parties = engine.finish()
        spent["match"] += time.perf_counter() - began
        # The book goes to the trades writer, done sooner than the events one.
        book_written = writers_["trades"].submit(write_block, "book", book, tuple(parties))
        for turn in sets:
            turn.wait()
        book_written.result()
        digests = files.close()
    except BaseException as error:
        blocks.close()
        for pool in writers_.values():
            pool.shutdown(wait=True, cancel_futures=True)
        if files is not None:
            try:
                files.close()
            except OutputError:
                pass
        if created and isinstance(error, (MalformedRows, NotStreamable)):
            with contextlib.suppress(OSError):
                Path(shown_as).rmdir()  # as before streaming: no output directory for a refused file
        raise
    for pool in writers_.values():
        pool.shutdown(wait=True)
    progress.close()
    spent["write"] += max(spent.pop("trades"), spent.pop("events"))
    timings.update(spent)
    timings["work"] = time.perf_counter() - start
    outputs = [Path(out_dir) / f"{name}.csv" for name in ("trades", "events", "book")]
    events = joined_records(kept_events, EVENT_DTYPE) if kept_events or keep_records else None
    trades = joined_records(kept_trades, TRADE_DTYPE) if kept_trades or keep_records else None
    return ReplayResult(stream.rows, parsed.n_malformed, events, trades, book, parties, digests,
                        timings, outputs, report, counts=(n_events, n_trades, len(book)),
                        totals=tuple(totals))


class _Buffers:
    """One set of event and trade buffers of a streamed replay, and the writers' futures
    while they write from it. Sized for a block (3 events a row); the engine grows them
    when a block needs more (a close cancelling a deep book)."""

    def __init__(self, block_rows: int):
        self.events = np.empty(max(64, 3 * block_rows), EVENT_DTYPE)
        self.trades = np.empty(max(64, block_rows), TRADE_DTYPE)
        self.pending = ()

    def wait(self) -> None:
        """Until the writers are done with these buffers; raises what a writer raised."""
        for future in self.pending:
            future.result()
        self.pending = ()


def trade_totals(trades: np.ndarray, formatter: Formatter, n_keys: int):
    """Per instrument * grade (key ``instrument * n_grades + grade``): trade count,
    volume and the sum of price * qty in the instrument's decimal places (group_totals)."""
    n_grades = len(formatter.floors)
    instrument = trades["instrument"].astype(np.int64)
    keys = instrument * n_grades + trades["grade"].astype(np.int64)
    price_n = trades["price"].astype(np.int64) * formatter.tick_m[instrument]
    return group_totals(keys, n_keys, price_n, trades["qty"].astype(np.int64))


def _replay(orders, config, out_dir, lenient, fmt, progress, shown_as) -> ReplayResult:
    """The whole-file path: read every row, match them all, write every table."""
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
    _make_out_dir(shown_as)  # a failed write leaves it, empty, as it always did
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
        # The id hash's growth (a file with sparse ids): loaded like the others, so that a
        # cached machine is not told it compiles every run.
        slots = np.zeros(0, np.int32)
        load(orderids_nb.rehash, empty, slots, empty, slots)


def summary(result: ReplayResult, config: ExchangeConfig, orders, fmt: str = "csv") -> str:
    """The text the replay prints: rows, trades, volume and VWAP per instrument and
    grade, throughput and the trades digest."""
    fmt_ = Formatter(config, result.parties)
    n_grades = len(config.grades)
    n_keys = len(config.instruments) * n_grades
    totals = result.totals if result.totals is not None else trade_totals(result.trades, fmt_, n_keys)
    count, volume, notional = totals
    lines = [f"orders     {orders}",
             f"config     {config.source}",
             f"rows       {result.rows:,}" + (f" ({result.malformed:,} malformed, rejected BAD_FIELD)"
                                              if result.malformed else ""),
             f"events     {result.n_events:,}",
             f"trades     {result.n_trades:,}",
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
    if not result.n_trades:
        lines.append("(no trades)")
    total = result.seconds
    rate = result.rows / total if total > 0 else float("inf")
    start = result.timings.get("start", 0.0)
    lines += ["",
              f"start-up   {start:.3f} s (loading the compiled kernels; a first run on a machine compiles "
              f"them{', as this one did' if start > 5 else ''})",
              f"time       {total:.3f} s (read {result.timings['read']:.3f} s, match "
              f"{result.timings['match']:.3f} s, write {result.timings['write']:.3f} s"
              + (", overlapped)" if "work" in result.timings else ")"),
              f"throughput {rate:,.0f} rows/s",
              f"trades.csv sha256 {result.digests['trades']}" if fmt == "csv" else
              f"trades sha256 {result.digests['trades']} (of its CSV form)",
              "wrote      " + " ".join(str(p) for p in result.outputs)]
    return "\n".join(lines)

