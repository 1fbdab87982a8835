"""Reading order files (docs/RULES.md §5): CSV or Parquet into an ``ACTION_DTYPE`` array.

No Python object is built per row. pyarrow reads the file in record batches with
every column as raw bytes; Numba kernels then parse each batch straight from the
Arrow buffers (offsets + data as numpy views): integers, exact decimals (prices to
units of the exchange's price unit, goodput to basis points), the fixed words, and the
checks of docs/RULES.md §5 "Exact details". Parties, instruments and grade names are
dictionary-encoded by pyarrow, so only the distinct values are looked at in Python.

``read_orders`` returns the whole file's actions; ``OrderStream`` yields them a block of
rows at a time (same records, seqs, parties and report) for the streamed replay.

Malformed rows are collected as ``FILE:LINE: column: what is wrong`` (LINE is the
physical line in the file, the header being line 1; blank lines are skipped and take
no seq). In lenient mode they become ``ACT_MALFORMED`` actions instead.
"""
from __future__ import annotations

import csv
import io
import re
import sys
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import numpy as np
import pyarrow as pa

from exchange.config import PARTY_PATTERN, ExchangeConfig
from exchange.nb.kernel import io_helper, io_kernel
from exchange.schema import (
    ACT_CANCEL, ACT_CLOSE, ACT_GRADE, ACT_MALFORMED, ACT_NEW, ACT_REPLACE, ACTION_DTYPE,
    ACTION_WORDS, GRADE_ABSENT, GRADE_UNKNOWN, GTC, LIMIT, NO_VALUE, PRICE_ABSENT, PRICE_INVALID,
    PRICE_OK, SIDE_WORDS, STP_CANCEL_INCOMING, STP_WORDS, TIF_WORDS, TYPE_WORDS,
)

# Columns of an order file, in the order of docs/RULES.md §5's table (also the order in which
# a row's cells are checked, so the first problem reported is the leftmost in this list).
COLUMNS = ("ts", "action", "order_id", "party", "instrument", "side", "type", "tif",
           "price", "qty", "min_grade", "goodput", "stp")
REQUIRED_COLUMNS = ("ts", "action")
(C_TS, C_ACTION, C_ORDER_ID, C_PARTY, C_INSTRUMENT, C_SIDE, C_TYPE, C_TIF, C_PRICE, C_QTY,
 C_MIN_GRADE, C_GOODPUT, C_STP) = range(len(COLUMNS))

MAX_REPORTED = 50
CSV_BLOCK_SIZE = 4 << 20
PARQUET_BATCH_ROWS = 1 << 18

# Error kinds (what is wrong with a cell).
E_MISSING = 1
E_NOT_INT = 2
E_INT_RANGE = 3
E_NOT_DECIMAL = 4
E_BAD_WORD = 5
E_BAD_PARTY = 6
E_NOT_POSITIVE = 7
E_GOODPUT_RANGE = 8
E_GOODPUT_PLACES = 9
E_TS_BACKWARDS = 10
E_UNKNOWN_ACTION = 11

_INT64_MIN = np.iinfo(np.int64).min
_INT64_MAX = np.iinfo(np.int64).max
_PARTY_RE = re.compile(PARTY_PATTERN.encode())

# Map states of the dictionary-encoded columns.
M_EMPTY = -1
M_INVALID = -2  # party: does not match the pattern
M_UNKNOWN = -3  # instrument: not in the config (a semantic problem: UNKNOWN_INSTRUMENT)


class OrdersError(ValueError):
    """A whole-file problem (missing file, bad header, unreadable data): one line, exit 2."""


@dataclass
class Malformed:
    """One malformed row: where it is and what is wrong."""

    seq: int  # position among the file's non-blank data rows
    line: int  # physical line (CSV) or 1-based row number (Parquet)
    column: str
    message: str

    def format(self, path: str) -> str:
        return f"{path}:{self.line}: {self.column}: {self.message}"


@dataclass
class OrdersFile:
    """The parsed order file."""

    actions: np.ndarray  # ACTION_DTYPE, seq = 0..n-1
    parties: list[str]  # party index -> name
    malformed: list[Malformed] = field(default_factory=list)  # the first MAX_REPORTED
    n_malformed: int = 0

    def report(self, path: str, limit: int = MAX_REPORTED) -> list[str]:
        lines = [m.format(path) for m in self.malformed[:limit]]
        if self.n_malformed > limit:
            lines.append(f"{path}: ... and {self.n_malformed - limit} more malformed rows "
                         f"({self.n_malformed} in all)")
        return lines


# =================================================================== kernels
@io_helper
def _parse_int(offs, data, i):
    """(state, value): state 0 empty, 1 ok, E_NOT_INT, E_INT_RANGE (``[+-]?[0-9]+`` in int64)."""
    start = offs[i]
    end = offs[i + 1]
    if start == end:
        return 0, np.int64(0)
    neg = False
    p = start
    c = data[p]
    if c == 43 or c == 45:  # + -
        neg = c == 45
        p += 1
        if p == end:
            return E_NOT_INT, np.int64(0)
    while p < end - 1 and data[p] == 48:  # leading zeros
        p += 1
    digits = end - p
    acc = np.uint64(0)
    for q in range(p, end):
        d = np.uint64(data[q] - 48)  # wraps for bytes below '0'
        if d > 9:
            return E_NOT_INT, np.int64(0)
        acc = acc * np.uint64(10) + d
    if digits > 19:
        return E_INT_RANGE, np.int64(0)
    if digits == 19:
        # Up to 19 digits fit in uint64; compare with the int64 bounds.
        if neg:
            if acc > np.uint64(9223372036854775808):
                return E_INT_RANGE, np.int64(0)
            if acc == np.uint64(9223372036854775808):
                return 1, np.int64(-9223372036854775807 - 1)
        elif acc > np.uint64(9223372036854775807):
            return E_INT_RANGE, np.int64(0)
    v = np.int64(acc)
    return 1, -v if neg else v


