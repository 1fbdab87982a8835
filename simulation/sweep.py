"""Simulation sweeps on dask.distributed: one task per grid point, one row of figures per run.

    from simulation.grid import build_grid
    from simulation.sweep import run_sweep
    result = run_sweep(build_grid("grid.toml"), "sweep/", workers=4)   # or scheduler="tcp://h:8786"
    result.rows, result.failed

Each grid point (``simulation.grid``) is one ``run_point`` task: ``run_simulation``
with the point's parameters, nothing written, reduced to one row of figures
(``ROW_COLUMNS``). The client writes each finished row to ``DIR/points/KEY.json``
(atomically; KEY names the parameters and the configuration), then gathers the rows
of the grid, in grid order, into ``sweep.csv`` and ``sweep.parquet``, and draws the
distributions into ``plots/``. So:

* the table depends on the grid only: rows in grid order, each run seeded by its
  point; worker count and completion order do not show;
* a worker that dies takes its tasks with it and the scheduler runs them again
  elsewhere (dask.distributed's own retry, up to ``allowed-failures`` deaths per task);
* a task that raises becomes a row with ``status`` ``error`` and the message,
  the others go on; ``resume=True`` skips points that already have a result file
  (failed points are run again).

Money and prices are exact decimal text (``simulation.report.money``); in Parquet
they are ``decimal128(38, 6)``. No float touches them.

Cost: per point, one simulation (its own process; dask adds a few milliseconds of
scheduling and the row's transfer), plus once per worker the imports and the
kernels' load. See bench/README.md "Sweeps and sharded replay".
"""
from __future__ import annotations

import csv
import inspect
import io
import json
import os
import sys
import time
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import numpy as np

from .api import load_config, run_simulation
from .grid import Grid, GridPoint, check_points
from exchange.units import micros_text, parse_micros

from .report import Columns

POINT_COLUMNS = ("point", "seed", "days", "buyers", "providers", "grade_mix", "whatif", "shock")
# figure -> kind: "int" (counts, hours), "money" (µ$ as dollars, 6 places), "text"
FIGURES = {
    "trades": "int", "volume": "int",
    "take_or_pay": "money", "unused_paid_hours": "int", "shortfall": "money", "credits": "money",
    "buyer_pays": "money", "provider_receives": "money",
    "alt_trades_delta": "int", "alt_volume_delta": "int", "alt_take_or_pay_delta": "money",
    "alt_shortfall_delta": "money", "alt_credits_delta": "money", "alt_buyer_pays_delta": "money",
    "defaults": "int", "default_rounds": "int", "later_defaults": "int", "stress_shortfall": "money",
}
FIGURES_HEAD = ("trades", "volume")  # then volume and VWAP by grade, then the rest
FIGURES_TAIL = tuple(k for k in FIGURES if k not in FIGURES_HEAD)


def row_columns(grades) -> tuple:
    """The columns of ``sweep.csv`` for a configuration's grades (best first)."""
    per_grade = tuple(c for g in grades for c in (f"volume_{g}", f"vwap_{g}"))
    return POINT_COLUMNS + ("status", "error") + FIGURES_HEAD + per_grade + FIGURES_TAIL


def column_kind(name: str) -> str:
    if name in FIGURES:
        return FIGURES[name]
    if name.startswith("volume_") or name in ("point", "seed", "days", "buyers", "providers"):
        return "int"
    if name.startswith("vwap_"):
        return "money"
    return "text"


# ------------------------------------------------------------------ one run
def shock_supported() -> bool:
    """Whether ``run_simulation`` takes ``shocks`` (the §8 stress step, docs/RULES.md §8)."""
    return "shocks" in inspect.signature(run_simulation).parameters


def parse_shock(text: str) -> dict:
    """A grid point's shock, ``PARTY=BP[,PARTY=BP...]``, as {party: bp} (bp add up per party).
    ValueError naming the part for anything else."""
    shocks: dict = {}
    for part in text.split(","):
        party, _, bp = part.strip().partition("=")
        if not party or not bp.isdigit() or int(bp) > 10_000:
            raise ValueError(f"shock: {part.strip()!r} is not PARTY=BP with BP a whole number in 0..10000")
        shocks[party] = shocks.get(party, 0) + int(bp)
    return shocks


def run_point(point: GridPoint, config) -> dict:
    """Runs on a worker: the point's simulation (nothing written) as one row {column: text}.

    A non-empty shock is passed as ``run_simulation(shocks=...)`` (the stress step);
    the default-round figures come from the run's ``stress.csv`` (blank when there is none)."""
    kwargs = {}
    if point.grade_mix:
        kwargs["grade_mix"] = tuple(int(x) for x in point.grade_mix.split(":"))
    if point.shock:
        kwargs["shocks"] = parse_shock(point.shock)
    result = run_simulation(days=point.days, seed=point.seed, config=config, buyers=point.buyers,
                            providers=point.providers, whatif=point.whatif, plots=False, **kwargs)
    return summary_row(point, result)


