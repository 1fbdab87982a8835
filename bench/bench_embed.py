"""Issue 13's figures: the three ways to embed the engine (pytest-benchmark).

    python3 -m pytest bench/bench_embed.py --benchmark-only -s

* njit: the standard mix (``bench.workloads.standard``) sent action by action from an
  ``@njit`` loop through ``exchange.embed`` (``new_order`` / ``cancel``), the loop reading
  each action's traded quantity; ns per action (target <= 150);
* lean per call: the plain workload through ``Exchange.submit_fast`` / ``cancel_fast``
  from Python, reading each call's traded quantity, as the side-by-side runner drives
  the peers; calls/s (target >= 1.5 M) and p50/p99 latency;
* apply: ``Exchange.apply`` over the standard mix in chunks of 1,000 actions
  (target >= 8 M actions/s).
"""
import time

import numpy as np
import pytest
from numba import njit

from bench.peers import ops
from bench.peers.ours_lean import Engine as Lean
from bench.workloads import plain, standard
from exchange import embed
from exchange.engine import Exchange
from exchange.schema import ACT_NEW, PRICE_ABSENT

N_NJIT = 1_000_000
N_CALLS = 200_000
N_APPLY = 1_000_000
CHUNK = 1000


@njit(cache=True)
def _njit_loop(h, actions, start):
    """actions[start:] through exchange.embed; returns (next row, code, traded volume)."""
    volume = 0
    for i in range(start, actions.shape[0]):
        a = actions[i]
        if a.action == ACT_NEW:
            price = embed.NO_PRICE if a.price_state == PRICE_ABSENT else a.price
            n = embed.new_order(h, a.ts, a.order_id, a.party, a.instrument, a.side, a.order_type, a.tif,
                                price, a.qty, a.min_grade, a.stp)
        else:
            n = embed.cancel(h, a.ts, a.order_id, a.party)
        if n < 0:
            return i, n, volume
        volume += embed.traded_qty(h)
    return actions.shape[0], 0, volume


def _exchange(config, parties, n):
    ex = Exchange(config)
    for name in parties:
        ex.party_index(name)
    ex.reserve(orders=n // 2, ids=0, dense_ids=n + 2, events=4 * n // 10, trades=n)
    return ex


def drive_njit(config, actions, parties, ex=None):
    ex = ex or _exchange(config, parties, len(actions))
    step, volume = 0, 0
    with ex.embedded() as emb:
        while step < len(actions):
            step, code, part = _njit_loop(emb.handle, actions, step)
            volume += part
            emb.resume(code)
    return ex, volume


@pytest.fixture(scope="module")
def standard_mix():
    config, actions, parties = standard(N_NJIT, seed=1)
    drive_njit(config, actions[:2000], parties)  # compile or load outside the timing
    return config, actions, parties


def test_njit_per_action_standard(benchmark, standard_mix):
    config, actions, parties = standard_mix

    def setup():  # a fresh exchange with room reserved, its pages touched: outside the timing
        ex = _exchange(config, parties, len(actions))
        for array in (*ex.embed_handle()[0], *ex.embed_handle()[1]):
            array[...] = array
        return (config, actions, parties, ex), {}

    ex, volume = benchmark.pedantic(drive_njit, setup=setup, rounds=5, iterations=1)
    assert volume == sum(t.qty for t in ex.trades()) > 0
    ns = benchmark.stats.stats.median / len(actions) * 1e9
    benchmark.extra_info["ns_per_action"] = ns
    print(f"\nnjit per action, standard mix: median {ns:.0f} ns/action "
          f"(min {benchmark.stats.stats.min / len(actions) * 1e9:.0f}, "
          f"max {benchmark.stats.stats.max / len(actions) * 1e9:.0f})")


def test_lean_per_call_plain(benchmark):
    config, actions, parties = plain(N_CALLS, seed=1)
    engine = Lean()
    prepared = engine.prepare(ops(actions), config, actions, parties)
    result = benchmark.pedantic(engine.run, args=(prepared,), rounds=5, iterations=1)
    assert result[0] > 10_000
    rate = len(actions) / benchmark.stats.stats.median
    benchmark.extra_info["calls_per_s"] = rate
    # latency: one more pass, each call timed
    _, _, calls = prepared
    ex = Exchange(config)
    for name in parties:
        ex.party_index(name)
    submit, cancel, clock = ex.submit_fast, ex.cancel_fast, time.perf_counter_ns
    latencies = np.empty(len(calls), np.int64)
    for i, (is_new, args) in enumerate(calls):
        start = clock()
        (submit if is_new else cancel)(*args)
        latencies[i] = clock() - start
    p50, p99 = np.percentile(latencies, [50, 99])
    print(f"\nlean per call, plain: median {rate / 1e6:.2f} M calls/s "
          f"(min {len(actions) / benchmark.stats.stats.max / 1e6:.2f}, max {len(actions) / benchmark.stats.stats.min / 1e6:.2f}); "
          f"p50 {p50:.0f} ns, p99 {p99:.0f} ns")


def drive_apply(config, actions, parties):
    ex = Exchange(config)
    for name in parties:
        ex.party_index(name)
    for start in range(0, len(actions), CHUNK):
        ex.apply(actions[start:start + CHUNK])
    return ex


def test_apply_in_chunks_standard(benchmark):
    config, actions, parties = standard(N_APPLY, seed=1)
    drive_apply(config, actions[:5000].copy(), parties)  # warm
    ex = benchmark.pedantic(drive_apply, args=(config, actions, parties), rounds=5, iterations=1)
    assert ex.trade_count() > 100_000
    rate = len(actions) / benchmark.stats.stats.median
    benchmark.extra_info["actions_per_s"] = rate
    print(f"\napply in chunks of {CHUNK:,}, standard: median {rate / 1e6:.2f} M actions/s "
          f"(min {len(actions) / benchmark.stats.stats.max / 1e6:.2f}, max {len(actions) / benchmark.stats.stats.min / 1e6:.2f})")
