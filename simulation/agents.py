"""The agents of the compute-market simulation, each kind held as numpy columns.

Every decision is made for all agents of a kind at once (one numpy expression
per hour), then the market turns the decisions into per-call API actions.
Nothing here touches the exchange: agents see only the reference prices, the
clock and their own fills, as the market reports them.

* ``Providers`` own capacity in one or more instruments. Their goodput drifts
  around a long-run quality and sometimes drops into an outage; every few hours
  they report it (``Exchange.regrade``) and the exchange regrades them. They
  quote *raw* prices: the effective price they want times their grade factor.
* ``Buyers`` come in three sizes. Their demand (GPU-hours wanted in the window)
  grows every day and sometimes jumps; they bid *effective* prices with a
  ``min_grade``. Some are cheap buyers: simple work routed to older, cheaper
  capacity (A100 windows first), accepting the lowest grade at a discount.
* ``MarketMakers`` (one per instrument) quote both sides around the reference
  price, skewed by their inventory. To sell they must be providers, so they are
  registered with a steady goodput.

Prices inside are floats in dollars per GPU-hour only until they are rounded
to whole ticks; the exchange only ever sees exact decimal text.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Effective price premium of each grade rank (best first) over the reference price.
PREMIUM_BEST = 0.05
PREMIUM_STEP = 0.04

SIZES = ("small", "medium", "large")
SIZE_SHARE = (0.70, 0.25, 0.05)
# Demand in GPU-hours for the window at the start (lognormal median), hours between actions.
SIZE_DEMAND = (400.0, 5_000.0, 55_000.0)
SIZE_ACT_EVERY = (60.0, 24.0, 8.0)
# Quality buyers' minimum grade, best first: 15 % the best, 50 % the second, 35 % the third.
QUALITY_MIX = (0.15, 0.5, 0.35)


def grade_premium(n_grades: int) -> np.ndarray:
    """Premium of each grade rank: the best grade costs more per effective hour."""
    return PREMIUM_BEST - PREMIUM_STEP * np.arange(n_grades + 1, dtype=np.float64)


@dataclass
class Providers:
    """Sellers of capacity. ``index`` is each provider's agent index in the market."""

    names: list
    quality: np.ndarray  # long-run goodput, bp (float)
    goodput: np.ndarray  # current underlying goodput, bp (float)
    outage_left: np.ndarray  # hours of outage still to come (0: up)
    serves: np.ndarray  # bool [provider, instrument]
    capacity: np.ndarray  # GPU-hours for sale per instrument window [provider, instrument]
    markup: np.ndarray  # own premium over the grade's price
    reported_bp: np.ndarray  # last goodput reported to the exchange, bp (int)

    @classmethod
    def create(cls, rng: np.random.Generator, config_providers, n_sim: int, n_instruments: int,
               grades_floor: np.ndarray) -> "Providers":
        """The config's providers (their goodput as quality) plus ``n_sim`` simulated ones."""
        names = [p.party for p in config_providers] + [f"p.sim{k:04d}" for k in range(n_sim)]
        n = len(names)
        lowest = float(grades_floor[-1])
        simulated = rng.uniform(lowest - 300.0, 9850.0, size=n_sim)
        quality = np.concatenate([np.array([p.goodput_bp for p in config_providers], np.float64), simulated])
        serves = rng.random((n, n_instruments)) < 0.45
        serves[np.arange(n), rng.integers(0, n_instruments, size=n)] = True
        capacity = np.where(serves, np.round(rng.lognormal(np.log(200_000.0), 0.8, size=(n, n_instruments))), 0.0)
        return cls(
            names=names,
            quality=quality,
            goodput=quality.copy(),
            outage_left=np.zeros(n, np.int64),
            serves=serves,
            capacity=capacity,
            markup=rng.normal(0.0, 0.02, size=n),
            reported_bp=np.round(quality).astype(np.int64),
        )

    def __len__(self) -> int:
        return len(self.names)

    def measure(self, rng: np.random.Generator, hours: int) -> np.ndarray:
        """Advance goodput by ``hours`` and return what each provider measures now (bp).

        The underlying goodput reverts to the provider's quality with a little
        noise; an outage (about one every two months per provider) lasts one to
        three days and takes 10-45 points of goodput off while it lasts.
        """
        n = len(self)
        scale = hours / 6.0
        noise = rng.standard_normal(n)
        start = rng.random(n) < 0.004 * scale
        length = rng.integers(12, 72, size=n)
        drop = rng.uniform(1000.0, 4500.0, size=n)
        self.goodput += 0.15 * scale * (self.quality - self.goodput) + 35.0 * np.sqrt(scale) * noise
        self.goodput = np.clip(self.goodput, 0.0, 10_000.0)
        self.outage_left = np.where(self.outage_left > 0, np.maximum(self.outage_left - hours, 0),
                                    np.where(start, length, 0))
        measured = np.where(self.outage_left > 0, self.goodput - drop, self.goodput)
        return np.clip(np.round(measured), 0, 10_000).astype(np.int64)

    def quotes(self, rng: np.random.Generator, grade: np.ndarray, ref: np.ndarray, open_inst: np.ndarray,
               unsold: np.ndarray, elapsed: float, floors: np.ndarray, cost: np.ndarray,
               quote_rate: float = 0.18):
        """Asks for this hour: (provider, instrument, qty, raw price in $).

        A provider that is up and graded quotes with probability ``quote_rate``,
        in the instrument where it has most unsold capacity left (weighted at
        random), a chunk of 2-8 % of its capacity there. Its effective price is
        the reference plus its grade's premium and its markup, less a discount
        that grows as the window runs out with capacity unsold, never below
        ``cost`` (per instrument, effective $) plus the grade's premium.
        """
        n, n_grades = len(self), len(floors)
        available = np.where(self.serves & open_inst[None, :], np.maximum(unsold, 0.0), 0.0)
        weights = available * rng.random(available.shape)
        inst = np.argmax(weights, axis=1)
        left = available[np.arange(n), inst]
        act = (rng.random(n) < quote_rate) & (self.outage_left == 0) & (grade < n_grades) & (left > 0)
        who = np.flatnonzero(act)
        inst = inst[who]
        cap = self.capacity[who, inst]
        qty = np.minimum(left[who], np.ceil(cap * rng.uniform(0.02, 0.08, size=len(who))))
        unsold_share = left[who] / np.maximum(cap, 1.0)
        premium = grade_premium(n_grades)[grade[who]]
        effective = ref[inst] * (1.0 + premium + self.markup[who]
                                 + rng.normal(0.0, 0.01, size=len(who)) - 0.08 * elapsed * unsold_share)
        effective = np.maximum(effective, cost[inst] * (1.0 + premium))  # never below cost
        raw = effective * floors[np.minimum(grade[who], n_grades - 1)] / 10_000.0
        return who, inst, qty.astype(np.int64), raw


