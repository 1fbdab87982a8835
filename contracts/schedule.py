"""Contracts from trades (docs/RULES.md §6): one contract per trade, scheduled over P periods.

Period ``t`` (0-based) of a contract of ``qty`` hours gets ``qty // P`` hours,
plus one for the first ``qty % P`` periods. Contracts are held as columns
(struct of arrays) sorted by ``trade_id``; parties are interned in sorted order
so that index order is report order. Terms and the price in µ$ are copied per
contract so the kernels never look at the config.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, localcontext

import numpy as np

from exchange.config import PARTY_PATTERN, ConfigError, ExchangeConfig

from .csvio import (
    InputError,
    cell_errors,
    distinct_cells,
    exact_decimal,
    int_cells,
    read_table,
    shown,
)

TRADE_COLUMNS = ("trade_id", "instrument", "buyer", "seller", "grade", "price", "qty")
INT64_MAX = 2**63 - 1
BP = 10_000
MAX_PRICE_TEXT = 64  # characters: longer price cells are refused before any arithmetic


def scheduled_hours(qty, periods, t):
    """Hours of period ``t``: ``qty // P`` plus one in the first ``qty % P`` periods (0 outside 0..P-1)."""
    qty, periods, t = np.asarray(qty), np.asarray(periods), np.asarray(t)
    hours = qty // periods + (t < qty % periods)
    return np.where((t >= 0) & (t < periods), hours, 0)


@dataclass(frozen=True, repr=False, eq=False)
class Contracts:
    """Contracts as columns, sorted by trade_id; ``parties`` sorted, indexed by buyer/provider."""

    config: ExchangeConfig
    parties: tuple
    trade_id: np.ndarray
    instrument: np.ndarray  # index in config order
    buyer: np.ndarray  # index into parties
    provider: np.ndarray
    grade: np.ndarray  # grade index
    floor_bp: np.ndarray
    price_ticks: np.ndarray
    p: np.ndarray  # µ$ per GPU-hour
    qty: np.ndarray
    periods: np.ndarray  # delivery_periods P of the instrument
    take_or_pay: np.ndarray
    makeup_periods: np.ndarray
    sla_credit: np.ndarray
    credit_cap: np.ndarray
    fee: np.ndarray

    def __len__(self) -> int:
        return len(self.trade_id)

    def __repr__(self) -> str:
        return f"<Contracts {len(self)} contracts, {len(self.parties)} parties>"

    @property
    def max_periods(self) -> int:
        return int(self.periods.max()) if len(self) else 0

    def sched(self, t: int) -> np.ndarray:
        """Scheduled hours of period ``t`` for every contract."""
        return scheduled_hours(self.qty, self.periods, t)

    def index_of(self, trade_ids) -> np.ndarray:
        """Contract index of each trade id; -1 where unknown."""
        trade_ids = np.asarray(trade_ids, dtype=np.int64)
        if not len(self):
            return np.full(len(trade_ids), -1, dtype=np.int64)
        pos = np.minimum(np.searchsorted(self.trade_id, trade_ids), len(self) - 1)
        return np.where(self.trade_id[pos] == trade_ids, pos, -1)

    @classmethod
    def from_arrays(cls, config: ExchangeConfig, trade_id, instrument, buyer, seller, grade,
                    price_ticks, qty) -> Contracts:
        """Contracts from columns: ``instrument``/``grade`` as names or indices, parties as names.

        ConfigError for a tick that is not whole µ$ or terms that would overflow int64;
        ValueError for unknown names, duplicate trade ids or bad quantities.
        """
        trade_id = np.asarray(trade_id, dtype=np.int64)
        n = len(trade_id)
        instrument = _indices(instrument, [i.symbol for i in config.instruments], "instrument")
        grade = _indices(grade, [g.name for g in config.grades], "grade")
        price_ticks = np.asarray(price_ticks, dtype=np.int64)
        qty = np.asarray(qty, dtype=np.int64)
        buyer_names = np.asarray(buyer, dtype=object)
        seller_names = np.asarray(seller, dtype=object)
        if not all(len(a) == n for a in (instrument, grade, price_ticks, qty, buyer_names, seller_names)):
            raise ValueError("contract columns must have equal lengths")
        order = np.argsort(trade_id, kind="stable")
        if n and (trade_id[order][1:] == trade_id[order][:-1]).any():
            raise ValueError("duplicate trade_id")
        if n and (qty.min() < 1 or price_ticks.min() < 0):
            raise ValueError("qty must be >= 1 and price >= 0")
        parties = tuple(sorted(set(buyer_names.tolist()) | set(seller_names.tolist())))
        lookup = {name: k for k, name in enumerate(parties)}
        buyer_ix = np.fromiter((lookup[b] for b in buyer_names.tolist()), np.int32, n)
        seller_ix = np.fromiter((lookup[s] for s in seller_names.tolist()), np.int32, n)

        tick_micros = np.array([i.tick_micros() if used else 0 for used, i in
                                zip(np.bincount(instrument, minlength=len(config.instruments)) > 0,
                                    config.instruments)], dtype=np.int64)
        per_instrument = {
            name: np.array([getattr(i.terms, name) for i in config.instruments], dtype=np.int64)
            for name in ("take_or_pay", "makeup_periods", "sla_credit", "credit_cap", "fee")
        }
        periods = np.array([i.delivery_periods for i in config.instruments], dtype=np.int64)
        floors = np.array([g.floor_bp for g in config.grades], dtype=np.int64)
        p = price_ticks * tick_micros[instrument]
        _check_range(config, instrument, p, qty, per_instrument["sla_credit"])

        take = lambda a: np.ascontiguousarray(a[order])
        return cls(
            config=config, parties=parties, trade_id=take(trade_id), instrument=take(instrument.astype(np.int32)),
            buyer=take(buyer_ix), provider=take(seller_ix), grade=take(grade.astype(np.int32)),
            floor_bp=take(floors[grade]), price_ticks=take(price_ticks), p=take(p), qty=take(qty),
            periods=take(periods[instrument]),
            **{name: take(values[instrument]) for name, values in per_instrument.items()},
        )

    @classmethod
    def from_trades(cls, config: ExchangeConfig, trades) -> Contracts:
        """Contracts from ``exchange.schema.Trade`` values (the engine's ``trades()``)."""
        trades = list(trades)
        return cls.from_arrays(
            config, [t.trade_id for t in trades], [t.instrument for t in trades], [t.buyer for t in trades],
            [t.seller for t in trades], [t.grade for t in trades], [t.price for t in trades],
            [t.qty for t in trades],
        )

    @classmethod
    def from_trade_records(cls, config: ExchangeConfig, records, party_names) -> Contracts:
        """Contracts from the engine's ``TRADE_DTYPE`` array; ``party_names[i]`` names party index i."""
        names = np.asarray(list(party_names), dtype=object)
        return cls.from_arrays(config, records["trade_id"], records["instrument"], names[records["buyer"]],
                               names[records["seller"]], records["grade"], records["price"], records["qty"])


