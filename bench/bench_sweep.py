"""Sweeps and sharded replay on dask.distributed: what the cluster costs and what it buys.

    python -m bench.bench_sweep                       # the figures of bench/README.md
    python -m bench.bench_sweep --quick               # a smoke run (about a minute)
    python -m bench.bench_sweep --workers 1 2 4 8     # on a machine with more cores

Measures, each ``--runs`` times (median, min, max), on clusters started once per
worker count (start-up reported apart):

* sweep throughput: a grid of ``--points`` simulations (``--days`` days, ``--buyers``
  buyers) in runs per minute, at each worker count, and the same points in a plain
  loop in this process (no dask);
* per-task overhead: ``(sweep at 1 worker - plain loop) / points``, and the
  scheduler's own round trip on empty tasks;
* sharded replay of a ``--instruments``-instrument, ``--rows``-row order file
  (``bench.many_instruments``), against the single-process replay.

Cost model (see bench/README.md): sweep wall ~= start + points x (run + overhead)
/ workers + gather; a sharded replay ~= start + parse + match / workers + merge +
write, where every worker parses the whole file.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import tempfile
import time
from pathlib import Path


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f}, {five:.2f}, {fifteen:.2f}"


def _stats(values) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "runs": list(values)}


def _fmt(s: dict, unit: str = "s", digits: int = 2) -> str:
    unit = f" {unit}" if unit else ""
    return f"{s['median']:.{digits}f}{unit} ({s['min']:.{digits}f}-{s['max']:.{digits}f})"


def _noop(x):
    return x


def _own_cpu() -> float:
    """CPU seconds (user + system) this process has used."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _cpu(client=None) -> float:
    """CPU seconds used so far by this process and, with ``client``, by every worker process:
    on a shared machine the CPU a job burns is steadier than its wall time."""
    return _own_cpu() + (sum(client.run(_own_cpu).values()) if client is not None else 0.0)


def bench(args) -> dict:
    from simulation.api import load_config
    from simulation.grid import build_grid

    report = {"cpus": len(os.sched_getaffinity(0)), "load_before": _load(), "args": vars(args)}
    grid = build_grid(flags={"seed": f"1-{args.points}", "days": str(args.days), "buyers": str(args.buyers),
                             "providers": str(args.providers), "whatif": "both"})
    config = load_config(None)
    with tempfile.TemporaryDirectory(prefix="bench-sweep-") as scratch:
        return _bench(args, report, grid, config, Path(scratch))


def _bench(args, report, grid, config, scratch: Path) -> dict:
    from exchange.cluster import connect
    from exchange.config import ExchangeConfig
    from exchange.files.distributed_replay import replay_distributed
    from exchange.files.replay import replay
    from simulation.sweep import run_point, run_sweep

    from .many_instruments import write_many

    data = write_many(scratch / "many", args.rows, seed=1, n_instruments=args.instruments)
    many_config = ExchangeConfig.load(data["config"])

    with contextlib.ExitStack() as stack:
        clients, report["workers"] = {}, {}
        for n in args.workers:  # the commands' own local clusters, all started first
            start = time.perf_counter()
            clients[n] = stack.enter_context(connect(workers=n))
            report["workers"][n] = {"cluster_start_s": time.perf_counter() - start}
        # Warm everything: kernels in this process, imports and kernels in every worker.
        run_point(grid.points()[0], config)
        replay(data["orders"], many_config, scratch / "single")
        expected = (scratch / "single" / "trades.csv").read_bytes()
        for n, client in clients.items():
            entry = report["workers"][n]
            start = time.perf_counter()
            client.gather(client.map(_noop, range(2 * n), pure=False))
            entry["first_tasks_s"] = time.perf_counter() - start
            run_sweep(grid, scratch / f"warm{n}", client=client, plots=False, progress=False)
            replay_distributed(data["orders"], many_config, scratch / f"rwarm{n}", client=client)
            entry["noop_ms_per_task"] = _stats([_noop_round_trip(client, args.noop_tasks) for _ in range(args.runs)])
        # Interleaved runs (loop, 1 worker, 2 workers, loop, ...): the machine is shared, so
        # a change in its load falls on every column alike.
        loop, sweeps = [], {n: [] for n in clients}
        single, sharded, phases = [], {n: [] for n in clients}, {n: [] for n in clients}
        cpu = {key: [] for key in ["loop", "single"] + [f"sweep{n}" for n in clients] + [f"replay{n}" for n in clients]}
        for r in range(args.runs):
            start, cpu0 = time.perf_counter(), _cpu()
            for point in grid.points():
                run_point(point, config)
            loop.append(time.perf_counter() - start)
            cpu["loop"].append(_cpu() - cpu0)
            for n, client in clients.items():
                start, cpu0 = time.perf_counter(), _cpu(client)
                run_sweep(grid, scratch / f"sweep{n}-{r}", client=client, plots=False, progress=False)
                sweeps[n].append(time.perf_counter() - start)
                cpu[f"sweep{n}"].append(_cpu(client) - cpu0)
        for r in range(args.runs):
            start, cpu0 = time.perf_counter(), _cpu()
            replay(data["orders"], many_config, scratch / "single")
            single.append(time.perf_counter() - start)
            cpu["single"].append(_cpu() - cpu0)
            for n, client in clients.items():
                start, cpu0 = time.perf_counter(), _cpu(client)
                result = replay_distributed(data["orders"], many_config, scratch / f"r{n}-{r}", client=client)
                sharded[n].append(time.perf_counter() - start)
                cpu[f"replay{n}"].append(_cpu(client) - cpu0)
                phases[n].append(result.timings)
                assert (scratch / f"r{n}-{r}" / "trades.csv").read_bytes() == expected
        report["cpu_s"] = {key: _stats(values) for key, values in cpu.items()}
    report["loop_s"] = _stats(loop)
    report["replay_single_s"] = _stats(single)
    for n in clients:
        report["workers"][n].update(sweep_s=_stats(sweeps[n]), replay_sharded_s=_stats(sharded[n]),
                                    runs_per_minute=_stats([60 * args.points / s for s in sweeps[n]]))
        report["workers"][n]["replay_phases_s"] = {
            phase: statistics.median(t[phase] for t in phases[n]) for phase in ("start", "match", "merge", "write")}

    gather = []
    for _ in range(args.runs):  # the fixed part: every point done, only the gather and the tables
        start = time.perf_counter()
        run_sweep(grid, scratch / f"sweep{args.workers[0]}-0", resume=True, plots=False)
        gather.append(time.perf_counter() - start)
    report["gather_s"] = _stats(gather)
    csvs = {(scratch / f"sweep{n}-0" / "sweep.csv").read_bytes() for n in args.workers}
    report["sweep_csv_identical"] = len(csvs) == 1
    if 1 in report["workers"]:
        report["overhead_per_task_s"] = _stats(
            [(s - report["loop_s"]["median"]) / args.points for s in report["workers"][1]["sweep_s"]["runs"]])
    report["load_after"] = _load()
    return report


