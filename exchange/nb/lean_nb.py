"""The per-call path with the state behind one array: ``Exchange.submit_fast`` / ``cancel_fast``.

Python passes the exchange's address table (exchange/nb/address_nb.py) and ints, and
gets an int back. The caller must keep the table's arrays alive and rebuild the table
whenever one of them is replaced (``Exchange`` checks this before each call): a stale
table points at freed memory.
"""
import numpy as np
from numba import njit, types

from exchange.nb.address_nb import TABLE, handle_from
from exchange.nb.embed_nb import (CK_PARTIES, CK_SEQ, CK_TS, H_CLOCK, H_OUT, cancel_via_table,
                                  new_order_via_table, traded_qty_via_table)
from exchange.nb.exact_int import exact_int64
from exchange.schema import EV_CANCELED

# No nogil: a call lasts well under a microsecond, and releasing and taking back the GIL
# would add about 30 ns to it.
lean = njit(cache=True)

# What Python passes: the table, then seq, last ts and party count (the exchange's own ints),
# then the caller's arguments, each an exact Python int (exchange/nb/exact_int.py).
SUBMIT_SIGNATURE = (TABLE, types.int64, types.int64, types.int64, *[exact_int64] * 11)
CANCEL_SIGNATURE = (TABLE, types.int64, types.int64, types.int64, *[exact_int64] * 3)


@njit(cache=True, inline="always")
def _set_clock(table, seq, last_ts, n_parties):
    clock = handle_from(table)[H_CLOCK]
    clock[CK_SEQ] = seq
    clock[CK_TS] = last_ts
    clock[CK_PARTIES] = n_parties


@lean
def submit_traded(table, seq, last_ts, n_parties, ts, order_id, party, instrument, side, order_type, tif,
                  price, qty, min_grade, stp):
    """``new_order`` with the counters Python keeps passed in; returns the GPU-hours the
    order traded (>= 0) or a negative code (exchange/nb/embed_nb.py). Compiled for
    ``SUBMIT_SIGNATURE`` only: a non-int argument raises ValueError before it runs."""
    _set_clock(table, seq, last_ts, n_parties)
    i64 = np.int64
    count = new_order_via_table(table, i64(ts), i64(order_id), i64(party), i64(instrument), i64(side),
                                i64(order_type), i64(tif), i64(price), i64(qty), i64(min_grade), i64(stp))
    return count if count < 0 else traded_qty_via_table(table)


@lean
def cancel_open(table, seq, last_ts, n_parties, ts, order_id, party):
    """``cancel``: the open quantity it cancelled (0 when rejected) or a negative code."""
    _set_clock(table, seq, last_ts, n_parties)
    count = cancel_via_table(table, np.int64(ts), np.int64(order_id), np.int64(party))
    if count < 0:
        return count
    first = handle_from(table)[H_OUT][0][0]  # the event buffer's first event
    return first.qty if first.event == EV_CANCELED else np.int64(0)
