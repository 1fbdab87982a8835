"""Per-action entry points for a user's own ``@njit`` code (the public face is exchange/embed.py).

A *handle* is one tuple ``(book, out, row, clock, table)``:

* ``book``: ``BookState.arrays``, the engine's state (see matching_nb);
* ``out``: ``(events, trades)``, the event buffer (refilled by each action from index 0)
  and the trade buffer (every trade so far, appended);
* ``row``: a 1-element ACTION_DTYPE array each action fills;
* ``clock``: an int64 array of the counters ``Exchange`` keeps in Python (CK_* below);
* ``table``: the same arrays as one address table (exchange/nb/address_nb.py).

Each action function checks the codes that would otherwise index outside an array,
then runs ``act_via_table``: ``matching_nb.process_row``, the body of the kernel behind
``Exchange``'s calls (``process_one``) with the same matching handlers inlined, so the
events are the same. That is the one copy of the matching code compiled here (a few
seconds on a machine's first run): calling ``process_one`` instead passed the state's
arrays twice more by value, about 55 ns of an action's ~120.

Each public function is a one-line wrapper, inlined into the caller, that passes the
handle's table to its compiled half, ``*_via_table``, which has one pinned signature
(``pinned`` below; exchange/nb/lean_nb.py calls these directly):
passing the 16 arrays themselves cost about 29 ns a call, a third of an action.
``events`` and ``trades`` return views of the handle's own arrays, so they are inlined
whole.

Results: the number of events (>= 0); ``-NEED_*`` (layout) when an array is full and
nothing was done; ``-E_*`` (below) when an argument is out of range and nothing was done.
"""
import numpy as np
from numba import njit

from exchange.nb.address_nb import handle_from
from exchange.nb.kernel import helper, io_kernel
from exchange.nb.layout import (
    C_EVENT_COUNT, C_TRADE_COUNT, B_COUNTERS, B_GRADE_FLOOR, B_INSTRUMENTS,
)
from exchange.nb.matching_nb import process_row, room_needed
from exchange.schema import (
    ACT_CANCEL, ACT_CLOSE, ACT_GRADE, ACT_NEW, ACT_REPLACE, BP, GRADE_ABSENT,
    GRADE_UNKNOWN, NO_VALUE, PRICE_ABSENT, PRICE_OK, STP_CANCEL_BOTH, STP_CANCEL_INCOMING,
)

# clock[...]: what Exchange keeps between calls, read back when the handle is returned.
CK_SEQ = 0  # seq of the next action
CK_TS = 1  # ts of the last action (a new one may not be lower)
CK_PARTIES = 2  # registered party codes are 0 .. clock[CK_PARTIES]-1
CK_FIRST_TRADE = 3  # index in out[1] of the last action's first trade
CK_HANDED = 4  # seq when the exchange last synced with this handle (not changed by njit code)
CLOCK_SIZE = 5

# handle[...]
H_BOOK = 0
H_OUT = 1
H_ROW = 2
H_CLOCK = 3
H_TABLE = 4

# Argument errors (returned negated, beside -NEED_*): nothing was done, no seq taken.
E_TS = 16  # ts lower than the last action's
E_PARTY = 17  # not a registered party code
E_INSTRUMENT = 18  # neither -1 (unknown) nor an instrument code
E_CODE = 19  # side, order_type, tif, stp or min_grade outside its codes
E_ORDER_ID = 20  # order id <= 0
E_QTY = 21  # qty is NO_VALUE (-2**63), the records' "no value"
E_GOODPUT = 22  # goodput outside 0..10000 bp

NO_PRICE = NO_VALUE  # price argument meaning "no price given" (market orders; replace keeping its price)



# The compiled halves: each a kernel of its own with one signature (``kernel.io_kernel``:
# ints widened to int64, so a caller's int32 or int8 converts), compiled at its first use
# and cached on disk, taking the handle's address table, not the handle (one array
# instead of 19 by value). Not compiled at import: a replay never calls them.
pinned = io_kernel


