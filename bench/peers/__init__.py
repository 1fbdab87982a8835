"""Adapters that drive peer order-book engines (and ours) over the same plain workload.

The side-by-side workload (``bench.workloads.plain``) is a single-grade, factor-1.0
price-time book: limit GTC, limit IOC, market (IOC) orders and cancels of resting
orders, with sellers and buyers disjoint (no self-trade can occur). ``ops(actions)``
turns it into plain tuples ``(kind, order_id, is_buy, qty, price_ticks)`` that every
adapter replays; each returns ``(trade count, traded volume)``, which the runner
asserts equal across engines.

Each adapter module defines ``NAME``, ``PACKAGE`` (the PyPI name, None for ours) and
``Engine`` with ``prepare(ops, config, parties)`` (untimed) and ``run(prepared)``
(timed). A peer whose package is not installed is skipped with a message.
"""
from __future__ import annotations

import importlib

import numpy as np

from exchange.schema import ACT_CANCEL, ACT_NEW, IOC, MARKET, SELL

GTC_LIMIT, IOC_LIMIT, MARKET_ORDER, CANCEL = 0, 1, 2, 3
KIND_WORDS = {GTC_LIMIT: "limit/gtc", IOC_LIMIT: "limit/ioc", MARKET_ORDER: "market", CANCEL: "cancel"}

OURS = ("bench.peers.ours_batch", "bench.peers.ours_lean", "bench.peers.ours_percall", "bench.peers.ours_reference")
PEERS = ("bench.peers.liquibook_peer", "bench.peers.orderly_chaos_peer", "bench.peers.pyorderbook_peer")


def ops(actions: np.ndarray) -> list[tuple]:
    """The plain workload as ``(kind, order_id, is_buy, qty, price_ticks)`` tuples."""
    out = []
    fields = ("action", "order_id", "side", "order_type", "tif", "price", "qty")
    for action, order_id, side, order_type, tif, price, qty in zip(*(actions[f].tolist() for f in fields)):
        if action == ACT_CANCEL:
            out.append((CANCEL, order_id, False, 0, 0))
        elif action == ACT_NEW:
            kind = MARKET_ORDER if order_type == MARKET else IOC_LIMIT if tif == IOC else GTC_LIMIT
            out.append((kind, order_id, side != SELL, qty, price))
        else:
            raise ValueError(f"plain workload: unexpected action {action}")
    return out


def load(modules=OURS + PEERS, log=print):
    """(module, version) of each adapter whose engine imports; a message for the others."""
    loaded = []
    for name in modules:
        module = importlib.import_module(name)
        try:
            version = module.available()
        except ImportError as error:
            log(f"peer {module.NAME}: skipped, package {module.PACKAGE!r} not installed ({error}); "
                f"pip install '.[bench]'")
            continue
        loaded.append((module, version))
    return loaded