@io_helper
def _parse_decimal(offs, data, i):
    """Plain decimal ``[0-9]+(\\.[0-9]*)?|\\.[0-9]+`` as (state, mantissa, places).

    state: 0 empty, 1 ok, 2 ok but too many significant digits for int64 (the value
    is then only good for "too long"), E_NOT_DECIMAL. Trailing fraction zeros are
    dropped, so ``2.1000`` is (21, 1)."""
    start = offs[i]
    end = offs[i + 1]
    if start == end:
        return 0, 0, 0
    mant = np.int64(0)
    places = 0
    pending = 0  # fraction zeros not yet applied
    digits = 0
    seen_point = False
    too_long = False
    any_digit = False
    for p in range(start, end):
        c = data[p]
        if c == 46:  # .
            if seen_point:
                return E_NOT_DECIMAL, 0, 0
            seen_point = True
            continue
        d = np.int64(c) - 48
        if d < 0 or d > 9:
            return E_NOT_DECIMAL, 0, 0
        any_digit = True
        if seen_point:
            if d == 0:
                pending += 1
                continue
            for _ in range(pending + 1):
                if mant > 922337203685477579:
                    too_long = True
                mant = mant * 10
            mant += d
            places += pending + 1
            pending = 0
            digits += 1
        else:
            if mant > 922337203685477579:
                too_long = True
            mant = mant * 10 + d
            if mant != 0:
                digits += 1
    if not any_digit:
        return E_NOT_DECIMAL, 0, 0
    if too_long or digits > 18:
        return 2, 0, 0
    return 1, mant, places


@io_helper
def _match_word(offs, data, i, words, word_offs):
    """Index of the cell among ``words`` (concatenated), -1 when empty, -2 when none."""
    start = offs[i]
    n = offs[i + 1] - start
    if n == 0:
        return -1
    for w in range(word_offs.shape[0] - 1):
        ws = word_offs[w]
        wn = word_offs[w + 1] - ws
        if wn != n:
            continue
        same = True
        for k in range(n):
            if data[start + k] != words[ws + k]:
                same = False
                break
        if same:
            return w
    return -2


@io_helper
def _to_units(mant, places, tick_m, tick_e):
    """mant * 10**-places in units of tick_m * 10**-tick_e (the exchange's price unit);
    -1 when not a whole number of units or unrepresentable (prices are never negative)."""
    shift = tick_e - places
    num = mant
    if shift >= 0:
        for _ in range(shift):
            if num > 922337203685477580:
                return -1
            num = num * 10
    else:
        div = np.int64(1)
        for _ in range(-shift):
            if div > 922337203685477580:
                return -1
            div = div * 10
        if num % div != 0:
            return -1
        num = num // div
    if num % tick_m != 0:
        return -1
    return num // tick_m


@io_helper
def _ts_cell(offs, data, i):
    """(error kind or 0, ts): every row needs an integer ts."""
    state, ts = _parse_int(offs, data, i)
    if state == 0:
        return E_MISSING, ts
    if state != 1:
        return state, ts
    return 0, ts


@io_helper
def _action_cell(offs, data, i, table):
    """(error kind or 0, action code): every row needs a known action word."""
    words, word_offs = table
    act = _match_word(offs, data, i, words, word_offs)
    if act == -1:
        return E_MISSING, act
    if act == -2:
        return E_UNKNOWN_ACTION, act
    return 0, act


@io_helper
def _who_cells(act, uses_id, id_state, order_id, party, instrument):
    """(column, error kind) of the first bad cell among order_id, party and instrument
    as this action uses them; (-1, 0) when they are good."""
    if uses_id:
        if id_state == 0:
            return C_ORDER_ID, E_MISSING
        if id_state != 1:
            return C_ORDER_ID, id_state
        if order_id <= 0:
            return C_ORDER_ID, E_NOT_POSITIVE
    if act != ACT_CLOSE:
        if party == M_EMPTY:
            return C_PARTY, E_MISSING
        if party == M_INVALID:
            return C_PARTY, E_BAD_PARTY
    if act == ACT_NEW or act == ACT_CLOSE:
        if instrument == M_EMPTY:
            return C_INSTRUMENT, E_MISSING
    return -1, 0


@io_helper
def _word_cell(offs, data, i, table, default, required):
    """(error kind or 0, code) of a side / type / tif / stp cell; an empty cell is
    ``default``, or E_MISSING when ``required``."""
    words, word_offs = table
    w = _match_word(offs, data, i, words, word_offs)
    if w == -2:
        return E_BAD_WORD, default
    if w == -1:
        return (E_MISSING if required else 0), default
    return 0, w


@io_helper
def _price_cell(offs, data, i, unit_m, unit_e):
    """(error kind or 0, price state, price in the exchange's price unit). A decimal that
    is not a whole number of units, or too long, is PRICE_INVALID (a rejection, not a
    malformed row); an empty cell is PRICE_ABSENT."""
    dstate, mant, places = _parse_decimal(offs, data, i)
    if dstate == E_NOT_DECIMAL:
        return E_NOT_DECIMAL, PRICE_ABSENT, np.int64(0)
    if dstate == 2:
        return 0, PRICE_INVALID, np.int64(0)
    if dstate == 1:
        units = _to_units(mant, places, unit_m, unit_e)
        if units >= 0:
            return 0, PRICE_OK, units
        return 0, PRICE_INVALID, np.int64(0)
    return 0, PRICE_ABSENT, np.int64(0)


@io_helper
def _qty_check(act, qty_state):
    """Error kind or 0 of a parsed qty cell: empty is missing only on a new order."""
    if qty_state == 0:
        return E_MISSING if act == ACT_NEW else 0
    if qty_state != 1:
        return qty_state
    return 0


@io_helper
def _goodput_cell(offs, data, i):
    """(error kind or 0, goodput in basis points, 0..10000 with at most 4 places)."""
    dstate, mant, places = _parse_decimal(offs, data, i)
    if dstate == 0:
        return E_MISSING, 0
    if dstate == E_NOT_DECIMAL:
        return E_NOT_DECIMAL, 0
    if dstate == 2:
        return E_GOODPUT_RANGE, 0
    if places > 4:
        return E_GOODPUT_PLACES, 0
    bp = mant
    for _ in range(4 - places):
        bp *= 10
        if bp > 10000:
            break
    if bp > 10000:
        return E_GOODPUT_RANGE, 0
    return 0, bp


@io_helper
def _qty_value(uses_qty, qty_state, qty):
    """The record's qty: NO_VALUE when absent (a parsed -2**63 was already an error)."""
    return qty if uses_qty and qty_state == 1 else NO_VALUE


@io_helper
def _note_error(errors, n_bad, row, col, kind, aux):
    """Keep the error while ``errors`` has room (beyond it, errors are only counted)."""
    err_rows, err_cols, err_kinds, err_aux = errors
    if n_bad < err_rows.shape[0]:
        err_rows[n_bad] = row
        err_cols[n_bad] = col
        err_kinds[n_bad] = kind
        err_aux[n_bad] = aux


