"""Numba kernel reading metering CSV bytes (docs/RULES.md §7) straight into the per-period grid.

One pass over a block of bytes: split lines (LF or CRLF), split cells at commas,
parse ``trade_id``, ``period``, ``available_hours``, ``used_hours`` (integers
``[+-]?[0-9]{1,18}``) and ``goodput`` (a plain decimal in [0, 1], at most 4 places,
kept as bp), find the contract by binary search over the sorted trade ids, and
store the row in ``grid_*[period, contract]``. Nothing per row outlives the call:
memory is the grid plus one block of input. Problems become rows of ``errs``
(integers only: line, column, code, two numbers, and the cell's byte range in the
block so the caller can quote it); the caller turns them into
``FILE:LINE: column: what is wrong``. Files with quote characters take the
``csv``-module path instead (contracts/csvio.py).

Cost: O(bytes) plus O(rows x log contracts) for the lookups.
"""
from __future__ import annotations

import numba as nb
import numpy as np

# cell codes of ``colmap`` (which metering column a cell holds; -1: a column we ignore)
TRADE_ID, PERIOD, AVAILABLE, USED, GOODPUT = 0, 1, 2, 3, 4
ROW = 5  # an error about the whole row
# error codes
NOT_INT, EMPTY, UNKNOWN_TRADE, OUTSIDE_PERIOD, DUPLICATE, NEGATIVE = 1, 2, 3, 4, 5, 6
NOT_DECIMAL, OUTSIDE_01, PLACES, CELLS, TOO_LONG, LONE_CR = 7, 8, 9, 10, 11, 12
ERR_FIELDS = 7  # line, column, code, aux1, aux2, cell start, cell end
# ``state``: 0 the line number of the next line, 1 skipping the rest of a too-long line,
# 2 rows stored, 3 highest period stored (-1 none), 4 errors in ``errs``, 5 fatal (stop)
S_LINE, S_SKIP, S_ROWS, S_MAXP, S_ERRS, S_FATAL = 0, 1, 2, 3, 4, 5
MAX_DIGITS = 18


@nb.njit(cache=True, inline="always")
def _int_cell(buf, s, e):
    """(value, code): 0 ok, EMPTY, NOT_INT."""
    if s == e:
        return 0, EMPTY
    neg = False
    p = s
    if buf[p] == 43 or buf[p] == 45:  # + -
        neg = buf[p] == 45
        p += 1
    if p == e or e - p > MAX_DIGITS:
        return 0, NOT_INT
    v = 0
    while p < e:
        d = buf[p] - 48
        if d < 0 or d > 9:
            return 0, NOT_INT
        v = v * 10 + d
        p += 1
    return (-v if neg else v), 0


@nb.njit(cache=True, inline="always")
def _goodput_cell(buf, s, e):
    """(bp, code): 0 ok, EMPTY, NOT_DECIMAL, OUTSIDE_01, PLACES."""
    if s == e:
        return 0, EMPTY
    point = -1
    for p in range(s, e):
        c = buf[p]
        if c == 46:
            if point >= 0:
                return 0, NOT_DECIMAL
            point = p
        elif c < 48 or c > 57:
            return 0, NOT_DECIMAL
    if point == s and e - s == 1:
        return 0, NOT_DECIMAL  # "." alone
    int_end = e if point < 0 else point
    whole = 0
    for p in range(s, int_end):
        if buf[p] != 48:
            if whole > 0 or buf[p] != 49:
                return 0, OUTSIDE_01  # 2.., 10.., 11..
            whole = 1
    frac_bp = 0
    extra = False
    if point >= 0:
        for k in range(point + 1, e):
            d = buf[k] - 48
            place = k - point
            if place <= 4:
                frac_bp = frac_bp * 10 + d
            elif d != 0:
                extra = True
        for _ in range(max(0, 4 - (e - point - 1))):
            frac_bp *= 10
    if whole == 1 and (frac_bp > 0 or extra):
        return 0, OUTSIDE_01
    if extra:
        return 0, PLACES
    return whole * 10_000 + frac_bp, 0


@nb.njit(cache=True, inline="always")
def _error(errs, state, line, column, code, aux1, aux2, s, e):
    k = state[S_ERRS]
    errs[k, 0] = line
    errs[k, 1] = column
    errs[k, 2] = code
    errs[k, 3] = aux1
    errs[k, 4] = aux2
    errs[k, 5] = s
    errs[k, 6] = e
    state[S_ERRS] = k + 1