_wrapper = njit(cache=True, inline="always")  # the public one-liners, inlined into the caller


@pinned
def act_via_table(table, ts, action, order_id, party, instrument, side, order_type, tif, price, qty,
                  min_grade, goodput, stp):
    """Check the clock, run the action (``matching_nb.process_row``: ``process_one`` with the
    matching inlined, the one copy of it in this module), advance the clock when it was done."""
    h = handle_from(table)
    book, out, row, clock = h[H_BOOK], h[H_OUT], h[H_ROW], h[H_CLOCK]
    if ts < clock[CK_TS]:
        return -E_TS
    state = np.int64(PRICE_ABSENT) if price == NO_PRICE else np.int64(PRICE_OK)
    first = book[B_COUNTERS][C_TRADE_COUNT]
    count = process_row(book, out, row, clock[CK_SEQ], ts, action, order_id, party,
                        instrument, side, order_type, tif, state, np.int64(0) if price == NO_PRICE else price,
                        qty, min_grade, goodput, stp)
    if count >= 0:
        clock[CK_SEQ] += 1
        clock[CK_TS] = ts
        clock[CK_FIRST_TRADE] = first
    return count


@helper
def _party_ok(h, party):
    return 0 <= party < h[H_CLOCK][CK_PARTIES]


@pinned
def new_order_via_table(table, ts, order_id, party, instrument, side, order_type, tif, price, qty, min_grade, stp):
    h = handle_from(table)
    if not _party_ok(h, party):
        return -E_PARTY
    if instrument < -1 or instrument >= h[H_BOOK][B_INSTRUMENTS].shape[0]:
        return -E_INSTRUMENT
    if (side >> 1) != 0 or (order_type >> 1) != 0 or tif < 0 or tif > 3 or stp < STP_CANCEL_INCOMING \
            or stp > STP_CANCEL_BOTH or min_grade < GRADE_UNKNOWN or min_grade >= h[H_BOOK][B_GRADE_FLOOR].shape[0]:
        return -E_CODE
    if order_id <= 0:
        return -E_ORDER_ID
    if qty == NO_VALUE:
        return -E_QTY
    return act_via_table(table, ts, ACT_NEW, order_id, party, instrument, side, order_type, tif, price, qty, min_grade,
                         np.int64(0), stp)


@pinned
def cancel_via_table(table, ts, order_id, party):
    h = handle_from(table)
    if not _party_ok(h, party):
        return -E_PARTY
    if order_id <= 0:
        return -E_ORDER_ID
    return act_via_table(table, ts, ACT_CANCEL, order_id, party, np.int64(-1), np.int64(0), np.int64(0), np.int64(0),
                         np.int64(NO_PRICE), np.int64(NO_VALUE), np.int64(GRADE_ABSENT), np.int64(0), np.int64(0))


@pinned
def replace_via_table(table, ts, order_id, party, price, qty):
    h = handle_from(table)
    if not _party_ok(h, party):
        return -E_PARTY
    if order_id <= 0:
        return -E_ORDER_ID
    return act_via_table(table, ts, ACT_REPLACE, order_id, party, np.int64(-1), np.int64(0), np.int64(0), np.int64(0),
                         price, qty, np.int64(GRADE_ABSENT), np.int64(0), np.int64(0))


@pinned
def regrade_via_table(table, ts, party, goodput_bp):
    h = handle_from(table)
    if not _party_ok(h, party):
        return -E_PARTY
    if goodput_bp < 0 or goodput_bp > BP:
        return -E_GOODPUT
    return act_via_table(table, ts, ACT_GRADE, np.int64(0), party, np.int64(-1), np.int64(0), np.int64(0), np.int64(0),
                         np.int64(NO_PRICE), np.int64(NO_VALUE), np.int64(GRADE_ABSENT), goodput_bp, np.int64(0))


