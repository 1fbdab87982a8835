"""Writing the replay's outputs (docs/RULES.md §5): trades, events and the final book.

CSV text is built by Numba kernels a block of rows at a time into a reused byte
buffer (no Python object per row), digits written straight into it: integers, names
from small dictionaries (pre-quoted where a name needs quoting), and fixed-point
decimals (prices with the tick's places, ``effective_price`` with 6). The replay's
three tables each have a kernel reading the engine's records directly
(``_trades_csv``, ``_events_csv``, ``_book_csv``); other tables (the generated order
file) go through the generic column kernel ``_format_columns``; both give the same
bytes. A second thread hashes and writes one block while the next is formatted.
``write_tables`` writes every file under a temporary name in the output directory and
renames them into place only when all of them are complete, so an interrupted run
never leaves a partial ``trades.csv``. ``CsvStream`` appends the replay's tables a block
of records at a time, into a staging directory that atomic_dir swaps in when all is
written (the streamed replay, exchange/files/replay.py).

(The kernels spell out their optional cells inline: small inlined helpers holding a
branch made them markedly slower. The repeated ``seq,ts,`` cells share one helper,
``_put_seq_ts``, at 62 ms against 60 ms per 1 M events. The digit helpers
are inlined by LLVM (``io_helper``); inlining them at Numba IR level gave the same
speed for 7x the compile time, see ``exchange/kernel.py``.)
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from exchange.config import ExchangeConfig
from exchange.nb.kernel import io_helper, io_kernel
from exchange.files.orders_io import tick_parts
from exchange.schema import (
    BOOK_DTYPE, EVENT_DTYPE, TRADE_DTYPE, EVENT_WORDS, NO_VALUE, REASON_WORDS, SIDE_WORDS, TIF_WORDS, EventType, Reason,
)


K_INT = 0
K_DICT = 1
K_FIXED = 2
BLOCK_ROWS = 1 << 16  # ~3 MB of text: formatting, hashing and writing stay in cache
EFFECTIVE_PLACES = 6


# =================================================================== kernels
_DIGITS2 = np.frombuffer(b"".join(b"%02d" % k for k in range(100)), np.uint8).copy()
_POW10 = np.array([10**k for k in range(20)], np.uint64)


@io_helper
def _put_pairs(out, end, v, nd):
    """Write ``v`` (< 10**nd, nd <= 8) as ``nd`` digits ending at ``end``, two at a time."""
    p = end
    hundred = np.uint64(100)
    while p - (end - nd) >= 2:
        q = v // hundred
        r = (v - q * hundred) * np.uint64(2)
        p -= 2
        out[p] = _DIGITS2[r]
        out[p + 1] = _DIGITS2[r + np.uint64(1)]
        v = q
    if p > end - nd:
        out[p - 1] = np.uint64(48) + v


@io_helper
def _put_uint(out, pos, u, nd):
    """Write ``u`` (uint64) as exactly ``nd`` digits at ``pos`` (zero-padded).

    Eight digits at a time are split off first, each written as two independent
    groups of four, so long numbers (19-digit timestamps) do not form one long chain
    of divisions."""
    end = pos + nd
    p = end
    e8 = np.uint64(100000000)
    e4 = np.uint64(10000)
    while p - pos > 8:
        q = u // e8
        r = u - q * e8
        hi = r // e4
        _put_pairs(out, p, r - hi * e4, 4)
        _put_pairs(out, p - 4, hi, 4)
        p -= 8
        u = q
    _put_pairs(out, p, u, p - pos)
    return end


@io_helper
def _ndigits(u):
    """Decimal digits of ``u`` (uint64), by a few comparisons."""
    if u < _POW10[8]:
        if u < _POW10[4]:
            if u < _POW10[2]:
                return 2 if u >= _POW10[1] else 1
            return 4 if u >= _POW10[3] else 3
        if u < _POW10[6]:
            return 6 if u >= _POW10[5] else 5
        return 8 if u >= _POW10[7] else 7
    if u < _POW10[16]:
        if u < _POW10[12]:
            if u < _POW10[10]:
                return 10 if u >= _POW10[9] else 9
            return 12 if u >= _POW10[11] else 11
        if u < _POW10[14]:
            return 14 if u >= _POW10[13] else 13
        return 16 if u >= _POW10[15] else 15
    if u < _POW10[18]:
        return 18 if u >= _POW10[17] else 17
    return 20 if u >= _POW10[19] else 19


@io_helper
def put_int(out, pos, v):
    if v < 0:
        out[pos] = 45
        pos += 1
        u = np.uint64(-(v + 1)) + np.uint64(1)  # int64 min too
    else:
        u = np.uint64(v)
    return _put_uint(out, pos, u, _ndigits(u))


@io_helper
def put_fixed(out, pos, v, places):
    """v * 10**-places with exactly ``places`` decimals."""
    if places == 0:
        return put_int(out, pos, v)
    if v < 0:
        out[pos] = 45
        pos += 1
        u = np.uint64(-(v + 1)) + np.uint64(1)
    else:
        u = np.uint64(v)
    scale = _POW10[places]
    whole = u // scale
    pos = _put_uint(out, pos, whole, _ndigits(whole))
    out[pos] = 46
    return _put_uint(out, pos + 1, u - whole * scale, places)


@io_helper
def put_word(out, pos, words, offs, entry):
    """Dictionary entry ``entry`` (already CSV-quoted)."""
    for p in range(offs[entry], offs[entry + 1]):
        out[pos] = words[p]
        pos += 1
    return pos


@io_helper
def _put_seq_ts(out, pos, seq, ts, last_seq, last_ts, head, head_len):
    """Write ``seq,ts,`` at ``pos``: copied from the line above (``head_len`` bytes at
    ``head``) when it has the same seq and ts, as the events and fills of one input row
    do, else formatted. Returns (position after it, its length)."""
    if seq == last_seq and ts == last_ts:
        for p in range(head_len):
            out[pos + p] = out[head + p]
        return pos + head_len, head_len
    start = pos
    pos = put_int(out, pos, seq)
    out[pos] = 44
    pos = put_int(out, pos + 1, ts)
    out[pos] = 44
    return pos + 1, pos + 1 - start


@io_kernel
def _events_csv(ev, words, offs, base, lo, hi, out):
    """events.csv lines of ``ev[lo:hi]`` into ``out``; returns the bytes used.
    ``base``: first dictionary entry of event, reason. The events of one input row
    share ``seq,ts,``: it is copied from the line above. (The engine's records never
    hold negative codes, and only qty / leaves_qty may be empty.)"""
    b_event, b_reason = base[0], base[1]
    pos = 0
    head = 0  # where the previous line's "seq,ts," starts
    head_len = 0
    seq = -1
    ts = 0
    for i in range(lo, hi):
        e = ev[i]
        start = pos
        pos, head_len = _put_seq_ts(out, pos, e.seq, e.ts, seq, ts, head, head_len)
        seq, ts, head = e.seq, e.ts, start
        pos = put_int(out, pos, e.order_id)
        out[pos] = 44
        pos = put_word(out, pos + 1, words, offs, b_event + e.event)
        out[pos] = 44
        pos = put_word(out, pos + 1, words, offs, b_reason + e.reason)
        out[pos] = 44
        pos += 1
        if e.qty != NO_VALUE:
            pos = put_int(out, pos, e.qty)
        out[pos] = 44
        pos += 1
        if e.leaves_qty != NO_VALUE:
            pos = put_int(out, pos, e.leaves_qty)
        out[pos] = 10
        pos += 1
    return pos


@io_kernel
def _trades_csv(tr, words, offs, base, tick_m, places, floors, lo, hi, out):
    """trades.csv lines of ``tr[lo:hi]``; ``base``: first dictionary entry of
    instrument, buyer, seller, grade, aggressor. Fills of one input row share
    ``seq,ts,`` (copied from the line above)."""
    b_instr, b_buyer, b_seller, b_grade, b_side = base[0], base[1], base[2], base[3], base[4]
    pos = 0
    head = 0
    head_len = 0
    seq = -1
    ts = 0
    for i in range(lo, hi):
        t = tr[i]
        pos = put_int(out, pos, t.trade_id)
        out[pos] = 44
        pos += 1
        start = pos
        pos, head_len = _put_seq_ts(out, pos, t.seq, t.ts, seq, ts, head, head_len)
        seq, ts, head = t.seq, t.ts, start
        instrument = t.instrument
        pos = put_word(out, pos, words, offs, b_instr + instrument)
        out[pos] = 44
        pos = put_int(out, pos + 1, t.buy_order_id)
        out[pos] = 44
        pos = put_int(out, pos + 1, t.sell_order_id)
        out[pos] = 44
        pos = put_word(out, pos + 1, words, offs, b_buyer + t.buyer)
        out[pos] = 44
        pos = put_word(out, pos + 1, words, offs, b_seller + t.seller)
        out[pos] = 44
        pos = put_word(out, pos + 1, words, offs, b_grade + t.grade)
        out[pos] = 44
        n_value = t.price * tick_m[instrument]
        pos = put_fixed(out, pos + 1, n_value, places[instrument])
        out[pos] = 44
        effective = _effective_one(n_value, places[instrument], floors[t.grade])
        pos = put_fixed(out, pos + 1, effective, EFFECTIVE_PLACES)
        out[pos] = 44
        pos = put_int(out, pos + 1, t.qty)
        out[pos] = 44
        pos = put_word(out, pos + 1, words, offs, b_side + t.aggressor)
        out[pos] = 10
        pos += 1
    return pos


@io_kernel
def _book_csv(bk, words, offs, base, tick_m, places, lo, hi, out):
    """book.csv lines of ``bk[lo:hi]``; ``base``: first dictionary entry of instrument,
    side, party, grade, min_grade, tif (grade and min_grade may be empty)."""
    pos = 0
    for i in range(lo, hi):
        b = bk[i]
        pos = put_word(out, pos, words, offs, base[0] + b.instrument)
        out[pos] = 44
        pos = put_word(out, pos + 1, words, offs, base[1] + b.side)
        out[pos] = 44
        pos = put_int(out, pos + 1, b.order_id)
        out[pos] = 44
        pos = put_word(out, pos + 1, words, offs, base[2] + b.party)
        out[pos] = 44
        pos = put_fixed(out, pos + 1, b.price * tick_m[b.instrument], places[b.instrument])
        out[pos] = 44
        pos = put_int(out, pos + 1, b.qty)
        out[pos] = 44
        pos += 1
        if b.grade >= 0:
            pos = put_word(out, pos, words, offs, base[3] + b.grade)
        out[pos] = 44
        pos += 1
        if b.min_grade >= 0:
            pos = put_word(out, pos, words, offs, base[4] + b.min_grade)
        out[pos] = 44
        pos = put_word(out, pos + 1, words, offs, base[5] + b.tif)
        out[pos] = 44
        pos = put_int(out, pos + 1, b.arrival_seq)
        out[pos] = 10
        pos += 1
    return pos


@io_kernel
def _format_columns(mat, kinds, src, aux, dict_bytes, dict_offs, out):
    """Format the rows of ``mat`` (one row per source column) as CSV lines into ``out``.

    Output column c: kind ``kinds[c]``, value ``mat[src[c], i]``; ``aux[c]`` is the
    first dictionary entry (K_DICT) or the places: ``>= 0`` a row of ``mat``, else
    ``-1 - places`` (K_FIXED). NO_VALUE (and a negative dictionary code) prints empty.
    A number equal to the one above it (seq and ts repeat down events) is copied."""
    n = mat.shape[1]
    ncols = kinds.shape[0]
    prev_val = np.full(ncols, NO_VALUE, np.int64)
    prev_pos = np.zeros(ncols, np.int64)
    prev_len = np.zeros(ncols, np.int64)
    pos = 0
    for i in range(n):
        for c in range(ncols):
            if c > 0:
                out[pos] = 44
                pos += 1
            v = mat[src[c], i]
            k = kinds[c]
            if k == K_DICT:
                if v >= 0:
                    e = aux[c] + v
                    for p in range(dict_offs[e], dict_offs[e + 1]):
                        out[pos] = dict_bytes[p]
                        pos += 1
            elif v != NO_VALUE:
                a = aux[c]
                places = 0
                if k == K_FIXED:
                    places = mat[a, i] if a >= 0 else -1 - a
                if v == prev_val[c] and (k == K_INT or a < 0):
                    start = prev_pos[c]
                    length = prev_len[c]
                    for p in range(length):
                        out[pos + p] = out[start + p]
                    prev_pos[c] = pos
                    pos += length
                else:
                    start = pos
                    if k == K_INT:
                        pos = put_int(out, pos, v)
                    else:
                        pos = put_fixed(out, pos, v, places)
                    prev_val[c] = v
                    prev_pos[c] = start
                    prev_len[c] = pos - start
        out[pos] = 10
        pos += 1
    return pos


@io_helper
def _effective_one(v, d, f):
    """round_half_even(v * 10**-d * 10000 / f, 6 places) in 10**-6 units."""
    if d <= 10:
        mul = np.int64(1)
        for _ in range(10 - d):
            mul *= 10
        q1 = v // f
        r1 = v % f
        q = q1 * mul + (r1 * mul) // f
        r = (r1 * mul) % f
        den = f
    else:
        den = f
        for _ in range(d - 10):
            den *= 10
        q = v // den
        r = v % den
    twice = 2 * r
    if twice > den or (twice == den and q % 2 == 1):
        q += 1
    return q


@io_kernel
def effective_micros(n_value, places, factor):
    """round_half_even(N * 10**-places * 10000 / factor, 6 places) in 10**-6 units."""
    res = np.empty(n_value.shape[0], np.int64)
    for i in range(n_value.shape[0]):
        res[i] = _effective_one(n_value[i], places[i], factor[i])
    return res


@io_kernel
def group_totals(keys, n_keys, price_n, qty):
    """Per key: trade count, quantity, and sum of price * qty (int64)."""
    count = np.zeros(n_keys, np.int64)
    volume = np.zeros(n_keys, np.int64)
    notional = np.zeros(n_keys, np.int64)
    for i in range(keys.shape[0]):
        k = keys[i]
        count[k] += 1
        volume[k] += qty[i]
        notional[k] += price_n[i] * qty[i]
    return count, volume, notional


KERNELS = (_trades_csv, _events_csv, _book_csv, effective_micros, group_totals)  # the replay's


# ================================================================== columns
def csv_cell(text: str) -> str:
    """Minimal quoting: only a cell holding a comma, quote or line break is quoted."""
    if any(ch in text for ch in ',"\n\r'):
        return '"' + text.replace('"', '""') + '"'
    return text


@dataclass
class Column:
    """An output column: ``kind`` K_INT / K_DICT / K_FIXED over ``values`` (int array)."""

    name: str
    kind: int
    values: np.ndarray
    words: tuple = ()  # K_DICT: entry per code
    places: int | np.ndarray = 0  # K_FIXED: constant or per row


@dataclass
class Table:
    name: str  # file stem
    columns: list[Column]
    n: int
    # A kernel formatting rows straight from the engine's records, called as
    # ``kernel(*kernel_args, lo, hi, out)``; None: the generic column kernel.
    kernel: object = None
    kernel_args: tuple = ()


class _Dictionaries:
    def __init__(self, columns: list[Column]):
        entries: list[bytes] = []
        self.base = {}
        for c in columns:
            if c.kind == K_DICT:
                self.base[c.name] = len(entries)
                entries += [csv_cell(w).encode("utf-8") for w in c.words]
        self.offs = np.zeros(len(entries) + 1, np.int64)
        self.offs[1:] = np.cumsum([len(e) for e in entries]) if entries else []
        self.bytes = np.frombuffer(b"".join(entries) or b"\0", np.uint8).copy()
        self.max_len = max((len(e) for e in entries), default=0)

    def bases(self, *names: str) -> np.ndarray:
        return np.array([self.base[n] for n in names], np.int64)


def _line_width(table: Table, dicts: _Dictionaries) -> int:
    """An upper bound on the bytes of one CSV line of ``table``."""
    width = 1
    for c in table.columns:
        width += {K_DICT: dicts.max_len + 1, K_FIXED: 44}.get(c.kind, 21)
    return width


class _Columns:
    """The generic path: a block of rows is gathered into one int64 matrix (a row per
    column) and formatted by ``_format_columns``."""

    def __init__(self, table: Table, dicts: _Dictionaries, block: int):
        self.table = table
        self.dicts = dicts
        ncols = len(table.columns)
        self.kinds = np.array([c.kind for c in table.columns], np.int64)
        self.src = np.arange(ncols, dtype=np.int64)
        self.aux = np.zeros(ncols, np.int64)
        self.extra = []  # per-row places arrays, stored after the value rows
        for k, c in enumerate(table.columns):
            if c.kind == K_DICT:
                self.aux[k] = dicts.base[c.name]
            elif c.kind == K_FIXED:
                if isinstance(c.places, np.ndarray):
                    self.aux[k] = ncols + len(self.extra)
                    self.extra.append(c.places)
                else:
                    self.aux[k] = -1 - int(c.places)
        self.mat = np.empty((ncols + len(self.extra), block), np.int64)

    def __call__(self, lo: int, hi: int, out: np.ndarray) -> int:
        ncols = len(self.table.columns)
        m = self.mat[:, : hi - lo]
        for k, c in enumerate(self.table.columns):
            m[k] = c.values[lo:hi]
        for k, arr in enumerate(self.extra):
            m[ncols + k] = arr[lo:hi]
        return _format_columns(m, self.kinds, self.src, self.aux, self.dicts.bytes, self.dicts.offs, out)


def _format_block(table: Table, generic, lo: int, hi: int, out: np.ndarray) -> int:
    """Format rows ``lo:hi`` of ``table`` as CSV lines into ``out``; the bytes used."""
    if table.kernel is not None:
        return table.kernel(*table.kernel_args, lo, hi, out)
    return generic(lo, hi, out)


def iter_csv_blocks(table: Table, buffers: int = 1):
    """Yield the CSV bytes of ``table`` (header first), a block of rows at a time.

    Each block is a view of one of ``buffers`` output buffers used in turn: it stays
    valid until ``buffers`` more blocks have been yielded."""
    yield (",".join(c.name for c in table.columns) + "\n").encode()
    if table.n == 0:
        return
    dicts = _Dictionaries(table.columns)
    block = min(BLOCK_ROWS, table.n)
    generic = _Columns(table, dicts, block) if table.kernel is None else None
    size = block * _line_width(table, dicts)
    outs = [np.empty(size, np.uint8) for _ in range(max(1, buffers))]
    for number, lo in enumerate(range(0, table.n, block)):
        out = outs[number % len(outs)]
        hi = min(table.n, lo + block)
        used = _format_block(table, generic, lo, hi, out)
        yield memoryview(out[:used])  # valid until ``buffers`` more blocks are formatted


def compile_kernels(tables) -> None:
    """Run each table's formatting kernel once, into a scratch buffer, so it is compiled
    (or loaded from cache) before a timed write; nothing is written anywhere."""
    for table in tables:
        if table.kernel is not None and table.n:
            out = np.empty(table.n * _line_width(table, _Dictionaries(table.columns)), np.uint8)
            table.kernel(*table.kernel_args, 0, table.n, out)


def csv_bytes(table: Table) -> bytes:
    return b"".join(bytes(chunk) for chunk in iter_csv_blocks(table))


def _decimal_array(values: np.ndarray, scale: int, mask: np.ndarray | None) -> pa.Array:
    """decimal128(38, scale) from int64 unscaled values (exact)."""
    v = values.astype(np.int64)
    words = np.empty((len(v), 2), np.int64)
    words[:, 0] = v
    words[:, 1] = np.where(v < 0, -1, 0)
    validity = None
    null_count = 0
    if mask is not None and mask.any():
        validity = pa.array(~mask).buffers()[1]
        null_count = int(mask.sum())
    return pa.Array.from_buffers(pa.decimal128(38, scale), len(v),
                                 [validity, pa.py_buffer(words.tobytes())], null_count)


def arrow_table(table: Table) -> pa.Table:
    """The same table for Parquet: int64, string (empty cells are nulls) and exact decimals."""
    arrays = []
    for c in table.columns:
        if c.kind == K_INT:
            mask = c.values == NO_VALUE
            arrays.append(pa.array(c.values.astype(np.int64), pa.int64(),
                                   mask=mask if mask.any() else None))
        elif c.kind == K_DICT:
            dictionary = pa.array(list(c.words), pa.string())
            codes = c.values.astype(np.int64)
            mask = codes < 0
            empty_words = np.array([w == "" for w in c.words] or [False])
            if len(c.words):
                mask |= empty_words[np.clip(codes, 0, None)]
            indices = pa.array(np.clip(codes, 0, None).astype(np.int32), pa.int32(),
                               mask=mask if mask.any() else None)
            arrays.append(dictionary.take(indices) if len(c.words) else pa.nulls(len(codes), pa.string()))
        else:
            places = c.places
            if isinstance(places, np.ndarray):
                scale = int(places.max()) if len(places) else 0
                values = c.values * (10 ** (scale - places)).astype(np.int64)
            else:
                scale = int(places)
                values = c.values
            mask = c.values == NO_VALUE
            arrays.append(_decimal_array(np.where(mask, 0, values), scale, mask))
    return pa.Table.from_arrays(arrays, names=[c.name for c in table.columns])


# ================================================================== tables
class Formatter:
    """Turns the engine's record arrays into output tables for one configuration."""

    def __init__(self, config: ExchangeConfig, parties: list[str]):
        self.config = config
        self.parties = list(parties)
        parts = [tick_parts(ins.tick) for ins in config.instruments]
        self.tick_m = np.array([m for m, _ in parts], np.int64)
        self.places = np.array([e for _, e in parts], np.int64)
        self.uniform_places = len(set(self.places.tolist())) == 1
        self.floors = np.array([g.floor_bp for g in config.grades], np.int64)
        self.symbols = tuple(ins.symbol for ins in config.instruments)
        self.grade_names = tuple(g.name for g in config.grades)

    def _price(self, name, ticks, instrument) -> Column:
        n_value = np.asarray(ticks, np.int64) * self.tick_m[instrument]
        places = int(self.places[0]) if self.uniform_places else self.places[instrument]
        return Column(name, K_FIXED, n_value, places=places)

    def trades(self, trades: np.ndarray) -> Table:
        t = trades
        instrument = t["instrument"].astype(np.int64)
        price = self._price("price", t["price"], instrument)
        # Writeable C arrays every time (a broadcast view is read-only): one kernel signature.
        places = np.array(np.broadcast_to(np.asarray(price.places, np.int64), (len(t),)))
        factor = self.floors[t["grade"].astype(np.int64)] if len(t) else np.zeros(0, np.int64)
        effective = effective_micros(price.values, places, factor)
        table = Table("trades", [
            Column("trade_id", K_INT, t["trade_id"]),
            Column("seq", K_INT, t["seq"]),
            Column("ts", K_INT, t["ts"]),
            Column("instrument", K_DICT, t["instrument"], self.symbols),
            Column("buy_order_id", K_INT, t["buy_order_id"]),
            Column("sell_order_id", K_INT, t["sell_order_id"]),
            Column("buyer", K_DICT, t["buyer"], tuple(self.parties)),
            Column("seller", K_DICT, t["seller"], tuple(self.parties)),
            Column("grade", K_DICT, t["grade"], self.grade_names),
            price,
            Column("effective_price", K_FIXED, effective, places=EFFECTIVE_PLACES),
            Column("qty", K_INT, t["qty"]),
            Column("aggressor", K_DICT, t["aggressor"], tuple(SIDE_WORDS)),
        ], len(t))
        d = _Dictionaries(table.columns)
        table.kernel = _trades_csv
        table.kernel_args = (t, d.bytes, d.offs, d.bases("instrument", "buyer", "seller", "grade", "aggressor"),
                             self.tick_m, self.places, self.floors)
        return table

    def events(self, events: np.ndarray) -> Table:
        e = events
        event_words = tuple(EVENT_WORDS[EventType(k)] for k in range(len(EventType)))
        reason_words = tuple(REASON_WORDS[Reason(k)] for k in range(len(Reason)))
        table = Table("events", [
            Column("seq", K_INT, e["seq"]),
            Column("ts", K_INT, e["ts"]),
            Column("order_id", K_INT, e["order_id"]),
            Column("event", K_DICT, e["event"], event_words),
            Column("reason", K_DICT, e["reason"], reason_words),
            Column("qty", K_INT, e["qty"]),
            Column("leaves_qty", K_INT, e["leaves_qty"]),
        ], len(e))
        d = _Dictionaries(table.columns)
        table.kernel = _events_csv
        table.kernel_args = (e, d.bytes, d.offs, d.bases("event", "reason"))
        return table

    def book(self, book: np.ndarray) -> Table:
        b = book
        instrument = b["instrument"].astype(np.int64)
        table = Table("book", [
            Column("instrument", K_DICT, b["instrument"], self.symbols),
            Column("side", K_DICT, b["side"], tuple(SIDE_WORDS)),
            Column("order_id", K_INT, b["order_id"]),
            Column("party", K_DICT, b["party"], tuple(self.parties)),
            self._price("price", b["price"], instrument),
            Column("qty", K_INT, b["qty"]),
            Column("grade", K_DICT, b["grade"], self.grade_names),
            Column("min_grade", K_DICT, b["min_grade"], self.grade_names),
            Column("tif", K_DICT, b["tif"], tuple(TIF_WORDS)),
            Column("arrival_seq", K_INT, b["arrival_seq"]),
        ], len(b))
        d = _Dictionaries(table.columns)
        table.kernel = _book_csv
        table.kernel_args = (b, d.bytes, d.offs, d.bases("instrument", "side", "party", "grade", "min_grade", "tif"),
                             self.tick_m, self.places)
        return table