@io_helper
def _malformed_record(rec, ts, order_id, party, instrument, qty):
    """An ACT_MALFORMED record: the cells that were good, defaults for the rest."""
    rec.ts = ts
    rec.action = ACT_MALFORMED
    rec.order_id = order_id
    rec.party = party if party >= 0 else -1
    rec.instrument = instrument if instrument >= 0 else -1
    rec.side = 0
    rec.order_type = LIMIT
    rec.tif = GTC
    rec.price_state = PRICE_ABSENT
    rec.price = 0
    rec.qty = qty
    rec.min_grade = GRADE_ABSENT
    rec.goodput = 0
    rec.stp = STP_CANCEL_INCOMING


@io_kernel
def _parse_batch(n, cells, maps, words, unit, seq0, state, out, errors):
    """Parse one batch of ``n`` rows into ``out`` (ACTION_DTYPE records).

    ``cells``: (offsets, data), each a tuple with one array per column of COLUMNS (the
    dictionary-encoded party / instrument / min_grade come in ``maps`` instead, as
    (codes, map) pairs). ``words``: the (words, offsets) tables of action, side, type,
    tif and stp. ``unit``: the price unit as (m, e). ``state``: [last accepted ts, has
    last ts (0/1), malformed so far]. ``errors``: (rows, columns, kinds, aux), filled up
    to their capacity; further errors are only counted."""
    # Each column's (offsets, data) as locals, taken out of the tuples once, not per row.
    offs, data = cells
    ts_o, act_o, id_o, _, _, side_o, type_o, tif_o, price_o, qty_o, _, gp_o, stp_o = offs  # COLUMNS order
    ts_d, act_d, id_d, _, _, side_d, type_d, tif_d, price_d, qty_d, _, gp_d, stp_d = data
    (party_codes, party_map), (instr_codes, instr_map), (grade_codes, grade_map) = maps
    action_w, side_w, type_w, tif_w, stp_w = words
    unit_m, unit_e = unit
    last_ts = state[0]
    has_last = state[1]
    n_bad = state[2]
    for i in range(n):
        # The cells in COLUMNS order: the first problem reported is the leftmost.
        bad_col = -1
        bad_kind, ts = _ts_cell(ts_o, ts_d, i)
        if bad_kind:
            bad_col = C_TS
        kind, act = _action_cell(act_o, act_d, i, action_w)
        if bad_col < 0 and kind:
            bad_col, bad_kind = C_ACTION, kind
        uses_id = act == ACT_NEW or act == ACT_CANCEL or act == ACT_REPLACE or act < 0
        uses_qty = act == ACT_NEW or act == ACT_REPLACE or act < 0
        id_state, order_id = _parse_int(id_o, id_d, i)
        qty_state, qty = _parse_int(qty_o, qty_d, i)
        if qty_state == 1 and qty == NO_VALUE:  # -2**63 means "no value" in the records
            qty_state = E_INT_RANGE
        party = party_map[party_codes[i]]
        instrument = instr_map[instr_codes[i]]
        if bad_col < 0:
            bad_col, bad_kind = _who_cells(act, uses_id, id_state, order_id, party, instrument)
        new = act == ACT_NEW
        side = 0
        otype = LIMIT
        tif = GTC
        if bad_col < 0 and new:
            bad_kind, side = _word_cell(side_o, side_d, i, side_w, 0, True)
            if bad_kind:
                bad_col = C_SIDE
        if bad_col < 0 and new:
            bad_kind, otype = _word_cell(type_o, type_d, i, type_w, LIMIT, False)
            if bad_kind:
                bad_col = C_TYPE
        if bad_col < 0 and new:
            bad_kind, tif = _word_cell(tif_o, tif_d, i, tif_w, GTC, False)
            if bad_kind:
                bad_col = C_TIF
        price_state = PRICE_ABSENT
        price = np.int64(0)
        if bad_col < 0 and (new or act == ACT_REPLACE):
            bad_kind, price_state, price = _price_cell(price_o, price_d, i, unit_m, unit_e)
            if bad_kind:
                bad_col = C_PRICE
        if bad_col < 0 and uses_qty and act >= 0:
            bad_kind = _qty_check(act, qty_state)
            if bad_kind:
                bad_col = C_QTY
        min_grade = GRADE_ABSENT
        if bad_col < 0 and new:
            min_grade = grade_map[grade_codes[i]]
        goodput = 0
        if bad_col < 0 and act == ACT_GRADE:
            bad_kind, goodput = _goodput_cell(gp_o, gp_d, i)
            if bad_kind:
                bad_col = C_GOODPUT
        stp = STP_CANCEL_INCOMING
        if bad_col < 0 and new:  # an empty cell or no column: cancel_incoming
            bad_kind, stp = _word_cell(stp_o, stp_d, i, stp_w, STP_CANCEL_INCOMING, False)
            if bad_kind:
                bad_col = C_STP
        aux = np.int64(0)
        if bad_col < 0 and has_last == 1 and ts < last_ts:
            bad_col, bad_kind = C_TS, E_TS_BACKWARDS
            aux = last_ts
        # ---- the record
        rec = out[i]
        rec.seq = seq0 + i
        q = _qty_value(uses_qty, qty_state, qty)
        if bad_col >= 0:
            _note_error(errors, n_bad, seq0 + i, bad_col, bad_kind, aux)
            n_bad += 1
            good_id = uses_id and id_state == 1 and order_id > 0
            _malformed_record(rec, last_ts if has_last == 1 else 0, order_id if good_id else 0,
                              party, instrument, q)
            continue
        last_ts = ts
        has_last = 1
        rec.ts = ts
        rec.action = act
        rec.order_id = order_id if uses_id else 0
        rec.party = party if act != ACT_CLOSE else -1
        rec.instrument = instrument if instrument >= 0 and (new or act == ACT_CLOSE) else -1
        rec.side = side
        rec.order_type = otype
        rec.tif = tif
        rec.price_state = price_state
        rec.price = price
        rec.qty = q
        rec.min_grade = min_grade
        rec.goodput = goodput
        rec.stp = stp
    state[0] = last_ts
    state[1] = has_last
    state[2] = n_bad


KERNELS = (_parse_batch,)  # what every read runs (_scan_records: only files with malformed rows)


