"""Codes and record layouts shared by the kernels, the API and the file formats.

Kernels see plain ``int`` constants (module-level globals that Numba freezes
at compile time); users see the IntEnums built from the same numbers, so a
user never meets a bare integer code.

Record dtypes are the only currency between the Python boundary and the
kernels: actions go in, events and trades come out.
"""
from __future__ import annotations

import enum

import numpy as np

# --------------------------------------------------------------------- codes
# Sides. The kernels index ladders by side: 0 = bids, 1 = asks.
BUY = 0
SELL = 1

# Order types.
LIMIT = 0
MARKET = 1

# Time in force.
GTC = 0
IOC = 1
FOK = 2
POST_ONLY = 3

# Self-trade prevention modes (docs/RULES.md §4): what happens when an order meets its own party's.
STP_CANCEL_INCOMING = 0  # the default: the incoming remainder is cancelled, matching stops
STP_CANCEL_RESTING = 1  # that resting order is cancelled, matching goes on
STP_CANCEL_BOTH = 2  # that resting order, then the incoming remainder, are cancelled

# Actions.
ACT_NEW = 0
ACT_CANCEL = 1
ACT_REPLACE = 2
ACT_GRADE = 3
ACT_CLOSE = 4
ACT_MALFORMED = 5  # a row that could not be parsed (lenient replay): REJECTED BAD_FIELD

# Event kinds.
EV_ACCEPTED = 0
EV_REJECTED = 1
EV_FILL = 2
EV_CANCELED = 3
EV_REPLACED = 4

# Reasons: rejects (in the spec's precedence order for `new`) and cancels.
R_NONE = 0
R_BAD_FIELD = 1
R_UNKNOWN_INSTRUMENT = 2
R_INSTRUMENT_CLOSED = 3
R_DUPLICATE_ID = 4
R_NOT_A_PROVIDER = 5
R_PROVIDER_UNGRADED = 6
R_BAD_GRADE = 7
R_BAD_QTY = 8
R_BAD_PRICE = 9
R_WOULD_CROSS = 10
R_UNKNOWN_ORDER = 11
R_NOT_OWNER = 12
R_IOC = 13
R_FOK = 14
R_SELF_TRADE = 15
R_REGRADED = 16
R_CLOSED = 17

# Price cell states in an action record (the kernel decides BAD_PRICE in its turn).
PRICE_ABSENT = 0
PRICE_OK = 1
PRICE_INVALID = 2  # not a whole number of price units, or unrepresentable

# min_grade cell: a grade index 0..G-1 (0 = best), or one of these.
GRADE_ABSENT = -1
GRADE_UNKNOWN = -2

# Sentinel for "no value" in int64 fields (absent qty, empty leaves_qty).
NO_VALUE = np.iinfo(np.int64).min

# Provider state per party, beside its grade index 0..G-1.
NOT_A_PROVIDER = -1  # stored in provider_grade; UNGRADED is G (one past the lowest grade)

BP = 10_000  # basis points in one


class Side(enum.IntEnum):
    BUY = BUY
    SELL = SELL


class OrderType(enum.IntEnum):
    LIMIT = LIMIT
    MARKET = MARKET


class Tif(enum.IntEnum):
    GTC = GTC
    IOC = IOC
    FOK = FOK
    POST_ONLY = POST_ONLY


class Stp(enum.IntEnum):
    CANCEL_INCOMING = STP_CANCEL_INCOMING
    CANCEL_RESTING = STP_CANCEL_RESTING
    CANCEL_BOTH = STP_CANCEL_BOTH


class Action(enum.IntEnum):
    NEW = ACT_NEW
    CANCEL = ACT_CANCEL
    REPLACE = ACT_REPLACE
    GRADE = ACT_GRADE
    CLOSE = ACT_CLOSE
    MALFORMED = ACT_MALFORMED


class EventType(enum.IntEnum):
    ACCEPTED = EV_ACCEPTED
    REJECTED = EV_REJECTED
    FILL = EV_FILL
    CANCELED = EV_CANCELED
    REPLACED = EV_REPLACED


class Reason(enum.IntEnum):
    NONE = R_NONE
    BAD_FIELD = R_BAD_FIELD
    UNKNOWN_INSTRUMENT = R_UNKNOWN_INSTRUMENT
    INSTRUMENT_CLOSED = R_INSTRUMENT_CLOSED
    DUPLICATE_ID = R_DUPLICATE_ID
    NOT_A_PROVIDER = R_NOT_A_PROVIDER
    PROVIDER_UNGRADED = R_PROVIDER_UNGRADED
    BAD_GRADE = R_BAD_GRADE
    BAD_QTY = R_BAD_QTY
    BAD_PRICE = R_BAD_PRICE
    WOULD_CROSS = R_WOULD_CROSS
    UNKNOWN_ORDER = R_UNKNOWN_ORDER
    NOT_OWNER = R_NOT_OWNER
    IOC = R_IOC
    FOK = R_FOK
    SELF_TRADE = R_SELF_TRADE
    REGRADED = R_REGRADED
    CLOSED = R_CLOSED


