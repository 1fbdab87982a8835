"""Where a per-call action's time goes (docs/API.md "Embedding the engine"), in one process.

    python3 -m bench.embed_costs

Times, per call, over resting limit orders that do not trade (the same for every form):
``submit`` (conversion, checks, kernel, ``Event``s); ``submit_fast`` (int checks, one address
table, ints back); the kernel call of each alone (``process_one``'s entry point with 15 arrays
and 14 ints; the lean entry with one table and 14 ints); and the same resting orders from an
``@njit`` loop through ``exchange.embed``. Medians of 5 passes of 20,000 calls.
"""
import statistics
import time

import numpy as np
from numba import njit

from bench.workloads import bench_config
from exchange import embed
from exchange.engine import Exchange
from exchange.entries import ENTRIES

N = 20_000


@njit(cache=True)
def _rest_many(h, first_id, party, n):
    for i in range(n):
        code = embed.new_order(h, 0, first_id + i, party, 0, 0, 0, 0, 600 + i % 100, 1, -1, 0)
        if code < 0:
            return code
    return 0


def _exchange():
    ex = Exchange(bench_config(1, single_grade=True))
    ex.reserve(orders=40 * N, ids=40 * N, events=80 * N + 8, trades=40 * N)
    return ex


def per_call(fn, n=N):
    start = time.perf_counter()
    fn(n)
    return (time.perf_counter() - start) / n * 1e9


def main():
    ex = _exchange()
    buyer = ex.party_index("b0")
    ex.submit_fast(buyer, 0, 0, 1, 500)
    ex.submit("b0", "I0", "buy", 1, "0.500")
    next_id = [10]

    def ids(n):
        first = next_id[0]
        next_id[0] += n
        return range(first, first + n)

    def submit(n):
        for i in ids(n):
            ex.submit("b0", "I0", "buy", 1, "0.600", order_id=i)

    def submit_fast(n):
        for i in ids(n):
            ex.submit_fast(buyer, 0, 0, 1, 600, 0, 0, i)

    def lean_entry(n):  # the kernel call alone: seq held, so these are duplicates (rejected)
        table = ex._lean_rebuilt()[3]
        for i in range(n):
            ENTRIES.lean_submit(table, ex._seq, ex._ts, 40, ex._ts, 10, buyer, 0, 0, 0, 0, 600, 1, -1, 0)

    def full_entry(n):
        kernel = ENTRIES.process_one
        arrays, out, row = ex._state.arrays, (ex._events, ex._trades), ex._action
        for i in range(n):
            kernel(arrays, out, row, ex._seq, ex._ts, 0, 10, buyer, 0, 0, 0, 0, 1, 600, 1, -1, 0, 0)

    def njit_loop(n):
        with ex.embedded() as emb:
            first = next_id[0]
            next_id[0] += n
            assert _rest_many(emb.handle, first, buyer, n) == 0

    forms = {"submit (Events)": submit, "submit_fast (ints)": submit_fast,
             "kernel call: process_one entry, 15 arrays + 14 ints": full_entry,
             "kernel call: lean entry, 1 table + 14 ints": lean_entry, "@njit loop via exchange.embed": njit_loop}
    for fn in forms.values():
        fn(1000)  # warm
    runs = {name: [per_call(fn) for _ in range(5)] for name, fn in forms.items()}
    for name, ns in runs.items():
        print(f"{name:55s} median {statistics.median(ns):7.0f} ns (min {min(ns):.0f}, max {max(ns):.0f})")
    print("load average", np.round(__import__("os").getloadavg(), 2))


if __name__ == "__main__":
    main()