@pinned
def close_via_table(table, ts, instrument):
    h = handle_from(table)
    if instrument < -1 or instrument >= h[H_BOOK][B_INSTRUMENTS].shape[0]:
        return -E_INSTRUMENT
    return act_via_table(table, ts, ACT_CLOSE, np.int64(0), np.int64(-1), instrument, np.int64(0), np.int64(0),
                         np.int64(0), np.int64(NO_PRICE), np.int64(NO_VALUE), np.int64(GRADE_ABSENT), np.int64(0),
                         np.int64(0))


# ------------------------------------------------------------------ reading back
# A view is returned, which needs the caller's reference counting: these two are
# inlined at Numba IR level into the user's @njit code (which has it), not compiled apart.
_view = njit(cache=True, inline="always")


@_view
def events(h):
    """The last action's events (EVENT_DTYPE records; a view, overwritten by the next action)."""
    return h[H_OUT][0][: h[H_BOOK][B_COUNTERS][C_EVENT_COUNT]]


@_view
def trades(h):
    """The last action's trades (TRADE_DTYPE records; a view of the trade buffer)."""
    return h[H_OUT][1][h[H_CLOCK][CK_FIRST_TRADE]: h[H_BOOK][B_COUNTERS][C_TRADE_COUNT]]


@pinned
def traded_qty_via_table(table):
    h = handle_from(table)
    trade_rows = h[H_OUT][1]
    total = np.int64(0)
    for i in range(h[H_CLOCK][CK_FIRST_TRADE], h[H_BOOK][B_COUNTERS][C_TRADE_COUNT]):
        total += trade_rows[i].qty
    return total


@pinned
def next_seq_via_table(table):
    return handle_from(table)[H_CLOCK][CK_SEQ]


@pinned
def room_via_table(table):
    h = handle_from(table)
    return room_needed(h[H_BOOK], h[H_OUT], np.int64(0))  # each action empties the event buffer first


# ------------------------------------------------------------------ the public functions
@_wrapper
def new_order(h, ts, order_id, party, instrument, side, order_type, tif, price, qty, min_grade, stp):
    """A new order (``Exchange.submit`` with codes): ``price`` in the price unit or NO_PRICE,
    ``min_grade`` a grade index, GRADE_ABSENT (-1) or GRADE_UNKNOWN (-2, rejected BAD_GRADE)."""
    return new_order_via_table(h[H_TABLE], ts, order_id, party, instrument, side, order_type, tif, price, qty,
                      min_grade, stp)


@_wrapper
def cancel(h, ts, order_id, party):
    """End a resting order of ``party`` (``Exchange.cancel``)."""
    return cancel_via_table(h[H_TABLE], ts, order_id, party)


@_wrapper
def replace(h, ts, order_id, party, price, qty):
    """New price (or NO_PRICE: keep it) and/or new open quantity (or NO_VALUE: keep it)."""
    return replace_via_table(h[H_TABLE], ts, order_id, party, price, qty)


@_wrapper
def regrade(h, ts, party, goodput_bp):
    """Record a provider's goodput in basis points (``Exchange.regrade``)."""
    return regrade_via_table(h[H_TABLE], ts, party, goodput_bp)


@_wrapper
def close(h, ts, instrument):
    """End trading in an instrument (``Exchange.close``); -1 is an unknown symbol."""
    return close_via_table(h[H_TABLE], ts, instrument)


@_wrapper
def traded_qty(h):
    """GPU-hours the last action traded (the sum of its trades' qty). O(its trades)."""
    return traded_qty_via_table(h[H_TABLE])


@_wrapper
def next_seq(h):
    """The seq the next action will take."""
    return next_seq_via_table(h[H_TABLE])


@_wrapper
def room(h):
    """DONE (0) when the next action cannot overflow an array, else the NEED_* code of
    the one to grow first: the check every action makes before acting, so a loop
    that tests it first can return to Python before it decides anything."""
    return room_via_table(h[H_TABLE])