# ================================================================= writing
class OutputError(OSError):
    """The output directory cannot be written; one line, exit 2."""


def _file_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _tmp_name(directory: Path, name: str) -> Path:
    """A fresh temporary file beside the final one (same directory, so rename is atomic),
    with the permissions a plain ``open`` would give."""
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory)
    try:
        os.fchmod(fd, _file_mode())
    finally:
        os.close(fd)
    return Path(tmp)


def _write_overlapped(handle, table: Table, digest) -> None:
    """Write the table's CSV blocks from a second thread while the next block is being
    formatted (the kernel, file writes and hashing all run without the GIL)."""
    from concurrent.futures import ThreadPoolExecutor

    def sink(chunk):
        if digest is not None:
            digest.update(chunk)
        handle.write(chunk)

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="csv-writer") as pool:
        pending = None
        try:
            for chunk in iter_csv_blocks(table, buffers=2):
                if pending is not None:
                    pending.result()  # the other buffer is free again
                pending = pool.submit(sink, chunk)
        finally:
            if pending is not None:
                pending.result()


class CsvStream:
    """The replay's three CSV files written a block of the engine's records at a time
    (``append``), into ``directory``: the replay's staging directory, which atomic_dir
    shows as one set when all is written. The bytes are ``write_tables``'s over the whole
    arrays (a kernel restarts its ``seq,ts,`` copy at a block's first line, which changes
    no byte). The sha256 of each table in ``digest_of`` is taken as it is written.

    Each table may be appended from a thread of its own (each has its own text buffer
    and file), one thread per table at a time. Each block goes through ``_format_block``
    in pieces of ``BLOCK_ROWS`` lines, into the table's reused text buffer (no Python
    object per row). OutputError when a file cannot be written; ``close`` in any case."""

    def __init__(self, directory, formatter: Formatter, digest_of: tuple[str, ...] = ("trades",),
                 shown_as=None):
        self.directory = Path(directory)
        self.formatter = formatter
        self.shown_as = shown_as or directory
        self.handles = {}
        self.digests = {}
        self._templates: dict[str, tuple[Table, int, int]] = {}
        self._out = {name: np.empty(0, np.uint8) for name in ("trades", "events", "book")}
        empty = {"trades": np.empty(0, TRADE_DTYPE), "events": np.empty(0, EVENT_DTYPE),
                 "book": np.empty(0, BOOK_DTYPE)}
        with self._errors():
            for name in ("trades", "events", "book"):
                self.handles[name] = open(self.directory / f"{name}.csv", "wb")
                if name in digest_of:
                    self.digests[name] = hashlib.sha256()
                header = next(iter_csv_blocks(getattr(formatter, name)(empty[name])))
                self._write(name, header)

    @contextlib.contextmanager
    def _errors(self):
        """An OSError (a full disk, a removed directory) as OutputError, one line."""
        try:
            yield
        except OutputError:
            raise
        except OSError as error:
            raise OutputError(f"{self.shown_as}: cannot write outputs: {error.strerror or error}") from None

    def _write(self, name: str, chunk) -> None:
        digest = self.digests.get(name)
        if digest is not None:
            digest.update(chunk)
        self.handles[name].write(chunk)

    def _template(self, name: str, records: np.ndarray) -> tuple[Table, int]:
        """The table of 0 rows (its dictionaries) and its line width; the dictionaries are
        rebuilt only when parties were added since (events name none)."""
        parties = len(self.formatter.parties) if name != "events" else 0
        cached = self._templates.get(name)
        if cached is None or cached[2] != parties:
            table = getattr(self.formatter, name)(records[:0])
            cached = (table, _line_width(table, _Dictionaries(table.columns)), parties)
            self._templates[name] = cached
        return cached[0], cached[1]

    def append(self, name: str, records: np.ndarray, parties=None) -> None:
        """Write ``records`` (the engine's TRADE_DTYPE / EVENT_DTYPE / BOOK_DTYPE, C-contiguous)
        at the end of ``<name>.csv``. ``parties``: every party name so far, by index."""
        if parties is not None and name != "events" and len(parties) != len(self.formatter.parties):
            self.formatter.parties = list(parties)
        n = len(records)
        if not n:
            return
        template, width = self._template(name, records)
        table = Table(name, template.columns, n, template.kernel, (records,) + template.kernel_args[1:])
        block = BLOCK_ROWS
        if len(self._out[name]) < min(block, n) * width:
            self._out[name] = np.empty(min(block, n) * width, np.uint8)
        out = self._out[name]
        with self._errors():
            for lo in range(0, n, block):
                used = _format_block(table, None, lo, min(n, lo + block), out)
                self._write(name, memoryview(out)[:used])

    def close(self) -> dict[str, str]:
        """Close the files; the sha256 of each table in ``digest_of``."""
        handles, self.handles = self.handles, {}
        failed = None
        for handle in handles.values():
            try:
                handle.close()
            except OSError as error:
                failed = failed or error
        if failed is not None:
            with self._errors():
                raise failed
        return {name: digest.hexdigest() for name, digest in self.digests.items()}