@io_kernel
def _scan_records(buf, start):
    """Physical start line and cell count of every non-blank record after the header.

    Follows RFC 4180 quoting as pyarrow and Python's csv read it (a cell that starts with
    a quote may hold commas and line breaks; a quote inside a cell is text); line
    breaks are LF, CRLF or a lone CR, as pyarrow reads them. ``start`` is the offset of
    the first byte after the header record; the header is line 1 unless it spans more."""
    n = buf.shape[0]
    cap = 1024
    lines = np.empty(cap, np.int64)
    cells = np.empty(cap, np.int64)
    count = 0
    # Count the physical lines of the header.
    line = 1
    for p in range(start):
        c = buf[p]
        if c == 10 or (c == 13 and (p + 1 >= n or buf[p + 1] != 10)):
            line += 1
    p = start
    while p < n:
        c = buf[p]
        if c == 10 or c == 13:  # a blank line
            if c == 13 and p + 1 < n and buf[p + 1] == 10:
                p += 1
            p += 1
            line += 1
            continue
        rec_line = line
        k = 1
        quoted = False
        cell_start = True  # a quote opens a quoted cell only here; elsewhere it is text
        while p < n:
            c = buf[p]
            if quoted:
                if c == 34:
                    if p + 1 < n and buf[p + 1] == 34:
                        p += 1
                    else:
                        quoted = False
                elif c == 10 or c == 13:
                    if c == 13 and p + 1 < n and buf[p + 1] == 10:
                        p += 1
                    line += 1
            elif c == 34 and cell_start:
                quoted = True
            elif c == 44:
                k += 1
                p += 1
                continue  # the next cell starts
            elif c == 10 or c == 13:
                break
            cell_start = False
            p += 1
        if p < n:  # the record's line break
            if buf[p] == 13 and p + 1 < n and buf[p + 1] == 10:
                p += 1
            p += 1
            line += 1
        if count == cap:
            cap *= 2
            lines2 = np.empty(cap, np.int64)
            cells2 = np.empty(cap, np.int64)
            lines2[:count] = lines[:count]
            cells2[:count] = cells[:count]
            lines, cells = lines2, cells2
        lines[count] = rec_line
        cells[count] = k
        count += 1
    return lines[:count], cells[:count]


# ==================================================================== helpers
def _words(table: dict) -> tuple[np.ndarray, np.ndarray]:
    """Concatenated words in code order, with offsets (codes are 0..k-1)."""
    ordered = sorted(table.items(), key=lambda kv: int(kv[1]))
    assert [int(v) for _, v in ordered] == list(range(len(ordered)))
    raw = [k.encode() for k, _ in ordered]
    offs = np.zeros(len(raw) + 1, np.int64)
    offs[1:] = np.cumsum([len(r) for r in raw])
    data = np.frombuffer(b"".join(raw), np.uint8).copy()
    return data, offs


_ACTION_W = _words(ACTION_WORDS)
_SIDE_W = _words(SIDE_WORDS)
_TYPE_W = _words(TYPE_WORDS)
_TIF_W = _words(TIF_WORDS)
_STP_W = _words(STP_WORDS)
_WORD_TABLES = (_ACTION_W, _SIDE_W, _TYPE_W, _TIF_W, _STP_W)  # _parse_batch's words, in this order

def _ro(array: np.ndarray) -> np.ndarray:
    """Read-only, like every Arrow buffer view, so the kernels see one array type."""
    array.flags.writeable = False
    return array


_EMPTY_U8 = _ro(np.zeros(0, np.uint8))


def tick_parts(tick: Decimal) -> tuple[int, int]:
    """(m, e) with tick = m * 10**-e and m without trailing zeros when e > 0."""
    sign, digits, exponent = tick.normalize().as_tuple()
    m = int("".join(map(str, digits)))
    e = -exponent
    if e < 0:
        m *= 10 ** (-e)
        e = 0
    return m, e


