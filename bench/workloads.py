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


def bench_config(n_instruments: int = 1, single_grade: bool = False, price_min: str = "0.500",
                 price_max: str = "20.000", provider_goodput=PROVIDER_GOODPUT) -> ExchangeConfig:
    """Instruments I0..In-1 (tick 0.001, band 0.500..20.000) and 8 providers over 4 grades.

    ``single_grade``: one grade with factor 1.0, so effective price = raw price
    (the plain price-time book that peer engines implement)."""
    lines = []
    if single_grade:
        lines += ["[grades]", "A = 10000", ""]
    for i in range(n_instruments):
        lines += ["[[instrument]]", f'symbol = "I{i}"', 'tick = "0.001"', f'price_min = "{price_min}"',
                  f'price_max = "{price_max}"', ""]
    for k, goodput in enumerate(provider_goodput):
        lines += ["[[provider]]", f'party = "p{k}"', f'goodput = "{"1" if single_grade else goodput}"', ""]
    return ExchangeConfig.from_toml("\n".join(lines), source="<bench config>")


def standard(n: int, seed: int = 1, n_instruments: int = 1, single_grade: bool = False,
             mid: int = 2000, spread_ticks: int = 60, config: ExchangeConfig | None = None):
    """The standard mix (see module docstring); ``mid`` in ticks of effective price
    above the band's lowest price (an int, or one per action)."""
    config = config or bench_config(n_instruments, single_grade)
    floor_ticks = config.instruments[0].min_ticks
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
    actions["price"] = np.where(market, 0, price + floor_ticks)  # ticks are absolute: 0.500 = 500 ticks
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


# ------------------------------------------------------------ the runner's workloads
from dataclasses import dataclass, field  # noqa: E402

from exchange.schema import ACT_CLOSE, ACT_GRADE, ACT_REPLACE, GRADE_UNKNOWN  # noqa: E402


@dataclass
class Workload:
    """What the runner times: ``actions`` applied after ``prefill`` (untimed) to a
    fresh exchange of ``config``; party indexes name ``parties``."""

    name: str
    config: ExchangeConfig
    actions: np.ndarray
    parties: list
    prefill: np.ndarray = field(default_factory=lambda: np.zeros(0, ACTION_DTYPE))
    description: str = ""


def _renumber(*parts):
    """Concatenate action arrays with seq/ts 0, 1, 2, ... over the whole stream."""
    stream = np.concatenate(parts)
    stream["seq"] = np.arange(len(stream))
    stream["ts"] = np.arange(len(stream))
    return stream


def flash_mids(n: int, high: int = 12_000, low: int = 1_500) -> np.ndarray:
    """Mid per action: steady at ``high``, crash to ``low`` (10,500 ticks), hold, recover."""
    knots_x = np.array([0, 0.25, 0.35, 0.55, 0.75, 1.0]) * max(n - 1, 1)
    knots_y = np.array([high, high, low, low, high, high])
    return np.interp(np.arange(n), knots_x, knots_y).astype(np.int64)


def w_standard(n: int, seed: int = 1) -> Workload:
    config, actions, parties = standard(n, seed)
    return Workload("standard", config, actions, parties,
                    description="one instrument, 4 grades: 55% limits around the mid, 30% cancels, 15% marketable")


def w_flash(n: int, seed: int = 1) -> Workload:
    config, actions, parties = standard(n, seed, mid=flash_mids(n))
    return Workload("flash", config, actions, parties,
                    description="standard mix while the mid crashes 12.000 -> 1.500 (10,500 ticks) and recovers")