def write_tables(out_dir, tables: list[Table], fmt: str = "csv",
                 digest_of: tuple[str, ...] = ("trades",), shown_as=None) -> dict[str, str]:
    """Write each table as ``<name>.csv`` (or ``.parquet``) in ``out_dir``, atomically:
    all files go to temporary names first and are renamed only once all are complete;
    on any error the temporaries are removed and nothing is renamed.

    Returns the sha256 of the CSV bytes of the tables named in ``digest_of`` (also
    computed for Parquet output). ``shown_as``: the directory errors name (the final
    directory when ``out_dir`` is a staging directory)."""
    import pyarrow.parquet as pq

    directory = Path(out_dir)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"{directory}: cannot create the output directory: {error.strerror}") from None
    temps: list[tuple[Path, Path]] = []
    digests: dict[str, str] = {}
    try:
        for table in tables:
            final = directory / f"{table.name}.{fmt}"
            tmp = _tmp_name(directory, final.name)
            temps.append((tmp, final))
            digest = hashlib.sha256() if table.name in digest_of else None
            if fmt == "csv":
                with open(tmp, "wb") as handle:
                    _write_overlapped(handle, table, digest)
            else:
                if digest is not None:
                    for chunk in iter_csv_blocks(table):
                        digest.update(chunk)
                pq.write_table(arrow_table(table), tmp)
            if digest is not None:
                digests[table.name] = digest.hexdigest()
        for tmp, final in temps:
            os.replace(tmp, final)
        temps = []
    except OSError as error:
        raise OutputError(f"{shown_as or directory}: cannot write outputs: {error.strerror or error}") from None
    finally:
        for tmp, _ in temps:
            try:
                tmp.unlink()
            except OSError:
                pass
    return digests
