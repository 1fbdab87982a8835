"""Numba kernel writing ``statements.csv`` lines (docs/RULES.md §7) into a reused byte buffer.

It reads the settlement kernel's line matrix (``settle_nb.LINE_COLUMNS`` by
contract) and the contract columns directly and writes digits straight into
``out``: no Python object per line, no gathered copy of the columns. Names come
from one byte dictionary (already CSV-quoted where a name needs it). Money is µ$
printed as dollars with exactly 6 decimals (``-1.500000``).

Cost: O(bytes written); about 200 bytes per statement line.
"""
from __future__ import annotations

import numba as nb
import numpy as np

from .settle_nb import COL

CELL_BYTES = 22  # the widest number: a sign and 20 digits, or a sign, 13 digits, a point and 6
MONEY_FROM = COL["charge"]  # line rows from here on are money
FIRST_INT, LAST_INT = COL["sched"], COL["billable"]


TEN = np.uint64(10)
ZERO = np.uint8(48)


@nb.njit(cache=True, inline="always")
def _put_uint(out, pos, u, width):
    """``u`` (uint64) as decimal digits, at least ``width`` of them (zero-padded).

    All arithmetic stays in uint64 (mixing in a signed int would make Numba use floats)."""
    n = 1
    v = u
    while v >= TEN:
        v = v // TEN
        n += 1
    n = max(n, width)
    end = pos + n
    for k in range(n):
        q = u // TEN
        out[end - 1 - k] = ZERO + np.uint8(u - q * TEN)
        u = q
    return end


@nb.njit(cache=True, inline="always")
def _put_int(out, pos, v):
    if v < 0:
        out[pos] = 45
        return _put_uint(out, pos + 1, np.uint64(-(v + 1)) + np.uint64(1), 1)
    return _put_uint(out, pos, np.uint64(v), 1)


@nb.njit(cache=True, inline="always")
def _put_money(out, pos, v):
    """µ$ as dollars with 6 decimals."""
    if v < 0:
        out[pos] = 45
        pos += 1
        u = np.uint64(-(v + 1)) + np.uint64(1)
    else:
        u = np.uint64(v)
    million = np.uint64(1_000_000)
    pos = _put_uint(out, pos, u // million, 1)
    out[pos] = 46
    return _put_uint(out, pos + 1, u % million, 6)


@nb.njit(cache=True, inline="always")
def _put_word(out, pos, words, offs, entry):
    for q in range(offs[entry], offs[entry + 1]):
        out[pos] = words[q]
        pos += 1
    return pos


@nb.njit(cache=True, nogil=True)
def statement_lines(period, contract, lines, trade_id, instrument, buyer, provider, grade, p, floor_bp,
                    words, offs, bases, out):
    """CSV lines of ``contract[j]`` (line matrix column j) for ``period``; returns the bytes used.

    ``bases``: first dictionary entry of instrument, party, grade names.
    Columns: trade_id, period, instrument, buyer, provider, grade, p, metered,
    available_hours, used_hours, goodput_bp, floor_bp, sched .. billable, charge ..
    provider_receives (report.STATEMENT_COLUMNS).
    """
    pos = 0
    b_ins, b_party, b_grade = bases[0], bases[1], bases[2]
    for j in range(contract.shape[0]):
        c = contract[j]
        pos = _put_int(out, pos, trade_id[c])
        out[pos] = 44
        pos = _put_int(out, pos + 1, period)
        out[pos] = 44
        pos = _put_word(out, pos + 1, words, offs, b_ins + instrument[c])
        out[pos] = 44
        pos = _put_word(out, pos + 1, words, offs, b_party + buyer[c])
        out[pos] = 44
        pos = _put_word(out, pos + 1, words, offs, b_party + provider[c])
        out[pos] = 44
        pos = _put_word(out, pos + 1, words, offs, b_grade + grade[c])
        out[pos] = 44
        pos = _put_money(out, pos + 1, p[c])
        for row in range(1, FIRST_INT):  # metered, available_hours, used_hours, goodput_bp
            out[pos] = 44
            pos = _put_int(out, pos + 1, lines[row, j])
        out[pos] = 44
        pos = _put_int(out, pos + 1, floor_bp[c])
        for row in range(FIRST_INT, LAST_INT + 1):  # sched .. billable
            out[pos] = 44
            pos = _put_int(out, pos + 1, lines[row, j])
        for row in range(MONEY_FROM, lines.shape[0]):  # charge .. provider_receives
            out[pos] = 44
            pos = _put_money(out, pos + 1, lines[row, j])
        out[pos] = 10
        pos += 1
    return pos
