"""``run_simulation``: the whole run from Python in one call.

    from simulation import run_simulation
    result = run_simulation(days=30, seed=1)              # nothing written
    result = run_simulation(days=30, seed=1, out="sim/")  # tables, plots and SHA256SUMS in sim/
    print(result.summary); print(result.digest)
    result.base.trades, result.alt.settlement, result.tables["summary.csv"]
"""
from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from contracts import write_reports
from exchange import ConfigError, ExchangeConfig
from exchange.files import atomic_dir
from exchange.units import micros_text
from exchange.engine import Exchange

from . import report
from . import stress as stress_step
from .market import Branch, SimulationError, SimulationParams, Timings, plan_instruments
from .whatif import SCENARIOS, run_branches


@dataclass
class SimulationResult:
    """A finished run: both branches, the tables (path -> CSV text), the digest and the timings."""

    params: SimulationParams
    config: ExchangeConfig
    scenario: str | None
    fork_day: int
    base: Branch
    alt: Branch | None
    touched: dict
    tables: dict
    digest: str
    timings: dict
    summary: str = ""
    files: list = field(default_factory=list)
    stress: object = None  # contracts.clearing.Clearing of the base branch's obligations (None: no stress step)
    shocks: dict = field(default_factory=dict)


def load_config(config) -> ExchangeConfig:
    """None -> the default configuration; a path -> that TOML file; an ExchangeConfig as it is."""
    if config is None:
        return ExchangeConfig.default()
    if isinstance(config, ExchangeConfig):
        return config
    if isinstance(config, (str, os.PathLike)):
        try:
            return ExchangeConfig.load(config)
        except ConfigError as error:
            raise SimulationError(str(error)) from None
    raise SimulationError(f"config must be a path or an ExchangeConfig, got {type(config).__name__}")


def _engine_startup(config: ExchangeConfig) -> float:
    """Load (or compile) the engine's kernels once, so the run's timings measure matching only."""
    start = time.perf_counter()
    exchange = Exchange(config)
    exchange.submit("warmup", config.instruments[0].symbol, "buy", 1, str(config.instruments[0].price_min))
    exchange.fork()
    return time.perf_counter() - start


# What a run writes into ``out`` (the directory is replaced as a whole by the new set).
OUTPUT_NAMES = ("*.csv", "alt", "settlement", "plots", "SHA256SUMS")


