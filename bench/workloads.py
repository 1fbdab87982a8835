"""Documented workloads, generated with numpy from a seed (same seed, same actions).

``standard``: one instrument, 4 grades; 55% limit orders around the mid (resting
mostly), 30% cancels of orders placed earlier, 15% marketable orders (IOC limits
through the mid and market orders). Each returns ``(config, actions, parties)``
ready for ``exchange.engine.run_batch``.
"""
from __future__ import annotations

import numpy as np

from exchange.config import ExchangeConfig
from exchange.schema import (
    ACT_CANCEL, ACT_NEW, ACTION_DTYPE, BUY, GRADE_ABSENT, GTC, IOC, LIMIT, MARKET, NO_VALUE,
    PRICE_ABSENT, PRICE_OK, SELL,
)

GRADE_FACTORS = (9500, 9000, 8000, 7000)
PROVIDER_GOODPUT = ("0.97", "0.96", "0.92", "0.91", "0.85", "0.82", "0.74", "0.71")


def bench_config(n_instruments: int = 1, single_grade: bool = False) -> ExchangeConfig:
    """Instruments I0..In-1 (tick 0.001, band 0.500..20.000) and 8 providers over 4 grades.

    ``single_grade``: one grade with factor 1.0, so effective price = raw price
    (the plain price-time book that peer engines implement)."""
    lines = []
    if single_grade:
        lines += ["[grades]", "A = 10000", ""]
    for i in range(n_instruments):
        lines += ["[[instrument]]", f'symbol = "I{i}"', 'tick = "0.001"', 'price_min = "0.500"',
                  'price_max = "20.000"', ""]
    for k, goodput in enumerate(PROVIDER_GOODPUT):
        lines += ["[[provider]]", f'party = "p{k}"', f'goodput = "{"1" if single_grade else goodput}"', ""]
    return ExchangeConfig.from_toml("\n".join(lines), source="<bench config>")


def standard(n: int, seed: int = 1, n_instruments: int = 1, single_grade: bool = False,
             mid: int = 2000, spread_ticks: int = 60):
    """The standard mix (see module docstring); ``mid`` in ticks of effective price."""
    config = bench_config(n_instruments, single_grade)
    rng = np.random.default_rng(seed)
    n_providers = len(PROVIDER_GOODPUT)
    n_buyers = 32
    parties = [f"p{k}" for k in range(n_providers)] + [f"b{k}" for k in range(n_buyers)]
    factors = np.array([10000 if single_grade else GRADE_FACTORS[k // 2] for k in range(n_providers)])

    kind = rng.random(n)
    is_cancel = (kind >= 0.55) & (kind < 0.85)
    is_marketable = kind >= 0.85
    is_new = ~is_cancel
    side = rng.integers(0, 2, n).astype(np.int8)
    seller = rng.integers(0, n_providers, n)
    buyer = n_providers + rng.integers(0, n_buyers, n)
    party = np.where(side == SELL, seller, buyer)
    offset = rng.integers(1, spread_ticks, n)
    mids = np.full(n, mid, np.int64) if isinstance(mid, int) else np.asarray(mid, np.int64)
    # Effective price target: bids below the mid, asks above; marketable ones cross it.
    effective = np.where(side == BUY, mids - offset, mids + offset)
    effective = np.where(is_marketable, np.where(side == BUY, mids + 2 * spread_ticks, mids - 2 * spread_ticks), effective)
    raw_ask = effective * factors[seller] // 10000
    price = np.where(side == SELL, raw_ask, effective)
    qty = rng.integers(1, 20, n)

    actions = np.zeros(n, ACTION_DTYPE)
    actions["seq"] = np.arange(n)
    actions["ts"] = np.arange(n)
    actions["order_id"] = np.arange(1, n + 1)
    actions["action"] = np.where(is_cancel, ACT_CANCEL, ACT_NEW)
    actions["party"] = party
    actions["instrument"] = rng.integers(0, n_instruments, n) if n_instruments > 1 else 0
    actions["side"] = side
    market = is_marketable & (rng.random(n) < 0.3)
    actions["order_type"] = np.where(market, MARKET, LIMIT)
    actions["tif"] = np.where(is_marketable, IOC, GTC)
    actions["price_state"] = np.where(market, PRICE_ABSENT, PRICE_OK)
    actions["price"] = np.where(market, 0, price + 500)  # ticks are absolute: 0.500 = 500 ticks
    actions["qty"] = qty
    actions["min_grade"] = GRADE_ABSENT

    # Cancels name an earlier resting-type order (and its party), up to ~2000 actions back.
    new_index = np.flatnonzero(is_new & ~is_marketable)
    cancel_index = np.flatnonzero(is_cancel)
    position = np.searchsorted(new_index, cancel_index) - 1
    back = rng.integers(0, 2000, cancel_index.shape[0])
    target = new_index[np.clip(position - back % np.maximum(position, 1), 0, None)]
    valid = position >= 0
    actions["order_id"][cancel_index[valid]] = target[valid] + 1
    actions["party"][cancel_index] = np.where(valid, party[target], 0)
    actions["qty"][cancel_index] = NO_VALUE
    actions["price_state"][cancel_index] = PRICE_ABSENT
    return config, actions, parties