def _binary_buffers(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(offsets, data) numpy views of a binary / large_binary Arrow array without nulls."""
    if arr.null_count:
        import pyarrow.compute as pc

        arr = pc.fill_null(arr, pa.scalar(b"", arr.type))
    bufs = arr.buffers()
    off_type = np.int64 if pa.types.is_large_binary(arr.type) else np.int32
    offsets = np.frombuffer(bufs[1], off_type, count=len(arr) + 1, offset=arr.offset * np.dtype(off_type).itemsize)
    data = np.frombuffer(bufs[2], np.uint8) if bufs[2] is not None and bufs[2].size else _EMPTY_U8
    # Read-only whether or not Arrow's buffer is mutable: one array type, one kernel signature.
    return _ro(offsets), _ro(data)


def _as_binary(arr) -> pa.Array:
    """Any column as (large_)binary: text stays bytes; numbers print as decimal text."""
    t = arr.type
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return arr
    if pa.types.is_string(t):
        return arr.view(pa.binary())
    if pa.types.is_large_string(t):
        return arr.view(pa.large_binary())
    if pa.types.is_dictionary(t):
        return _as_binary(arr.dictionary_decode())
    if pa.types.is_null(t):
        return pa.nulls(len(arr), pa.binary())
    return arr.cast(pa.string()).view(pa.binary())


class _Interner:
    """Global party names, in order of first appearance."""

    def __init__(self):
        self.index: dict[bytes, int] = {}
        self.names: list[str] = []

    def map(self, dictionary: list) -> np.ndarray:
        out = np.empty(len(dictionary) + 1, np.int32)
        for k, value in enumerate(dictionary):
            if value == b"" or value is None:
                out[k] = M_EMPTY
            elif not _PARTY_RE.fullmatch(value):
                out[k] = M_INVALID
            else:
                got = self.index.get(value)
                if got is None:
                    got = self.index[value] = len(self.names)
                    self.names.append(value.decode("ascii"))
                out[k] = got
        out[-1] = M_EMPTY  # the code of a column that is not in the file
        return out


def _dict_column(arr: pa.Array | None, n: int, mapper) -> tuple[np.ndarray, np.ndarray]:
    """(codes, map) for a dictionary-encoded column; an absent column maps to empty.
    The CSV reader already hands these columns over dictionary-encoded."""
    if arr is None:
        return _ro(np.zeros(n, np.int32)), mapper([])  # every code: the map's last entry, empty
    encoded = arr if pa.types.is_dictionary(arr.type) else arr.dictionary_encode()
    dictionary = encoded.dictionary.to_pylist()
    indices = encoded.indices
    if indices.null_count:
        import pyarrow.compute as pc

        indices = pc.fill_null(indices, len(dictionary))  # the map's last entry: empty
    # No nulls left: a view of the index buffer (Array.to_numpy imports pandas: 0.3-0.6 s).
    width = np.dtype(f"int{indices.type.bit_width}")
    codes = np.frombuffer(indices.buffers()[1], width, count=len(indices), offset=indices.offset * width.itemsize)
    return _ro(codes if codes.dtype == np.int32 else codes.astype(np.int32)), mapper(dictionary)


# =================================================================== reading
class _Reader:
    def __init__(self, config: ExchangeConfig):
        self.config = config
        self.interner = _Interner()
        # Prices are read in the exchange's price unit (the gcd of all ticks); the engine
        # converts them to the order's own instrument, which a replace row does not name.
        self.unit_m, self.unit_e = tick_parts(config.price_unit)
        self.symbols = {ins.symbol.encode(): i for i, ins in enumerate(config.instruments)}
        self.grades = {g.name.encode(): i for i, g in enumerate(config.grades)}
        self.state = np.zeros(3, np.int64)
        self.err_rows = np.zeros(MAX_REPORTED, np.int64)
        self.err_cols = np.zeros(MAX_REPORTED, np.int64)
        self.err_kinds = np.zeros(MAX_REPORTED, np.int64)
        self.err_aux = np.zeros(MAX_REPORTED, np.int64)
        self.err_texts: list[str] = []
        self.actions = np.empty(0, ACTION_DTYPE)
        self.rows = 0
        self.size = 0  # file size, for the first capacity guess

    def _instr_map(self, dictionary):
        out = np.empty(len(dictionary) + 1, np.int32)
        for k, value in enumerate(dictionary):
            out[k] = M_EMPTY if not value else self.symbols.get(value, M_UNKNOWN)
        out[-1] = M_EMPTY
        return out

    def _grade_map(self, dictionary):
        out = np.empty(len(dictionary) + 1, np.int32)  # int32 like every map: one kernel signature
        for k, value in enumerate(dictionary):
            out[k] = GRADE_ABSENT if not value else self.grades.get(value, GRADE_UNKNOWN)
        out[-1] = GRADE_ABSENT
        return out

    def batch(self, columns: dict[str, pa.Array], n: int, out: np.ndarray | None = None) -> None:
        """Parse ``n`` rows into ``out`` (ACTION_DTYPE, ``n`` records), or by default onto
        the end of ``self.actions``; their seqs continue from the rows parsed so far."""
        offs = []
        datas = []
        empty_offs = _ro(np.zeros(n + 1, np.int32))
        for k, name in enumerate(COLUMNS):
            arr = columns.get(name)
            if arr is None or k in (C_PARTY, C_INSTRUMENT, C_MIN_GRADE):
                offs.append(empty_offs)
                datas.append(_EMPTY_U8)
                continue
            o, d = _binary_buffers(arr)
            if o.dtype != np.int32:  # large_binary: one offset type for the kernel
                if o[-1] < 2**31:
                    o = _ro(o.astype(np.int32))
                else:
                    raise OrdersError("a column holds more than 2 GiB of text in one batch")
            offs.append(o)
            datas.append(d)
        party_codes, party_map = _dict_column(columns.get("party"), n, self.interner.map)
        instr_codes, instr_map = _dict_column(columns.get("instrument"), n, self._instr_map)
        grade_codes, grade_map = _dict_column(columns.get("min_grade"), n, self._grade_map)
        if out is None:
            self._reserve(n, columns)
            out = self.actions[self.rows: self.rows + n]
        before = int(self.state[2])
        _parse_batch(n, (tuple(offs), tuple(datas)),
                     ((party_codes, party_map), (instr_codes, instr_map), (grade_codes, grade_map)),
                     _WORD_TABLES, (self.unit_m, self.unit_e), self.rows, self.state, out,
                     (self.err_rows, self.err_cols, self.err_kinds, self.err_aux))
        after = int(self.state[2])
        for e in range(before, min(after, MAX_REPORTED)):
            local = int(self.err_rows[e]) - self.rows
            col = COLUMNS[int(self.err_cols[e])]
            arr = columns.get(col)
            value = arr[local].as_py() if arr is not None else None
            self.err_texts.append(_describe(col, int(self.err_kinds[e]), value, int(self.err_aux[e])))
        self.rows += n

    def _reserve(self, n: int, columns) -> None:
        """Room for ``n`` more actions. The first guess comes from the file size and the
        first batch's bytes per row, so the array is allocated once (untouched pages of
        a generous guess cost nothing) and never concatenated."""
        need = self.rows + n
        if need <= len(self.actions):
            return
        if not len(self.actions):
            per_row = max(8, sum(_text_bytes(a) for a in columns.values()) / max(n, 1) + len(columns))
            capacity = int(self.size / per_row * 1.25) + 1024
        else:
            capacity = 2 * len(self.actions)
        capacity = max(capacity, need)
        grown = np.empty(capacity, ACTION_DTYPE)
        grown[: self.rows] = self.actions[: self.rows]
        self.actions = grown


def _text_bytes(arr) -> int:
    try:
        data = arr.buffers()[2]
    except (IndexError, TypeError):
        return 8
    return data.size if data is not None else 0


def _text(value) -> str:
    """A cell as quoted in an error line: invalid UTF-8 shown as U+FFFD, cut to about 40
    characters (a 5 MB cell is not echoed in full)."""
    if value is None:
        return "''"
    if isinstance(value, bytes):
        value = value[:200].decode("utf-8", "replace")
    if len(value) > 40:
        return repr(value[:40]) + "…"
    return repr(value)


def _describe(column: str, kind: int, value, aux: int) -> str:
    """What is wrong with a cell, in words."""
    if kind == E_MISSING:
        if column in ("ts", "action"):
            return "missing (every row needs one)"
        return "missing (required for this action)"
    if kind == E_NOT_INT:
        return f"{_text(value)} is not an integer"
    if kind == E_INT_RANGE:
        if column == "qty":
            return f"{_text(value)} is outside -(2**63-1)..2**63-1"
        return f"{_text(value)} is outside the int64 range"
    if kind == E_NOT_DECIMAL:
        return f"{_text(value)} is not a plain decimal (digits with an optional point)"
    if kind == E_BAD_WORD:
        words = {"side": SIDE_WORDS, "type": TYPE_WORDS, "tif": TIF_WORDS, "stp": STP_WORDS}[column]
        return f"{_text(value)} is not one of {', '.join(words)}"
    if kind == E_BAD_PARTY:
        return f"{_text(value)} is not a party name ({PARTY_PATTERN})"
    if kind == E_NOT_POSITIVE:
        return f"{_text(value)} is not a positive integer"
    if kind == E_GOODPUT_RANGE:
        return f"{_text(value)} is outside [0, 1]"
    if kind == E_GOODPUT_PLACES:
        return f"{_text(value)} has more than 4 decimal places"
    if kind == E_TS_BACKWARDS:
        return f"{_text(value)} is lower than the previous row's ts {aux} (ts must not decrease)"
    if kind == E_UNKNOWN_ACTION:
        return f"{_text(value)} is not one of {', '.join(ACTION_WORDS)}"
    return f"{_text(value)} is malformed"


def _check_header(names: list[str], path: str) -> None:
    seen = set()
    for name in names:
        if name not in COLUMNS:
            raise OrdersError(f"{path}:1: header: unknown column {name!r} (the columns are: {', '.join(COLUMNS)})")
        if name in seen:
            raise OrdersError(f"{path}:1: header: column {name!r} appears twice")
        seen.add(name)
    for name in REQUIRED_COLUMNS:
        if name not in seen:
            raise OrdersError(f"{path}:1: header: missing required column {name!r}")


def _read_header(path: Path) -> tuple[list[str], int, bytes]:
    """Header names, byte offset of the first data record, and the file's first bytes."""
    with open(path, "rb") as handle:
        head = handle.read(1 << 16)
    if not head.strip():
        raise OrdersError(f"{path}:1: header: empty file (expected a header line: {','.join(COLUMNS)})")
    start = 3 if head.startswith(b"\xef\xbb\xbf") else 0
    end = start
    quoted = False
    while end < len(head):
        c = head[end]
        if c == 34:
            quoted = not quoted
        elif c in (10, 13) and not quoted:
            break
        end += 1
    else:
        if len(head) == 1 << 16:
            raise OrdersError(f"{path}:1: header: the line is too long")
    try:
        text = head[start:end].decode("utf-8")
    except UnicodeDecodeError:
        raise OrdersError(f"{path}:1: header: not UTF-8 text") from None
    names = next(csv.reader(io.StringIO(text)))
    after = end
    if after < len(head) and head[after] == 13:
        after += 1
    if after < len(head) and head[after] == 10:
        after += 1
    return names, after, head