def run_simulation(days: int = 30, seed: int = 0, *, config=None, buyers: int = 2000, providers: int = 60,
                   whatif: str | None = "both", fork_day: int | None = None, out=None,
                   statements: bool = False, plots: bool = True, stress: bool = True,
                   shocks: dict | None = None, grade_mix=None) -> SimulationResult:
    """Run the market for ``days`` simulated days and settle it; optionally write everything to ``out``.

    ``whatif``: one of ``buyer-exit``, ``provider-downgrade``, ``both`` (default) or
    None/``"none"``; the alternative forks at ``fork_day`` (default: the middle).
    ``grade_mix``: integer shares of the quality buyers' minimum grade, best first
    (e.g. ``(15, 50, 35)``, the default mix); at most one share per grade.
    ``statements`` also writes contracts/' full settlement reports (large).
    ``stress``: clear the base branch's take-or-pay obligations in rounds after ``shocks``
    ({party: bp}; None: the buyer owing the most loses half its cash), see simulation/stress.py;
    the rounds go to stress.csv and the summary.
    Raises SimulationError (a ValueError) for bad options or an unusable config.
    """
    wall = time.perf_counter()
    if out is not None and Path(out).exists() and not Path(out).is_dir():  # before the work, not after
        raise SimulationError(f"{out}: exists and is not a directory")
    config = load_config(config)
    params = SimulationParams(days=days, seed=seed, buyers=buyers, providers=providers,
                              depth_day=fork_day, grade_mix=None if grade_mix is None else tuple(grade_mix))
    params.check()
    plan_instruments(config, params.days)
    scenario = None if whatif in (None, "none") else whatif
    if scenario is not None and scenario not in SCENARIOS:
        raise SimulationError(f"unknown what-if {whatif!r} (choose from {', '.join(SCENARIOS)}, none)")
    startup = _engine_startup(config)

    base, alt, touched, fork_hour, at_fork = run_branches(config, params, scenario, fork_day, statements)
    fork_day_ = fork_hour // 24

    start = time.perf_counter()
    tables = {
        "trades.csv": report.trades_csv(base),
        "prices.csv": report.prices_csv(base, params.days),
        "bills.csv": report.bills_csv(base),
        "revenue.csv": report.revenue_csv(base),
        "depth.csv": report.depth_csv(base),
        "summary.csv": report.summary_csv([base] + ([alt] if alt else [])),
    }
    if alt is not None:
        tables.update({
            "alt/trades.csv": report.trades_csv(alt),
            "alt/prices.csv": report.prices_csv(alt, params.days),
            "alt/bills.csv": report.bills_csv(alt),
            "alt/revenue.csv": report.revenue_csv(alt),
            "whatif.csv": report.whatif_csv(base, alt, touched),
        })
    stressed, applied = stress_step.stress(base, shocks) if stress else (None, {})
    if stressed is not None:
        tables["stress.csv"] = report.csv_text(
            ("round", "new_defaults", "defaulted", "shortfall"),
            [(k, new, total, micros_text(short)) for k, new, total, short in stress_step.rounds_rows(stressed)])
    files = {path: text.encode() for path, text in tables.items()}
    # Everything goes into a staging directory that replaces ``out`` as one set at the
    # end (exchange.files.atomic_dir): a failure or a kill leaves the old set or nothing.
    with contextlib.ExitStack() as stack:
        stage = None if out is None else stack.enter_context(atomic_dir.replace(out, owns=OUTPUT_NAMES))
        if statements and stage is not None:
            for prefix, branch in (("settlement", base), ("alt/settlement", alt)):
                if branch is not None and branch.settlement is not None:
                    texts = write_reports(branch.settlement, os.path.join(stage, prefix))
                    files.update({f"{prefix}/{name}": text.encode() for name, text in texts.items()})
        digest = report.digest(files)
        tables_s = time.perf_counter() - start
        result = _finish(params, config, scenario, fork_day_, base, alt, touched, tables, files, digest,
                         timings_of(startup, base, alt, at_fork, tables_s), stage, out, plots, wall,
                         stressed, applied)
    return result


def timings_of(startup, base, alt, at_fork, tables_s) -> dict:
    """The run's timings (seconds) by part."""
    engine = _combined(base.timings, alt.timings if alt else None, at_fork)
    return {
        "engine_startup_s": startup,
        "engine_s": engine.engine,
        "engine_calls": engine.engine_calls,
        "agents_s": engine.agents,
        "settlement_s": engine.settlement,
        "tables_s": tables_s,
        "plots_s": 0.0,
    }


def _finish(params, config, scenario, fork_day_, base, alt, touched, tables, files, digest, timings,
            stage, out, plots, wall, stressed, applied) -> SimulationResult:
    written = []
    if stage is not None:
        written = [os.path.join(str(out), os.path.relpath(path, stage))
                   for path in _write(stage, files, tables, config, params, fork_day_, plots, timings)]
    timings["total_s"] = time.perf_counter() - wall
    result = SimulationResult(params, config, scenario, fork_day_, base, alt, touched, tables, digest, timings,
                              files=written, stress=stressed, shocks=applied)
    result.summary = summary_text(result)
    return result


