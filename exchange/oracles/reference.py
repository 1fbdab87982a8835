"""The reference exchange: docs/RULES.md §2-§4 and the §5 "Exact details" in plain Python.

This is the test oracle for the Numba engine (``exchange.engine``). It is written
from docs/RULES.md alone and shares no matching code with the kernels: it must not
import ``exchange.engine`` or any ``*_nb`` module. It shares only the configuration,
the record types of ``exchange.schema`` and the canonical digest text of
``exchange.digest``. Clarity wins over speed everywhere; each rule is one small,
readable piece of code.

The book of each instrument is two ``SortedKeyList``s of resting orders:

* asks, keyed by (effective price as an exact ``Fraction`` ``pa * 10000 / f``,
  arrival) -- ordering by the exact fraction is the same as comparing
  ``pa1 * f2`` with ``pa2 * f1``;
* bids, keyed by (minus the effective price ``pb``, arrival).

The per-call API is the one of docs/API.md: every call that does not raise
``ValueError`` is one input row, takes the next ``seq`` and returns the events
it caused.
"""
from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction

import numpy as np
from sortedcontainers import SortedKeyList

from exchange import digest
from exchange.config import PARTY_PATTERN, ExchangeConfig, with_listed
from exchange.schema import (
    ACT_CANCEL,
    ACT_CLOSE,
    ACT_GRADE,
    ACT_NEW,
    ACT_REPLACE,
    ACTION_DTYPE,
    BP,
    EVENT_DTYPE,
    GRADE_ABSENT,
    NO_VALUE,
    PRICE_ABSENT,
    PRICE_INVALID,
    SIDE_WORDS,
    STP_WORDS,
    TIF_WORDS,
    TYPE_WORDS,
    Event,
    EventType,
    OrderType,
    Reason,
    RestingOrder,
    Side,
    Stp,
    Tif,
    Trade,
)

__all__ = ["ReferenceExchange"]

_PARTY_RE = re.compile(PARTY_PATTERN)
# "plain digits with an optional point (no exponent, no spaces, no NaN)" -- docs/RULES.md §5.
_PLAIN_DECIMAL_RE = re.compile(r"[0-9]+(\.[0-9]*)?|\.[0-9]+")
_INT64_MAX = 2**63 - 1


# ------------------------------------------------------------------ orders
@dataclass
class _Order:
    """A resting order. ``price`` is in ticks: raw for asks, effective for bids."""

    order_id: int
    instrument: int  # index in config order
    side: Side
    party: str
    price: int
    qty: int  # open quantity
    grade: int | None  # asks: the provider's grade index at arrival
    factor: int | None  # asks: that grade's floor in bp
    min_grade: int | None  # bids: index of the lowest grade admitted
    tif: Tif
    arrival: int  # seq of the row it (last) arrived with
    stp: Stp  # self-trade prevention mode, kept by a re-arrival


def _ask_key(order: _Order):
    # Lowest effective price first (exact rational pa*10000/f), then earliest arrival.
    return (Fraction(order.price * BP, order.factor), order.arrival)


def _bid_key(order: _Order):
    # Highest effective price first, then earliest arrival.
    return (-order.price, order.arrival)


@dataclass
class _Incoming:
    """An order meeting the book (a new order, or a replace's re-arrival)."""

    order_id: int
    instrument: int
    side: Side
    party: str
    order_type: OrderType
    tif: Tif
    price: int | None  # ticks; None for market
    qty: int  # remaining
    grade: int | None  # sells: provider's grade index
    factor: int | None  # sells: grade factor
    min_grade: int | None  # buys
    stp: Stp  # what happens when it meets its own party's order


@dataclass
class _State:
    seq: int = 0
    last_ts: int = 0
    providers: dict = field(default_factory=dict)  # party -> goodput bp
    closed: set = field(default_factory=set)  # instrument indexes
    used_ids: set = field(default_factory=set)
    max_id: int = 0
    orders: dict = field(default_factory=dict)  # order id -> resting _Order
    bids: list = field(default_factory=list)  # per instrument: SortedKeyList
    asks: list = field(default_factory=list)
    trades: list = field(default_factory=list)
    parties: dict = field(default_factory=dict)  # party name -> code, in order of first appearance


def _same_market(a: ExchangeConfig, b: ExchangeConfig) -> bool:
    """The same configuration, up to instruments listed later by one of them."""
    n = min(len(a.instruments), len(b.instruments))
    return ((a.grades, a.providers, a.settlement) == (b.grades, b.providers, b.settlement)
            and a.instruments[:n] == b.instruments[:n])


