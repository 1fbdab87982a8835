"""Where a first run's compile time goes, kernel by kernel (issue 14).

    python3 -m bench.compile_times                 # the README's first command, cold then warm
    python3 -m bench.compile_times --job exchange  # Exchange(config) and a few calls
    python3 -m bench.compile_times --job all       # replay, then Exchange, in one process

Each job runs in a fresh interpreter over an empty ``NUMBA_CACHE_DIR`` (cold: every
kernel compiles), then again over the same directory (warm: every kernel loads). A
listener on Numba's ``numba:compile`` event records, per kernel and signature, the
wall time and the compiling thread's CPU time, both inclusive (with the kernels it
compiled on the way, e.g. a callee that is not inlined) and exclusive. CPU time is
the figure to compare on a shared machine: wall time moves with the load, CPU time
much less. Reported with the load average (``os.getloadavg``) at the start and end.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

_CHILD = r"""
import json, os, sys, time
t_start = time.perf_counter()
from numba.core import event

records = []
stack = []

llvm = [0.0, 0]  # CPU seconds spent holding the LLVM lock, by the innermost compile

class LLVMListener(event.Listener):
    def on_start(self, ev):
        llvm[1] += 1
        if llvm[1] == 1:
            llvm.append(time.thread_time())
    def on_end(self, ev):
        llvm[1] -= 1
        if llvm[1] == 0 and stack:
            stack[-1][4] += time.thread_time() - llvm.pop()
        elif llvm[1] == 0:
            llvm.pop()

class Listener(event.Listener):
    def on_start(self, ev):
        stack.append([time.perf_counter(), time.thread_time(), 0.0, 0.0, 0.0])
    def on_end(self, ev):
        w0, c0, child_w, child_c, llvm_cpu = stack.pop()
        wall = time.perf_counter() - w0
        cpu = time.thread_time() - c0
        d = ev.data["dispatcher"]
        name = f"{d.py_func.__module__}.{d.py_func.__qualname__}"
        records.append({"kernel": name, "args": str(ev.data["args"])[:120], "wall_s": wall,
                        "cpu_s": cpu, "self_wall_s": wall - child_w, "self_cpu_s": cpu - child_c,
                        "llvm_cpu_s": llvm_cpu,
                        "depth": len(stack)})
        if stack:
            stack[-1][2] += wall
            stack[-1][3] += cpu

job = sys.argv[1]
out_dir = sys.argv[2]
phases = {}
with event.install_listener("numba:compile", Listener()), \
        event.install_listener("numba:llvm_lock", LLVMListener()):
    t0 = time.perf_counter()
    if job in ("replay", "all"):
        from compute_exchange.cli import main
        devnull = open(os.devnull, "w")
        saved = sys.stdout
        sys.stdout = devnull
        try:
            rc = main(["replay", "samples/orders.csv", "--out", out_dir])
        finally:
            sys.stdout = saved
        assert rc == 0, rc
        phases["replay_s"] = time.perf_counter() - t0
    if job in ("exchange", "all"):
        t1 = time.perf_counter()
        from exchange import ExchangeConfig
        from exchange.engine import Exchange
        ex = Exchange(ExchangeConfig.default())
        phases["exchange_init_s"] = time.perf_counter() - t1
        symbol = ex.config.instruments[0].symbol
        provider = ex.config.providers[0].party
        t2 = time.perf_counter()
        ex.submit(provider, symbol, "sell", 5, str(ex.config.instruments[0].price_max))
        ex.submit("b", symbol, "buy", 1, None, order_type="market")
        ex.book(); ex.order(1); ex.best_ask(symbol); ex.best_bid(symbol); ex.depth(symbol, "sell")
        ex.state_digest()
        phases["exchange_calls_s"] = time.perf_counter() - t2
print(json.dumps({"records": records, "phases": phases,
                  "process_s": time.perf_counter() - t_start}))
"""


def run_job(job: str, cache: str, out_dir: str) -> dict:
    env = dict(os.environ, NUMBA_CACHE_DIR=cache, PYTHONPATH=str(ROOT))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _CHILD, job, out_dir], capture_output=True,
                          text=True, env=env, cwd=ROOT)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(done.stderr[-4000:])
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["wall_s"] = wall
    result["cpu_s"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    result["stderr"] = done.stderr
    return result


def table(records: list[dict]) -> str:
    rows = sorted(records, key=lambda r: -r["self_cpu_s"])
    lines = [f"{'kernel':<48} {'self cpu s':>10} {'of it LLVM':>10} {'self wall s':>11} {'incl cpu s':>10}  signature",
             "-" * 110]
    for r in rows:
        lines.append(f"{r['kernel'][-48:]:<48} {r['self_cpu_s']:>10.2f} {r['llvm_cpu_s']:>10.2f} {r['self_wall_s']:>11.2f} "
                     f"{r['cpu_s']:>10.2f}  {r['args'][:60]}")
    total_cpu = sum(r["self_cpu_s"] for r in records)
    total_wall = sum(r["self_wall_s"] for r in records)
    lines.append("-" * 110)
    total_llvm = sum(r["llvm_cpu_s"] for r in records)
    lines.append(f"{'total (' + str(len(records)) + ' compiles)':<48} {total_cpu:>10.2f} {total_llvm:>10.2f} "
                 f"{total_wall:>11.2f}")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.compile_times", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--job", choices=("replay", "exchange", "all"), default="replay")
    parser.add_argument("--json", metavar="FILE", help="also write the raw records here")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="numba-cache-") as cache, \
            tempfile.TemporaryDirectory(prefix="replay-out-") as out_dir:
        cold = run_job(args.job, cache, out_dir)
        warm = run_job(args.job, cache, out_dir)
    load_after = os.getloadavg()
    print(table(cold["records"]))
    print()
    print(f"cold: process {cold['wall_s']:.2f} s wall, {cold['cpu_s']:.2f} s CPU ({cold['process_s']:.2f} s inside), phases "
          + ", ".join(f"{k} {v:.2f}" for k, v in cold["phases"].items()))
    print(f"warm: process {warm['wall_s']:.2f} s wall, {warm['cpu_s']:.2f} s CPU ({warm['process_s']:.2f} s inside), phases "
          + ", ".join(f"{k} {v:.2f}" for k, v in warm["phases"].items())
          + f"; compiles while warm: {len(warm['records'])}")
    print(f"load average (1, 5, 15 min): before {load_before[0]:.2f} {load_before[1]:.2f} "
          f"{load_before[2]:.2f}, after {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}")
    if cold["stderr"].strip():
        print("cold stderr:", cold["stderr"].strip().splitlines()[:3])
    if args.json:
        Path(args.json).write_text(json.dumps({"cold": cold, "warm": warm,
                                               "load": [load_before, load_after]}, indent=1))


if __name__ == "__main__":
    main()