@dataclass
class Buyers:
    """Buyers of effective GPU-hours; ``need`` is what each wants in its window (GPU-hours)."""

    names: list
    size: np.ndarray  # 0 small, 1 medium, 2 large
    instrument: np.ndarray
    min_grade: np.ndarray  # grade index
    cheap: np.ndarray  # bool: routes simple work to cheap low-grade capacity
    need: np.ndarray  # float GPU-hours wanted in the window
    growth: np.ndarray  # daily demand growth
    aggression: np.ndarray  # bid offset over the reference
    act_rate: np.ndarray  # probability of acting in an hour
    use: np.ndarray  # share of delivered hours the buyer uses
    active: np.ndarray  # bool: still buying

    @classmethod
    def create(cls, rng: np.random.Generator, n: int, instrument_weights: np.ndarray,
               cheap_instrument: int, n_grades: int, grade_mix=None) -> "Buyers":
        """``grade_mix``: relative shares of the quality buyers' minimum grade, best grade
        first (default QUALITY_MIX); cheap buyers take any grade whatever the mix."""
        mix = np.asarray(QUALITY_MIX if grade_mix is None else grade_mix, np.float64)
        size = rng.choice(3, size=n, p=SIZE_SHARE)
        cheap = rng.random(n) < 0.25
        instrument = rng.choice(len(instrument_weights), size=n, p=instrument_weights)
        instrument = np.where(cheap & (rng.random(n) < 0.7), cheap_instrument, instrument)
        quality_grade = np.minimum(rng.choice(len(mix), size=n, p=mix / mix.sum()), n_grades - 1)
        min_grade = np.where(cheap, n_grades - 1, quality_grade)
        need = np.round(rng.lognormal(np.log(np.array(SIZE_DEMAND)[size]), 0.6))
        return cls(
            names=[f"b.{SIZES[s][0]}{k:05d}" for k, s in enumerate(size.tolist())],
            size=size,
            instrument=instrument,
            min_grade=min_grade,
            cheap=cheap,
            need=need,
            growth=rng.uniform(0.0, 0.03, size=n),
            aggression=np.where(cheap, rng.normal(-0.01, 0.02, size=n), rng.normal(0.02, 0.02, size=n)),
            act_rate=1.0 / np.array(SIZE_ACT_EVERY)[size],
            use=np.clip(rng.normal(0.85, 0.12, size=n), 0.2, 1.05),
            active=np.ones(n, bool),
        )

    def __len__(self) -> int:
        return len(self.names)

    def new_day(self, rng: np.random.Generator) -> None:
        """Demand grows every day and jumps now and then (a new model, a new customer)."""
        n = len(self)
        jump = rng.random(n) < 0.03
        factor = rng.uniform(1.3, 2.5, size=n)
        self.need = self.need * (1.0 + self.growth) * np.where(jump, factor, 1.0)

    def bids(self, rng: np.random.Generator, ref: np.ndarray, open_inst: np.ndarray, outstanding: np.ndarray,
             elapsed: float, max_qty: np.ndarray, premiums: np.ndarray):
        """Bids for this hour: (buyer, qty, effective price in $, ioc).

        A buyer with demand left acts with its hourly rate; it bids for 25-70 %
        of what it still needs at the reference price (plus its grade's premium
        and its own offset), raised as the window runs out with demand unmet.
        """
        n = len(self)
        act = ((rng.random(n) < self.act_rate) & self.active & (outstanding >= 1.0)
               & open_inst[self.instrument])
        who = np.flatnonzero(act)
        share = rng.uniform(0.25, 0.7, size=len(who))
        qty = np.minimum(np.ceil(outstanding[who] * share), max_qty[self.instrument[who]])
        unmet = outstanding[who] / np.maximum(self.need[who], 1.0)
        price = ref[self.instrument[who]] * (1.0 + premiums[self.min_grade[who]] + self.aggression[who]
                                             + 0.10 * elapsed * unmet + rng.normal(0.0, 0.01, size=len(who)))
        ioc = rng.random(len(who)) < 0.25
        return who, qty.astype(np.int64), price, ioc


