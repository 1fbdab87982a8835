"""Metering held per (period, contract): what settlement reads, filled from rows or a file.

``MeteringGrid`` keeps four ``(P, C)`` arrays (P the longest delivery window, C the
contracts): ``available_hours``, ``used_hours``, ``goodput_bp`` (int64) and ``line``
(uint32: the input line of the row, 0 where no row was given). Memory:
``BYTES_PER_CELL`` = 28 bytes per contract period, whatever the number of rows; a
period's metering for all contracts is one row of each array, which is what the
settlement kernel takes.

``read_metering_grid`` reads a metering CSV a block of bytes at a time with the
Numba kernel of ``metering_nb`` (no Python object per row, memory of one block),
reporting every problem as ``FILE:LINE: column: what is wrong`` (docs/RULES.md §7). A file with quote characters goes through the ``csv`` module
(contracts/csvio.py) instead, which reads it whole.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass

import numpy as np

from . import metering_nb as mnb
from .csvio import InputError, shown
from .metering import METERING_COLUMNS, Metering
from .metering import read_metering as read_metering_rows
from .schedule import Contracts

BYTES_PER_CELL = 8 + 8 + 8 + 4
BLOCK_BYTES = 8 << 20
MAX_LINE = 1 << 20  # the longest line accepted (bytes); longer: "value too long"
MAX_ERRORS = 100_000  # reported at most (then "... and N more")
NO_ROW = -1  # ``available_hours`` of a contract period without a row


@dataclass(frozen=True, repr=False, eq=False)
class MeteringGrid:
    """Validated metering per (period, contract); ``available_hours < 0`` where no row."""

    available_hours: np.ndarray
    used_hours: np.ndarray
    goodput_bp: np.ndarray
    line: np.ndarray
    rows: int
    max_period: int  # highest metered period, -1 without rows
    source: str = "<rows>"

    def __len__(self) -> int:
        return self.rows

    def __repr__(self) -> str:
        return f"<MeteringGrid {self.rows} rows from {self.source}>"

    @classmethod
    def empty(cls, contracts: Contracts, source: str = "<rows>") -> MeteringGrid:
        """No rows; allocates ``BYTES_PER_CELL x P x C`` bytes (lazily, by the OS)."""
        shape = (max(contracts.max_periods, 1), len(contracts))
        return cls(np.full(shape, NO_ROW, np.int64), np.zeros(shape, np.int64), np.zeros(shape, np.int64),
                   np.zeros(shape, np.uint32), 0, -1, source)

    @classmethod
    def from_metering(cls, metering: Metering, contracts: Contracts) -> MeteringGrid:
        """The grid of validated rows (duplicates must already have been refused)."""
        return cls.merged(cls.empty(contracts, metering.source), metering)

    @classmethod
    def merged(cls, grid: MeteringGrid, metering: Metering) -> MeteringGrid:
        """``grid`` with ``metering``'s rows stored into it (in place; the rows must be new)."""
        at = (metering.period, metering.contract)
        grid.available_hours[at] = metering.available_hours
        grid.used_hours[at] = metering.used_hours
        grid.goodput_bp[at] = metering.goodput_bp
        grid.line[at] = np.clip(metering.line, 1, np.iinfo(np.uint32).max)
        return cls(grid.available_hours, grid.used_hours, grid.goodput_bp, grid.line, grid.rows + len(metering),
                   max(grid.max_period, metering.max_period), grid.source)

    def to_metering(self) -> Metering:
        """The rows as ``Metering`` (file order)."""
        period, contract = np.nonzero(self.line)
        order = np.argsort(self.line[period, contract], kind="stable")
        period, contract = period[order], contract[order]
        return Metering(contract.astype(np.int64), period.astype(np.int64), self.available_hours[period, contract],
                        self.used_hours[period, contract], self.goodput_bp[period, contract],
                        self.line[period, contract].astype(np.int64), self.source)


def read_metering_grid(path, contracts: Contracts, block_bytes: int = BLOCK_BYTES,
                       max_line: int = MAX_LINE) -> MeteringGrid:
    """Read and validate a metering CSV into a grid; InputError lists every problem as FILE:LINE.

    Cost: one pass over the file in blocks of ``block_bytes``; memory: the grid plus two blocks.
    """
    source = str(path)
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed by the with below
    except FileNotFoundError:
        raise InputError([f"{source}: no such file"]) from None
    except OSError as error:
        raise InputError([f"{source}: cannot read: {error.strerror}"]) from None
    with handle:
        header, data = _header(handle, source, max_line)
        colmap = np.full(len(header), -1, np.int64)
        for k, name in enumerate(METERING_COLUMNS):
            colmap[header.index(name)] = k
        grid = MeteringGrid.empty(contracts, source)
        state = np.zeros(6, np.int64)
        state[mnb.S_LINE] = 2
        state[mnb.S_MAXP] = -1
        errs = np.zeros((4096, mnb.ERR_FIELDS), np.int64)
        found: list[tuple] = []
        periods = contracts.periods if len(contracts) else np.zeros(0, np.int64)
        dense = _dense_index(contracts.trade_id)
        while True:
            more = handle.read(block_bytes)
            if b'"' in more or b'"' in data:
                return _quoted(path, contracts)
            final = not more
            data = data + more if data else more
            buf = np.frombuffer(data, np.uint8) if data else np.zeros(0, np.uint8)
            pos = 0
            while True:
                used = mnb.parse_block(buf[pos:], len(buf) - pos, final, colmap, max_line, contracts.trade_id,
                                       dense, periods, grid.available_hours, grid.used_hours, grid.goodput_bp,
                                       grid.line, state, errs)
                found += _messages(source, header, buf[pos:], errs[: state[mnb.S_ERRS]])
                stalled = state[mnb.S_ERRS] > 0 and used < len(buf) - pos
                state[mnb.S_ERRS] = 0
                pos += used
                if state[mnb.S_FATAL] or len(found) > MAX_ERRORS or not stalled:
                    break
            data = data[pos:]
            if state[mnb.S_FATAL] or len(found) > MAX_ERRORS or final:
                break
    if found:
        found.sort(key=lambda e: (e[0], e[1]))
        messages = [m for _, _, m in found[:MAX_ERRORS]]
        if len(found) > MAX_ERRORS:
            messages.append(f"{source}: ... and more problems; the first {MAX_ERRORS:,} are listed")
        raise InputError(messages)
    return MeteringGrid(grid.available_hours, grid.used_hours, grid.goodput_bp, grid.line,
                        int(state[mnb.S_ROWS]), int(state[mnb.S_MAXP]), source)


