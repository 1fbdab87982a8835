"""The throughput runner behind ``python -m bench`` (see bench/README.md).

For each workload of ``bench.workloads.WORKLOADS`` and each size, in a subprocess of
its own (so its peak RSS is its own):

* ``kernel``: the matching kernel over the timed actions, from a prepared state
  (fresh, or after the untimed prefill of ``deep``) with preallocated output buffers;
  every page touched before timing. This is the lead's "kernel-only" figure.
* ``batch``: ``run_batch`` end to end (state allocated, events and trades written
  into the output buffers it reuses, the final book not read: ``BatchResult.book`` is
  built on first access), for the workloads without a prefill. The loop holds the
  previous result while the next batch runs, so two buffers of each type alternate.
* both: median of ``runs`` runs, with min and max; actions/s and ns/action.
* memory: ``ru_maxrss`` of the subprocess (whole interpreter: Python, numpy, Numba and
  the compiled kernels included; the ``baseline`` row is the same for a 1,000-action
  run) and the bytes of the engine's own arrays (``BookState`` arrays + event and
  trade buffers), counted from ``nbytes``.

Then, in this process: per-call latency through ``Exchange`` (p50/p99/p99.9 over the
standard mix), JIT compile time cold (a fresh ``NUMBA_CACHE_DIR``, in a subprocess) and
cached (the same directory again), the side-by-side run against peer engines, and the
scaling of ``exchange.parallel.run_batch_parallel`` over 1..N threads.

Outputs in ``--out``: ``results.json``, ``results.md`` and PNG plots.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SIZES = (100_000, 1_000_000)
QUICK_SIZES = (20_000,)
DEEP_RESTING = 1_000_000


# ------------------------------------------------------------------ helpers
def summary(seconds: list[float], n: int) -> dict:
    """actions/s as median (min, max) over runs, and ns/action at the median."""
    median = statistics.median(seconds)
    return {
        "runs": len(seconds),
        "seconds": seconds,
        "median_s": median,
        "actions_per_s": n / median,
        "actions_per_s_min": n / max(seconds),
        "actions_per_s_max": n / min(seconds),
        "ns_per_action": median / n * 1e9,
    }


def ratio_summary(ours: list[float], yardstick: list[float]) -> dict:
    """Our time over the yardstick's, run by run (runs alternate, so each pair shares
    the machine's load): median with min and max."""
    ratios = [a / b for a, b in zip(ours, yardstick)]
    return {"median": statistics.median(ratios), "min": min(ratios), "max": max(ratios)}


def touched_outputs(n_actions: int, resting_before: int) -> tuple[np.ndarray, np.ndarray]:
    """Event and trade buffers with room for any run of ``n_actions`` over a book of
    ``resting_before`` orders, every page written once, so that no timed run pays the
    OS's zeroing of fresh pages."""
    from exchange.schema import EVENT_DTYPE, TRADE_DTYPE

    events = np.empty(3 * n_actions + 2 * resting_before + 64, EVENT_DTYPE)
    trades = np.empty(n_actions + resting_before + 64, TRADE_DTYPE)
    for buffer in (events, trades):
        buffer.view(np.uint8)[...] = 0
    return events, trades


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def machine() -> dict:
    info = {"python": platform.python_version(), "platform": platform.platform(),
            "cpus": os.cpu_count(), "processor": platform.processor()}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu_model"] = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                info["memory_gib"] = round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    try:
        info["load_average"] = os.getloadavg()
    except OSError:
        pass
    import numba
    info["numba"] = numba.__version__
    info["numpy"] = np.__version__
    return info


# ---------------------------------------------------------- one workload
@dataclass
class PreparedWorkload:
    """One workload ready to time: the state before the first action (providers registered,
    prefill applied, capacities for the run) and the minimal book on the same rows."""
    workload: object
    actions: np.ndarray
    base: object  # exchange.state.BookState
    minimal: object  # bench.minimal_book.MinimalBook
    resting_before: int