def _combined(base: Timings, alt: Timings | None, at_fork: Timings) -> Timings:
    """Time of both branches, counting the shared part before the fork once."""
    if alt is None:
        return base
    return Timings(engine=base.engine + alt.engine - at_fork.engine,
                   engine_calls=base.engine_calls + alt.engine_calls - at_fork.engine_calls,
                   agents=base.agents + alt.agents - at_fork.agents,
                   settlement=base.settlement + alt.settlement - at_fork.settlement)


def _write(out, files: dict, tables: dict, config, params, fork_day: int, plots: bool, timings: dict) -> list:
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise SimulationError(f"{out}: exists and is not a directory")
    written = []
    for path, data in files.items():
        target = out / path
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists() or target.read_bytes() != data:
            tmp = target.with_name(target.name + ".tmp")
            tmp.write_bytes(data)
            os.replace(tmp, target)
        written.append(str(target))
    listing = dict(files)
    if plots:
        start = time.perf_counter()
        from . import plots as plotting

        pictures = plotting.render_all(tables, str(out / "plots"), [i.symbol for i in config.instruments],
                                       [g.name for g in config.grades], params.days, fork_day)
        for path in pictures:
            listing[os.path.relpath(path, out).replace(os.sep, "/")] = Path(path).read_bytes()
        written += pictures
        timings["plots_s"] = time.perf_counter() - start
    sums = out / "SHA256SUMS"
    sums.write_text(report.sums_text(listing))
    written.append(str(sums))
    return written


def summary_text(result: SimulationResult) -> str:
    """What the command prints: the run, the summary table, the what-if, the speed and the digest."""
    p, base, alt, t = result.params, result.base, result.alt, result.timings
    agents = p.buyers + p.providers + len(result.config.providers) + len(result.config.instruments)
    lines = [
        f"simulated {p.days} days, seed {p.seed}: {agents} agents ({len(result.config.providers)} configured + "
        f"{p.providers} simulated providers, {len(result.config.instruments)} market makers, {p.buyers} buyers) "
        f"on {len(result.config.instruments)} instruments",
        "",
        "summary (summary.csv): trading and take-or-pay settlement by instrument and grade",
    ]
    rows = [r for r in report.summary_rows(base)]
    if alt is not None:
        rows += [r for r in report.summary_rows(alt) if r[1] == "*"]
    lines.append(report.table_text(report.SUMMARY_COLUMNS, rows))
    if alt is not None:
        lines += ["", f"what-if forked at day {result.fork_day} (whatif.csv):"]
        lines += [f"  {note}" for note in alt.notes]
        lines.append(report.table_text(("metric", "base", "alt", "change"),
                                       report.whatif_rows(base, alt, result.touched)))
    if result.stress is not None:
        lines += ["", "stress (stress.csv): take-or-pay obligations cleared in rounds after "
                  + (", ".join(f"{party} -{bp} bp of cash" for party, bp in result.shocks.items()) or "no shock")]
        for k, new, total, short in stress_step.rounds_rows(result.stress):
            lines.append(f"  round {k}: {new} default, {total} so far, shortfall ${report.money(short)}")
        if not result.stress.rounds:
            lines.append("  nobody defaults")
    engine, calls = t["engine_s"], t["engine_calls"]
    trading = engine + t["agents_s"]
    lines += [
        "",
        f"speed: trading {trading:.2f} s for {calls:,} engine calls ({calls / max(trading, 1e-9):,.0f} calls/s); "
        f"engine {engine:.2f} s ({100 * engine / max(trading, 1e-9):.0f} % of trading, "
        f"{1e6 * engine / max(calls, 1):.1f} us/call), agents {t['agents_s']:.2f} s; "
        f"settlement {t['settlement_s']:.2f} s; tables {t['tables_s']:.2f} s; plots {t['plots_s']:.2f} s; "
        f"engine start-up {t['engine_startup_s']:.2f} s; total {t['total_s']:.2f} s",
        f"digest {result.digest}  (sha256 over the CSV outputs; PNGs are listed in SHA256SUMS, not digested)",
    ]
    return "\n".join(lines)