# ------------------------------------------------------------ the exchange
class ReferenceExchange:
    """Plain-Python exchange implementing docs/API.md; the oracle of the tests."""

    def __init__(self, config: ExchangeConfig | None = None):
        self.config = config if config is not None else ExchangeConfig.default()
        state = _State()
        for provider in self.config.providers:
            state.providers[provider.party] = provider.goodput_bp
            state.parties.setdefault(provider.party, len(state.parties))
        state.bids = [SortedKeyList(key=_bid_key) for _ in self.config.instruments]
        state.asks = [SortedKeyList(key=_ask_key) for _ in self.config.instruments]
        self._s = state

    # ============================================================ argument checks
    # Malformed arguments raise ValueError before anything changes (no seq used).
    @staticmethod
    def _check_party(party, name="party") -> str:
        if not isinstance(party, str) or not _PARTY_RE.fullmatch(party):
            raise ValueError(f"{name}: {party!r} is not a party ({PARTY_PATTERN})")
        return party

    @classmethod
    def _check_qty(cls, value) -> int:
        """A quantity: an int64 other than -2**63 (the one int64 with no negation, which
        the engine's records cannot echo; docs/RULES.md §5 qty)."""
        cls._check_int(value, "qty")
        if value == -_INT64_MAX - 1:
            raise ValueError(f"qty: {value} is outside -(2**63-1)..2**63-1")
        return value

    @staticmethod
    def _check_int(value, name) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{name}: expected an int, got {value!r}")
        if not -_INT64_MAX - 1 <= value <= _INT64_MAX:
            raise ValueError(f"{name}: {value!r} is outside int64")
        return value

    def _check_order_id(self, order_id) -> int:
        self._check_int(order_id, "order_id")
        if order_id <= 0:
            raise ValueError(f"order_id: {order_id!r} must be a positive integer")
        return order_id

    def _check_ts(self, ts) -> int:
        if ts is None:
            return self._s.last_ts
        self._check_int(ts, "ts")
        if ts < self._s.last_ts:
            raise ValueError(f"ts: {ts} is lower than the last row's ts {self._s.last_ts}")
        return ts

    @staticmethod
    def _check_instrument_symbol(instrument) -> str:
        if not isinstance(instrument, str) or not instrument:
            raise ValueError(f"instrument: expected a symbol string, got {instrument!r}")
        return instrument

    @staticmethod
    def _check_word(value, words: dict, enum_cls, name):
        if isinstance(value, enum_cls):
            return enum_cls(value)
        if isinstance(value, str) and value in words:  # case-sensitive
            return words[value]
        raise ValueError(f"{name}: {value!r} is not one of {', '.join(words)}")

    @staticmethod
    def _check_price(price, name="price") -> Decimal | None:
        """The price as an exact Decimal (None when not given); ValueError when malformed."""
        if price is None or price == "":  # an empty cell: not given
            return None
        if isinstance(price, bool) or isinstance(price, float):
            raise ValueError(f"{name}: {price!r} is a {type(price).__name__}; give a str, Decimal or int")
        if isinstance(price, int):
            return Decimal(price)
        if isinstance(price, Decimal):
            if not price.is_finite():
                raise ValueError(f"{name}: {price!r} is not a finite decimal")
            return price
        if isinstance(price, str):
            if not _PLAIN_DECIMAL_RE.fullmatch(price):
                raise ValueError(f"{name}: {price!r} is not a plain decimal")
            return Decimal(price)
        raise ValueError(f"{name}: {price!r} is not a price (str, Decimal or int)")

    @staticmethod
    def _check_goodput(goodput) -> int:
        """Goodput fraction in [0, 1] with at most 4 places, as bp."""
        if isinstance(goodput, bool) or isinstance(goodput, float):
            raise ValueError(f"goodput: {goodput!r} is a {type(goodput).__name__}; give a str or Decimal")
        # docs/API.md: "str or Decimal" -- an int (even 0 or 1) is refused like a float.
        if isinstance(goodput, Decimal):
            number = goodput
            if not number.is_finite():
                raise ValueError(f"goodput: {goodput!r} is not a finite decimal")
        elif isinstance(goodput, str):
            if not _PLAIN_DECIMAL_RE.fullmatch(goodput):
                raise ValueError(f"goodput: {goodput!r} is not a plain decimal")
            number = Decimal(goodput)
        else:
            raise ValueError(f"goodput: {goodput!r} is not a decimal fraction")
        if not 0 <= number <= 1:
            raise ValueError(f"goodput: {goodput!r} is outside [0, 1]")
        scaled = number * BP
        if scaled != scaled.to_integral_value():
            raise ValueError(f"goodput: {goodput!r} has more than 4 decimal places")
        return int(scaled)

    # ============================================================ helpers
    def _instrument_index(self, symbol: str) -> int | None:
        return self.config.instrument_index(symbol)

    def _provider_grade(self, party: str) -> int | None:
        """Grade index of a provider (``config.ungraded`` if ungraded); None if not a provider."""
        if party not in self._s.providers:
            return None
        return self.config.grade_index(self._s.providers[party])

    def _price_ticks(self, instrument: int, price: Decimal) -> int | None:
        """Ticks of a price that is on tick and inside the (inclusive) band, else None."""
        ins = self.config.instruments[instrument]
        if not ins.price_min <= price <= ins.price_max:
            return None
        return ins.price_to_ticks(price)

    def _begin_row(self, ts: int, party: str | None = None) -> tuple[int, int]:
        """Use up the next seq for this row and give its party a code; returns (seq, ts)."""
        if party is not None:
            self._s.parties.setdefault(party, len(self._s.parties))
        seq = self._s.seq
        self._s.seq += 1
        self._s.last_ts = ts
        return seq, ts

    @staticmethod
    def _ev(seq, ts, order_id, event, reason=Reason.NONE, qty=None, leaves=None, trade_id=None):
        return Event(seq, ts, order_id, EventType(event), Reason(reason), qty, leaves, trade_id)

    def _rejected(self, seq, ts, order_id, reason, qty):
        # REJECTED: qty = the row's qty (None if it had none), leaves empty.
        return [self._ev(seq, ts, order_id, EventType.REJECTED, reason, qty, None)]

    # ------------------------------------------------ compatibility and crossing
    @staticmethod
    def _compatible(ask_grade: int, bid_min_grade: int) -> bool:
        # Grade index 0 is the best: the ask's grade ranks at or above min_grade.
        return ask_grade <= bid_min_grade

    @staticmethod
    def _crosses(bid_price: int | None, ask_price: int | None, factor: int) -> bool:
        # pb * f >= pa * 10000; a market order (price None) crosses everything.
        if bid_price is None or ask_price is None:
            return True
        return bid_price * factor >= ask_price * BP

    def _contra_in_priority(self, incoming: _Incoming):
        """The resting orders an incoming order may meet: compatible, in priority order."""
        if incoming.side == Side.BUY:
            for ask in self._s.asks[incoming.instrument]:
                if self._compatible(ask.grade, incoming.min_grade):
                    yield ask
        else:
            for bid in self._s.bids[incoming.instrument]:
                if self._compatible(incoming.grade, bid.min_grade):
                    yield bid

    def _pair_crosses(self, incoming: _Incoming, resting: _Order) -> bool:
        if incoming.side == Side.BUY:
            return self._crosses(incoming.price, resting.price, resting.factor)
        return self._crosses(resting.price, incoming.price, incoming.factor)

    def _next_contra(self, incoming: _Incoming) -> _Order | None:
        """The first compatible resting order that crosses, or None.

        Compatible orders come in priority order, which is also the order of the
        crossing test, so the first compatible one decides.
        """
        for resting in self._contra_in_priority(incoming):
            return resting if self._pair_crosses(incoming, resting) else None
        return None

    def _any_compatible_cross(self, incoming: _Incoming) -> bool:
        """post_only: does any compatible resting order cross it, whatever its party?"""
        return self._next_contra(incoming) is not None

    def _fok_fillable(self, incoming: _Incoming) -> bool:
        """Walk the book in priority order as matching would under the order's stp mode:
        cancel_resting walks past own orders (without cancelling them), the others stop there."""
        available = 0
        for resting in self._contra_in_priority(incoming):
            if not self._pair_crosses(incoming, resting):
                break
            if resting.party == incoming.party:
                if incoming.stp == Stp.CANCEL_RESTING:
                    continue
                break
            available += resting.qty
            if available >= incoming.qty:
                return True
        return False

    # ------------------------------------------------------------ book changes
    def _rest(self, order: _Order) -> None:
        self._s.orders[order.order_id] = order
        book = self._s.bids if order.side == Side.BUY else self._s.asks
        book[order.instrument].add(order)

    def _unrest(self, order: _Order) -> None:
        del self._s.orders[order.order_id]
        book = self._s.bids if order.side == Side.BUY else self._s.asks
        book[order.instrument].remove(order)

    # ------------------------------------------------------------ matching
    def _match(self, incoming: _Incoming, seq: int, ts: int) -> tuple[list[Event], bool]:
        """Match ``incoming`` against the book; returns (events, stopped by self-trade)."""
        events: list[Event] = []
        ins = self.config.instruments[incoming.instrument]
        while incoming.qty > 0:
            resting = self._next_contra(incoming)
            if resting is None:
                break
            if resting.party == incoming.party:
                # Self-trade prevention (docs/RULES.md §4): the incoming order's mode decides.
                if incoming.stp == Stp.CANCEL_INCOMING:
                    return events, True
                self._unrest(resting)  # its whole open quantity
                events.append(self._ev(seq, ts, resting.order_id, EventType.CANCELED,
                                       Reason.SELF_TRADE, qty=resting.qty, leaves=0))
                if incoming.stp == Stp.CANCEL_BOTH:
                    return events, True
                continue  # cancel_resting: on with the next in priority
            qty = min(incoming.qty, resting.qty)
            if incoming.side == Side.BUY:
                # A resting ask trades at its raw price.
                price = resting.price
                grade = resting.grade
                buy_id, sell_id = incoming.order_id, resting.order_id
                buyer, seller = incoming.party, resting.party
            else:
                # A resting bid trades at floor(pb * f / 10000), f = the incoming ask's factor.
                price = resting.price * incoming.factor // BP
                grade = incoming.grade
                buy_id, sell_id = resting.order_id, incoming.order_id
                buyer, seller = resting.party, incoming.party
            incoming.qty -= qty
            resting.qty -= qty
            trade_id = len(self._s.trades) + 1
            self._s.trades.append(
                Trade(trade_id, seq, ts, ins.symbol, buy_id, sell_id, buyer, seller,
                      self.config.grades[grade].name, price, qty, Side(incoming.side))
            )
            # Two FILLs per trade, aggressor first; leaves = open quantity after.
            events.append(self._ev(seq, ts, incoming.order_id, EventType.FILL,
                                   qty=qty, leaves=incoming.qty, trade_id=trade_id))
            events.append(self._ev(seq, ts, resting.order_id, EventType.FILL,
                                   qty=qty, leaves=resting.qty, trade_id=trade_id))
            if resting.qty == 0:
                self._unrest(resting)
        return events, False

    def _arrive(self, incoming: _Incoming, seq: int, ts: int) -> list[Event]:
        """An accepted order (or re-arrival) meets the book and rests/cancels its remainder.

        The caller has done the checks (FOK fillability, post_only crossing) and
        emitted ACCEPTED or REPLACED.
        """
        events, self_trade = self._match(incoming, seq, ts)
        if incoming.qty == 0:
            return events
        if self_trade:
            reason = Reason.SELF_TRADE
        elif incoming.order_type == OrderType.MARKET or incoming.tif == Tif.IOC:
            reason = Reason.IOC
        elif incoming.tif == Tif.FOK:  # cannot happen after a passing FOK check
            reason = Reason.FOK
        else:
            self._rest(
                _Order(
                    order_id=incoming.order_id, instrument=incoming.instrument, side=incoming.side,
                    party=incoming.party, price=incoming.price, qty=incoming.qty,
                    grade=incoming.grade, factor=incoming.factor, min_grade=incoming.min_grade,
                    tif=incoming.tif, arrival=seq, stp=incoming.stp,
                )
            )
            return events
        events.append(self._ev(seq, ts, incoming.order_id, EventType.CANCELED, reason,
                               qty=incoming.qty, leaves=0))
        incoming.qty = 0
        return events

    # ============================================================ actions
    def submit(self, party, instrument, side, qty, price=None, *, order_type="limit", tif="gtc",
               min_grade=None, order_id=None, ts=None, stp="cancel_incoming") -> list[Event]:
        """A `new` row (docs/RULES.md §4, §5). An empty string is an empty cell: optional
        arguments take their defaults, required ones are malformed (ValueError)."""
        # ---- malformed arguments: ValueError, nothing changes
        order_type = "limit" if order_type == "" else order_type
        tif = "gtc" if tif == "" else tif
        stp = "cancel_incoming" if stp == "" else stp
        min_grade = None if min_grade == "" else min_grade
        party = self._check_party(party)
        symbol = self._check_instrument_symbol(instrument)
        side = self._check_word(side, SIDE_WORDS, Side, "side")
        order_type = self._check_word(order_type, TYPE_WORDS, OrderType, "order_type")
        tif = self._check_word(tif, TIF_WORDS, Tif, "tif")  # must be a valid word even on a market
        stp = self._check_word(stp, STP_WORDS, Stp, "stp")
        self._check_qty(qty)
        price_value = self._check_price(price)
        if min_grade is not None and not isinstance(min_grade, str):
            raise ValueError(f"min_grade: {min_grade!r} is not a grade name")
        if order_id is None:
            order_id = self._s.max_id + 1
            if order_id > _INT64_MAX:
                raise ValueError("order_id: every id up to 2**63-1 is used; give one explicitly")
        else:
            self._check_order_id(order_id)
        ts = self._check_ts(ts)

        seq, ts = self._begin_row(ts, party)
        s = self._s

        # ---- rejects, in the spec's precedence order (BAD_FIELD cannot occur here)
        def reject(reason):
            return self._rejected(seq, ts, order_id, reason, qty)

        index = self._instrument_index(symbol)
        if index is None:
            return reject(Reason.UNKNOWN_INSTRUMENT)
        if index in s.closed:
            return reject(Reason.INSTRUMENT_CLOSED)
        if order_id in s.used_ids:
            return reject(Reason.DUPLICATE_ID)
        grade = factor = None
        if side == Side.SELL:
            grade = self._provider_grade(party)
            if grade is None:
                return reject(Reason.NOT_A_PROVIDER)
            if grade == self.config.ungraded:
                return reject(Reason.PROVIDER_UNGRADED)
            factor = self.config.grades[grade].floor_bp
            if min_grade is not None:  # min_grade on a sell
                return reject(Reason.BAD_GRADE)
            min_grade_index = None
        else:
            if min_grade is None:
                min_grade_index = len(self.config.grades) - 1  # default: the lowest grade
            else:
                min_grade_index = self.config.grade_by_name(min_grade)
                if min_grade_index is None:
                    return reject(Reason.BAD_GRADE)
        ins = self.config.instruments[index]
        if not 1 <= qty <= ins.max_qty:
            return reject(Reason.BAD_QTY)
        if order_type == OrderType.MARKET:
            if price_value is not None:
                return reject(Reason.BAD_PRICE)
            ticks = None  # tif is ignored on a market: it matches, then cancels its remainder IOC
        else:
            if price_value is None:
                return reject(Reason.BAD_PRICE)
            ticks = self._price_ticks(index, price_value)
            if ticks is None:
                return reject(Reason.BAD_PRICE)

        incoming = _Incoming(order_id, index, side, party, order_type, tif, ticks, qty,
                             grade, factor, min_grade_index, stp)
        is_limit = order_type == OrderType.LIMIT
        if is_limit and tif == Tif.POST_ONLY and self._any_compatible_cross(incoming):
            return reject(Reason.WOULD_CROSS)

        # ---- accepted: the id is used up whatever becomes of the order
        s.used_ids.add(order_id)
        s.max_id = max(s.max_id, order_id)
        events = [self._ev(seq, ts, order_id, EventType.ACCEPTED, qty=qty, leaves=qty)]
        if is_limit and tif == Tif.FOK and not self._fok_fillable(incoming):
            events.append(self._ev(seq, ts, order_id, EventType.CANCELED, Reason.FOK, qty=qty, leaves=0))
            return events
        return events + self._arrive(incoming, seq, ts)

    def cancel(self, order_id, party, *, ts=None) -> list[Event]:
        """A `cancel` row: ends a resting order of the same party."""
        return self._cancel(order_id, party, ts, None)

    def _cancel(self, order_id, party, ts, row_qty) -> list[Event]:
        """``cancel``; a REJECTED event echoes ``row_qty``, the qty cell of a cancel row in
        an action array or file (§5: "qty = the row's qty"; None: the cell is empty)."""
        self._check_order_id(order_id)
        party = self._check_party(party)
        ts = self._check_ts(ts)
        seq, ts = self._begin_row(ts, party)
        order = self._s.orders.get(order_id)
        if order is None:
            return self._rejected(seq, ts, order_id, Reason.UNKNOWN_ORDER, row_qty)
        if order.party != party:
            return self._rejected(seq, ts, order_id, Reason.NOT_OWNER, row_qty)
        self._unrest(order)
        return [self._ev(seq, ts, order_id, EventType.CANCELED, Reason.NONE, qty=order.qty, leaves=0)]

    def replace(self, order_id, party, *, price=None, qty=None, ts=None) -> list[Event]:
        """A `replace` row: new price and/or new open quantity of a resting order."""
        self._check_order_id(order_id)
        party = self._check_party(party)
        price_value = self._check_price(price)
        if qty is not None:
            self._check_qty(qty)
        ts = self._check_ts(ts)
        seq, ts = self._begin_row(ts, party)
        s = self._s

        def reject(reason):
            return self._rejected(seq, ts, order_id, reason, qty)

        order = s.orders.get(order_id)
        if order is None:
            return reject(Reason.UNKNOWN_ORDER)
        if order.party != party:
            return reject(Reason.NOT_OWNER)
        ins = self.config.instruments[order.instrument]
        new_qty = order.qty if qty is None else qty  # empty cell keeps the old value
        if not 1 <= new_qty <= ins.max_qty:
            return reject(Reason.BAD_QTY)
        if price_value is None:
            new_price = order.price
        else:
            new_price = self._price_ticks(order.instrument, price_value)
            if new_price is None:
                return reject(Reason.BAD_PRICE)

        # Prices compare by value (ticks): a pure quantity decrease, or no change, keeps its place.
        if new_price == order.price and new_qty <= order.qty:
            order.qty = new_qty
            return [self._ev(seq, ts, order_id, EventType.REPLACED, qty=new_qty, leaves=new_qty)]

        # Otherwise: cancel plus a fresh arrival under the same id, with this row's seq.
        incoming = _Incoming(order_id, order.instrument, order.side, order.party, OrderType.LIMIT,
                             order.tif, new_price, new_qty, order.grade, order.factor, order.min_grade,
                             order.stp)  # a re-arrival keeps its order's stp mode
        if order.tif == Tif.POST_ONLY and self._any_compatible_cross(incoming):
            return reject(Reason.WOULD_CROSS)  # the original stays untouched
        self._unrest(order)
        events = [self._ev(seq, ts, order_id, EventType.REPLACED, qty=new_qty, leaves=new_qty)]
        return events + self._arrive(incoming, seq, ts)

    def regrade(self, party, goodput, *, ts=None) -> list[Event]:
        """A `grade` row: registers or updates a provider; a change of grade cancels its asks."""
        party = self._check_party(party)
        bp = self._check_goodput(goodput)
        ts = self._check_ts(ts)
        seq, ts = self._begin_row(ts, party)
        s = self._s
        old_grade = self._provider_grade(party)
        s.providers[party] = bp
        new_grade = self.config.grade_index(bp)
        events: list[Event] = []
        if old_grade is None or old_grade == new_grade:
            return events  # a first registration, or a move within the grade: nothing resting changes
        for index in range(len(self.config.instruments)):  # instruments in config order
            for ask in list(s.asks[index]):  # priority order
                if ask.party == party:
                    self._unrest(ask)
                    events.append(self._ev(seq, ts, ask.order_id, EventType.CANCELED,
                                           Reason.REGRADED, qty=ask.qty, leaves=0))
        return events

    def close(self, instrument, *, ts=None) -> list[Event]:
        """A `close` row: cancels the instrument's resting orders (bids, then asks) for good."""
        symbol = self._check_instrument_symbol(instrument)
        ts = self._check_ts(ts)
        seq, ts = self._begin_row(ts)
        s = self._s
        index = self._instrument_index(symbol)
        if index is None:
            return self._rejected(seq, ts, 0, Reason.UNKNOWN_INSTRUMENT, None)
        if index in s.closed:
            return self._rejected(seq, ts, 0, Reason.INSTRUMENT_CLOSED, None)
        s.closed.add(index)
        events = []
        for book in (s.bids[index], s.asks[index]):
            for order in list(book):
                self._unrest(order)
                events.append(self._ev(seq, ts, order.order_id, EventType.CANCELED, Reason.CLOSED,
                                       qty=order.qty, leaves=0))
        return events

    # ============================================================ queries
    def _query_instrument(self, instrument) -> int:
        symbol = self._check_instrument_symbol(instrument)
        index = self._instrument_index(symbol)
        if index is None:
            raise ValueError(f"instrument: unknown symbol {symbol!r}")
        return index

    def _query_grade(self, grade) -> int | None:
        if grade is None:
            return None
        index = self.config.grade_by_name(grade) if isinstance(grade, str) else None
        if index is None:
            raise ValueError(f"grade: {grade!r} is not a grade name")
        return index

    def _resting_view(self, order: _Order) -> RestingOrder:
        grades = self.config.grades
        return RestingOrder(
            instrument=self.config.instruments[order.instrument].symbol,
            side=Side(order.side),
            order_id=order.order_id,
            party=order.party,
            price=order.price,
            qty=order.qty,
            grade=grades[order.grade].name if order.side == Side.SELL else None,
            min_grade=grades[order.min_grade].name if order.side == Side.BUY else None,
            tif=Tif(order.tif),
            arrival_seq=order.arrival,
            stp=Stp(order.stp),
        )

    def trades(self) -> list[Trade]:
        return list(self._s.trades)

    def book(self, instrument=None) -> list[RestingOrder]:
        """Resting orders: instruments in config order, bids then asks, each in priority order."""
        if instrument is None:
            indexes = range(len(self.config.instruments))
        else:
            indexes = [self._query_instrument(instrument)]
        out = []
        for index in indexes:
            out += [self._resting_view(o) for o in self._s.bids[index]]
            out += [self._resting_view(o) for o in self._s.asks[index]]
        return out

    def order(self, order_id) -> RestingOrder | None:
        order = self._s.orders.get(order_id)
        return None if order is None else self._resting_view(order)

    def best_bid(self, instrument, grade=None) -> int | None:
        """Highest effective price (ticks) of the bids whose min_grade admits ``grade`` (None: all)."""
        index = self._query_instrument(instrument)
        g = self._query_grade(grade)
        for bid in self._s.bids[index]:
            if g is None or self._compatible(g, bid.min_grade):
                return bid.price
        return None

    def best_ask(self, instrument, grade=None) -> int | None:
        """Lowest raw price (ticks) of the asks of ``grade``.

        With grade None: the raw price of the best ask over all grades in priority
        order (lowest effective price, then arrival) -- the top of the ask book.
        """
        index = self._query_instrument(instrument)
        g = self._query_grade(grade)
        for ask in self._s.asks[index]:
            if g is None or ask.grade == g:
                return ask.price
        return None

    def depth(self, instrument, side, levels=10) -> list[tuple[int, str, int]]:
        """(price ticks, grade name, total qty) per price level and grade, best first.

        Asks: raw price and the ask grade, ordered by effective price (ties: better
        grade first). Bids: effective price and min_grade, highest price first (ties:
        better min_grade first). ``levels`` bounds the number of (price, grade) rows.
        """
        index = self._query_instrument(instrument)
        side = self._check_word(side, SIDE_WORDS, Side, "side")
        self._check_int(levels, "levels")
        totals: dict[tuple[int, int], int] = {}
        if side == Side.BUY:
            for bid in self._s.bids[index]:
                totals[(bid.price, bid.min_grade)] = totals.get((bid.price, bid.min_grade), 0) + bid.qty
            keys = sorted(totals, key=lambda k: (-k[0], k[1]))
        else:
            for ask in self._s.asks[index]:
                totals[(ask.price, ask.grade)] = totals.get((ask.price, ask.grade), 0) + ask.qty
            factor = {i: g.floor_bp for i, g in enumerate(self.config.grades)}
            keys = sorted(totals, key=lambda k: (Fraction(k[0] * BP, factor[k[1]]), k[1]))
        grades = self.config.grades
        return [(price, grades[g].name, totals[(price, g)]) for price, g in keys[: max(levels, 0)]]

    # ============================================================ listing
    def list_instrument(self, instrument) -> None:
        """One more instrument, after the others, checked as a configuration file checks its
        ``[[instrument]]`` tables (ConfigError is a ValueError). No seq, no event."""
        self.config = with_listed(self.config, instrument)
        self._s.bids.append(SortedKeyList(key=_bid_key))
        self._s.asks.append(SortedKeyList(key=_ask_key))

    # ============================================================ state
    def snapshot(self):
        """An opaque copy of the whole state; restore() may use it any number of times."""
        return ("ReferenceExchange", self.config, copy.deepcopy(self._s))

    def restore(self, snapshot) -> None:
        if (not isinstance(snapshot, tuple) or len(snapshot) != 3
                or snapshot[0] != "ReferenceExchange" or not isinstance(snapshot[2], _State)):
            raise ValueError("snapshot: not a ReferenceExchange snapshot")
        if not _same_market(snapshot[1], self.config):
            raise ValueError("snapshot: taken under another configuration")
        self.config = snapshot[1]  # without the instruments listed since, if any
        self._s = copy.deepcopy(snapshot[2])

    def fork(self) -> "ReferenceExchange":
        other = ReferenceExchange(self.config)
        other._s = copy.deepcopy(self._s)
        return other

    def state_digest(self) -> str:
        """sha256 hex of the canonical state text (exchange.digest), the same format as the
        Numba engine's: equal digests mean equal observable states."""
        s = self._s
        grade_names = [g.name for g in self.config.grades] + ["ungraded"]
        return digest.state_digest(
            next_seq=s.seq, last_ts=s.last_ts, trade_count=len(s.trades),
            grades=[(g.name, g.floor_bp) for g in self.config.grades],
            providers=[(party, bp, grade_names[self.config.grade_index(bp)])
                       for party, bp in s.providers.items()],
            closed=[ins.symbol for i, ins in enumerate(self.config.instruments) if i in s.closed],
            used_ids=s.used_ids, book=self.book())

    # ============================================================ many actions at once
    @property
    def parties(self) -> list[str]:
        """Party names by code, in order of first appearance (config providers first)."""
        return list(self._s.parties)

    def party_index(self, party: str) -> int:
        """The code of a party in action arrays (registers a new name)."""
        party = self._check_party(party)
        return self._s.parties.setdefault(party, len(self._s.parties))

    def instrument_index(self, symbol: str) -> int:
        """The code of an instrument in action arrays (its config position)."""
        return self._query_instrument(symbol)

    def apply(self, actions: np.ndarray, *, listings=()) -> np.ndarray:
        """Rows of ``exchange.schema.ACTION_DTYPE``, each made into the per-call method it
        names; returns their events as EVENT_DTYPE. Their ``seq`` column is overwritten.

        Prices are in ``config.price_unit``; ``price_state`` PRICE_INVALID stands for a price
        that is not a whole number of units (BAD_PRICE in its turn). A row the per-call API
        would refuse (a code out of range, ``ts`` going backwards, a missing party) raises
        ValueError and nothing changes. ``listings``: ``(row, instrument)`` pairs, rows in
        non-decreasing order in 0..len(actions): ``list_instrument(instrument)`` just before
        that row (after the last one for ``len(actions)``). Cost: that of the calls, one by one."""
        if not isinstance(actions, np.ndarray) or actions.dtype != ACTION_DTYPE or actions.ndim != 1:
            raise ValueError("actions: expected a 1-D array of exchange.schema.ACTION_DTYPE")
        pending = self._listing_plan(listings, len(actions))
        saved, saved_config = copy.deepcopy(self._s), self.config
        events: list[Event] = []
        try:
            for index, row in enumerate([*actions.tolist(), None]):
                while pending and pending[0][1] == index:
                    number, _, instrument = pending.pop(0)
                    try:
                        self.list_instrument(instrument)
                    except ValueError as error:
                        raise type(error)(f"listings[{number}]: {error}") from None
                if row is not None:
                    events += self._apply_row(dict(zip(ACTION_DTYPE.names, row)))
        except ValueError:
            self._s, self.config = saved, saved_config
            raise
        actions["seq"] = np.arange(saved.seq, saved.seq + len(actions))
        out = np.empty(len(events), EVENT_DTYPE)
        for k, e in enumerate(events):
            out[k] = (e.seq, e.ts, e.order_id, e.event, e.reason,
                      NO_VALUE if e.qty is None else e.qty,
                      NO_VALUE if e.leaves_qty is None else e.leaves_qty, e.trade_id or 0)
        return out

    @staticmethod
    def _listing_plan(listings, n_rows: int) -> list[tuple[int, int, object]]:
        """(number, row, instrument) per listing; ValueError unless ``listings`` is a list or
        tuple of (row, instrument) pairs with int rows in non-decreasing order in 0..n_rows."""
        if not isinstance(listings, (list, tuple)):
            raise ValueError(f"listings: {listings!r} is not a list of (row, instrument) pairs")
        plan, low = [], 0
        for number, pair in enumerate(listings):
            if not isinstance(pair, tuple) or len(pair) != 2:
                raise ValueError(f"listings[{number}]: {pair!r} is not a (row, instrument) pair")
            row, instrument = pair
            if isinstance(row, bool) or not isinstance(row, int) or not low <= row <= n_rows:
                raise ValueError(f"listings[{number}]: row {row!r} is not an int in {low}..{n_rows}")
            plan.append((number, row, instrument))
            low = row
        return plan

    def _apply_row(self, row: dict) -> list[Event]:
        names = list(self._s.parties)
        if not -1 <= row["party"] < len(names):
            raise ValueError(f"actions: party code {row['party']} is not one of party_index()'s")
        if not -1 <= row["instrument"] < len(self.config.instruments):
            raise ValueError(f"actions: instrument code {row['instrument']} is outside the configuration")
        party = names[row["party"]] if row["party"] >= 0 else None
        symbol = self.config.instruments[row["instrument"]].symbol if row["instrument"] >= 0 else "?"
        qty = None if row["qty"] == NO_VALUE else row["qty"]
        price = {PRICE_ABSENT: None, PRICE_INVALID: Decimal(-1)}.get(  # -1: no price is valid
            row["price_state"], row["price"] * self.config.price_unit)
        ts, action = row["ts"], row["action"]
        if action == ACT_NEW:
            grade = row["min_grade"]
            min_grade = (None if grade == GRADE_ABSENT else
                         self.config.grades[grade].name if 0 <= grade < len(self.config.grades) else "?")
            return self.submit(party, symbol, Side(row["side"]), row["qty"], price,  # NO_VALUE: BAD_QTY
                               order_type=OrderType(row["order_type"]), tif=Tif(row["tif"]),
                               min_grade=min_grade, order_id=row["order_id"], ts=ts,
                               stp=Stp(row["stp"]))
        if action == ACT_CANCEL:
            return self._cancel(row["order_id"], party, ts, qty)
        if action == ACT_REPLACE:
            return self.replace(row["order_id"], party, price=price, qty=qty, ts=ts)
        if action == ACT_GRADE:
            return self.regrade(party, Decimal(row["goodput"]).scaleb(-4), ts=ts)
        if action == ACT_CLOSE:
            return self.close(symbol, ts=ts)
        seq, ts = self._begin_row(self._check_ts(ts))  # a malformed row (lenient replay)
        return self._rejected(seq, ts, row["order_id"], Reason.BAD_FIELD, qty)

    def __repr__(self) -> str:
        return (f"ReferenceExchange(instruments={len(self.config.instruments)}, "
                f"resting={len(self._s.orders)}, trades={len(self._s.trades)}, next_seq={self._s.seq})")
