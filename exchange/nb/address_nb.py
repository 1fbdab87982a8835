"""A handle's arrays behind one int64 array: what a call into compiled code passes cheaply.

A compiled function that takes arrays receives each one by value: data pointer, shape,
strides and bookkeeping, some 7-9 machine words an array. The 16 arrays of an embed
handle (exchange/nb/embed_nb.py) make a call cost about 29 ns before it does anything
(measured: an njit loop calling a function that only reads one counter). Passed as
one *address table* instead (per array its data address and shape, ``address_table``),
a call costs a few ns, and ``handle_from`` rebuilds the arrays inside the callee
(``carray``: no copy; LLVM drops the ones the callee does not use).

The table does not keep its arrays alive: whoever holds the table must hold the arrays
(the embed handle holds both), and build a new table whenever an array is replaced.
"""
import numpy as np
from numba import carray, njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from exchange.nb.layout import LEVEL_DTYPE, ORDER_DTYPE
from exchange.schema import ACTION_DTYPE, EVENT_DTYPE, TRADE_DTYPE

# The arrays a table describes, in order: book (matching_nb's 12), events, trades, row, clock.
DTYPES = (ORDER_DTYPE, np.int64, LEVEL_DTYPE, np.uint64, np.int64, np.int64, np.int64, np.int32,
          np.int64, np.int32, np.int64, np.int32, EVENT_DTYPE, TRADE_DTYPE, ACTION_DTYPE, np.int64)
NDIMS = (1, 2, 1, 1, 2, 2, 1, 2, 1, 1, 1, 1, 1, 1, 1, 1)
TABLE = types.Array(types.int64, 1, "C")

# carray makes arrays, which needs the Numba runtime.
_inline = njit(cache=True, inline="always")


def address_table(book: tuple, events: np.ndarray, trades: np.ndarray, row: np.ndarray,
                  clock: np.ndarray) -> np.ndarray:
    """(address, rows or length, columns) of each array, in ``DTYPES`` order. ValueError for
    an array of another dtype, rank or layout (the table would misread it)."""
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


@_inline
def _a1(table, k, dtype):
    return carray(_pointer(table[3 * k]), (table[3 * k + 1],), dtype)


@_inline
def _a2(table, k, dtype):
    return carray(_pointer(table[3 * k]), (table[3 * k + 1], table[3 * k + 2]), dtype)


@_inline
def handle_from(table):
    """``(book, (events, trades), row, clock)`` over the memory ``table`` describes (views)."""
    book = (_a1(table, 0, ORDER_DTYPE), _a2(table, 1, np.int64), _a1(table, 2, LEVEL_DTYPE),
            _a1(table, 3, np.uint64), _a2(table, 4, np.int64), _a2(table, 5, np.int64), _a1(table, 6, np.int64),
            _a2(table, 7, np.int32), _a1(table, 8, np.int64), _a1(table, 9, np.int32), _a1(table, 10, np.int64),
            _a1(table, 11, np.int32))
    return (book, (_a1(table, 12, EVENT_DTYPE), _a1(table, 13, TRADE_DTYPE)), _a1(table, 14, ACTION_DTYPE),
            _a1(table, 15, np.int64))