def _totals(branch) -> dict:
    col = Columns(branch)
    tot = col.totals
    shortfall = int(np.sum(tot["deficiency"] * col.p)) if len(col.p) else 0
    return {"trades": len(col.qty), "volume": int(col.qty.sum()), "take_or_pay": int(tot["charge"].sum()),
            "unused_paid_hours": int(tot["deficiency"].sum()), "shortfall": shortfall,
            "credits": int(tot["credit"].sum()), "buyer_pays": int(tot["buyer_pays"].sum()),
            "provider_receives": int(tot["provider_receives"].sum())}


def summary_row(point: GridPoint, result) -> dict:
    """The figures of a finished run: trading by grade (effective VWAP over all
    instruments), take-or-pay totals, the fork's alt-minus-base deltas, stress rounds."""
    row = {"point": str(point.index), **{k: str(v) for k, v in point.params().items()},
           "status": "ok", "error": ""}
    base = result.base
    col = Columns(base)
    totals = _totals(base)
    for name in ("trades", "volume"):
        row[name] = str(totals[name])
    for g, grade in enumerate(col.grades):
        mask = col.grade == g
        row[f"volume_{grade}"] = str(int(col.qty[mask].sum()))
        row[f"vwap_{grade}"] = col.vwap(mask)
    for name in ("take_or_pay", "unused_paid_hours", "shortfall", "credits", "buyer_pays", "provider_receives"):
        row[name] = _text(name, totals[name])
    if result.alt is not None:
        alt = _totals(result.alt)
        for name in ("trades", "volume", "take_or_pay", "shortfall", "credits", "buyer_pays"):
            key = f"alt_{name}_delta"
            row[key] = _text(key, alt[name] - totals[name])
    else:
        row.update({f"alt_{n}_delta": "" for n in ("trades", "volume", "take_or_pay", "shortfall", "credits",
                                                    "buyer_pays")})
    row.update(stress_figures(result.tables))
    return row


def _text(name: str, value: int) -> str:
    return micros_text(value) if FIGURES[name] == "money" else str(int(value))


def stress_figures(tables: dict) -> dict:
    """Default rounds from a §8 ``rounds.csv`` (``round,new_defaults,defaulted,shortfall``)
    among a run's tables: defaulters, rounds, defaulters of round 2 and later (contagion),
    total shortfall. Blank when the run has no such table."""
    names = sorted(n for n in tables if n in ("stress.csv", "rounds.csv") or n.endswith("/rounds.csv"))
    out = {"defaults": "", "default_rounds": "", "later_defaults": "", "stress_shortfall": ""}
    if not names:
        return out
    rows = list(csv.DictReader(io.StringIO(tables[names[0]])))
    out["defaults"] = rows[-1]["defaulted"] if rows else "0"
    out["default_rounds"] = str(len(rows))
    out["later_defaults"] = str(sum(int(r["new_defaults"]) for r in rows if int(r["round"]) >= 2))
    out["stress_shortfall"] = micros_text(parse_micros(rows[-1]["shortfall"])) if rows else micros_text(0)
    return out


def error_row(point: GridPoint, grades, message: str) -> dict:
    row = {c: "" for c in row_columns(grades)}
    row.update({"point": str(point.index), **{k: str(v) for k, v in point.params().items()},
                "status": "error", "error": message})
    return row


# ------------------------------------------------------------------ the sweep
@dataclass
class SweepResult:
    rows: list  # one dict per grid point, in grid order
    failed: list  # (GridPoint, message)
    ran: int
    skipped: int
    workers: int
    seconds: float
    files: list = field(default_factory=list)
    notes: list = field(default_factory=list)


