"""Synthetic but realistic order files (``compute-exchange generate``).

Everything is drawn with numpy over whole columns from one seeded generator, so
the same ``--rows`` and ``--seed`` give the same bytes, and 10 M rows take seconds.

The market: the default configuration's four instruments (H100, H200, B200, A100
monthly delivery windows) with a fair price each that drifts as a random walk;
twelve providers (nine from the config, three that register with a ``grade`` row)
whose goodput drifts through the grade floors (some fall ungraded for a while);
buyers of three sizes, and three providers that also buy. Every order type and
tif appears, with cancels and replaces of recent orders, occasional mistakes
(off-tick or out-of-band prices, zero quantities, unknown grades or instruments,
duplicate ids, cancels from the wrong party) and a ``close`` of one instrument
near the end. A few orders name a self-trade prevention mode (``stp``); most leave
the cell empty (the default, cancel_incoming).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from exchange.config import ExchangeConfig
from exchange.schema import BP, STP_WORDS
from exchange.files.orders_io import tick_parts
from exchange.files.writers import K_DICT, K_FIXED, K_INT, Column, Table, iter_csv_blocks, write_tables

NO = np.iinfo(np.int64).min
START_TS = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z in ns

# Providers: (party, base goodput, amplitude of its drift). The first nine are the
# default config's; the last three register with a `grade` row at the start.
PROVIDERS = (
    ("p.atlas", 0.9712, 0.012), ("p.borealis", 0.9540, 0.015), ("p.cumulus", 0.9230, 0.018),
    ("p.delta", 0.9050, 0.012), ("p.ember", 0.8600, 0.020), ("p.fjord", 0.8120, 0.020),
    ("p.glacier", 0.7500, 0.030), ("p.harbor", 0.7050, 0.020), ("p.ion", 0.6800, 0.030),
    ("p.nimbus", 0.9600, 0.010), ("p.orbit", 0.8950, 0.015), ("p.polar", 0.7900, 0.025),
)
NEW_PROVIDERS = 3
PROVIDER_BUYERS = ("p.cumulus", "p.ember", "p.glacier")
LARGE = tuple(f"b.{n}" for n in ("hyperion", "titan", "colossus", "atlas-ai"))
MEDIUM = tuple(f"b.lab-{k:02d}" for k in range(1, 17))
SMALL = tuple(f"b.dev-{k:03d}" for k in range(1, 81))
FAIR = {"H100-SXM.2027-01": 2.10, "H200-SXM.2027-01": 2.95, "B200.2027-01": 4.40,
        "A100-80G.2027-01": 1.15}
UNKNOWN_INSTRUMENT = "H100-PCIe.2027-01"
GRID = 1000  # rows per step of the fair-price random walk


PARTIES = tuple(p for p, _, _ in PROVIDERS) + LARGE + MEDIUM + SMALL
LARGE0 = len(PROVIDERS)  # index of the first large buyer in PARTIES; then the medium and small ones
MEDIUM0 = LARGE0 + len(LARGE)
SMALL0 = MEDIUM0 + len(MEDIUM)
# The draws below come from one generator in a fixed order (the steps are called in
# that order): moving a draw from one step to another changes every file after it.


def _choice(rng, n, probs):
    return rng.choice(len(probs), size=n, p=np.asarray(probs) / np.sum(probs)).astype(np.int64)


@dataclass(frozen=True)
class _Market:
    """What the columns need from the configuration, as arrays by instrument or grade (no draws)."""

    symbols: list
    grades: list
    floors: np.ndarray  # grade floors, bp, best first
    tick_m: np.ndarray  # tick = tick_m * 10**-tick_e: the tick's digits and decimal places
    tick_e: np.ndarray
    tick: np.ndarray  # tick in dollars (float, only to round a drawn dollar price to ticks)
    mins: np.ndarray  # price band in ticks
    maxs: np.ndarray

    @classmethod
    def of(cls, config: ExchangeConfig) -> "_Market":
        parts = [tick_parts(ins.tick) for ins in config.instruments]
        return cls(
            symbols=[ins.symbol for ins in config.instruments],
            grades=[g.name for g in config.grades],
            floors=np.array([g.floor_bp for g in config.grades], np.int64),
            tick_m=np.array([m for m, _ in parts], np.int64),
            tick_e=np.array([e for _, e in parts], np.int64),
            tick=np.array([float(ins.tick) for ins in config.instruments]),
            mins=np.array([ins.min_ticks for ins in config.instruments]),
            maxs=np.array([ins.max_ticks for ins in config.instruments]))


@dataclass(frozen=True)
class _Goodput:
    """Each provider's goodput: a sine drift around its base (random cycles and phase) plus noise."""

    cycles: np.ndarray
    phase: np.ndarray

    @classmethod
    def draw(cls, rng) -> "_Goodput":
        n_prov = len(PROVIDERS)
        cycles = rng.uniform(1.0, 4.0, n_prov)
        return cls(cycles, rng.uniform(0, 2 * np.pi, n_prov))

    def bp(self, rng, prov: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Goodput in bp of providers ``prov`` at run fractions ``t`` (draws one noise per row)."""
        base = np.array([g for _, g, _ in PROVIDERS])
        amp = np.array([a for _, _, a in PROVIDERS])
        x = base[prov] + amp[prov] * np.sin(2 * np.pi * self.cycles[prov] * t + self.phase[prov])
        x = x + rng.normal(0, 0.002, len(prov))
        return np.clip(np.rint(x * BP), 5000, BP).astype(np.int64)


@dataclass(frozen=True)
class _Actions:
    """Each row's action (0 new, 1 cancel, 2 replace, 3 grade, 4 close), time, and new order ids."""

    kind: np.ndarray
    head: int  # the first rows: the new providers' grade rows
    t_frac: np.ndarray  # row / rows: where in the run a row is
    ts: np.ndarray
    duplicate: np.ndarray  # new rows that reuse a recent id (a mistake)
    fresh: np.ndarray  # new rows with a new id
    ids_so_far: np.ndarray  # fresh ids are 1, 2, 3, ... in row order

    @property
    def is_new(self) -> np.ndarray:
        return self.kind == 0


def _draw_actions(rng, n: int) -> _Actions:
    """The action column (new providers register first, one close near the end), the
    timestamps (bursts of equal ts) and which new orders reuse an id."""
    kind = _choice(rng, n, [0.805, 0.10, 0.08, 0.015, 0.0])
    head = min(n, NEW_PROVIDERS)
    kind[:head] = 3  # the new providers register first
    kind[head:min(n, head + 20)] = 0
    close_row = int(n * 0.97) if n >= 50 else -1
    if close_row >= 0:
        kind[close_row] = 4
    t_frac = np.arange(n) / max(n, 1)

    ts = START_TS + np.cumsum(np.where(rng.random(n) < 0.1, 0,
                                       rng.exponential(5e7, n)).astype(np.int64))

    is_new = kind == 0
    duplicate = is_new & (rng.random(n) < 0.0005)
    fresh = is_new & ~duplicate
    return _Actions(kind, head, t_frac, ts, duplicate, fresh, np.cumsum(fresh))


@dataclass(frozen=True)
class _Who:
    """Who a new order is from: instrument, side, the party drawn for each side."""

    instrument: np.ndarray
    side: np.ndarray  # 1 = sell
    seller: np.ndarray  # provider index, for sells
    buyer_kind: np.ndarray  # 0 large, 1 medium, 2 small, 3 a provider that buys
    party: np.ndarray  # index in PARTIES


def _draw_who(rng, n: int, n_ins: int) -> _Who:
    """Instrument, side and party of every row (weighted: big instruments, busy providers, many small buyers)."""
    instrument = _choice(rng, n, [0.40, 0.25, 0.20, 0.15][:n_ins])
    side = (rng.random(n) < 0.45).astype(np.int64)  # 1 = sell
    seller = _choice(rng, n, [3, 4, 3, 3, 3, 2, 2, 2, 1, 2, 2, 2][:len(PROVIDERS)])
    buyer_kind = _choice(rng, n, [0.10, 0.35, 0.45, 0.10])
    buyer = np.select(
        [buyer_kind == 0, buyer_kind == 1, buyer_kind == 2],
        [LARGE0 + rng.integers(0, len(LARGE), n), MEDIUM0 + rng.integers(0, len(MEDIUM), n),
         SMALL0 + rng.integers(0, len(SMALL), n)],
        np.array([PARTIES.index(p) for p in PROVIDER_BUYERS])[rng.integers(0, len(PROVIDER_BUYERS), n)])
    return _Who(instrument, side, seller, buyer_kind, np.where(side == 1, seller, buyer))


def _draw_ticks(rng, n: int, market: _Market, who: _Who, goodput: _Goodput, t_frac) -> np.ndarray:
    """Limit prices in ticks: a per-instrument random walk of the fair effective price,
    sells scaled by their provider's grade floor, a spread, the band; a few out of band."""
    instrument, side = who.instrument, who.side
    steps = n // GRID + 2
    walk = np.cumsum(rng.normal(0, 0.004, (len(market.symbols), steps)), axis=1)
    fair0 = np.array([FAIR.get(s, 2.0) for s in market.symbols])
    fair = fair0[instrument] * np.exp(walk[instrument, np.arange(n) // GRID])
    prov_bp = goodput.bp(rng, np.where(side == 1, who.seller, 0), t_frac)
    floors = market.floors
    grade_idx = np.searchsorted(-floors, -prov_bp, side="left")
    factor = np.where(grade_idx < len(floors), floors[np.minimum(grade_idx, len(floors) - 1)], floors[-1])
    spread = rng.normal(0.004, 0.012, n)
    raw_sell = fair * factor / BP * (1 + spread)
    eff_buy = fair * (1 - spread)
    price_dollars = np.where(side == 1, raw_sell, eff_buy)
    ticks = np.rint(price_dollars / market.tick[instrument]).astype(np.int64)
    ticks = np.clip(ticks, market.mins[instrument], market.maxs[instrument])
    oob = rng.random(n) < 0.0005
    return np.where(oob, market.maxs[instrument] + rng.integers(1, 5000, n), ticks)


@dataclass(frozen=True)
class _Terms:
    """Order type and tif as written (-1: the cell left empty, the default)."""

    order_type: np.ndarray  # 1 = market
    type_written: np.ndarray
    tif_written: np.ndarray


def _draw_terms(rng, n: int) -> _Terms:
    """Order type and tif; a share of rows leave either cell empty for its default."""
    order_type = (rng.random(n) < 0.04).astype(np.int64)  # 1 = market
    tif = _choice(rng, n, [0.72, 0.14, 0.05, 0.09])
    type_written = np.where(order_type == 1, 1, np.where(rng.random(n) < 0.3, -1, 0))
    tif_written = np.where(rng.random(n) < 0.25, np.where(tif == 0, -1, tif), tif)
    tif_written = np.where((order_type == 1) & (rng.random(n) < 0.7), -1, tif_written)
    return _Terms(order_type, type_written, tif_written)


def _draw_qty(rng, n: int, who: _Who) -> np.ndarray:
    """Quantities: buyers by their size, sells lognormal around 800; a few zeros (a mistake)."""
    size_qty = np.select(
        [who.buyer_kind == 0, who.buyer_kind == 1, who.buyer_kind == 2],
        [rng.integers(2_000, 50_000, n), rng.integers(100, 4_000, n), rng.integers(1, 200, n)],
        rng.integers(10, 1_000, n))
    sell_qty = np.clip(np.rint(rng.lognormal(np.log(800), 1.0, n)), 1, 200_000).astype(np.int64)
    qty = np.where(who.side == 1, sell_qty, size_qty).astype(np.int64)
    return np.where(rng.random(n) < 0.0005, 0, qty)


def _draw_min_grade(rng, n: int, n_grades: int, side: np.ndarray) -> np.ndarray:
    """Buyers' min grade (-1: any); a few unknown grades, a few sells that name one (mistakes)."""
    grade_probs = [0.45] + [0.55 / n_grades] * n_grades
    min_grade = np.where(side == 0, _choice(rng, n, grade_probs) - 1, -1)
    min_grade = np.where((side == 0) & (rng.random(n) < 0.0005), n_grades, min_grade)  # unknown
    return np.where((side == 1) & (rng.random(n) < 0.0005), 1, min_grade)  # BAD_GRADE on a sell


def _draw_price_text(rng, n: int, market: _Market, instrument, ticks, order_type):
    """Price cells as (digits, decimal places): on the tick's places, sometimes one place
    more ("2.1000" on tick, "2.1005" off tick); markets without, a few rows the wrong way round."""
    price_n = ticks * market.tick_m[instrument]
    places = market.tick_e[instrument]
    variant = rng.random(n)
    places = np.where(variant < 0.006, places + 1, places)
    price_n = np.where(variant < 0.006, price_n * 10 + np.where(variant < 0.001, 5, 0), price_n)
    no_price = order_type == 1
    no_price = np.where(rng.random(n) < 0.0005, ~no_price, no_price)  # a market with a price, a limit without
    return np.where(no_price, NO, price_n), places


def _new_order_ids(rng, n: int, actions: _Actions) -> np.ndarray:
    """Order ids of new rows: fresh ones count up; duplicates reuse a recent one."""
    fresh, ids_so_far = actions.fresh, actions.ids_so_far
    order_id = np.full(n, NO, np.int64)
    order_id[fresh] = ids_so_far[fresh]
    dup_target = np.maximum(1, ids_so_far - rng.geometric(0.05, n))
    return np.where(actions.duplicate, np.where(ids_so_far > 0, dup_target, 1), order_id)


@dataclass(frozen=True)
class _Changes:
    """Cancel and replace rows: the order each names, who sends it, a replace's new price and qty."""

    target_kind: np.ndarray  # cancel or replace rows
    rep: np.ndarray  # replace rows
    order_id: np.ndarray
    party: np.ndarray
    price_n: np.ndarray
    places: np.ndarray
    qty: np.ndarray


def _draw_changes(rng, n: int, market: _Market, actions: _Actions, who: _Who, ticks, order_id,
                  price_n, places, qty) -> _Changes:
    """Cancels and replaces of a recent order, mostly by its owner (2% by a wrong party);
    a replace moves the price near the old one and/or the quantity. O(rows)."""
    kind, ids_so_far, party, instrument = actions.kind, actions.ids_so_far, who.party, who.instrument
    target_kind = (kind == 1) | (kind == 2)
    target = np.maximum(1, ids_so_far - rng.geometric(0.03, n) + 1)
    first_row_of_id = np.flatnonzero(actions.fresh)  # id k is made by row first_row_of_id[k-1]
    if len(first_row_of_id):
        src = first_row_of_id[np.clip(target - 1, 0, len(first_row_of_id) - 1)]
    else:
        src = np.zeros(n, np.int64)
    owner = party[src] if n else party
    wrong = rng.random(n) < 0.02
    target_party = np.where(wrong, SMALL0 + rng.integers(0, len(SMALL), n), owner)
    order_id = np.where(target_kind, target, order_id)
    party = np.where(target_kind, target_party, party)
    what = rng.random(n)
    new_price = ticks[src] + rng.integers(-15, 16, n)
    new_price = np.clip(new_price, market.mins[instrument[src]], market.maxs[instrument[src]])
    new_qty = np.where(what < 0.5, np.maximum(1, qty[src] // 2), qty[src] + rng.integers(1, 500, n))
    rep = kind == 2
    rep_price = np.where(what < 0.35, NO, new_price * market.tick_m[instrument[src]])
    rep_qty = np.where((what >= 0.35) & (what < 0.65), NO, new_qty)
    return _Changes(target_kind, rep, order_id, party,
                    np.where(rep, rep_price, price_n),
                    np.where(rep, market.tick_e[instrument[src]], places),
                    np.where(rep, rep_qty, qty))


def _draw_grade_rows(rng, n: int, actions: _Actions, goodput: _Goodput):
    """Grade rows: a provider reports its drifting goodput; the first rows register the new providers.
    Returns (provider of each row, goodput column)."""
    n_prov = len(PROVIDERS)
    grade_prov = rng.integers(0, n_prov, n)
    grade_prov[:actions.head] = np.arange(n_prov - NEW_PROVIDERS, n_prov)[:actions.head]
    return grade_prov, np.where(actions.kind == 3, goodput.bp(rng, grade_prov, actions.t_frac), NO)


def generate_orders(rows: int, seed: int, config: ExchangeConfig | None = None) -> Table:
    """The order file as a writers.Table (columns of docs/RULES.md §5).

    Each step draws whole columns from one seeded generator, in a fixed order; O(rows)
    numpy work, about ``BYTES_PER_ROW`` of memory per row at the peak."""
    config = config or ExchangeConfig.default()
    rng = np.random.default_rng(seed)
    n = int(rows)
    market = _Market.of(config)
    n_ins = len(market.symbols)

    goodput = _Goodput.draw(rng)
    actions = _draw_actions(rng, n)
    who = _draw_who(rng, n, n_ins)
    ticks = _draw_ticks(rng, n, market, who, goodput, actions.t_frac)
    terms = _draw_terms(rng, n)
    qty = _draw_qty(rng, n, who)
    min_grade = _draw_min_grade(rng, n, len(market.grades), who.side)
    instrument_written = np.where(rng.random(n) < 0.0005, n_ins, who.instrument)  # unknown instrument
    price_n, places = _draw_price_text(rng, n, market, who.instrument, ticks, terms.order_type)
    order_id = _new_order_ids(rng, n, actions)
    changes = _draw_changes(rng, n, market, actions, who, ticks, order_id, price_n, places, qty)
    grade_prov, goodput_col = _draw_grade_rows(rng, n, actions, goodput)
    # stp drawn last: the columns above are the same draws as before the stp column existed.
    # -1 empty (the default), else the code of STP_WORDS' word: 0 cancel_incoming written out,
    # 1 cancel_resting, 2 cancel_both.
    stp = _choice(rng, n, [0.88, 0.03, 0.06, 0.03]) - 1

    is_new = actions.is_new
    is_close = actions.kind == 4
    close_ins = market.symbols.index("A100-80G.2027-01") if "A100-80G.2027-01" in market.symbols else n_ins - 1
    party = np.where(actions.kind == 3, grade_prov, changes.party)
    # blank what a row does not use
    new_or_rep = is_new | changes.rep
    words = ("new", "cancel", "replace", "grade", "close")
    return Table("orders", [
        Column("ts", K_INT, actions.ts),
        Column("action", K_DICT, actions.kind, words),
        Column("order_id", K_INT, np.where(is_new | changes.target_kind, changes.order_id, NO)),
        Column("party", K_DICT, np.where(is_close, -1, party), PARTIES),
        Column("instrument", K_DICT, np.where(is_new, instrument_written, np.where(is_close, close_ins, -1)),
               tuple(market.symbols) + (UNKNOWN_INSTRUMENT,)),
        Column("side", K_DICT, np.where(is_new, who.side, -1), ("buy", "sell")),
        Column("type", K_DICT, np.where(is_new, terms.type_written, -1), ("limit", "market")),
        Column("tif", K_DICT, np.where(is_new, terms.tif_written, -1), ("gtc", "ioc", "fok", "post_only")),
        Column("price", K_FIXED, np.where(new_or_rep, changes.price_n, NO),
               places=np.where(new_or_rep, changes.places, 3)),
        Column("qty", K_INT, np.where(new_or_rep, changes.qty, NO)),
        Column("min_grade", K_DICT, np.where(is_new, min_grade, -1), tuple(market.grades) + ("Z",)),
        Column("goodput", K_FIXED, goodput_col, places=4),
        Column("stp", K_DICT, np.where(is_new, stp, -1), tuple(STP_WORDS)),
    ], n)


OUTPUT_NAMES = ("config.toml", "orders.csv", "metering.csv")
# Peak memory per generated row, measured: 1 M rows peak at 450 MB of numpy columns and
# temporaries (tracemalloc); the replay that feeds the metering generator comes after.
BYTES_PER_ROW = 500
MAX_SEED = 2**63 - 1


def generate(rows: int, seed: int, out_dir, config: ExchangeConfig | None = None, *,
             memory_limit: int | None = None, metering=None) -> dict[str, Path]:
    """Write ``config.toml`` and ``orders.csv`` (and ``metering.csv`` when given a
    ``metering(trades_csv, config, seed, out_csv)`` generator: the command passes the
    settlement package's, which sits above this layer) into ``out_dir``, as one set: ``out_dir`` is
    replaced as a whole when all are written (``atomic_dir``), so a failure or a kill
    leaves the old set or nothing, never a lone ``config.toml``.

    ValueError for a negative ``rows`` or a seed outside 0..2**63-1; MemoryBudgetError
    when ``rows`` would need more than ``memory_limit`` (default: half the memory
    available), before anything is allocated."""
    from exchange.files import atomic_dir
    from exchange import memory_budget

    config = config or ExchangeConfig.default()
    if isinstance(rows, bool) or not isinstance(rows, int) or rows < 0:
        raise ValueError(f"rows: {rows!r} must be an integer >= 0")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise ValueError(f"seed: {seed!r} must be an integer in 0..2**63-1")
    budget = memory_limit or memory_budget.default_budget()
    memory_budget.check(rows * BYTES_PER_ROW, budget, f"generate --rows {rows:,}")
    out = Path(out_dir)
    written = {name.split(".")[0]: out / name for name in OUTPUT_NAMES[:2]}
    with atomic_dir.replace(out, owns=OUTPUT_NAMES) as stage:
        (stage / "config.toml").write_text(config.to_toml(), encoding="utf-8")
        write_tables(stage, [generate_orders(rows, seed, config)], "csv", digest_of=())
        if metering is not None:
            import tempfile

            from exchange.files.replay import replay

            with tempfile.TemporaryDirectory(dir=stage) as scratch:
                replay(stage / "orders.csv", config, Path(scratch) / "replay", memory_limit=budget,
                       keep_records=False)
                metering(Path(scratch) / "replay" / "trades.csv", config, seed,
                                  stage / "metering.csv")
            written["metering"] = out / "metering.csv"
    return written


def orders_csv_bytes(rows: int, seed: int, config: ExchangeConfig | None = None) -> bytes:
    return b"".join(bytes(c) for c in iter_csv_blocks(generate_orders(rows, seed, config)))