def _indices(values, names, what) -> np.ndarray:
    values = np.asarray(values)
    if values.dtype.kind in "iu":
        if len(values) and (values.min() < 0 or values.max() >= len(names)):
            raise ValueError(f"{what} index out of range")
        return values.astype(np.int64)
    lookup = {name: k for k, name in enumerate(names)}
    try:
        return np.fromiter((lookup[v] for v in values.tolist()), np.int64, len(values))
    except KeyError as error:
        raise ValueError(f"unknown {what} {error.args[0]!r}") from None


def _check_range(config, instrument, p, qty, sla_credit) -> None:
    """Every product of the formula must fit int64: qty * p * max(10000, sla_credit)."""
    if not len(p):
        return
    for k, ins in enumerate(config.instruments):
        mask = instrument == k
        if not mask.any():
            continue
        worst = int(qty[mask].max()) * int(p[mask].max()) * max(10_000, int(sla_credit[k]))
        if worst > INT64_MAX:
            raise ConfigError(
                f"instrument {ins.symbol}: qty x price x max(10000, sla_credit) = {worst} "
                "overflows exact int64 settlement arithmetic"
            )


def read_trades_csv(path, config: ExchangeConfig) -> Contracts:
    """Contracts from a ``trades.csv`` (docs/RULES.md §5); InputError lists every bad cell as FILE:LINE."""
    table = read_table(path, TRADE_COLUMNS)
    cols = table.columns
    errors = []

    trade_id, ok = int_cells(cols["trade_id"])
    errors += cell_errors(table, "trade_id", ~ok, lambda r, t: f"{t!r} is not an integer")
    errors += cell_errors(table, "trade_id", ok & (trade_id < 1), lambda r, t: f"{t} must be >= 1")
    valid = ok & (trade_id >= 1)
    dup, first_line = duplicates(trade_id, valid, table.lines)
    errors += cell_errors(table, "trade_id", dup,
                          lambda r, t: f"duplicate trade_id {t} (first on line {first_line[r]})")

    symbols = {ins.symbol: k for k, ins in enumerate(config.instruments)}
    grades = {g.name: k for k, g in enumerate(config.grades)}

    def lookup(table_, what):
        def parse(text):
            if text not in table_:
                raise ValueError(f"unknown {what} {shown(text)!r}" if text else "empty")
            return table_[text]
        return parse

    instrument, bad_ins = _dictionary(table, "instrument", lookup(symbols, "instrument"), errors)
    instrument = instrument.astype(np.int64)
    grade, _ = _dictionary(table, "grade", lookup(grades, "grade"), errors)
    grade = grade.astype(np.int64)

    def party(text):
        if not re.fullmatch(PARTY_PATTERN, text):
            raise ValueError(f"{shown(text)!r} is not a party name {PARTY_PATTERN}" if text else "empty")
        return text

    buyer, _ = _dictionary(table, "buyer", party, errors)
    seller, _ = _dictionary(table, "seller", party, errors)

    # price: exact decimal on the instrument's tick, small enough for exact int64 µ$ arithmetic;
    # parsed once per (text, instrument)
    texts, text_why, codes = distinct_cells(cols["price"], _price_text)
    width = len(config.instruments) + 1
    uniq, inverse = np.unique(codes * width + np.where(bad_ins, 0, instrument), return_inverse=True)
    inverse = inverse.reshape(-1)
    why, unique_p = {}, np.zeros(len(uniq), np.int64)
    unique_ticks = np.zeros(len(uniq), np.int64)
    for u, pair in enumerate(uniq.tolist()):
        code, ins = divmod(pair, width)
        if code in text_why:
            why[u] = text_why[code]
            continue
        ins = config.instruments[ins]
        ticks = exact_ticks(texts[code], ins.tick)
        if ticks is None:
            why[u] = f"{shown(str(texts[code]))} is not a whole number of ticks ({ins.tick}) of {ins.symbol}"
        elif ticks * ins.tick_micros() * max(BP, ins.terms.sla_credit) > INT64_MAX:
            why[u] = (f"{shown(str(texts[code]))} is too large for exact settlement (price x "
                      f"max(10000, sla_credit) must stay below 2^63 micro-dollars)")
        else:
            unique_ticks[u] = ticks
            unique_p[u] = ticks * ins.tick_micros() * max(BP, ins.terms.sla_credit)
    price_ticks = unique_ticks[inverse]
    bad_price = np.isin(inverse, list(why)) & ~bad_ins
    errors += cell_errors(table, "price", bad_price, lambda r, t: why[int(inverse[r])])

    qty, ok = int_cells(cols["qty"])
    errors += cell_errors(table, "qty", ~ok, lambda r, t: f"{t!r} is not an integer" if t else "empty")
    errors += cell_errors(table, "qty", ok & (qty < 1), lambda r, t: f"{t} must be >= 1")
    per_hour = unique_p[inverse]  # p x max(10000, sla_credit), 0 where the price is bad
    too_many = ok & (qty >= 1) & (per_hour > 0) & (qty > INT64_MAX // np.maximum(per_hour, 1))
    errors += cell_errors(table, "qty", too_many, lambda r, t: (
        f"{t} hours at this price overflow exact settlement (qty x price x max(10000, sla_credit) "
        "must stay below 2^63 micro-dollars)"))

    if errors:
        order_of = {name: k for k, name in enumerate(TRADE_COLUMNS)}
        errors.sort(key=lambda e: (e[0], order_of[e[1]]))
        raise InputError([e[2] for e in errors])
    return Contracts.from_arrays(config, trade_id, instrument, buyer, seller, grade, price_ticks, qty)


def _price_text(text: str) -> Decimal:
    if not text:
        raise ValueError("empty")
    if len(text) > MAX_PRICE_TEXT:
        raise ValueError(f"{shown(text)!r} is too long for a price (over {MAX_PRICE_TEXT} characters)")
    return exact_decimal(text)


def exact_ticks(price: Decimal, tick: Decimal) -> int | None:
    """Whole ticks of ``price``, exactly (no 28-digit rounding); None when it is off tick."""
    with localcontext() as exact:
        exact.prec = len(price.as_tuple().digits) + len(tick.as_tuple().digits) + 40
        ticks = price / tick
        if ticks != ticks.to_integral_value():
            return None
        return int(ticks)


def duplicates(keys, valid, lines):
    """(mask of valid rows repeating an earlier valid row's key, line of that first row)."""
    rows = np.flatnonzero(valid)
    order = rows[np.argsort(keys[rows], kind="stable")]  # stable: file order within a key
    sorted_keys = keys[order]
    same = np.zeros(len(order), bool)
    same[1:] = sorted_keys[1:] == sorted_keys[:-1]
    start = np.maximum.accumulate(np.where(same, 0, np.arange(len(order))))
    dup = np.zeros(len(keys), bool)
    first_line = np.zeros(len(keys), np.int64)
    dup[order] = same
    first_line[order] = lines[order[start]]
    return dup, first_line


def _dictionary(table, column, parse, errors):
    """Parse a column once per distinct text; returns (values, bad mask) and extends ``errors``."""
    values, why, codes = distinct_cells(table.columns[column], parse)
    bad = np.isin(codes, list(why))
    errors += cell_errors(table, column, bad, lambda r, t: why[int(codes[r])])
    filled = np.empty(len(values), dtype=object)
    filled[:] = [0 if v is None else v for v in values]
    return filled[codes], bad