def _is_parquet(path: Path) -> bool:
    if path.suffix.lower() in (".parquet", ".pq"):
        return True
    with open(path, "rb") as handle:
        return handle.read(4) == b"PAR1"


def check_orders_file(path) -> None:
    """The checks that need no kernel: the file exists, is readable, and (CSV) has a
    valid header. OrdersError otherwise. Commands run this before compiling anything."""
    path = Path(path)
    if not path.exists():
        raise OrdersError(f"{path}: no such file")
    if path.is_dir():
        raise OrdersError(f"{path}: is a directory, not an order file")
    try:
        if not _is_parquet(path):
            names, _, _ = _read_header(path)
            _check_header(names, str(path))
    except OSError as error:
        raise OrdersError(f"{path}: cannot read: {error.strerror}") from None


def read_orders(path, config: ExchangeConfig, *, progress=None) -> OrdersFile:
    """Parse an order file (CSV or Parquet) into actions.

    Raises OrdersError for whole-file problems. Malformed rows are reported in the
    result (``n_malformed``); they are ``ACT_MALFORMED`` actions in the array either way
    (strict callers refuse to run when there are any). ``progress(bytes_done)`` is
    called after each batch."""
    path = Path(path)
    if not path.exists():
        raise OrdersError(f"{path}: no such file")
    if path.is_dir():
        raise OrdersError(f"{path}: is a directory, not an order file")
    try:
        size = path.stat().st_size
        parquet = _is_parquet(path)
    except OSError as error:
        raise OrdersError(f"{path}: cannot read: {error.strerror}") from None
    reader = _Reader(config)
    reader.size = size
    if parquet:
        bad_rows = _read_parquet(path, reader, progress, size)
        return _finish(path, reader, bad_rows, None, True)
    try:
        bad_rows, header_start = _read_csv(path, reader, progress, size)
        return _finish(path, reader, bad_rows, header_start, False)
    except _FastPathFailed:
        # pyarrow refused the file (a row longer than a block, bytes it cannot show in
        # its error) or read it otherwise than RFC 4180: read it again, row by row.
        reader = _Reader(config)
        reader.size = size
        bad_rows, header_start, records = _read_csv_by_rows(path, reader, progress, size)
        return _finish(path, reader, bad_rows, header_start, False, records)


class NotStreamable(Exception):
    """An order file that ``OrderStream`` cannot read a block at a time with
    ``read_orders``'s result: pyarrow skipped rows for their number of cells (the seqs
    after them are known only from a scan of the whole file) or could not read it as
    RFC 4180. Read it whole with ``read_orders``."""


