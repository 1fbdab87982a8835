"""Kernel CPU time beside the minimal book, for before/after comparisons on a shared machine.

    python -m bench.kernel_cpu [plain standard flash many] [--runs 7]

The runner's measurement of one workload (``runner.measure_workload``: 1 M actions, the
kernel over a prepared state and pre-touched buffers, the minimal book on the same rows,
runs alternating) timed in CPU time of this thread (``time.thread_time``), which other
jobs on the machine disturb less than wall time. Prints ns per action, the ratio (median
[min .. max] of the paired runs), ``run_batch`` end to end (best run, wall) and the event
and trade counts. Run it in two checkouts, alternating, to compare them. The throughput
runner (``python -m bench``) is the reference for published figures.
"""
from __future__ import annotations

import argparse
import time

from bench.runner import measure_workload
from bench.workloads import WORKLOADS


def measure(name: str, runs: int, size: int = 1_000_000) -> str:
    result = measure_workload(name, size, runs, clock=time.thread_time)
    ratio = result["vs_minimal"]
    batch = f"  run_batch {result['batch']['actions_per_s_max'] / 1e6:5.2f} M/s" if "batch" in result else ""
    return (f"{name:9s} kernel {result['kernel']['ns_per_action']:6.1f} ns"
            f"  minimal {result['minimal']['ns_per_action']:5.1f} ns"
            f"  ratio {ratio['median']:.2f} [{ratio['min']:.2f} .. {ratio['max']:.2f}]{batch}"
            f"  events {result['events']} trades {result['trades']}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workloads", nargs="*", default=["plain", "standard", "flash", "many"], choices=sorted(WORKLOADS))
    parser.add_argument("--runs", type=int, default=7, help="timed runs of each (at least 1)")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    for name in args.workloads:
        print(measure(name, args.runs), flush=True)


if __name__ == "__main__":
    main()
