"""Drive an ``Exchange`` from your own ``@njit`` code, one action at a time, at kernel speed.

The Python API costs about a microsecond a call; a simulation whose agents are compiled
code can instead call these functions inside its own ``@njit`` loop, on the very state
the ``Exchange`` holds, and get the same events (they run ``process_one``, the kernel
behind ``Exchange.submit`` and the others). Cost: the kernel's work plus a few calls into
compiled code that pass one address table, no Python (docs/API.md "Embedding the engine"
has the measured ns an action).

Functions for ``@njit`` code (each takes the handle ``h`` first; all arguments are ints.
Each is inlined into your code and passes the handle's address table to a compiled half
with one pinned signature, ``int64(table, int64, ...)``: compiled once, cached on disk,
and a caller's int32 or int8 converts to it; all of them run the one compiled
``process_one``):

* ``new_order(h, ts, order_id, party, instrument, side, order_type, tif, price, qty, min_grade, stp)``
* ``cancel(h, ts, order_id, party)``
* ``replace(h, ts, order_id, party, price, qty)``  (``NO_PRICE`` / ``NO_VALUE``: keep it)
* ``regrade(h, ts, party, goodput_bp)``
* ``close(h, ts, instrument)``

Codes are those of action arrays (docs/API.md "Many actions at once"): ``party`` from
``Exchange.party_index(name)``, ``instrument`` from ``instrument_index(symbol)`` (-1: an
unknown symbol, REJECTED UNKNOWN_INSTRUMENT), ``price`` in ``config.price_unit`` or
``NO_PRICE``, ``min_grade`` a grade index or ``GRADE_ABSENT``. Each returns the number of
events the action caused (>= 0), or a negative code, having done nothing:

* ``-NEED_SLOTS``, ``-NEED_IDS``, ``-NEED_EVENTS``, ``-NEED_TRADES``: an array is full.
  Return the code to Python; ``Embedding.resume(code)`` grows it; call again. ``room(h)``
  tells before acting (0: room for the next action), and ``Exchange.reserve(...)`` sizes
  everything up front.
* ``-E_*``: an argument out of range (``explain(code)`` says which); ``resume`` raises
  ValueError with that message.

Reading back, inside ``@njit``: ``events(h)`` (the action's EVENT_DTYPE records, a view
the next action overwrites), ``trades(h)`` (its TRADE_DTYPE records), ``traded_qty(h)``,
``next_seq(h)``.

From Python::

    with ex.embedded() as emb:                # an Embedding over ex's state
        step, code = my_loop(emb.handle, 0)   # your @njit function; returns where it stopped
        while code != 0:
            emb.resume(code)                  # grow what the code names (ValueError for E_*)
            step, code = my_loop(emb.handle, step)
    ex.trades(), ex.book(), ex.state_digest()   # the Python API sees every action

Mixing: ``emb.sync()`` (which ``resume`` and leaving the block also do) hands the
counters back to ``ex``; after it, Python calls on ``ex`` and njit calls through
``emb.handle`` may alternate freely. A Python call made while njit actions are not yet
synced is refused at the next sync (ValueError), since both would have used one seq.
See examples/njit_agents.py.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from exchange.nb.embed_nb import (  # noqa: F401  (the public njit API)
    E_CODE, E_GOODPUT, E_INSTRUMENT, E_ORDER_ID, E_PARTY, E_QTY, E_TS, NO_PRICE, cancel, close,
    events, new_order, next_seq, regrade, replace, room, traded_qty, trades,
)
from exchange.nb.layout import DONE, NEED_EVENTS, NEED_IDS, NEED_SLOTS, NEED_TRADES  # noqa: F401
from exchange.schema import (  # noqa: F401  (codes an njit caller passes)
    BUY, FOK, GRADE_ABSENT, GRADE_UNKNOWN, GTC, IOC, LIMIT, MARKET, NO_VALUE, POST_ONLY, SELL,
    STP_CANCEL_BOTH, STP_CANCEL_INCOMING, STP_CANCEL_RESTING,
)

if TYPE_CHECKING:
    from exchange.engine import Exchange

_MESSAGES = {
    E_TS: "ts: lower than the last action's ts",
    E_PARTY: "party: not a registered party code (register names with Exchange.party_index first)",
    E_INSTRUMENT: "instrument: neither -1 nor an instrument code",
    E_CODE: "side, order_type, tif, stp or min_grade: a code outside exchange.schema's",
    E_ORDER_ID: "order_id: not positive",
    E_QTY: "qty: -2**63 is the records' 'no value', not a quantity",
    E_GOODPUT: "goodput: outside 0..10000 basis points",
    NEED_SLOTS: "the order slots are full (grow: Exchange.grow)",
    NEED_IDS: "the order id table is full (grow: Exchange.grow)",
    NEED_EVENTS: "the event buffer is full (grow: Exchange.grow)",
    NEED_TRADES: "the trade buffer is full (grow: Exchange.grow)",
}


def explain(code: int) -> str:
    """What a negative result of the njit functions means."""
    return _MESSAGES.get(-int(code), f"not an embed result code: {code}")


class Embedding:
    """An ``Exchange``'s state lent to njit code (``Exchange.embedded()``).

    ``handle`` is current whenever it is read: it is rebuilt after the exchange grew an
    array or took Python calls. Cost: a tuple and a 5-element array per rebuild."""

    def __init__(self, exchange: Exchange) -> None:
        self._exchange = exchange
        self._handle: tuple | None = None

    @property
    def handle(self) -> tuple:
        self.sync()
        if self._handle is None or not self._exchange.embed_current(self._handle):
            self._handle = self._exchange.embed_handle()
        return self._handle

    def sync(self) -> None:
        """Hand the counters the njit actions advanced (seq, ts) back to the exchange."""
        if self._handle is not None:
            self._exchange.embed_sync(self._handle)

    def resume(self, code: int) -> None:
        """After an njit loop returned ``code``: sync; grow the array a -NEED_* code names;
        raise ValueError for an argument code; nothing more for 0 or a count."""
        self.sync()
        code = int(code)
        if code >= 0:
            return
        if -code in (NEED_SLOTS, NEED_IDS, NEED_EVENTS, NEED_TRADES):
            self._exchange.grow(-code)
            return
        raise ValueError(explain(code))

    def __enter__(self) -> "Embedding":
        return self

    def __exit__(self, *_exc: object) -> None:
        self.sync()