class OrderStream:
    """An order file read a block of rows at a time, for replays that match and write
    while they read (exchange/files/replay.py): the same records, seqs, party indexes and
    malformed-row report as ``read_orders``, in the memory of one block.

        stream = OrderStream(path, config, block_rows=1 << 18)
        for actions in stream.blocks():  # a view, valid until the next block is asked for
            ...                          # stream.parties: every party seen so far, by index
        report = stream.finish()         # read_orders's OrdersFile, without the actions

    Every block but the last holds ``block_rows`` rows. Raises OrdersError as
    ``read_orders`` does; NotStreamable (from ``blocks`` or ``finish``) when pyarrow
    cannot read the file, or skipped rows for their cell count in a ``lenient`` read (a
    strict read only reports them, so it goes on). Cost: ``read_orders``'s, without its
    array of every action."""

    def __init__(self, path, config: ExchangeConfig, block_rows: int, *, lenient: bool = False,
                 progress=None):
        if block_rows < 1:
            raise ValueError(f"block_rows: {block_rows} must be at least 1")
        self.path = Path(path)
        self.block_rows = block_rows
        self.lenient = lenient
        self.progress = progress
        try:
            self.size = self.path.stat().st_size
            self.parquet = _is_parquet(self.path)
        except OSError as error:
            raise OrdersError(f"{self.path}: cannot read: {error.strerror}") from None
        self.reader = _Reader(config)
        self.source = None

    @property
    def parties(self) -> list[str]:
        """Party names by index: every party of the rows read so far."""
        return self.reader.interner.names

    @property
    def rows(self) -> int:
        """Rows read so far (blank lines and rows skipped for their cell count aside)."""
        return self.reader.rows

    @property
    def n_malformed(self) -> int:
        """Malformed rows found so far (rows pyarrow skipped may be counted a little ahead)."""
        return int(self.reader.state[2]) + self._skipped()

    def _skipped(self) -> int:
        return self.source.skipped if isinstance(self.source, _CsvBatches) else 0

    def blocks(self):
        """Yield the actions (ACTION_DTYPE), ``block_rows`` at a time, in one reused buffer."""
        if self.parquet:
            self.source = None
            batches = _parquet_batches(self.path, self.progress, self.size)
        else:
            self.source = _CsvBatches(self.path, self.progress, self.size)
            batches = iter(self.source)
        size = self.block_rows
        buffer = np.empty(size + (1 << 16), ACTION_DTYPE)
        fill = 0
        try:
            for columns, n in batches:
                if self.lenient and self._skipped():
                    raise NotStreamable(f"{self.path}: rows with the wrong number of cells")
                if fill + n > len(buffer):
                    grown = np.empty(fill + n, ACTION_DTYPE)
                    grown[:fill] = buffer[:fill]
                    buffer = grown
                self.reader.batch(columns, n, buffer[fill: fill + n])
                fill += n
                start = 0
                while fill - start >= size:
                    yield buffer[start: start + size]
                    start += size
                if start:  # the rest moves to the front (it is shorter than a block: no overlap)
                    buffer[: fill - start] = buffer[start:fill]
                    fill -= start
            if self.lenient and self._skipped():
                raise NotStreamable(f"{self.path}: rows with the wrong number of cells")
            if fill:
                yield buffer[:fill]
        except _FastPathFailed as error:
            raise NotStreamable(str(error)) from None
        finally:
            batches.close()

    def finish(self) -> OrdersFile:
        """After the last block: parties and the malformed-row report (``actions`` empty)."""
        header_end = None if self.parquet else self.source.header_end
        try:
            malformed, _ = _malformed_rows(self.path, self.reader, self._skipped(), header_end, self.parquet)
        except _FastPathFailed as error:
            raise NotStreamable(str(error)) from None
        return OrdersFile(np.empty(0, ACTION_DTYPE), self.parties, malformed, self.n_malformed)


def _read_parquet(path: Path, reader: _Reader, progress, size: int) -> int:
    for columns, n in _parquet_batches(path, progress, size):
        reader.batch(columns, n)
    return 0


def _parquet_batches(path: Path, progress, size: int):
    """(columns, rows) of each record batch of a Parquet order file, every column as
    binary; OrdersError for an unreadable file, a bad header or floating-point prices."""
    import pyarrow.parquet as pq

    try:
        handle = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as error:
        raise OrdersError(f"{path}: not a readable Parquet file: {error}") from None
    names = handle.schema_arrow.names
    _check_header(names, str(path))
    for name in ("price", "goodput"):
        if name in names and pa.types.is_floating(handle.schema_arrow.field(name).type):
            raise OrdersError(f"{path}: column {name!r} is floating point; store prices and goodput "
                              "as text or decimal (floats never carry prices)")
    done = 0
    try:
        for batch in handle.iter_batches(batch_size=PARQUET_BATCH_ROWS):
            yield {name: _as_binary(batch.column(name)) for name in names}, batch.num_rows
            done += batch.nbytes
            if progress:
                progress(min(size, done))
    except pa.ArrowException as error:
        raise OrdersError(f"{path}: cannot read Parquet data: {error}") from None


def _read_csv(path: Path, reader: _Reader, progress, size: int) -> tuple[int, int]:
    source = _CsvBatches(path, progress, size)
    for columns, n in source:
        reader.batch(columns, n)
    return source.skipped, source.header_end


class _CsvBatches:
    """(columns, rows) of each record batch pyarrow reads from a CSV order file (party,
    instrument and min_grade dictionary-encoded, the rest binary), read ahead in a
    background thread (``_prefetch``). ``skipped``: rows pyarrow skipped so far for
    their number of cells (it counts them as it parses, so possibly ahead of the batch
    in hand). Raises _FastPathFailed where pyarrow cannot read the file as RFC 4180."""

    def __init__(self, path: Path, progress, size: int):
        self.path = path
        self.progress = progress
        self.size = size
        self.skipped = 0
        self.names, self.header_end, _ = _read_header(path)
        _check_header(self.names, str(path))

    def __iter__(self):
        import pyarrow.csv as pacsv

        names, path, size, progress = self.names, self.path, self.size, self.progress

        def invalid_row(_row):
            self.skipped += 1
            return "skip"

        def quiet(unraisable, previous=sys.unraisablehook):
            # pyarrow decodes a bad row as UTF-8 before handing it to ``invalid_row``; a
            # non-UTF-8 byte makes that fail inside pyarrow, which then stops reading. The
            # row-by-row reader takes over, so that failure is not news for stderr.
            if unraisable.object is not invalid_row:
                previous(unraisable)

        column_types = {name: pa.binary() for name in names}
        for name in ("party", "instrument", "min_grade"):
            if name in column_types:
                column_types[name] = pa.dictionary(pa.int32(), pa.binary())
        previous_hook = sys.unraisablehook
        sys.unraisablehook = quiet
        try:
            stream = pacsv.open_csv(
                path,
                read_options=pacsv.ReadOptions(block_size=CSV_BLOCK_SIZE, use_threads=False),
                parse_options=pacsv.ParseOptions(invalid_row_handler=invalid_row, newlines_in_values=True),
                convert_options=pacsv.ConvertOptions(
                    column_types=column_types, strings_can_be_null=False, quoted_strings_can_be_null=False),
            )
            done = self.header_end
            for batch in _prefetch(stream):
                yield {name: batch.column(name) for name in names}, batch.num_rows
                done += sum(_text_bytes(col) for col in batch.columns) + batch.num_rows * len(names)
                if progress:
                    progress(min(size, done))
        except pa.ArrowException as error:
            raise _FastPathFailed(str(error)) from None
        finally:
            sys.unraisablehook = previous_hook
        if progress:
            progress(size)


