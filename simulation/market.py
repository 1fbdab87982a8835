"""The run loop: simulated hours of trading on every instrument, then delivery and settlement.

    market = Market(config, SimulationParams(days=30, seed=1))
    market.run()                    # every trading hour; instruments close at the end of their window
    branch = market.settle()        # simulated metering -> contracts/ Settlement -> take-or-pay bills

Only public names are used: ``exchange.engine.Exchange`` (submit, cancel,
replace, regrade, close, list_instrument, trades, book, fork, state_digest), the
configuration classes, and ``contracts`` (``Contracts``, ``Metering``, ``Settlement``,
``PeriodResult``).

The jobs live in their own modules: ``instruments`` (which GPU model each
instrument is, its reference price and trading window), ``ledger`` (the agents'
copy of their orders and positions, fed by the engine's events), ``delivery``
(metering and settlement after trading); this module runs the hours and routes
the agents' orders to the engine.

Time: the trading clock counts hours from 0; ``ts`` is seconds since the start.
Each instrument is a delivery window (``MODEL.YYYY-MM``); trading in it closes
at the end of the run, or, for a window that starts earlier than the latest
one, that many days before the end. The exchange opens with the front month's
windows; every later one is listed (``Exchange.list_instrument``) as the calendar
reaches ``instruments.LISTING_LEAD_DAYS`` before its month. After trading, each delivery period of a
contract is one day of metering: providers' availability and goodput go on
drifting (outages included) and buyers use a share of what is delivered.
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field

import numpy as np

from contracts import Contracts, Metering, Settlement
from exchange import ExchangeConfig
from exchange.config import with_instruments
from exchange.engine import Exchange

from .agents import Buyers, MarketMakers, Providers, grade_premium
from .delivery import settle_all, simulate_metering
from .errors import SimulationError
from .instruments import DEMAND_WEIGHT, Instruments, plan_instruments
from .ledger import Ledger

HOUR = 3600
MEASURE_EVERY = 6  # hours between goodput reports


@dataclass(frozen=True)
class SimulationParams:
    """What a run is made of. Same params and config -> same run, byte for byte."""

    days: int = 30
    seed: int = 0
    buyers: int = 2000
    providers: int = 60  # simulated providers, besides the configuration's
    market_makers: bool = True
    depth_day: int | None = None  # the moment of the depth picture (default: the middle)
    grade_mix: tuple | None = None  # quality buyers' min-grade shares, best first (default agents.QUALITY_MIX)

    def check(self) -> None:
        for name in ("days", "seed", "buyers", "providers"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise SimulationError(f"{name} must be an integer, got {value!r}")
        if self.days < 1:
            raise SimulationError(f"days must be at least 1, got {self.days}")
        if self.days > 3660:
            raise SimulationError(f"days must be at most 3660, got {self.days}")
        if self.seed < 0:
            raise SimulationError(f"seed must be >= 0, got {self.seed}")
        if self.buyers < 1:
            raise SimulationError(f"buyers must be at least 1, got {self.buyers}")
        if self.providers < 0:
            raise SimulationError(f"providers must be >= 0, got {self.providers}")
        if self.grade_mix is not None:
            mix = self.grade_mix
            if (not isinstance(mix, tuple) or not mix
                    or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0 for v in mix)
                    or sum(mix) <= 0):
                raise SimulationError(f"grade_mix must be a tuple of integer shares >= 0, not all 0, got {mix!r}")
        if self.depth_day is not None and not 0 <= self.depth_day <= self.days:
            raise SimulationError(
                f"fork day (also the depth picture's day) must be in 0..{self.days}, got {self.depth_day}")

    @property
    def hours(self) -> int:
        return self.days * 24

    @property
    def depth_hour(self) -> int:
        day = self.days // 2 if self.depth_day is None else self.depth_day
        return max(0, min(day * 24, self.hours) - 1)


@dataclass
class Timings:
    """Seconds spent, split into the engine (Exchange calls) and everything else."""

    engine: float = 0.0
    engine_calls: int = 0
    agents: float = 0.0
    settlement: float = 0.0

    def copy(self) -> "Timings":
        return copy.copy(self)


@dataclass
class Branch:
    """One finished branch of a run: its exchange, trades and settlement, plus what the tables need."""

    name: str
    exchange: Exchange
    trades: list
    contracts: Contracts
    settlement: Settlement | None
    per_contract: dict  # column -> array over contracts (trade_id order): settlement totals
    party_money: dict  # party -> (paid, received, fees) in micro-dollars over all periods
    depth: list  # (side, price ticks, grade name, qty, effective ticks) of one book at one moment
    depth_instrument: str
    depth_hour: int
    provider_grades: dict  # provider -> grade name at the end of trading ("-" ungraded)
    notes: list = field(default_factory=list)
    timings: Timings = field(default_factory=Timings)

    @property
    def state_digest(self) -> str:
        return self.exchange.state_digest()


class Market:
    """An exchange and its agents, stepped one simulated hour at a time.

    The jobs are split: ``ledger.Ledger`` keeps the agents' copy of the books,
    ``delivery`` meters and settles after trading; this class routes the agents'
    orders to the engine (``call``, timed) and runs the hours.

    ``fork()`` copies everything (the exchange through ``Exchange.fork()``, the
    agents and the random generator) so both copies go on independently.
    """

    def __init__(self, config: ExchangeConfig | None = None, params: SimulationParams | None = None):
        self.config = config if config is not None else ExchangeConfig.default()
        self.params = params if params is not None else SimulationParams()
        self.params.check()
        self.plans = plan_instruments(self.config, self.params.days)
        self.rng = np.random.default_rng([self.params.seed, 1])
        self.exchange = Exchange(with_instruments(  # the front month; the others are listed as time passes
            self.config, [ins for ins, plan in zip(self.config.instruments, self.plans) if plan.list_hour == 0]))
        self.timings = Timings()
        self.hour = 0
        self.name = "base"
        self.notes: list[str] = []
        self._init_instruments()
        self._init_agents()
        self.ledger = Ledger(len(self.agent_names), self.n_inst)
        self.expiry: dict[int, list] = {}  # hour -> order ids to cancel at its start
        self.depth: list = []
        self.depth_hour = self.params.depth_hour
        self.registered = False

    def _init_instruments(self) -> None:
        """Grades' floors and premiums; the instruments' prices and windows (``instruments.Instruments``)."""
        cfg = self.config
        self.n_inst = len(cfg.instruments)
        self.floors = np.array([g.floor_bp for g in cfg.grades], np.int64)
        self.premium = grade_premium(len(cfg.grades))
        self.instruments = Instruments(cfg, self.plans)

    def _init_agents(self) -> None:
        """Providers, market makers and buyers (draws from ``rng`` in that order), numbered in that order."""
        cfg, p, n_inst = self.config, self.params, self.n_inst
        self.providers = Providers.create(self.rng, cfg.providers, p.providers, n_inst, self.floors)
        self.makers = MarketMakers.create(self.instruments.symbols if p.market_makers else [])
        weights = np.array([DEMAND_WEIGHT[plan.model] for plan in self.plans])
        cheap = min(range(n_inst), key=lambda i: self.instruments.base[i])
        if p.grade_mix is not None and len(p.grade_mix) > len(cfg.grades):
            raise SimulationError(f"grade_mix has {len(p.grade_mix)} shares; the configuration has "
                                  f"{len(cfg.grades)} grades")
        self.buyers = Buyers.create(self.rng, p.buyers, weights / weights.sum(), cheap, len(cfg.grades),
                                    p.grade_mix)
        self.agent_names = self.providers.names + self.makers.names + self.buyers.names
        self.n_prov, self.n_mm = len(self.providers), len(self.makers)
        self.buyer0 = self.n_prov + self.n_mm
        # goodput the exchange grades each provider by (config providers start registered)
        self.provider_grade = np.array([cfg.grade_index(int(bp)) for bp in self.providers.reported_bp], np.int64)
        self.mm_grade = cfg.grade_index(self.makers.goodput_bp)
        self.mm_bid = [0] * self.n_mm
        self.mm_ask = [0] * self.n_mm

    # ------------------------------------------------------------ branching
    def fork(self, name: str = "alt") -> "Market":
        """An independent copy of the whole market (exchange, agents, random state)."""
        exchange = self.exchange
        self.exchange = None
        try:
            clone = copy.deepcopy(self, {id(self.config): self.config})
        finally:
            self.exchange = exchange
        start = time.perf_counter()
        clone.exchange = exchange.fork()
        clone.timings.engine += time.perf_counter() - start
        clone.name = name
        return clone

    # ------------------------------------------------------------- engine calls
    def call(self, method, *args, **kwargs):
        """Call an Exchange method, timing it, and post its events to the ledger."""
        start = time.perf_counter()
        events = method(*args, **kwargs)
        self.timings.engine += time.perf_counter() - start
        self.timings.engine_calls += 1
        if events:
            self.ledger.observe(events)
        return events

    @staticmethod
    def goodput_text(bp: int) -> str:
        return f"{bp // 10_000}.{bp % 10_000:04d}"

    # ------------------------------------------------------------------ hours
    @property
    def done(self) -> bool:
        return self.hour >= self.params.hours

    def run(self) -> "Market":
        """Trade every remaining hour (closing every window)."""
        return self.run_until(self.params.hours)

    def run_until(self, hour: int) -> "Market":
        """Trade hours ``self.hour .. hour - 1``."""
        while self.hour < min(hour, self.params.hours):
            self.step()
        return self

    def step(self) -> None:
        """One simulated hour: goodput reports, expiries, everyone's decisions, then closes."""
        start = time.perf_counter()
        engine_before = self.timings.engine
        h = self.hour
        ts = h * HOUR
        self._list_windows(h)
        if not self.registered:
            self._register(ts)
        if h % 24 == 0 and h:
            self.buyers.new_day(self.rng)
        if h % MEASURE_EVERY == 0:
            self._measure(ts)
        self._expire(h, ts)
        elapsed = h / max(1, self.params.hours)
        asks = self._provider_asks(elapsed)
        bids = self._buyer_bids(elapsed)
        self._submit_shuffled(h, ts, asks, bids)
        self._make_markets(ts + HOUR - 1)
        self._update_reference()
        if h == self.depth_hour:
            self._record_depth()
        self._close_windows(h, ts + HOUR - 1)
        self.hour += 1
        self.timings.agents += (time.perf_counter() - start) - (self.timings.engine - engine_before)

    def _expire(self, h: int, ts: int) -> None:
        """Cancel the orders whose life ends at hour ``h`` (those still open)."""
        ledger = self.ledger
        for oid in self.expiry.pop(h, ()):
            if ledger.order_open[oid] > 0:
                agent = ledger.order_key[oid] // self.n_inst
                self.call(self.exchange.cancel, oid, self.agent_names[agent], ts=ts)

    def _provider_asks(self, elapsed: float):
        """Providers' asks for capacity neither sold nor posted: (who, inst, qty, ticks, life hours)."""
        n_inst, ledger, rng = self.n_inst, self.ledger, self.rng
        sold = ledger.sold.reshape(-1, n_inst)[: self.n_prov]
        posted = ledger.open_sell.reshape(-1, n_inst)[: self.n_prov]
        unsold = self.providers.capacity - sold - posted
        ins = self.instruments
        p_who, p_inst, p_qty, p_raw = self.providers.quotes(rng, self.provider_grade, ins.ref, ins.open,
                                                            unsold, elapsed, self.floors, 0.7 * ins.base)
        p_ticks = ins.to_ticks(p_inst, p_raw)
        p_life = rng.integers(24, 72, size=len(p_who))
        return p_who, p_inst, p_qty, p_ticks, p_life

    def _buyer_bids(self, elapsed: float):
        """Buyers' bids for their outstanding need: (who, inst, qty, ticks, ioc, life hours)."""
        buyers, ledger, rng = self.buyers, self.ledger, self.rng
        b_key = (self.buyer0 + np.arange(len(buyers))) * self.n_inst + buyers.instrument
        outstanding = buyers.need - ledger.bought[b_key] - ledger.open_buy[b_key]
        ins = self.instruments
        b_who, b_qty, b_price, b_ioc = buyers.bids(rng, ins.ref, ins.open, outstanding, elapsed,
                                                   ins.max_qty, self.premium)
        b_inst = buyers.instrument[b_who]
        b_ticks = self.instruments.to_ticks(b_inst, b_price)
        b_life = rng.integers(6, 36, size=len(b_who))
        return b_who, b_inst, b_qty, b_ticks, b_ioc, b_life

    def _submit_shuffled(self, h: int, ts: int, asks, bids) -> None:
        """Submit asks and bids in a random order, at random seconds within the hour; GTC
        orders get an expiry hour. One engine call per order."""
        p_who, p_inst, p_qty, p_ticks, p_life = asks
        b_who, b_inst, b_qty, b_ticks, b_ioc, b_life = bids
        rng, ex, prov, buyers, ledger = self.rng, self.exchange, self.providers, self.buyers, self.ledger
        n_p, n_b = len(p_who), len(b_who)
        order = rng.permutation(n_p + n_b)
        offsets = np.sort(rng.integers(1, HOUR, size=n_p + n_b))
        floors = self.floors
        for slot, k in enumerate(order.tolist()):
            t = ts + int(offsets[slot])
            if k < n_p:
                agent, inst, qty, ticks = int(p_who[k]), int(p_inst[k]), int(p_qty[k]), int(p_ticks[k])
                grade = int(self.provider_grade[agent])
                norm = ticks * float(self.instruments.ticks[inst]) * 10_000 / floors[grade] / (1 + self.premium[grade])
                oid = ledger.new_order(agent, inst, 1, norm)
                self.call(ex.submit, prov.names[agent], self.instruments.symbols[inst], "sell", qty,
                          self.instruments.price(inst, ticks), order_id=oid, ts=t)
                self.expiry.setdefault(h + int(p_life[k]), []).append(oid)
            else:
                k -= n_p
                b = int(b_who[k])
                inst, ticks = int(b_inst[k]), int(b_ticks[k])
                grade = int(buyers.min_grade[b])
                norm = ticks * float(self.instruments.ticks[inst]) / (1 + self.premium[grade])
                oid = ledger.new_order(self.buyer0 + b, inst, 0, norm)
                ioc = bool(b_ioc[k])
                self.call(ex.submit, buyers.names[b], self.instruments.symbols[inst], "buy", int(b_qty[k]),
                          self.instruments.price(inst, ticks), tif="ioc" if ioc else "gtc",
                          min_grade=self.config.grades[grade].name, order_id=oid, ts=t)
                if not ioc:
                    self.expiry.setdefault(h + int(b_life[k]), []).append(oid)

    def _list_windows(self, h: int) -> None:
        """List the windows the calendar reaches at the start of hour ``h`` (checked by the
        exchange as its configuration was; they are that configuration's own instruments)."""
        for inst in self.instruments.listing(h):
            self.call(self.exchange.list_instrument, self.config.instruments[inst])

    def _close_windows(self, h: int, ts: int) -> None:
        """Close the instruments whose trading window ends with hour ``h``."""
        for inst in self.instruments.closing(h):
            self.call(self.exchange.close, self.instruments.symbols[inst], ts=ts)

    def _register(self, ts: int) -> None:
        """Simulated providers and market makers report a first goodput (the grade action registers them)."""
        configured = {p.party for p in self.config.providers}
        for k, name in enumerate(self.providers.names):
            if name not in configured:
                self.call(self.exchange.regrade, name, self.goodput_text(int(self.providers.reported_bp[k])), ts=ts)
        for name in self.makers.names:
            self.call(self.exchange.regrade, name, self.goodput_text(self.makers.goodput_bp), ts=ts)
        self.registered = True

    def _measure(self, ts: int) -> None:
        """Providers measure their goodput; a change is reported and the exchange regrades."""
        measured = self.providers.measure(self.rng, MEASURE_EVERY)
        changed = np.flatnonzero(measured != self.providers.reported_bp)
        for k in changed.tolist():
            self.call(self.exchange.regrade, self.providers.names[k], self.goodput_text(int(measured[k])), ts=ts)
        self.providers.reported_bp = measured
        self.provider_grade = np.sum(self.floors[None, :] > measured[:, None], axis=1)

    def _make_markets(self, ts: int) -> None:
        """Each market maker moves its two quotes to where it wants them (replace, or a fresh order)."""
        if not self.n_mm:
            return
        n_inst, ex, mm, ins = self.n_inst, self.exchange, self.makers, self.instruments
        keys = (self.n_prov + np.arange(self.n_mm)) * n_inst + mm.instrument
        inventory = (self.ledger.bought[keys] - self.ledger.sold[keys]).astype(np.float64)
        grade = self.mm_grade
        bid, ask, bid_qty, ask_qty = mm.quotes(ins.ref, inventory, self.floors[grade] / 10_000,
                                               self.premium[grade])
        bid_ticks = ins.to_ticks(mm.instrument, bid)
        ask_ticks = ins.to_ticks(mm.instrument, ask)
        for m in range(self.n_mm):
            inst = int(mm.instrument[m])
            if not ins.open[inst]:
                continue
            agent = self.n_prov + m
            for side, ids, ticks, qty in ((0, self.mm_bid, bid_ticks, bid_qty), (1, self.mm_ask, ask_ticks, ask_qty)):
                q, t = int(qty[m]), int(ticks[m])
                oid = ids[m]
                resting = oid and self.ledger.order_open[oid] > 0
                if resting and q == 0:
                    self.call(ex.cancel, oid, mm.names[m], ts=ts)
                elif resting:
                    norm = t * float(ins.ticks[inst]) * (1 if side == 0 else 10_000 / self.floors[grade])
                    self.ledger.order_norm[oid] = norm / (1 + self.premium[grade])
                    self.call(ex.replace, oid, mm.names[m], price=ins.price(inst, t), qty=q, ts=ts)
                elif q:
                    norm = t * float(ins.ticks[inst]) * (1 if side == 0 else 10_000 / self.floors[grade])
                    oid = ids[m] = self.ledger.new_order(agent, inst, side, norm / (1 + self.premium[grade]))
                    self.call(ex.submit, mm.names[m], ins.symbols[inst], "buy" if side == 0 else "sell", q,
                              ins.price(inst, t), min_grade=self.config.grades[min(2, len(self.floors) - 1)].name
                              if side == 0 else None, order_id=oid, ts=ts)

    def _update_reference(self) -> None:
        """The reference follows the hour's fills (quality-adjusted), with a pull back to its base."""
        volume, notional = self.ledger.take_hour_fills()
        noise = self.rng.normal(0.0, 0.002, size=self.n_inst)
        self.instruments.follow(volume, notional, noise)

    def _record_depth(self) -> None:
        """The first instrument's book at this moment: (side, price ticks, grade, qty, effective
        ticks); empty while that window is not listed yet."""
        symbol = self.instruments.symbols[0]
        start = time.perf_counter()
        book = self.exchange.book(symbol) if self.instruments.listed[0] else []
        self.timings.engine += time.perf_counter() - start
        floors = {g.name: g.floor_bp for g in self.config.grades}
        rows = []
        for order in book:
            if order.side == 0:
                rows.append(("buy", order.price, order.min_grade, order.qty, order.price))
            else:
                rows.append(("sell", order.price, order.grade, order.qty,
                             order.price * 10_000 // floors[order.grade]))
        self.depth = rows

    # -------------------------------------------------------------- settlement
    def settle(self, statements: bool = False) -> Branch:
        """Close what is still open, simulate delivery metering and settle every contract.

        ``statements=True`` keeps every statement line in the Settlement (for
        ``contracts.write_reports``); otherwise only per-contract totals are kept.
        """
        self.run()
        start = time.perf_counter()
        for inst in np.flatnonzero(self.instruments.open).tolist():
            self.call(self.exchange.close, self.instruments.symbols[inst], ts=self.hour * HOUR)
            self.instruments.open[inst] = False
        t0 = time.perf_counter()
        trades = self.exchange.trades()
        self.timings.engine += time.perf_counter() - t0
        contracts = Contracts.from_trades(self.config, trades)
        metering = self.metering(contracts) if len(contracts) else None
        settlement, totals, money = settle_all(self.config, contracts, metering, statements)
        grades = [g.name for g in self.config.grades]
        provider_grades = {name: (grades[g] if g < len(grades) else "-")
                           for name, g in zip(self.providers.names, self.provider_grade.tolist())}
        provider_grades.update({name: grades[self.mm_grade] for name in self.makers.names})
        self.timings.settlement += time.perf_counter() - start
        return Branch(self.name, self.exchange, trades, contracts, settlement, totals, money, self.depth,
                      self.instruments.symbols[0], self.depth_hour, provider_grades, list(self.notes),
                      self.timings.copy())

    def metering(self, contracts: Contracts) -> Metering:
        """One metering row per contract and delivery period (``delivery.simulate_metering``):
        depends only on the seed and the agents, so two branches meter the same weather."""
        return simulate_metering(contracts, self.params.seed, self.providers, self.makers, self.buyers,
                                 self.agent_names)
