"""The instruments a simulation trades: which GPU model each is, its reference price and trading window.

``plan_instruments`` checks a configuration once (SimulationError for an
instrument the simulation cannot trade) and lays the windows on the run's calendar;
``Instruments`` is the running state the hour loop reads and moves: the reference
price each agent quotes around, and which windows are listed and still open. Cost:
arrays of one entry per instrument.

The calendar: the run ends when the latest delivery month starts, so hour ``h`` is
``h`` hours after (latest month - ``days``). A window ``MODEL.YYYY-MM`` closes when the
calendar reaches its month. It is listed ``LISTING_LEAD_DAYS`` before that, or at the
start when that is earlier; the front month (the earliest in the configuration) trades
from the start, since an exchange opens with at least one instrument.
"""
from __future__ import annotations

import datetime
import re
from dataclasses import dataclass
from decimal import Decimal

import numpy as np

from exchange import ExchangeConfig

from .errors import SimulationError

# Reference effective prices ($ per GPU-hour at full goodput) of the GPU models the simulation knows.
REFERENCE_PRICES = {
    "A100": "1.200", "H100": "2.400", "H200": "3.100", "B200": "4.600", "GB200": "6.200",
    "L40S": "0.850", "MI300X": "2.100",
}
# How much of the buyers' demand goes to each model (relative weights).
DEMAND_WEIGHT = {"A100": 1.0, "H100": 2.0, "H200": 1.2, "B200": 0.8, "GB200": 0.5, "L40S": 0.6, "MI300X": 0.5}
LISTING_LEAD_DAYS = 60  # a month's window is listed this long before its delivery starts
SYMBOL_RE = re.compile(r"(?P<model>[A-Za-z0-9]+)(?:-[A-Za-z0-9]+)*\.(?P<year>[0-9]{4})-(?P<month>[0-9]{2})")


@dataclass(frozen=True)
class InstrumentPlan:
    """What the simulation knows of an instrument: its model, reference price, listing and close."""

    symbol: str
    model: str
    month: datetime.date
    reference: Decimal  # $ per effective GPU-hour
    close_hour: int  # trading ends at the end of hour close_hour - 1
    list_hour: int = 0  # listed on the exchange at the start of this hour


def plan_instruments(config: ExchangeConfig, days: int) -> tuple[InstrumentPlan, ...]:
    """Check every instrument of ``config`` is one the simulation can trade; SimulationError if not."""
    known = ", ".join(sorted(REFERENCE_PRICES))
    parsed = []
    for ins in config.instruments:
        match = SYMBOL_RE.fullmatch(ins.symbol)
        if not match or match["model"].upper() not in REFERENCE_PRICES:
            raise SimulationError(
                f"{config.source}: unknown instrument {ins.symbol!r}: the simulation trades monthly "
                f"windows MODEL[-VARIANT].YYYY-MM of the GPU models {known}")
        month = int(match["month"])
        if not 1 <= month <= 12:
            raise SimulationError(f"{config.source}: instrument {ins.symbol!r}: month {month:02d} is not 01..12")
        model = match["model"].upper()
        reference = Decimal(REFERENCE_PRICES[model])
        if not ins.price_min * 2 <= reference <= ins.price_max / 2:
            raise SimulationError(
                f"{config.source}: instrument {ins.symbol!r}: its band [{ins.price_min}, {ins.price_max}] "
                f"leaves no room around the {model} reference price {reference}")
        parsed.append((ins.symbol, model, datetime.date(int(match["year"]), month, 1), reference))
    latest = max(p[2] for p in parsed)
    front = min(p[2] for p in parsed)
    plans = []
    for symbol, model, month, reference in parsed:
        early_days = (latest - month).days  # a window that starts earlier closes earlier
        close_hour = max(1, (days - early_days) * 24)
        list_hour = 0 if month == front else max(0, close_hour - LISTING_LEAD_DAYS * 24)
        plans.append(InstrumentPlan(symbol, model, month, reference, close_hour, list_hour))
    return tuple(plans)


class Instruments:
    """Per instrument: tick, band and size limit (from the configuration), the reference
    price (``ref``, moved each hour around ``base``), whether its window is ``listed`` yet
    and whether it is ``open`` (listed and not closed: the agents trade only those)."""

    def __init__(self, config: ExchangeConfig, plans: tuple[InstrumentPlan, ...]):
        self.specs = config.instruments
        self.ticks = [ins.tick for ins in config.instruments]
        self.min_ticks = np.array([ins.min_ticks for ins in config.instruments], np.int64)
        self.max_ticks = np.array([ins.max_ticks for ins in config.instruments], np.int64)
        self.max_qty = np.array([ins.max_qty for ins in config.instruments], np.float64)
        self.symbols = [ins.symbol for ins in config.instruments]
        self.base = np.array([float(plan.reference) for plan in plans])
        self.ref = self.base.copy()
        self.list_hour = np.array([plan.list_hour for plan in plans], np.int64)
        self.listed = self.list_hour == 0  # the exchange opens with these
        self.open = self.listed.copy()
        self.close_hour = np.array([plan.close_hour for plan in plans], np.int64)

    def to_ticks(self, inst: np.ndarray, dollars: np.ndarray) -> np.ndarray:
        """Dollar prices rounded to each instrument's tick and clipped to its band."""
        ticks = np.rint(dollars / np.array([float(t) for t in self.ticks])[inst]).astype(np.int64)
        return np.clip(ticks, self.min_ticks[inst], self.max_ticks[inst])

    def price(self, inst: int, ticks: int) -> str:
        """The exact price text of ``ticks`` on instrument ``inst``."""
        return self.specs[inst].format_price(ticks)

    def listing(self, h: int) -> list[int]:
        """The windows listed at the start of hour ``h`` (config order), marked listed and open."""
        starting = np.flatnonzero(~self.listed & (self.list_hour <= h)).tolist()
        self.listed[starting] = True
        self.open[starting] = True
        return starting

    def closing(self, h: int) -> list[int]:
        """The open instruments whose window ends with hour ``h``, marked closed."""
        ending = np.flatnonzero(self.open & (self.close_hour <= h + 1)).tolist()
        self.open[ending] = False
        return ending

    def follow(self, volume: np.ndarray, notional: np.ndarray, noise: np.ndarray) -> None:
        """Move ``ref`` 15% toward the hour's VWAP (where there were fills) and 2% back toward
        ``base``, plus ``noise`` (relative); kept within 0.3x..3x of ``base``."""
        traded = volume > 0
        vwap = np.where(traded, notional / np.maximum(volume, 1), self.ref)
        self.ref = self.ref + 0.15 * (vwap - self.ref) + 0.02 * (self.base - self.ref) + noise * self.ref
        self.ref = np.clip(self.ref, 0.3 * self.base, 3.0 * self.base)
