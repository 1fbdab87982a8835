"""Kernel CPU time beside the minimal book, for before/after comparisons on a shared machine.

    python -m bench.kernel_cpu [plain standard flash many] [--runs 7]

For each workload (1 M actions): the matching kernel over a prepared state and
pre-touched output buffers, and the minimal book (bench/minimal_book.py) on the same
rows, runs alternating, timed in CPU time of this thread (``time.thread_time``), which
other jobs on the machine disturb less than wall time. Prints ns per action, the ratio
(median [min .. max] of the paired runs), ``run_batch`` end to end (best of 3, wall) and
the event and trade counts. Run it in two checkouts, alternating, to compare them.
The throughput runner (``python -m bench``) is the reference for published figures.
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from bench.minimal_book import MinimalBook
from bench.runner import _touch
from bench.workloads import WORKLOADS
from exchange.engine import dense_ids, register_providers, run_batch, run_kernel
from exchange.nb.layout import C_EVENT_COUNT, C_TRADE_COUNT
from exchange.schema import ACT_NEW, EVENT_DTYPE, TRADE_DTYPE
from exchange.state import BookState


def measure(name: str, runs: int, size: int = 1_000_000) -> str:
    workload = WORKLOADS[name](size, 1)
    config, actions, parties = workload.config, workload.actions, list(workload.parties)
    run_batch(config, actions[:1000], parties)  # load the kernels outside timing
    n_new = int(np.count_nonzero(actions["action"] == ACT_NEW))
    base = BookState(config, order_capacity=max(1024, n_new // 2),
                     id_capacity=1 << max(4, (2 * n_new + 2).bit_length()),
                     party_capacity=max(64, len(parties) + len(config.providers)),
                     direct_ids=dense_ids(actions, n_new))
    register_providers(config, base, {p: i for i, p in enumerate(parties)}, parties)
    minimal = MinimalBook(actions, len(config.instruments))
    minimal.run()
    ours, yardstick = [], []
    for _ in range(runs):
        minimal.reset()
        start = time.thread_time()
        minimal.run()
        yardstick.append(time.thread_time() - start)
        state = base.copy()
        events = _touch(np.empty(3 * len(actions) + 64, EVENT_DTYPE))
        trades = _touch(np.empty(len(actions) + 64, TRADE_DTYPE))
        start = time.thread_time()
        run_kernel(state, actions, events, trades)
        ours.append(time.thread_time() - start)
    batch = []
    for _ in range(3):
        start = time.perf_counter()
        result = run_batch(config, actions, parties)
        batch.append(time.perf_counter() - start)
        del result
    ratios = sorted(a / b for a, b in zip(ours, yardstick))
    per = 1e9 / len(actions)
    return (f"{name:9s} kernel {statistics.median(ours) * per:6.1f} ns  minimal {statistics.median(yardstick) * per:5.1f} ns"
            f"  ratio {statistics.median(ratios):.2f} [{ratios[0]:.2f} .. {ratios[-1]:.2f}]"
            f"  run_batch {len(actions) / min(batch) / 1e6:5.2f} M/s"
            f"  events {int(state.counters[C_EVENT_COUNT])} trades {int(state.counters[C_TRADE_COUNT])}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workloads", nargs="*", default=["plain", "standard", "flash", "many"], choices=sorted(WORKLOADS))
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args(argv)
    for name in args.workloads:
        print(measure(name, args.runs), flush=True)


if __name__ == "__main__":
    main()
