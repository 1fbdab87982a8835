"""A small agent-based market whose agents are ``@njit`` code (exchange/embed.py).

Providers quote asks around a drifting mid and move them (replace), cancel stale ones
and now and then report a new goodput (regrade); buyers post bids or take the best
offers with IOC orders, some under ``cancel_resting`` self-trade prevention. Every
decision and every call into the exchange happens inside one compiled loop; Python only
sets up, grows arrays when the loop says one is full, and reads the results through the
ordinary ``Exchange`` API.

    python3 examples/njit_agents.py --steps 1000000

Decisions come from a counter-based random number (splitmix64 of seed and step), so a
run is deterministic, and the loop can stop before any step and resume there.
"""
from __future__ import annotations

import argparse
import time
from decimal import Decimal

import numpy as np
from numba import njit

from exchange import embed
from exchange.config import ExchangeConfig
from exchange.engine import Exchange
from exchange.schema import EV_REJECTED

SYMBOL = "H100-SXM.2027-01"
GOODPUTS = np.array([9712, 9300, 8600, 7400, 9550, 9050], np.int64)  # bp a provider may report


@njit(cache=True)
def _random(seed, step, k):
    """splitmix64 of (seed, step, k): 64 random bits, the same for the same inputs."""
    z = np.uint64(seed) * np.uint64(0x9E3779B97F4A7C15) + np.uint64(step) * np.uint64(0xBF58476D1CE4E5B9) \
        + np.uint64(k) * np.uint64(0x94D049BB133111EB)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@njit(cache=True)
def _below(seed, step, k, n):
    return np.int64(_random(seed, step, k) % np.uint64(n))


@njit(cache=True)
def run_agents(h, step, n_steps, seed, providers, buyers, quotes, instrument, stats, corridor):
    """Steps ``step`` .. ``n_steps - 1``; returns (next step, 0) when done, or (the step
    not yet taken, a negative code) for Python to act on (``Embedding.resume``).

    ``quotes[p]``: the order id of provider p's live quote (0: none). ``stats``: mid,
    actions, events, traded GPU-hours, rejected (REJECTED events). The mid stays within
    ``corridor`` (lowest, highest), in price units."""
    for s in range(step, n_steps):
        need = embed.room(h)
        if need != 0:
            return s, -need
        ts = s  # one action per tick of the simulated clock
        order_id = embed.next_seq(h) + 1  # seqs never repeat, so neither do these ids
        mid = stats[0]
        dice = _below(seed, s, 0, 100)
        if dice < 45:  # a provider quotes: a fresh ask, or it moves the one it has
            p = _below(seed, s, 1, providers.shape[0])
            price = mid + 1 + _below(seed, s, 2, 40)
            qty = 1 + _below(seed, s, 3, 20)
            if quotes[p] != 0 and dice < 15:
                count = embed.replace(h, ts, quotes[p], providers[p], price, qty)
            else:
                count = embed.new_order(h, ts, order_id, providers[p], instrument, embed.SELL, embed.LIMIT,
                                        embed.GTC, price, qty, embed.GRADE_ABSENT, embed.STP_CANCEL_INCOMING)
                if count > 0 and embed.events(h)[count - 1].leaves_qty > 0:
                    quotes[p] = order_id
        elif dice < 60:  # a provider withdraws its quote
            p = _below(seed, s, 1, providers.shape[0])
            count = embed.cancel(h, ts, quotes[p] if quotes[p] != 0 else order_id, providers[p])
            quotes[p] = 0
        elif dice < 62:  # a provider reports a new goodput (a change of grade cancels its asks)
            p = _below(seed, s, 1, providers.shape[0])
            count = embed.regrade(h, ts, providers[p], GOODPUTS[_below(seed, s, 2, GOODPUTS.shape[0])])
        else:  # a buyer bids below the mid, or takes what is offered up to a limit
            b = buyers[_below(seed, s, 1, buyers.shape[0])]
            take = dice >= 85
            price = mid * 3 // 2 if take else mid - 1 - _below(seed, s, 2, 40)  # effective: asks / grade factor
            stp = embed.STP_CANCEL_RESTING if dice >= 95 else embed.STP_CANCEL_INCOMING
            count = embed.new_order(h, ts, order_id, b, instrument, embed.BUY, embed.LIMIT,
                                    embed.IOC if take else embed.GTC, price, 1 + _below(seed, s, 3, 30),
                                    embed.GRADE_ABSENT, stp)
            traded = embed.traded_qty(h)
            if traded > 0:  # buying pressure lifts the mid, resting bids lower it (within the corridor)
                stats[0] = min(mid + 1, corridor[1])
            elif not take and _below(seed, s, 4, 16) == 0:
                stats[0] = max(mid - 1, corridor[0])
        if count < 0:
            return s, count
        stats[1] += 1
        stats[2] += count
        stats[3] += embed.traded_qty(h)
        happened = embed.events(h)
        for i in range(happened.shape[0]):
            if happened[i].event == EV_REJECTED:
                stats[4] += 1
    return n_steps, 0


def simulate(steps: int, seed: int = 1, exchange: Exchange | None = None, reserve: bool = True):
    """Run ``steps`` agent steps on ``exchange`` (default: a fresh one over the bundled
    configuration); returns (exchange, stats dict)."""
    ex = exchange or Exchange(ExchangeConfig.default())
    providers = np.array([ex.party_index(p.party) for p in ex.config.providers[:6]], np.int64)
    buyers = np.array([ex.party_index(f"lab-{k}") for k in range(16)] + list(providers[:2]), np.int64)
    instrument = ex.instrument_index(SYMBOL)
    unit = ex.config.price_unit
    stats = np.zeros(5, np.int64)
    stats[0] = int(Decimal("2.000") / unit)  # mid 2.000 $/GPU-hour, in price units
    corridor = np.array([int(Decimal("1.500") / unit), int(Decimal("2.500") / unit)], np.int64)
    quotes = np.zeros(len(providers), np.int64)
    if reserve:
        ex.reserve(orders=steps // 2 + 1024, ids=steps + 1024, events=4096)
    step = 0
    with ex.embedded() as emb:
        while step < steps:
            step, code = run_agents(emb.handle, step, steps, seed, providers, buyers, quotes, instrument, stats,
                                      corridor)
            emb.resume(code)
    return ex, {"mid": int(stats[0]), "actions": int(stats[1]), "events": int(stats[2]),
                "traded": int(stats[3]), "rejected": int(stats[4])}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    simulate(1000, args.seed)  # compile (or load from the cache) outside the timing
    start = time.perf_counter()
    ex, stats = simulate(args.steps, args.seed)
    seconds = time.perf_counter() - start
    print(f"{stats['actions']:,} actions in {seconds:.3f} s ({seconds / max(1, stats['actions']) * 1e9:.0f} ns "
          f"an action, agents' decisions included): {len(ex.trades()):,} trades, {stats['traded']:,} GPU-hours, "
          f"{len(ex.book()):,} resting, {stats['rejected']:,} rejected, mid {stats['mid']}")


if __name__ == "__main__":
    main()