def _noop_round_trip(client, tasks: int) -> float:
    """Milliseconds per empty task, ``tasks`` of them mapped and gathered at once."""
    start = time.perf_counter()
    client.gather(client.map(_noop, range(tasks), pure=False))
    return (time.perf_counter() - start) / tasks * 1e3


def markdown(report: dict) -> str:
    a = report["args"]
    lines = [f"{report['cpus']} CPUs; load average before {report['load_before']}, after {report['load_after']}",
             f"sweep: {a['points']} points x {a['days']} days, {a['buyers']} buyers, {a['providers']} providers, "
             f"what-if both; replay: {a['rows']:,} rows over {a['instruments']:,} instruments; "
             f"{a['runs']} runs each, median (min-max)", "",
             "| | plain loop | " + " | ".join(f"{n} worker{'s' if n > 1 else ''}" for n in report["workers"]) + " |",
             "| --- | --- | " + " | ".join("---" for _ in report["workers"]) + " |"]
    loop = report["loop_s"]
    lines.append(f"| sweep wall | {_fmt(loop)} | " + " | ".join(_fmt(e["sweep_s"]) for e in report["workers"].values())
                 + " |")
    per_min = {k: 60 * a["points"] / v for k, v in loop.items() if k != "runs"}
    lines.append(f"| runs per minute | {per_min['median']:.0f} ({per_min['max']:.0f}-{per_min['min']:.0f}) | "
                 + " | ".join(_fmt(e["runs_per_minute"], "", 0) for e in report["workers"].values()) + " |")
    single = report["replay_single_s"]
    lines.append(f"| replay {a['instruments']:,} instruments | {_fmt(single)} | "
                 + " | ".join(_fmt(e["replay_sharded_s"]) for e in report["workers"].values()) + " |")
    c = report["cpu_s"]
    lines.append(f"| sweep CPU, all processes | {_fmt(c['loop'])} | "
                 + " | ".join(_fmt(c[f"sweep{n}"]) for n in report["workers"]) + " |")
    lines.append(f"| replay CPU, all processes | {_fmt(c['single'])} | "
                 + " | ".join(_fmt(c[f"replay{n}"]) for n in report["workers"]) + " |")
    starts = (f"{e['cluster_start_s']:.1f} s" for e in report["workers"].values())
    lines.append("| cluster start | | " + " | ".join(starts) + " |")
    lines.append("| empty task round trip | | " + " | ".join(_fmt(e["noop_ms_per_task"], "ms", 2)
                                                         for e in report["workers"].values()) + " |")
    for n, e in report["workers"].items():
        p = e["replay_phases_s"]
        lines.append(f"sharded replay at {n} worker{'s' if n > 1 else ''}, medians: shards (every worker parses the "
                     f"whole file, matches its share, sends its records) {p['match']:.2f} s, merge {p['merge']:.2f} s,"
                     f" write {p['write']:.2f} s, warm-up call {p['start']:.2f} s")
    if "overhead_per_task_s" in report:
        lines += ["", f"overhead per sweep task at 1 worker vs the plain loop, (sweep - loop) / points: "
                      f"{_fmt(report['overhead_per_task_s'], 's', 3)}; of which fixed per sweep "
                      f"(config, gather, sweep.csv/parquet; --resume with every point done): "
                      f"{_fmt(report['gather_s'], 's', 3)}"]
    lines.append(f"sweep.csv identical across worker counts: {report['sweep_csv_identical']}")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_sweep", description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--points", type=int, default=8)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--buyers", type=int, default=500)
    parser.add_argument("--providers", type=int, default=20)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--instruments", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--noop-tasks", type=int, default=200)
    parser.add_argument("--quick", action="store_true", help="4 points x 2 days, 100k rows, 1 run")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = parser.parse_args(argv)
    if args.quick:
        args.points, args.days, args.buyers, args.rows, args.runs = 4, 2, 150, 100_000, 1
    report = bench(args)
    print(markdown(report))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2, default=str))


if __name__ == "__main__":
    main()