def prepare_workload(name: str, n: int, seed: int = 1, deep_resting: int = DEEP_RESTING,
                     warm_up: bool = True, workload=None) -> PreparedWorkload:
    """Build a workload (or take the one given) and the state both timings start from
    (``measure_workload``, bench/instructions.py); ``warm_up`` compiles or loads the
    kernels on a few rows first."""
    from bench.workloads import WORKLOADS
    from exchange.engine import register_providers, run_kernel, run_batch
    from exchange.nb.layout import C_EVENT_COUNT, C_LIVE, C_TRADE_COUNT
    from exchange.schema import ACT_NEW, EVENT_DTYPE, TRADE_DTYPE
    from exchange.state import BookState
    from exchange.engine import dense_ids
    from bench.minimal_book import MinimalBook

    if workload is None:
        builder = WORKLOADS[name]
        workload = builder(n, seed, resting=deep_resting) if name == "deep" else builder(n, seed)
    config, actions, parties = workload.config, workload.actions, list(workload.parties)
    if warm_up:
        run_batch(config, actions[:1000], parties)  # compile or load the cache outside timing

    n_new = int(np.count_nonzero(actions["action"] == ACT_NEW)) + len(workload.prefill)
    everything = np.concatenate([workload.prefill, actions])
    base = BookState(config, order_capacity=max(1024, n_new // 2),
                     id_capacity=1 << max(4, (2 * n_new + 2).bit_length()),
                     party_capacity=max(64, len(parties) + len(config.providers)),
                     direct_ids=dense_ids(everything, n_new))  # as run_batch chooses
    register_providers(config, base, {p: i for i, p in enumerate(parties)}, parties)
    if len(workload.prefill):
        run_kernel(base, workload.prefill, np.empty(3 * len(workload.prefill) + 64, EVENT_DTYPE),
                   np.empty(len(workload.prefill) + 64, TRADE_DTYPE))
    base.counters[C_EVENT_COUNT] = 0
    base.counters[C_TRADE_COUNT] = 0
    minimal = MinimalBook(everything, len(config.instruments), prefill=len(workload.prefill))
    return PreparedWorkload(workload, actions, base, minimal, int(base.counters[C_LIVE]))


def measure_workload(name: str, n: int, runs: int, seed: int = 1, deep_resting: int = DEEP_RESTING,
                     clock=time.perf_counter) -> dict:
    """Time one workload at one size in this process (the worker). ``clock`` times the
    kernel and the minimal book (``time.thread_time``: CPU time, for bench/kernel_cpu.py);
    ``run_batch`` is always timed in wall time."""
    from exchange.engine import run_kernel, run_batch
    from exchange.nb.layout import C_EVENT_COUNT, C_LIVE, C_TRADE_COUNT

    prepared = prepare_workload(name, n, seed, deep_resting)
    workload, actions, base, minimal = prepared.workload, prepared.actions, prepared.base, prepared.minimal
    config, parties, resting_before = workload.config, list(workload.parties), prepared.resting_before
    # The yardstick (bench/minimal_book.py) on the same stream, timed in alternation
    # with our kernel so both see the same machine load.
    minimal.run()  # compile or load outside timing
    kernel_seconds, minimal_seconds = [], []
    last = None
    for _ in range(runs):
        minimal.reset()
        start = clock()
        minimal.run()
        minimal_seconds.append(clock() - start)
        state = base.copy()  # copy() writes every page of the state
        events, trades = touched_outputs(len(actions), resting_before)
        start = clock()
        events, trades = run_kernel(state, actions, events, trades)
        kernel_seconds.append(clock() - start)
        last = (state, events, trades)
    state, events, trades = last
    n_events, n_trades = int(state.counters[C_EVENT_COUNT]), int(state.counters[C_TRADE_COUNT])
    resting_after = int(state.counters[C_LIVE])
    engine_bytes = sum(a.nbytes for a in state.arrays) + events.nbytes + trades.nbytes

    result = {
        "workload": name, "size": n, "description": workload.description,
        "instruments": len(config.instruments), "prefill": len(workload.prefill),
        "resting_before": resting_before, "resting_after": resting_after,
        "resting_mean": (resting_before + resting_after) / 2,
        "events": n_events, "trades": n_trades,
        "traded_qty": int(trades["qty"][:n_trades].sum()),
        "kernel": summary(kernel_seconds, n),
        "minimal": summary(minimal_seconds, n),
        "vs_minimal": ratio_summary(kernel_seconds, minimal_seconds),
        "engine_array_bytes": int(engine_bytes),
    }
    if not len(workload.prefill):
        batch_seconds = []
        for _ in range(runs):
            start = time.perf_counter()
            batch = run_batch(config, actions, parties)
            batch_seconds.append(time.perf_counter() - start)
        assert len(batch.trades) == n_trades and len(batch.events) == n_events
        result["batch"] = summary(batch_seconds, n)
        del batch
    result["maxrss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return result


def run_worker(name: str, n: int, runs: int, seed: int, deep_resting: int, subprocess_mode: bool = True) -> dict:
    """``measure_workload`` in a subprocess (own peak RSS), or in this process."""
    if not subprocess_mode:
        return measure_workload(name, n, runs, seed, deep_resting)
    command = [sys.executable, "-m", "bench.runner", "--worker", name, str(n), str(runs), str(seed),
               str(deep_resting)]
    done = subprocess.run(command, capture_output=True, text=True, env=_env(), cwd=ROOT)
    if done.returncode != 0:
        raise RuntimeError(f"worker {name} {n} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------- per call
def measure_latency(n_calls: int, seed: int = 1) -> dict:
    """Per-call latency through ``Exchange`` over the standard mix (submit and cancel)."""
    from bench.peers import ops
    from bench.peers.ours_percall import calls
    from bench.workloads import standard
    from exchange.engine import Exchange

    config, actions, parties = standard(n_calls, seed)
    prepared = calls(ops(actions), config, [parties[p] for p in actions["party"].tolist()])
    exchange = Exchange(config)
    exchange.submit("b0", config.instruments[0].symbol, "buy", 1, "1.000", order_id=10**12)  # warm
    submit, cancel = exchange.submit, exchange.cancel
    latencies = np.empty(len(prepared), np.int64)
    clock = time.perf_counter_ns
    start_all = time.perf_counter()
    for i, (is_new, args, kwargs) in enumerate(prepared):
        start = clock()
        (submit if is_new else cancel)(*args, **kwargs)
        latencies[i] = clock() - start
    elapsed = time.perf_counter() - start_all
    p50, p99, p999 = np.percentile(latencies, [50, 99, 99.9])
    return {"calls": len(prepared), "calls_per_s": len(prepared) / elapsed, "p50_ns": float(p50),
            "p99_ns": float(p99), "p999_ns": float(p999), "max_ns": int(latencies.max()),
            "trades": len(exchange.trades()), "latencies_ns": latencies}


# -------------------------------------------------------------- compile
_COMPILE_CODE = """
import time, json
t0 = time.perf_counter()
from bench.workloads import standard
from exchange.engine import Exchange, run_batch
from exchange.parallel import run_batch_parallel
t1 = time.perf_counter()
c, a, p = standard(2000, 1, n_instruments=2)
run_batch(c, a, p)
t2 = time.perf_counter()
e = Exchange(c)
e.submit('p0', 'I0', 'sell', 1, '2.000'); e.submit('b0', 'I0', 'buy', 1, '3.000')
e.replace(1, 'p0', qty=1); e.regrade('p0', '0.9'); e.close('I1')
t3 = time.perf_counter()
run_batch_parallel(c, a, p, threads=2)
t4 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "batch_first_call_s": t2 - t1, "per_call_first_s": t3 - t2,
                  "parallel_first_call_s": t4 - t3, "total_s": t4 - t0}))
"""


def measure_compile() -> dict:
    """First-call times in a fresh interpreter: cold (empty NUMBA_CACHE_DIR: everything
    compiles) and cached (the same directory again: everything loads)."""
    out = {}
    with tempfile.TemporaryDirectory(prefix="numba-cache-") as cache:
        env = _env()
        env["NUMBA_CACHE_DIR"] = cache
        for label in ("cold", "cached"):
            done = subprocess.run([sys.executable, "-c", _COMPILE_CODE], capture_output=True, text=True,
                                  env=env, cwd=ROOT)
            if done.returncode != 0:
                raise RuntimeError(done.stderr[-3000:])
            out[label] = json.loads(done.stdout.strip().splitlines()[-1])
    return out


# ---------------------------------------------------------- side by side
def side_by_side(n: int, runs: int, seed: int = 1, log=print, reference_limit: int = 200_000) -> dict:
    """The plain price-time workload through ours and the peers; equal trades asserted."""
    from bench import peers
    from bench.workloads import plain

    config, actions, parties = plain(n, seed)
    plain_ops = peers.ops(actions)
    rows = []
    expected = None
    for module, version in peers.load(log=log):
        engine = module.Engine()
        engine_ops, engine_actions = plain_ops, actions
        if module.NAME.startswith("ours: reference") and len(actions) > reference_limit:
            log(f"{module.NAME}: skipped above {reference_limit:,} actions (too slow); use --peer-size")
            continue
        prepared = engine.prepare(engine_ops, config, engine_actions, parties)
        engine.run(engine.prepare(engine_ops[:1000], config, engine_actions[:1000], parties))  # warm
        seconds = []
        for _ in range(runs if not module.NAME.startswith("ours: reference") else max(1, min(runs, 3))):
            start = time.perf_counter()
            result = engine.run(prepared)
            seconds.append(time.perf_counter() - start)
        if expected is None:
            expected = result
        if result != expected:
            raise AssertionError(f"{module.NAME}: (trades, volume) {result} != {expected}")
        rows.append({"engine": module.NAME, "package": module.PACKAGE, "version": version,
                     "trades": result[0], "volume": result[1], **summary(seconds, len(actions))})
    ours = {r["engine"]: r for r in rows if r["package"] is None}
    for row in rows:
        row["ratios"] = {name: o["actions_per_s"] / row["actions_per_s"] for name, o in ours.items()}
    mix = {k: int(v) for k, v in zip(*np.unique([op[0] for op in plain_ops], return_counts=True))}
    return {"actions": len(actions), "mix": {peers.KIND_WORDS[k]: v for k, v in mix.items()},
            "engines": rows}


# ---------------------------------------------------------------- scaling
def scaling(n: int, runs: int, max_threads: int, n_instruments: int = 16, seed: int = 1) -> dict:
    """run_batch_parallel over 1..max_threads threads on a multi-instrument standard mix."""
    from concurrent.futures import ThreadPoolExecutor

    from bench.workloads import standard
    from exchange.engine import run_batch
    from exchange.parallel import run_batch_parallel

    config, actions, parties = standard(n, seed, n_instruments=n_instruments)
    from bench.workloads import route_cancels
    route_cancels(actions)
    reference = run_batch(config, actions, parties)
    single = []
    for _ in range(runs):
        start = time.perf_counter()
        run_batch(config, actions, parties)
        single.append(time.perf_counter() - start)
    points = []
    for threads in range(1, max_threads + 1):
        with ThreadPoolExecutor(max_workers=threads) as pool:
            result = run_batch_parallel(config, actions, parties, threads, executor=pool)  # warm + check
            for name in ("events", "trades", "book"):
                assert getattr(result, name).tobytes() == getattr(reference, name).tobytes(), name
            seconds = []
            for _ in range(runs):
                start = time.perf_counter()
                run_batch_parallel(config, actions, parties, threads, executor=pool)
                seconds.append(time.perf_counter() - start)
        points.append({"threads": threads, **summary(seconds, n)})
    base = summary(single, n)
    for point in points:
        point["speedup_vs_run_batch"] = point["actions_per_s"] / base["actions_per_s"]
    return {"actions": n, "instruments": n_instruments, "run_batch": base, "points": points}


# ---------------------------------------------------------------- output
def _fmt_rate(x):
    return f"{x / 1e6:.2f} M" if x >= 1e6 else f"{x / 1e3:.0f} k"


def markdown(report: dict) -> str:
    m = report["machine"]
    lines = [f"# Benchmarks ({report['date']})", "",
             f"Machine: {m.get('cpu_model', m.get('processor'))}, {m['cpus']} CPUs, "
             f"{m.get('memory_gib', '?')} GiB; Python {m['python']}, numba {m['numba']}, numpy {m['numpy']}; "
             f"load average at start {tuple(round(x, 2) for x in m.get('load_average', ()))}.", "",
             f"Command: `{report['command']}`", ""]
    if report.get("workloads"):
        lines += ["## Throughput (median of runs, [min .. max])", "",
                  "| workload | actions | resting (mean) | kernel actions/s | ns/action | minimal book ns/action | kernel / minimal | run_batch actions/s | peak RSS | engine arrays |",
                  "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for r in report["workloads"]:
            k = r["kernel"]
            b = r.get("batch")
            batch = (f"{_fmt_rate(b['actions_per_s'])} [{_fmt_rate(b['actions_per_s_min'])} .. "
                     f"{_fmt_rate(b['actions_per_s_max'])}]") if b else "n/a (prefilled)"
            lines.append(
                f"| {r['workload']} | {r['size']:,} | {r['resting_mean']:,.0f} | {_fmt_rate(k['actions_per_s'])} "
                f"[{_fmt_rate(k['actions_per_s_min'])} .. {_fmt_rate(k['actions_per_s_max'])}] | "
                f"{k['ns_per_action']:.0f} | {r['minimal']['ns_per_action']:.1f} | "
                f"{r['vs_minimal']['median']:.2f}x [{r['vs_minimal']['min']:.2f} .. {r['vs_minimal']['max']:.2f}] | {batch} | {r['maxrss_bytes'] / 2**20:,.0f} MiB | "
                f"{r['engine_array_bytes'] / 2**20:,.0f} MiB |")
        if report.get("baseline_rss_bytes"):
            lines += ["", f"Peak RSS is the worker process's `ru_maxrss` (interpreter, numpy, Numba and "
                      f"kernels included; a 1,000-action run peaks at "
                      f"{report['baseline_rss_bytes'] / 2**20:,.0f} MiB). Engine arrays: `nbytes` of the "
                      f"BookState arrays plus the event and trade buffers."]
        described = {r["workload"]: r["description"] for r in report["workloads"]}
        lines += ["", "Workloads: " + "; ".join(f"`{k}`: {v}" for k, v in described.items()) + ".", ""]
        if report.get("depth_sweep"):
            lines += ["Deep sweep (kernel actions/s by resting orders): " + ", ".join(
                f"{r['resting_mean']:,.0f} resting: {_fmt_rate(r['kernel']['actions_per_s'])}"
                for r in report["depth_sweep"]) + ".", ""]
    if report.get("latency"):
        lat = report["latency"]
        lines += ["## Per-call latency (`Exchange`, standard mix)", "",
                  "| calls | calls/s | p50 | p99 | p99.9 | max |", "| ---: | ---: | ---: | ---: | ---: | ---: |",
                  f"| {lat['calls']:,} | {_fmt_rate(lat['calls_per_s'])} | {lat['p50_ns'] / 1e3:.1f} us | "
                  f"{lat['p99_ns'] / 1e3:.1f} us | {lat['p999_ns'] / 1e3:.1f} us | {lat['max_ns'] / 1e3:.0f} us |", ""]
    if report.get("compile"):
        c = report["compile"]
        lines += ["## JIT compile (fresh interpreter)", "", "| cache | import | first run_batch | first per-call actions | first parallel | total |",
                  "| --- | ---: | ---: | ---: | ---: | ---: |"]
        for label in ("cold", "cached"):
            x = c[label]
            lines.append(f"| {label} | {x['import_s']:.2f} s | {x['batch_first_call_s']:.2f} s | "
                         f"{x['per_call_first_s']:.2f} s | {x['parallel_first_call_s']:.2f} s | {x['total_s']:.2f} s |")
        lines.append("")
    if report.get("side_by_side"):
        s = report["side_by_side"]
        ours = [r["engine"] for r in s["engines"] if r["package"] is None]
        lines += [f"## Side by side: plain price-time workload ({s['actions']:,} actions: "
                  + ", ".join(f"{k} {v:,}" for k, v in s["mix"].items()) + ")", "",
                  f"Trades and traded volume asserted equal across engines: "
                  f"{s['engines'][0]['trades']:,} trades, {s['engines'][0]['volume']:,} volume.", "",
                  "| engine | version | actions/s [min .. max] | " + " | ".join(f"{o} / this" for o in ours) + " |",
                  "| --- | --- | ---: | " + " | ".join("---:" for _ in ours) + " |"]
        for r in s["engines"]:
            lines.append(f"| {r['engine']} | {r['version']} | {_fmt_rate(r['actions_per_s'])} "
                         f"[{_fmt_rate(r['actions_per_s_min'])} .. {_fmt_rate(r['actions_per_s_max'])}] | "
                         + " | ".join(f"{r['ratios'][o]:.2f}x" for o in ours) + " |")
        lines.append("")
    if report.get("scaling"):
        s = report["scaling"]
        lines += [f"## Parallel path: `run_batch_parallel`, {s['actions']:,} actions over {s['instruments']} instruments", "",
                  f"`run_batch` (one core): {_fmt_rate(s['run_batch']['actions_per_s'])} actions/s.", "",
                  "| threads | actions/s [min .. max] | vs run_batch |", "| ---: | ---: | ---: |"]
        for p in s["points"]:
            lines.append(f"| {p['threads']} | {_fmt_rate(p['actions_per_s'])} [{_fmt_rate(p['actions_per_s_min'])} .. "
                         f"{_fmt_rate(p['actions_per_s_max'])}] | {p['speedup_vs_run_batch']:.2f}x |")
        lines.append("")
    return "\n".join(lines) + "\n"


def plots(report: dict, out: Path, latencies) -> list[str]:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("plots: matplotlib not installed (pip install '.[bench]'); no PNGs")
        return []
    written = []
    if report.get("workloads"):
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for name in dict.fromkeys(r["workload"] for r in report["workloads"]):
            rows = [r for r in report["workloads"] if r["workload"] == name]
            ax.plot([max(r["resting_mean"], 1) for r in rows], [r["kernel"]["actions_per_s"] for r in rows],
                    "o-", label=name)
        sweep = report.get("depth_sweep", [])
        if sweep:
            ax.plot([max(r["resting_mean"], 1) for r in sweep], [r["kernel"]["actions_per_s"] for r in sweep],
                    "s--", label="deep (sweep of prefill)")
        ax.set_xscale("log")
        ax.set_xlabel("resting orders (mean over the timed part)")
        ax.set_ylabel("actions/s (kernel, median)")
        ax.set_title("Throughput against resting orders")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
        fig.tight_layout()
        fig.savefig(out / "throughput_vs_resting.png", dpi=110)
        plt.close(fig)
        written.append("throughput_vs_resting.png")
    if latencies is not None and len(latencies):
        fig, ax = plt.subplots(figsize=(7, 4.5))
        us = latencies / 1e3
        bins = np.logspace(np.log10(max(us.min(), 0.1)), np.log10(us.max() + 1), 80)
        ax.hist(us, bins=bins)
        ax.set_xscale("log")
        ax.set_yscale("log")
        lat = report["latency"]
        for q, label in ((lat["p50_ns"], "p50"), (lat["p99_ns"], "p99"), (lat["p999_ns"], "p99.9")):
            ax.axvline(q / 1e3, color="k", ls="--", lw=0.8)
            ax.text(q / 1e3, ax.get_ylim()[1] * 0.5, label, rotation=90, va="top")
        ax.set_xlabel("latency per call (us)")
        ax.set_ylabel("calls")
        ax.set_title("Per-call latency through Exchange (standard mix)")
        fig.tight_layout()
        fig.savefig(out / "latency.png", dpi=110)
        plt.close(fig)
        written.append("latency.png")
    if report.get("scaling"):
        s = report["scaling"]
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.plot([p["threads"] for p in s["points"]], [p["actions_per_s"] for p in s["points"]], "o-",
                label="run_batch_parallel")
        ax.axhline(s["run_batch"]["actions_per_s"], color="gray", ls="--", label="run_batch (1 core)")
        ax.set_xlabel("threads")
        ax.set_ylabel("actions/s (median)")
        ax.set_title(f"Scaling over {s['instruments']} instruments ({report['machine']['cpus']} CPUs)")
        ax.grid(True, alpha=0.3)
        ax.legend()
        fig.tight_layout()
        fig.savefig(out / "scaling.png", dpi=110)
        plt.close(fig)
        written.append("scaling.png")
    return written


# ------------------------------------------------------------------ main
PARTS = ("workloads", "latency", "compile", "peers", "scaling")
EXAMPLE = """\
example:
  compute-exchange bench --quick --out out/bench
      a smoke run in seconds: every part at small sizes, 3 runs each
  python -m bench --workloads standard --sizes 1000000 --skip peers scaling
      the standard mix at 1 M actions (the README's lead figure)
"""


def main(argv=None, log=print) -> dict:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0],
                                     epilog=EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", help=f"actions per workload (default {DEFAULT_SIZES})")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per measurement (median, min, max)")
    parser.add_argument("--out", default="out/bench", help="output folder (default out/bench)")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: small sizes, 3 runs, in this process, without the cold-compile "
                             "part (that one compiles every kernel afresh: minutes); under a minute "
                             "once the kernels are cached")
    parser.add_argument("--workloads", nargs="+", default=None, help="subset of plain standard flash deep graded many")
    parser.add_argument("--deep-resting", type=int, default=None, help=f"deep: resting orders before timing ({DEEP_RESTING:,})")
    parser.add_argument("--depth-sweep", type=int, nargs="*", default=None,
                        help="deep: extra prefill depths for the throughput-vs-resting plot")
    parser.add_argument("--latency-calls", type=int, default=None, help="per-call latency sample (200,000)")
    parser.add_argument("--peer-size", type=int, default=None, help="side-by-side actions (200,000)")
    parser.add_argument("--scaling-size", type=int, default=None, help="parallel scaling actions (2,000,000)")
    parser.add_argument("--max-threads", type=int, default=None, help="scaling: up to this many threads (CPUs)")
    parser.add_argument("--skip", nargs="*", default=[], choices=PARTS, help="parts to leave out")
    parser.add_argument("--in-process", action="store_true", help="no worker subprocesses (RSS then not per workload)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)

    quick = args.quick
    sizes = args.sizes or (QUICK_SIZES if quick else DEFAULT_SIZES)
    runs = args.runs if not quick or args.runs != 5 else 3
    deep_resting = args.deep_resting or (20_000 if quick else DEEP_RESTING)
    sweep_depths = args.depth_sweep if args.depth_sweep is not None else (
        [] if quick else [1_000, 10_000, 100_000])
    latency_calls = args.latency_calls or (5_000 if quick else 200_000)
    peer_size = args.peer_size or (5_000 if quick else 200_000)
    scaling_size = args.scaling_size or (20_000 if quick else 2_000_000)
    max_threads = args.max_threads or os.cpu_count() or 1
    names = args.workloads or ["plain", "standard", "flash", "deep", "graded", "many"]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    subprocess_mode = not (args.in_process or quick)  # a worker process loads Numba afresh: seconds each
    if quick and "compile" not in args.skip:
        args.skip = [*args.skip, "compile"]

    report = {"date": time.strftime("%Y-%m-%d %H:%M"), "command": "python -m bench " + " ".join(argv or sys.argv[1:]),
              "machine": machine(), "workloads": []}
    if "workloads" not in args.skip:
        if subprocess_mode:
            report["baseline_rss_bytes"] = run_worker("standard", 1000, 1, args.seed, 1000)["maxrss_bytes"]
        for name in names:
            for n in sizes:
                log(f"workload {name} {n:,} ...")
                row = run_worker(name, n, runs, args.seed, deep_resting, subprocess_mode)
                report["workloads"].append(row)
                log(f"  kernel {row['kernel']['actions_per_s']:,.0f} actions/s "
                    f"({row['kernel']['ns_per_action']:.0f} ns/action), rss {row['maxrss_bytes'] / 2**20:,.0f} MiB")
        report["depth_sweep"] = []
        for depth in sweep_depths:
            log(f"deep sweep: prefill {depth:,} ...")
            report["depth_sweep"].append(run_worker("deep", sizes[0], runs, args.seed, depth, subprocess_mode))
    latencies = None
    if "latency" not in args.skip:
        log(f"per-call latency over {latency_calls:,} calls ...")
        report["latency"] = measure_latency(latency_calls, args.seed)
        latencies = report["latency"].pop("latencies_ns")
    if "compile" not in args.skip:
        log("JIT compile cold and cached ...")
        report["compile"] = measure_compile()
    if "peers" not in args.skip:
        log(f"side by side over {peer_size:,} actions ...")
        report["side_by_side"] = side_by_side(peer_size, runs, args.seed, log=log)
    if "scaling" not in args.skip:
        log(f"parallel scaling 1..{max_threads} threads over {scaling_size:,} actions ...")
        report["scaling"] = scaling(scaling_size, runs, max_threads, seed=args.seed)

    (out / "results.json").write_text(json.dumps(report, indent=1, default=float))
    report["plots"] = plots(report, out, latencies)
    text = markdown(report)
    (out / "results.md").write_text(text)
    log(text)
    log(f"wrote {out}/results.json, results.md" + "".join(f", {p}" for p in report["plots"]))
    return report


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        _, _, name, n, runs, seed, deep_resting = sys.argv
        print(json.dumps(measure_workload(name, int(n), int(runs), int(seed), int(deep_resting))))
    else:
        main()