@dataclass
class MarketMakers:
    """One market maker per instrument, quoting both sides around the reference price."""

    names: list
    instrument: np.ndarray
    goodput_bp: int
    half_spread: float
    size: np.ndarray  # quote size, GPU-hours
    inventory_limit: np.ndarray

    @classmethod
    def create(cls, symbols, goodput_bp: int = 9300) -> "MarketMakers":
        n = len(symbols)
        return cls(
            names=[f"mm.{s}" for s in symbols],
            instrument=np.arange(n),
            goodput_bp=goodput_bp,
            half_spread=0.025,
            size=np.full(n, 4_000, np.int64),
            inventory_limit=np.full(n, 60_000.0),
        )

    def __len__(self) -> int:
        return len(self.names)

    def quotes(self, ref: np.ndarray, inventory: np.ndarray, grade_factor: float, premium: float):
        """(bid effective $, ask raw $, bid qty, ask qty) per market maker.

        Quotes lean against inventory: long -> both prices lower (sell more),
        short -> higher. A side past the inventory limit is not quoted (qty 0).
        """
        r = ref[self.instrument] * (1.0 + premium)
        skew = -0.03 * inventory / self.inventory_limit
        bid = r * (1.0 - self.half_spread + skew)
        ask_effective = r * (1.0 + self.half_spread + skew)
        bid_qty = np.where(inventory < self.inventory_limit, self.size, 0)
        ask_qty = np.where(inventory > -self.inventory_limit, self.size, 0)
        return bid, ask_effective * grade_factor, bid_qty, ask_qty