def _dense_index(trade_ids: np.ndarray) -> np.ndarray:
    """{trade_id: contract} as an int64 table when ids are dense (the largest id at most
    8 per contract, plus 1 Mi): 8 bytes per id; else empty (the kernel binary-searches)."""
    if not len(trade_ids) or trade_ids[0] < 0 or trade_ids[-1] > 8 * len(trade_ids) + (1 << 20):
        return np.zeros(0, np.int64)
    table = np.full(int(trade_ids[-1]) + 1, -1, np.int64)
    table[trade_ids] = np.arange(len(trade_ids))
    return table


def _header(handle, source, max_line) -> tuple[list[str], bytes]:
    """The header's column names and the bytes read after it."""
    data = b""
    while b"\n" not in data and len(data) <= max_line:
        more = handle.read(1 << 16)
        if not more:
            break
        data += more
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    end = data.find(b"\n")
    if end < 0 and len(data) > max_line:
        raise InputError([f"{source}:1: header: value too long (the line is over {max_line:,} bytes)"])
    first, rest = (data, b"") if end < 0 else (data[:end], data[end + 1:])
    first = first[:-1] if first.endswith(b"\r") else first
    if b"\r" in first:
        raise InputError([f"{source}:1: header: lone CR line ending; use LF or CRLF line endings"])
    try:
        text = first.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError([f"{source}:1: not UTF-8 text"]) from None
    if not text.strip() and not rest.strip():
        raise InputError([f"{source}:1: header: the file is empty"])
    header = next(csv.reader([text]), [])
    missing = [name for name in METERING_COLUMNS if name not in header]
    if missing:
        raise InputError([f"{source}:1: {name}: missing column" for name in missing])
    if len(set(header)) != len(header):
        raise InputError([f"{source}:1: header: duplicate column name"])
    return header, rest


def _quoted(path, contracts) -> MeteringGrid:
    """A file with quotes: the csv-module reader (whole file in memory), then the grid."""
    return MeteringGrid.from_metering(read_metering_rows(path, contracts), contracts)


def _messages(source, header, buf, errs) -> list[tuple]:
    """(line, column order, message) for the kernel's error rows."""
    out = []
    for line, column, code, aux1, aux2, s, e in errs.tolist():
        text = bytes(buf[s:e]).decode("utf-8", "replace")
        name = METERING_COLUMNS[column] if column < len(METERING_COLUMNS) else "row"
        order = column if column < len(METERING_COLUMNS) else -1
        if code == mnb.NOT_INT:
            why = f"{shown(text)!r} is not an integer"
        elif code == mnb.EMPTY:
            why = "empty"
        elif code == mnb.UNKNOWN_TRADE:
            why = f"unknown trade_id {shown(text)}"
        elif code == mnb.OUTSIDE_PERIOD:
            why = f"period {shown(text)} is outside 0..{aux1 - 1} of trade {aux2}"
        elif code == mnb.DUPLICATE:
            why = f"duplicate row for trade {aux2} period {shown(text)} (first on line {aux1})"
        elif code == mnb.NEGATIVE:
            why = f"{shown(text)} is negative"
        elif code == mnb.NOT_DECIMAL:
            why = f"{shown(text)!r} is not a plain decimal number"
        elif code == mnb.OUTSIDE_01:
            why = f"{shown(text)} is outside [0, 1]"
        elif code == mnb.PLACES:
            why = f"{shown(text)} has more than 4 decimal places"
        elif code == mnb.CELLS:
            why = f"expected {aux2} cells, got {aux1}"
        elif code == mnb.TOO_LONG:
            name = header[aux2] if aux2 < len(header) else "row"
            why = f"value too long (the line is over {aux1:,} bytes)"
        elif code == mnb.LONE_CR:
            why = "lone CR line ending; use LF or CRLF line endings"
        else:  # pragma: no cover - every kernel code is listed above
            why = f"error {code}"
        out.append((line, order, f"{source}:{line}: {name}: {why}"))
    return out


def estimate_bytes(contracts: Contracts) -> int:
    """Bytes the grid of ``contracts`` takes."""
    return BYTES_PER_CELL * max(contracts.max_periods, 1) * len(contracts)