class SweepProgress:
    """A bar (rich) on a terminal; on anything else one plain line per finished point."""

    def __init__(self, total: int, stream=None, enabled: bool | None = None):
        self.stream = stream or sys.stderr
        self.total, self.done = total, 0
        self.bar = None
        tty = self.stream.isatty() if enabled is None else enabled
        if tty:
            try:
                from rich.console import Console
                from rich.progress import Progress
            except ImportError:
                Progress = None
            if Progress is not None:
                self.bar = Progress(console=Console(file=self.stream), transient=True)
                self.bar.start()
                self.task = self.bar.add_task("sweep", total=total)
        self.quiet = enabled is False

    def advance(self, label: str, ok: bool) -> None:
        self.done += 1
        if self.bar is not None:
            self.bar.update(self.task, advance=1)
        elif not self.quiet:
            print(f"sweep {self.done}/{self.total}: {label} {'done' if ok else 'FAILED'}", file=self.stream)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def run_sweep(grid: Grid, out, *, workers: int | None = None, scheduler: str | None = None, client=None,
              resume: bool = False, plots: bool = True, progress: bool | None = None,
              task=run_point, on_result=None) -> SweepResult:
    """Run every point of ``grid`` not already done (``resume``), then gather the table.

    ``client``: an existing dask Client (else ``exchange.cluster.connect(workers,
    scheduler)``). ``progress``: a bar on a terminal, lines elsewhere (None), always
    (True) or never (False). ``task(point, config) -> row`` is what a worker runs (tests swap it).
    ``on_result(client, finished_count)`` is called after each finished point.
    Raises GridError (the grid), SimulationError (the configuration), ClusterError,
    DaskMissing; a point whose task fails is in ``failed`` and in the table."""
    from exchange.cluster import ClusterError, connect, failure_message, failures, require_dask, worker_count

    started = time.perf_counter()
    require_dask()
    config = load_config(grid.config)
    grades = [g.name for g in config.grades]
    check_points(grid, len(grades), shock_supported())
    out = Path(out)
    if out.exists() and not out.is_dir():
        from .market import SimulationError

        raise SimulationError(f"{out}: exists and is not a directory")
    config_text = config.to_toml()
    points = grid.points()
    keys = [p.key(config_text) for p in points]
    point_dir = out / "points"
    todo = [(p, k) for p, k in zip(points, keys) if not (resume and (point_dir / f"{k}.json").is_file())]
    failed = {}
    n_workers = 0
    if todo:
        if client is None:
            with connect(workers, scheduler) as made:
                result = run_sweep(grid, out, client=made, resume=resume, plots=plots, progress=progress,
                                   task=task, on_result=on_result)
            result.seconds = time.perf_counter() - started  # the cluster's start and stop included
            return result
        try:
            n_workers = worker_count(client)
            failed = _run_points(client, config, todo, point_dir, progress, task, on_result)
        except failures() as error:
            raise ClusterError(failure_message(error)) from None
    rows = []
    for point, key in zip(points, keys):
        if point.index in failed:
            rows.append(error_row(point, grades, failed[point.index][1]))
            continue
        record = json.loads((point_dir / f"{key}.json").read_text(encoding="utf-8"))
        row = dict(record["row"])
        row["point"] = str(point.index)  # the same run may sit elsewhere in another grid
        rows.append(row)
    columns = row_columns(grades)
    files = [write_csv(out / "sweep.csv", rows, columns), write_parquet(out / "sweep.parquet", rows, columns)]
    notes = []
    if plots:
        try:
            from . import sweep_plots
        except ImportError:
            notes.append("plots skipped: matplotlib is not installed (pip install 'compute-exchange[sim]')")
        else:
            files += sweep_plots.render(rows, grades, str(out / "plots"))
    return SweepResult(rows, [failed[k] for k in sorted(failed)], len(todo), len(points) - len(todo),
                       n_workers, time.perf_counter() - started, [str(f) for f in files], notes)


def _run_points(client, config, todo: list, point_dir: Path, progress, task, on_result) -> dict:
    """Submit one task per (point, key) of ``todo``; write each finished row to
    ``point_dir/KEY.json`` as it arrives; return {index: (point, message)} of the failed."""
    from distributed import as_completed

    failed = {}
    bar = SweepProgress(len(todo), enabled=progress)
    shared = client.scatter(config, broadcast=True, hash=False)  # its own key: not released by an earlier sweep
    batch = uuid.uuid4().hex[:8]  # a sweep's task names are its own, even on a shared cluster
    futures = {client.submit(task, p, shared, key=f"sweep-{batch}-{p.index}", pure=False): (p, k) for p, k in todo}
    try:
        for count, future in enumerate(as_completed(list(futures)), 1):
            point, key = futures[future]
            if future.status == "finished":
                record = {"key": key, "params": point.params(), "row": future.result()}
                _write_atomic(point_dir / f"{key}.json", json.dumps(record, sort_keys=True).encode())
            else:
                error = future.exception()
                failed[point.index] = (point, f"{type(error).__name__}: {error}".splitlines()[0])
            bar.advance(point.label(), point.index not in failed)
            if on_result is not None:
                on_result(client, count)
    finally:
        bar.close()
    return failed


def csv_text(rows: list, columns) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([row.get(c, "") for c in columns])
    return buffer.getvalue()


def write_csv(path: Path, rows: list, columns) -> Path:
    _write_atomic(path, csv_text(rows, columns).encode())
    return path


def write_parquet(path: Path, rows: list, columns) -> Path:
    """The same table in Parquet: ints int64, money decimal128(38, 6), text strings; blanks null."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    arrays = []
    for name in columns:
        cells = [row.get(name, "") for row in rows]
        kind = column_kind(name)
        if kind == "int":
            arrays.append(pa.array([int(c) if c != "" else None for c in cells], pa.int64()))
        elif kind == "money":
            arrays.append(pa.array([Decimal(c) if c != "" else None for c in cells], pa.decimal128(38, 6)))
        else:
            arrays.append(pa.array(cells, pa.string()))
    table = pa.table(arrays, names=list(columns))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, path)
    return path