@nb.njit(cache=True, nogil=True)
def parse_block(buf, n, final, colmap, max_line, trade_ids, dense, periods,
                grid_avail, grid_used, grid_goodput, grid_line, state, errs):
    """Parse the whole lines of ``buf[:n]`` (all of it when ``final``); returns bytes consumed.

    Stops early (returning where) when ``errs`` has fewer than ``len(colmap) + 2`` free
    rows or a fatal problem (a lone CR) is found. A line longer than ``max_line`` bytes
    is one TOO_LONG error; the rest of it is skipped, across blocks (``state[S_SKIP]``).
    ``grid_line[t, c]`` is the line of the row stored for (t, c), 0 when none.
    ``dense[trade_id]``: the contract of a trade id (-1: none) when trade ids are dense
    enough for a table (O(1) per row); empty: binary search over ``trade_ids``.
    """
    ncells = colmap.shape[0]
    cap = errs.shape[0]
    starts = np.empty(ncells + 1, np.int64)
    ends = np.empty(ncells + 1, np.int64)
    values = np.zeros(5, np.int64)
    ok = np.zeros(5, np.bool_)
    cell_s = np.zeros(5, np.int64)
    cell_e = np.zeros(5, np.int64)
    pos = 0
    n_contracts = trade_ids.shape[0]
    while pos < n:
        if state[S_FATAL] != 0 or state[S_ERRS] + ncells + 2 > cap:
            return pos
        line = state[S_LINE]
        # find the end of the line, watching for a lone CR and the length cap
        p = pos
        limit = min(n, pos + max_line + 1)
        while p < limit and buf[p] != 10:
            if buf[p] == 13 and p + 1 < n and buf[p + 1] != 10:
                _error(errs, state, line, ROW, LONE_CR, 0, 0, p, p)
                state[S_FATAL] = 1
                return pos
            p += 1
        if state[S_SKIP] != 0:
            if p < n and buf[p] == 10:
                state[S_SKIP] = 0
                state[S_LINE] = line + 1
                pos = p + 1
                continue
            if p == limit and limit < n:  # still inside the long line: keep scanning
                pos = p
                continue
            if final:
                return n
            return n  # the whole block belongs to the long line
        if p - pos > max_line:
            commas = 0
            for q in range(pos, pos + max_line):
                if buf[q] == 44:
                    commas += 1
            _error(errs, state, line, ROW, TOO_LONG, max_line, commas, pos, pos)  # commas: the cell
            state[S_SKIP] = 1
            pos = p
            continue
        if p == n and not final:
            return pos  # an incomplete line: the caller carries it into the next block
        end = p
        if end > pos and buf[end - 1] == 13:
            end -= 1
        next_pos = p + 1
        state[S_LINE] = line + 1
        if end == pos:
            pos = next_pos
            continue  # a blank line
        # split cells
        count = 0
        s = pos
        for q in range(pos, end + 1):
            if q == end or buf[q] == 44:
                if count < ncells:
                    starts[count] = s
                    ends[count] = q
                count += 1
                s = q + 1
        if count != ncells:
            _error(errs, state, line, ROW, CELLS, count, ncells, pos, end)
            pos = next_pos
            continue
        ok[:] = False
        for j in range(ncells):
            col = colmap[j]
            if col < 0:
                continue
            cs, ce = starts[j], ends[j]
            cell_s[col] = cs
            cell_e[col] = ce
            if col == GOODPUT:
                v, code = _goodput_cell(buf, cs, ce)
            else:
                v, code = _int_cell(buf, cs, ce)
                if code == 0 and col >= AVAILABLE and v < 0:
                    code = NEGATIVE
            if code == 0:
                values[col] = v
                ok[col] = True
            else:
                _error(errs, state, line, col, code, 0, 0, cs, ce)
        contract = -1
        if ok[TRADE_ID]:
            tid = values[TRADE_ID]
            if dense.shape[0] > 0:
                if 0 <= tid < dense.shape[0]:
                    contract = dense[tid]
            else:
                k = np.searchsorted(trade_ids, tid)
                if k < n_contracts and trade_ids[k] == tid:
                    contract = k
            if contract < 0:
                _error(errs, state, line, TRADE_ID, UNKNOWN_TRADE, tid, 0, cell_s[TRADE_ID], cell_e[TRADE_ID])
        placed = False
        if contract >= 0 and ok[PERIOD]:
            t = values[PERIOD]
            if t < 0 or t >= periods[contract]:
                _error(errs, state, line, PERIOD, OUTSIDE_PERIOD, periods[contract], values[TRADE_ID],
                       cell_s[PERIOD], cell_e[PERIOD])
            elif grid_line[t, contract] != 0:
                _error(errs, state, line, PERIOD, DUPLICATE, grid_line[t, contract], values[TRADE_ID],
                       cell_s[PERIOD], cell_e[PERIOD])
            else:
                placed = True
                grid_line[t, contract] = line
        if placed and ok[AVAILABLE] and ok[USED] and ok[GOODPUT]:
            t = values[PERIOD]
            grid_avail[t, contract] = values[AVAILABLE]
            grid_used[t, contract] = values[USED]
            grid_goodput[t, contract] = values[GOODPUT]
            state[S_ROWS] += 1
            state[S_MAXP] = max(state[S_MAXP], t)
        pos = next_pos
    return pos