# Words used in order files, in the API and in outputs.
SIDE_WORDS = {"buy": Side.BUY, "sell": Side.SELL}
TYPE_WORDS = {"limit": OrderType.LIMIT, "market": OrderType.MARKET}
TIF_WORDS = {"gtc": Tif.GTC, "ioc": Tif.IOC, "fok": Tif.FOK, "post_only": Tif.POST_ONLY}
STP_WORDS = {"cancel_incoming": Stp.CANCEL_INCOMING, "cancel_resting": Stp.CANCEL_RESTING,
             "cancel_both": Stp.CANCEL_BOTH}
ACTION_WORDS = {
    "new": Action.NEW,
    "cancel": Action.CANCEL,
    "replace": Action.REPLACE,
    "grade": Action.GRADE,
    "close": Action.CLOSE,
}
EVENT_WORDS = {e: e.name for e in EventType}
REASON_WORDS = {r: ("" if r == Reason.NONE else r.name) for r in Reason}

# ------------------------------------------------------------------ records
ACTION_DTYPE = np.dtype(
    [
        ("seq", np.int64),  # 0-based input row index (arrival order)
        ("ts", np.int64),  # user time, non-decreasing
        ("action", np.int8),  # ACT_*
        ("order_id", np.int64),  # new/cancel/replace; 0 when absent
        ("party", np.int32),  # party index (interned string); -1 when absent
        ("instrument", np.int32),  # instrument index in config order; -1 unknown/absent
        ("side", np.int8),  # BUY / SELL
        ("order_type", np.int8),  # LIMIT / MARKET
        ("tif", np.int8),  # GTC / IOC / FOK / POST_ONLY
        ("price_state", np.int8),  # PRICE_ABSENT / PRICE_OK / PRICE_INVALID
        ("price", np.int64),  # price / config.price_unit (the gcd of all ticks; = ticks when all share one)
        ("qty", np.int64),  # GPU-hours; NO_VALUE when absent
        ("min_grade", np.int8),  # grade index, GRADE_ABSENT or GRADE_UNKNOWN
        ("goodput", np.int32),  # basis points (grade actions)
        ("stp", np.int8),  # STP_* (new); 0 = cancel_incoming, so zeroed rows get the default
    ]
)

EVENT_DTYPE = np.dtype(
    [
        ("seq", np.int64),  # input row that caused the event
        ("ts", np.int64),  # that row's ts
        ("order_id", np.int64),  # the order concerned (row's id for rejects; 0 if absent)
        ("event", np.int8),  # EV_*
        ("reason", np.int8),  # R_* (R_NONE when none)
        ("qty", np.int64),  # see SPEC §5 "Events"; NO_VALUE when empty
        ("leaves_qty", np.int64),  # open quantity after; NO_VALUE when empty (REJECTED)
        ("trade_id", np.int64),  # FILL events: the trade; 0 otherwise
    ]
)

TRADE_DTYPE = np.dtype(
    [
        ("trade_id", np.int64),  # 1-based, in order of execution
        ("seq", np.int64),  # input row that caused it
        ("ts", np.int64),
        ("instrument", np.int32),
        ("buy_order_id", np.int64),
        ("sell_order_id", np.int64),
        ("buyer", np.int32),  # party index
        ("seller", np.int32),  # party index (the provider)
        ("grade", np.int8),  # the ask's grade index
        ("price", np.int64),  # raw price in absolute ticks
        ("qty", np.int64),
        ("aggressor", np.int8),  # side of the incoming order
    ]
)

BOOK_DTYPE = np.dtype(
    [
        ("instrument", np.int32),
        ("side", np.int8),
        ("order_id", np.int64),
        ("party", np.int32),
        ("price", np.int64),  # absolute ticks: raw for asks, effective for bids
        ("qty", np.int64),  # open quantity
        ("grade", np.int8),  # asks: the provider's grade; bids: -1
        ("min_grade", np.int8),  # bids: the grade floor admitted; asks: -1
        ("tif", np.int8),
        ("arrival_seq", np.int64),
        ("stp", np.int8),  # the order's self-trade prevention mode (not a book.csv column)
    ]
)


# ---------------------------------------------------------------- API values
from typing import NamedTuple  # noqa: E402


class Event(NamedTuple):
    """One engine event, as the per-call API returns it (SPEC §5 "Events")."""

    seq: int
    ts: int
    order_id: int
    event: EventType
    reason: Reason
    qty: int | None  # None only for a REJECTED row that had no qty
    leaves_qty: int | None  # None for REJECTED
    trade_id: int | None = None  # FILL events: the trade they belong to


class Trade(NamedTuple):
    """One trade; ``price`` is the raw price in ticks of the instrument."""

    trade_id: int
    seq: int
    ts: int
    instrument: str
    buy_order_id: int
    sell_order_id: int
    buyer: str
    seller: str
    grade: str
    price: int
    qty: int
    aggressor: Side


class RestingOrder(NamedTuple):
    """A resting order as the book shows it; ``price`` in ticks (raw for asks, effective for bids)."""

    instrument: str
    side: Side
    order_id: int
    party: str
    price: int
    qty: int
    grade: str | None  # asks: the provider's grade
    min_grade: str | None  # bids: the lowest grade admitted
    tif: Tif
    arrival_seq: int
    stp: Stp = Stp.CANCEL_INCOMING  # its self-trade prevention mode, kept by a re-arrival