class _FastPathFailed(Exception):
    """pyarrow could not read the CSV as RFC 4180 does; the row-by-row reader will."""


def _header_lines(path: Path, header_end: int) -> int:
    """Physical lines up to the first data record (the header's own line breaks)."""
    with open(path, "rb") as handle:
        head = handle.read(header_end)
    crlf = head.count(b"\r\n")
    return head.count(b"\n") + head.count(b"\r") - crlf


def _read_csv_by_rows(path: Path, reader: _Reader, progress, size: int, batch_rows: int = 1 << 16):
    """The CSV read by Python's csv module (RFC 4180 as pyarrow reads it: a quote opens a
    quoted cell only at the cell's start) over the bytes as Latin-1, so every byte survives
    as it is, whatever the encoding. Slower than pyarrow (~0.5 M rows/s), so it only reads
    files pyarrow refuses. Returns (rows with the wrong cell count, header end, (lines,
    cells) of every record)."""
    names, header_end, _ = _read_header(path)
    _check_header(names, str(path))
    ncols = len(names)
    first_line = 1 + _header_lines(path, header_end)
    lines, cells = [], []
    pending: list[list[bytes]] = []
    bad = 0
    done = header_end

    def flush():
        if not pending:
            return
        columns = {name: pa.array([row[k] for row in pending], pa.binary())
                   for k, name in enumerate(names)}
        reader.batch(columns, len(pending))
        pending.clear()
        if progress:
            progress(min(size, done))

    limit = csv.field_size_limit()
    csv.field_size_limit(2**31 - 1)
    try:
        with open(path, "rb") as raw:
            raw.seek(header_end)
            text = io.TextIOWrapper(raw, encoding="latin-1", newline="")
            rows = csv.reader(text, strict=False)
            while True:
                before = rows.line_num
                try:
                    row = next(rows)
                except StopIteration:
                    break
                except csv.Error as error:
                    raise OrdersError(f"{path}:{first_line + before}: row: {error}") from None
                if not row:  # a blank line: no record, no seq
                    continue
                lines.append(first_line + before)
                cells.append(len(row))
                done += sum(len(cell) for cell in row) + len(row)
                if len(row) != ncols:
                    bad += 1
                    continue
                pending.append([cell.encode("latin-1") for cell in row])
                if len(pending) == batch_rows:
                    flush()
            flush()
    finally:
        csv.field_size_limit(limit)
    if progress:
        progress(size)
    return bad, header_end, (np.array(lines, np.int64), np.array(cells, np.int64))


def _prefetch(stream, depth: int = 16):
    """Iterate ``stream`` with its next batches read in a background thread, so that
    pyarrow's parsing overlaps the kernels (both run without the GIL). Up to ``depth``
    batches (~5 MB each) wait: enough for pyarrow to keep going while the first kernel
    call loads Numba (a few tenths of a second, once per process)."""
    import queue
    import threading

    slots: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    end = object()

    def pump():
        try:
            for batch in stream:
                while not stop.is_set():
                    try:
                        slots.put(batch, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            slots.put(end)
        except BaseException as error:  # handed to the consumer
            slots.put(error)

    thread = threading.Thread(target=pump, name="orders-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item = slots.get()
            if item is end:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join()


def _finish(path: Path, reader: _Reader, bad_rows: int, header_end, parquet: bool,
            records=None) -> OrdersFile:
    actions = reader.actions[: reader.rows]
    reader.actions = None
    malformed, seq_of_row = _malformed_rows(path, reader, bad_rows, header_end, parquet, records)
    if seq_of_row is not None:
        # Rows pyarrow skipped (wrong number of cells) become malformed actions in place.
        full = np.zeros(len(actions) + bad_rows, ACTION_DTYPE)
        full[seq_of_row] = actions
        bad_mask = np.ones(len(full), bool)
        bad_mask[seq_of_row] = False
        full["action"][bad_mask] = ACT_MALFORMED
        full["party"][bad_mask] = -1
        full["instrument"][bad_mask] = -1
        full["qty"][bad_mask] = NO_VALUE
        full["min_grade"][bad_mask] = GRADE_ABSENT
        # Their ts: the last accepted row's (as for every malformed row).
        accepted = full["action"] != ACT_MALFORMED
        idx = np.where(accepted, np.arange(len(full)), -1)
        np.maximum.accumulate(idx, out=idx)
        prev = np.where(idx >= 0, full["ts"][np.maximum(idx, 0)], 0)
        full["ts"][bad_mask] = prev[bad_mask]
        full["seq"] = np.arange(len(full))
        actions = full
    return OrdersFile(actions, reader.interner.names, malformed, int(reader.state[2]) + bad_rows)


def _malformed_rows(path: Path, reader: _Reader, bad_rows: int, header_end, parquet: bool,
                    records=None) -> tuple[list[Malformed], np.ndarray | None]:
    """The first MAX_REPORTED malformed rows in file order, and (when pyarrow skipped rows
    for their cell count) the seq of each row it read. A CSV with malformed rows is
    scanned once more for physical line numbers (``records`` when already known)."""
    n_cell_errors = int(reader.state[2])
    malformed: list[Malformed] = []
    seq_of_row = None
    lines = None
    if (n_cell_errors or bad_rows) and not parquet:
        if records is None:
            lines, cells = _scan_records(np.fromfile(path, np.uint8), header_end)
        else:
            lines, cells = records
        ncols = len(_read_header(path)[0])
        good = cells == ncols
        if int(good.sum()) != reader.rows or int((~good).sum()) != bad_rows:
            raise _FastPathFailed("the rows pyarrow read do not line up with the file's records")
        if bad_rows:
            seq_of_row = np.flatnonzero(good)
            bad_seqs = np.flatnonzero(~good)
            for s in bad_seqs[:MAX_REPORTED]:
                malformed.append(Malformed(int(s), int(lines[s]), "row",
                                           f"has {int(cells[s])} cells, the header has {ncols}"))
    for e, text in enumerate(reader.err_texts):
        row = int(reader.err_rows[e])
        seq = int(seq_of_row[row]) if seq_of_row is not None else row
        line = int(lines[seq]) if lines is not None else row + 1
        malformed.append(Malformed(seq, line, COLUMNS[int(reader.err_cols[e])], text))
    malformed.sort(key=lambda m: m.seq)
    return malformed[:MAX_REPORTED], seq_of_row