def deep_prefill(resting: int, seed: int, config: ExchangeConfig, mid: int = 2000, id_base: int = 0):
    """``resting`` non-crossing GTC orders spread over thousands of levels on both sides
    (bids below mid - 100 ticks, asks above mid + 100 ticks in effective price)."""
    rng = np.random.default_rng(seed + 1000)
    n_providers = len(PROVIDER_GOODPUT)
    floor_ticks = config.instruments[0].min_ticks
    single = len(config.grades) == 1
    factors = np.array([10000 if single else GRADE_FACTORS[k // 2] for k in range(n_providers)])
    side = rng.integers(0, 2, resting).astype(np.int8)
    seller = rng.integers(0, n_providers, resting)
    buyer = n_providers + rng.integers(0, 32, resting)
    distance = 100 + rng.integers(0, 1400, resting)
    effective = np.where(side == BUY, mid - distance, mid + distance)
    raw_ask = effective * factors[seller] // 10000
    actions = np.zeros(resting, ACTION_DTYPE)
    actions["action"] = ACT_NEW
    actions["order_id"] = id_base + np.arange(1, resting + 1)
    actions["party"] = np.where(side == SELL, seller, buyer)
    actions["instrument"] = 0
    actions["side"] = side
    actions["order_type"] = LIMIT
    actions["tif"] = GTC
    actions["price_state"] = PRICE_OK
    actions["price"] = np.where(side == SELL, raw_ask, effective) + floor_ticks
    actions["qty"] = rng.integers(1, 20, resting)
    actions["min_grade"] = GRADE_ABSENT
    return actions


def w_deep(n: int, seed: int = 1, resting: int = 1_000_000) -> Workload:
    """``resting`` orders rest before the timed standard mix (ids above them)."""
    config, actions, parties = standard(n, seed)
    prefill = deep_prefill(resting, seed, config)
    actions = actions.copy()
    actions["order_id"] += resting  # cancels name ids of the timed part, shifted alike
    stream = _renumber(prefill, actions)
    return Workload("deep", config, stream[resting:], parties, stream[:resting],
                    description=f"{resting:,} resting orders (untimed), then the standard mix")


def w_graded(n: int, seed: int = 1, n_providers: int = 200, grade_rate: float = 0.05) -> Workload:
    """Many providers; ``grade_rate`` of the rows regrade one across a grade floor."""
    rng = np.random.default_rng(seed + 2000)
    floors = np.array(GRADE_FACTORS)
    base_grade = rng.integers(0, len(floors), n_providers)
    base = floors[base_grade] + rng.integers(50, 400, n_providers)
    goodput = tuple(f"{b / 10000:.4f}" for b in base)
    config = bench_config(1, provider_goodput=goodput)
    _, actions, _ = standard(n, seed, config=config)
    parties = [f"p{k}" for k in range(n_providers)] + [f"b{k}" for k in range(32)]
    sells = actions["side"] == SELL
    buyers = ~sells & (actions["action"] == ACT_NEW)
    # Sellers drawn over all providers; the buyers keep their 32 indexes after them.
    seller = rng.integers(0, n_providers, n)
    actions["party"] = np.where(sells & (actions["action"] == ACT_NEW), seller, actions["party"])
    actions["party"] = np.where(buyers, actions["party"] - 8 + n_providers, actions["party"])
    # Cancels follow their order's (re-mapped) party.
    cancel = np.flatnonzero(actions["action"] == ACT_CANCEL)
    by_id = np.full(n + 2, 0, np.int64)
    new = np.flatnonzero(actions["action"] == ACT_NEW)
    by_id[actions["order_id"][new]] = actions["party"][new]
    actions["party"][cancel] = by_id[np.clip(actions["order_id"][cancel], 0, n + 1)]
    # Regrades: a provider moves one grade up or down across a floor (or back).
    is_grade = rng.random(n) < grade_rate
    who = rng.integers(0, n_providers, n)
    step = rng.choice(np.array([-1, 1]), n)
    target = np.clip(base_grade[who] + step, 0, len(floors) - 1)
    target = np.where(rng.random(n) < 0.5, base_grade[who], target)
    new_goodput = floors[target] + rng.integers(0, 300, n)
    g = np.flatnonzero(is_grade)
    actions["action"][g] = ACT_GRADE
    actions["party"][g] = who[g]
    actions["goodput"][g] = new_goodput[g]
    actions["order_id"][g] = 0
    actions["instrument"][g] = -1
    return Workload("graded", config, actions, parties,
                    description=f"{n_providers} providers, {grade_rate:.0%} of rows regrade one across a floor")


def w_many(n: int, seed: int = 1, n_instruments: int = 1000) -> Workload:
    """1,000 instruments with a narrow band (1.000..5.000: 4,001 levels a ladder)."""
    config = bench_config(n_instruments, price_min="1.000", price_max="5.000")
    _, actions, parties = standard(n, seed, n_instruments=n_instruments, config=config, mid=1500)
    route_cancels(actions)
    return Workload("many", config, actions, parties,
                    description=f"standard mix over {n_instruments:,} instruments (band 1.000..5.000)")


def route_cancels(actions):
    """Give cancel rows the instrument of the order they name (for readability only:
    the engine ignores a cancel's instrument)."""
    new = np.flatnonzero(actions["action"] == ACT_NEW)
    ins = np.full(len(actions) + 2, -1, np.int64)
    ins[actions["order_id"][new]] = actions["instrument"][new]
    cancel = np.flatnonzero(actions["action"] == ACT_CANCEL)
    actions["instrument"][cancel] = ins[np.clip(actions["order_id"][cancel], 0, len(actions) + 1)]


def w_plain(n: int, seed: int = 1) -> Workload:
    """The side-by-side workload (``plain``): one grade of factor 1.0, valid cancels only."""
    config, actions, parties = plain(n, seed)
    return Workload("plain", config, actions, parties,
                    description="one grade (factor 1.0), limits, IOC and market orders, valid cancels")


WORKLOADS = {"plain": w_plain, "standard": w_standard, "flash": w_flash, "deep": w_deep, "graded": w_graded,
             "many": w_many}


def plain(n: int, seed: int = 1):
    """The side-by-side workload: ``standard(single_grade=True)`` (factor 1.0, effective =
    raw price) with the cancels that would be rejected (order no longer resting) dropped,
    so every engine sees only plain limit (gtc/ioc), market and valid cancels. Sellers
    are providers and buyers are not, so no self-trade can occur.

    Returns ``(config, actions, parties)``."""
    from exchange.engine import run_batch
    from exchange.schema import EV_REJECTED

    config, actions, parties = standard(n, seed, single_grade=True)
    events = run_batch(config, actions, parties).events
    rejected = np.zeros(n, bool)
    rejected[events["seq"][events["event"] == EV_REJECTED]] = True
    actions = actions[~rejected]
    actions["seq"] = np.arange(len(actions))
    actions["ts"] = np.arange(len(actions))
    return config, actions, parties


def mixed(n: int, seed: int = 1, n_instruments: int = 4, grade_rate: float = 0.02,
          replace_rate: float = 0.05, reuse_rate: float = 0.01, close_rate: float = 1.0,
          odd_rate: float = 0.01, shared_ids: bool = False):
    """A random multi-instrument stream for equivalence tests: the standard mix plus
    regrades across floors, replaces (keep and lose priority), reused ids (in the same
    instrument; across instruments too when ``shared_ids``), closes, unknown
    instruments and grades, and rows from non-providers."""
    rng = np.random.default_rng(seed + 3000)
    config, actions, parties = standard(n, seed, n_instruments=n_instruments)
    route_cancels(actions)
    kind = rng.random(n)
    new = actions["action"] == ACT_NEW
    # Replaces of earlier orders: new price and/or qty.
    rep = np.flatnonzero((kind < replace_rate) & (actions["action"] == ACT_CANCEL))
    actions["action"][rep] = ACT_REPLACE
    qty = rng.integers(1, 25, len(rep))
    actions["qty"][rep] = np.where(rng.random(len(rep)) < 0.7, qty, NO_VALUE)
    has_price = (rng.random(len(rep)) < 0.5) | (actions["qty"][rep] == NO_VALUE)
    actions["price_state"][rep] = np.where(has_price, PRICE_OK, PRICE_ABSENT)
    actions["price"][rep] = 500 + 2000 + rng.integers(-80, 80, len(rep))
    # Reused ids: a new row takes the id of an earlier new row (same instrument unless shared_ids).
    reuse = np.flatnonzero(new & (rng.random(n) < reuse_rate))
    reuse = reuse[reuse > 10]
    earlier = (reuse * rng.random(len(reuse))).astype(np.int64)
    earlier_new = np.flatnonzero(new)
    pick = earlier_new[np.clip(np.searchsorted(earlier_new, earlier), 0, len(earlier_new) - 1)]
    pick = np.minimum(pick, reuse - 1)
    ok = actions["action"][pick] == ACT_NEW
    reuse, pick = reuse[ok], pick[ok]
    actions["order_id"][reuse] = actions["order_id"][pick]
    if not shared_ids:
        actions["instrument"][reuse] = actions["instrument"][pick]
    # Regrades across floors (and to ungraded), grade rows from new parties.
    g = np.flatnonzero((kind > 1 - grade_rate) & (actions["action"] == ACT_CANCEL))
    actions["action"][g] = ACT_GRADE
    actions["party"][g] = rng.integers(0, len(PROVIDER_GOODPUT) + 2, len(g))
    actions["goodput"][g] = rng.choice(np.array([9700, 9400, 9100, 8900, 8100, 7900, 7100, 6900, 9500]), len(g))
    actions["order_id"][g] = 0
    actions["instrument"][g] = -1
    # Odd rows: unknown instrument, unknown grade, bad price, non-provider sells, FOK/post-only.
    odd = np.flatnonzero(new & (rng.random(n) < odd_rate))
    what = rng.integers(0, 6, len(odd))
    actions["instrument"][odd[what == 0]] = -1
    actions["min_grade"][odd[what == 1]] = np.where(actions["side"][odd[what == 1]] == BUY, GRADE_UNKNOWN, 1)
    actions["price"][odd[what == 2]] = 99_999_999
    actions["tif"][odd[what == 3]] = np.where(actions["order_type"][odd[what == 3]] == LIMIT, 2, IOC)
    actions["tif"][odd[what == 4]] = np.where(actions["order_type"][odd[what == 4]] == LIMIT, 3, IOC)
    buy = odd[(what == 5) & (actions["side"][odd] == BUY)]  # providers buying: self-trades
    actions["party"][buy] = rng.integers(0, len(PROVIDER_GOODPUT), len(buy))
    # Closes: one instrument late in the stream, and a second close of it (rejected).
    if close_rate > 0 and n >= 20:
        c = np.array([int(n * 0.8), int(n * 0.9)])
        actions["action"][c] = ACT_CLOSE
        actions["instrument"][c] = rng.integers(0, n_instruments)
    return config, actions, parties
