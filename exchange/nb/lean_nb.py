"""The per-call path with the state behind one array: ``Exchange.submit_fast`` / ``cancel_fast``.

A call from Python into a compiled function unboxes each argument; the 19 arrays of an
embed handle (exchange/nb/embed_nb.py) cost a few tens of ns each. Here
Python passes one int64 *address table* instead: per array its data address and shape
(``address_table``), from which ``handle_from`` rebuilds the arrays inside the compiled
code (``carray``: a few ns, no copy). The arrays are the handle's, so the caller must
keep the handle alive and rebuild the table whenever one of its arrays is replaced
(``Exchange`` checks this before each call): a stale table points at freed memory.
"""
import numpy as np
from numba import carray, njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from exchange.nb.exact_int import exact_int64
from exchange.nb.embed_nb import CK_PARTIES, CK_SEQ, CK_TS, DTYPES, NDIMS, cancel, new_order, traded_qty
from exchange.schema import ACTION_DTYPE, EV_CANCELED, EVENT_DTYPE, TRADE_DTYPE

# carray needs the Numba runtime (it makes arrays). No nogil: a call lasts well under a
# microsecond, and releasing and taking back the GIL would add about 30 ns to it.
lean = njit(cache=True)
lean_inline = njit(cache=True, inline="always")

TABLE = types.Array(types.int64, 1, "C")
# What Python passes: the table, then seq, last ts and party count (the exchange's own ints),
# then the caller's arguments, each an exact Python int (exchange/nb/exact_int.py).
SUBMIT_SIGNATURE = (TABLE, types.int64, types.int64, types.int64, *[exact_int64] * 11)
CANCEL_SIGNATURE = (TABLE, types.int64, types.int64, types.int64, *[exact_int64] * 3)


def address_table(handle) -> np.ndarray:
    """(address, rows or length, columns) of each array of ``handle``, in ``embed_nb.DTYPES`` order."""
    book, (events, trades), row, clock = handle
    arrays = (*book, events, trades, row, clock)
    table = np.zeros(3 * len(arrays), np.int64)
    for k, (array, dtype, ndim) in enumerate(zip(arrays, DTYPES, NDIMS)):
        if array.dtype != np.dtype(dtype) or array.ndim != ndim or not array.flags.c_contiguous:
            raise ValueError(f"address_table: array {k} is not a C-contiguous {ndim}-D {np.dtype(dtype)}")
        table[3 * k] = array.ctypes.data
        table[3 * k + 1] = array.shape[0]
        table[3 * k + 2] = array.shape[1] if ndim == 2 else 0
    return table


@intrinsic
def _pointer(_typingctx, address):  # noqa: ARG001 (the signature intrinsics take)
    def codegen(context, builder, signature, args):  # noqa: ARG001
        return builder.inttoptr(args[0], cgutils.voidptr_t)
    return types.voidptr(types.int64), codegen


@lean_inline
def _a1(table, k, dtype):
    return carray(_pointer(table[3 * k]), (table[3 * k + 1],), dtype)


@lean_inline
def _a2(table, k, dtype):
    return carray(_pointer(table[3 * k]), (table[3 * k + 1], table[3 * k + 2]), dtype)


@lean_inline
def handle_from(table):
    """The handle whose arrays ``table`` describes (views of the same memory)."""
    book = (_a2(table, 0, np.int64), _a2(table, 1, np.int32), _a2(table, 2, np.int64), _a2(table, 3, np.int32),
            _a1(table, 4, np.int64), _a1(table, 5, np.uint64), _a2(table, 6, np.int64), _a2(table, 7, np.int64),
            _a1(table, 8, np.int64), _a2(table, 9, np.int32), _a1(table, 10, np.int64), _a1(table, 11, np.int32),
            _a1(table, 12, np.int64), _a1(table, 13, np.int64), _a1(table, 14, np.int32))
    return (book, (_a1(table, 15, EVENT_DTYPE), _a1(table, 16, TRADE_DTYPE)), _a1(table, 17, ACTION_DTYPE),
            _a1(table, 18, np.int64))


@lean
def submit_traded(table, seq, last_ts, n_parties, ts, order_id, party, instrument, side, order_type, tif,
                  price, qty, min_grade, stp):
    """``new_order`` with the counters Python keeps passed in; returns the GPU-hours the
    order traded (>= 0) or a negative code (exchange/nb/embed_nb.py). Compiled for
    ``SUBMIT_SIGNATURE`` only: a non-int argument raises ValueError before it runs."""
    h = handle_from(table)
    clock = h[3]
    clock[CK_SEQ] = seq
    clock[CK_TS] = last_ts
    clock[CK_PARTIES] = n_parties
    i64 = np.int64
    count = new_order(h, i64(ts), i64(order_id), i64(party), i64(instrument), i64(side), i64(order_type), i64(tif),
                      i64(price), i64(qty), i64(min_grade), i64(stp))
    return count if count < 0 else traded_qty(h)


@lean
def cancel_open(table, seq, last_ts, n_parties, ts, order_id, party):
    """``cancel``: the open quantity it cancelled (0 when rejected) or a negative code."""
    h = handle_from(table)
    clock = h[3]
    clock[CK_SEQ] = seq
    clock[CK_TS] = last_ts
    clock[CK_PARTIES] = n_parties
    count = cancel(h, np.int64(ts), np.int64(order_id), np.int64(party))
    if count < 0:
        return count
    first = h[1][0][0]
    return first.qty if first.event == EV_CANCELED else np.int64(0)
