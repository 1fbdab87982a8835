"""CSV reading with line numbers, exact cell parsing, and atomic CSV writing.

Cells are read as strings (pyarrow for plain files, the ``csv`` module when a
file has quotes or blank lines) and parsed exactly: integers by regex then
cast, decimals through ``Decimal`` once per distinct text. Every bad cell
becomes ``FILE:LINE: column: what is wrong``.
"""
from __future__ import annotations

import csv
import io
import os
import tempfile
from decimal import Decimal, InvalidOperation

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

INT_RE = r"^[+-]?[0-9]{1,18}$"
DECIMAL_RE = r"^(?:[0-9]+\.?[0-9]*|\.[0-9]+)$"
MAX_LINE = 1 << 20  # the longest line accepted (bytes): longer is "value too long"
SHOWN = 40  # characters of a bad value echoed in a message


def shown(text: str, limit: int = SHOWN) -> str:
    """``text`` cut to ``limit`` characters plus "…", for echoing a bad value in a message."""
    return text if len(text) <= limit else text[:limit] + "…"


class InputError(ValueError):
    """Bad input: ``messages`` holds every ``FILE:LINE: column: what is wrong``."""

    def __init__(self, messages):
        self.messages = list(messages)
        super().__init__("\n".join(self.messages))


class Table:
    """String columns of a CSV file plus the 1-based file line of each row."""

    def __init__(self, source: str, columns: dict, lines: np.ndarray):
        self.source = source
        self.columns = columns
        self.lines = lines

    def __len__(self) -> int:
        return len(self.lines)

    def where(self, line, column: str, what: str) -> str:
        return f"{self.source}:{int(line)}: {column}: {what}"


def read_table(path, required) -> Table:
    """Read ``path`` as strings; InputError when it is missing, not UTF-8 or lacks a column."""
    source = str(path)
    try:
        with open(path, "rb") as handle:
            _check_line_lengths(source, handle)
            handle.seek(0)
            data = handle.read()
    except FileNotFoundError:
        raise InputError([f"{source}: no such file"]) from None
    except OSError as error:
        raise InputError([f"{source}: cannot read: {error.strerror}"]) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise InputError([f"{source}:{line}: not UTF-8 text"]) from None
    if text.startswith("\ufeff"):
        text = text[1:]
        data = text.encode("utf-8")
    _check_lines(source, data)
    first, _, _ = text.partition("\n")
    try:
        header = next(csv.reader([first.rstrip("\r")]), [])
    except csv.Error as error:
        raise InputError([f"{source}:1: header: {error}"]) from None
    missing = [name for name in required if name not in header]
    if not text.strip():
        raise InputError([f"{source}:1: header: the file is empty"])
    if missing:
        raise InputError([f"{source}:1: {name}: missing column" for name in missing])
    if len(set(header)) != len(header):
        raise InputError([f"{source}:1: header: duplicate column name"])
    body = text[len(first) + 1:]
    simple = '"' not in text and "\n\n" not in body and "\n\r\n" not in body and not body.startswith(("\n", "\r\n"))
    if simple:
        try:
            table = pacsv.read_csv(
                io.BytesIO(data),
                read_options=pacsv.ReadOptions(column_names=header, skip_rows=1),
                parse_options=pacsv.ParseOptions(newlines_in_values=False),
                convert_options=pacsv.ConvertOptions(
                    column_types={name: pa.string() for name in header}, strings_can_be_null=False
                ),
            )
            columns = {name: table.column(name).combine_chunks() for name in required}
            return Table(source, columns, np.arange(table.num_rows, dtype=np.int64) + 2)
        except pa.ArrowInvalid:
            pass  # a ragged row: the csv module below names its line
    return _read_slow(source, text, header, required)


def _check_line_lengths(source, handle, block: int = 8 << 20) -> None:
    """Refuse a line over MAX_LINE bytes before the file is read whole: one pass in
    blocks, so a 1 GB line costs one block of memory. Names the cell the cap falls in."""
    first = b""
    line, length = 1, 0  # the current line and its bytes so far
    while True:
        data = handle.read(block)
        if not data:
            return
        if line == 1 and len(first) < MAX_LINE:
            first += data[: MAX_LINE - len(first)]
        raw = np.frombuffer(data, np.uint8)
        ends = np.flatnonzero(raw == 10)
        lengths = np.diff(np.concatenate(([-1], ends))) - 1
        if len(lengths):
            lengths[0] += length
        tail = len(raw) - (int(ends[-1]) + 1 if len(ends) else 0) + (0 if len(ends) else length)
        long = np.flatnonzero(lengths > MAX_LINE)
        if len(long) or tail > MAX_LINE:
            k = int(long[0]) if len(long) else len(ends)
            bad_line = line + k
            handle.seek(0)
            head = _line_head(handle, bad_line)
            names = next(csv.reader([first.split(b"\n")[0].decode("utf-8", "replace").rstrip("\r")]), [])
            cell = head.count(b",") if b'"' not in head else None
            column = names[cell] if bad_line > 1 and cell is not None and cell < len(names) else (
                "header" if bad_line == 1 else "row")
            raise InputError([f"{source}:{bad_line}: {column}: value too long (the line is over {MAX_LINE:,} bytes)"])
        line += len(ends)
        length = tail


def _line_head(handle, number: int) -> bytes:
    """The first MAX_LINE bytes of line ``number`` (1-based), read in blocks."""
    line, head = 1, b""
    while True:
        data = handle.read(8 << 20)
        if not data:
            return head
        start = 0
        while line < number:
            found = data.find(b"\n", start)
            if found < 0:
                break
            line += 1
            start = found + 1
        if line == number:
            head += data[start: start + MAX_LINE - len(head)]
            if len(head) >= MAX_LINE or data.find(b"\n", start) >= 0:
                return head


def _check_lines(source, data: bytes) -> None:
    """Refuse lone CR line endings (in files without quotes), by line number."""
    if b"\r" in data and b'"' not in data:
        raw = np.frombuffer(data, np.uint8)
        ends = np.flatnonzero(raw == 10)
        cr = np.flatnonzero(raw == 13)
        lone = cr[(cr + 1 < len(raw)) & (raw[np.minimum(cr + 1, len(raw) - 1)] != 10)]
        if len(lone):
            line = int(np.searchsorted(ends, lone[0])) + 1
            where = "header" if line == 1 else "row"
            raise InputError([f"{source}:{line}: {where}: lone CR line ending; use LF or CRLF line endings"])


def _read_slow(source, text, header, required) -> Table:
    reader = csv.reader(io.StringIO(text, newline=""))
    next(reader)
    index = [header.index(name) for name in required]
    cells = [[] for _ in required]
    lines, errors = [], []
    start = reader.line_num + 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as error:  # e.g. a line break inside an unquoted cell of a quoted file
            raise InputError([f"{source}:{reader.line_num}: row: {error}"]) from None
        line, start = start, reader.line_num + 1
        if not row or row == [""]:
            continue
        if len(row) != len(header):
            errors.append(f"{source}:{line}: row: expected {len(header)} cells, got {len(row)}")
            continue
        for k, j in enumerate(index):
            cells[k].append(row[j])
        lines.append(line)
    if errors:
        raise InputError(errors)
    columns = {name: pa.array(cells[k], type=pa.string()) for k, name in enumerate(required)}
    return Table(source, columns, np.asarray(lines, dtype=np.int64))


def int_cells(column: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(values, ok): integers ``[+-]?[0-9]+`` within int64 (at most 18 digits); 0 where not ok."""
    ok = pc.match_substring_regex(column, INT_RE).to_numpy(zero_copy_only=False)
    values = np.zeros(len(column), dtype=np.int64)
    if ok.any():
        good = pc.replace_substring_regex(column.filter(pa.array(ok)), r"^\+", "")
        values[ok] = pc.cast(good, pa.int64()).to_numpy()
    return values, ok


def distinct_cells(column: pa.Array, parse) -> tuple[list, dict, np.ndarray]:
    """Apply ``parse(text) -> value`` (raising ValueError(why)) once per distinct text.

    Returns (value per distinct text, {distinct index: why} for failures, distinct index per row).
    """
    encoded = pc.dictionary_encode(column)
    values, why = [], {}
    for k, text in enumerate(encoded.dictionary.to_pylist()):
        try:
            values.append(parse(text))
        except ValueError as error:
            values.append(None)
            why[k] = str(error) or "invalid"
    return values, why, encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)


def exact_decimal(text: str) -> Decimal:
    """A plain decimal (digits with an optional point); ValueError naming the text otherwise."""
    import re

    if not re.fullmatch(DECIMAL_RE, text):
        raise ValueError(f"{shown(text)!r} is not a plain decimal number")
    try:
        return Decimal(text)
    except InvalidOperation:
        raise ValueError(f"{shown(text)!r} is not a decimal number") from None


def cell_errors(table: Table, column: str, bad: np.ndarray, what) -> list[tuple[int, int, str]]:
    """(line, column order, message) for each bad row; ``what(row_index, text)`` says why."""
    rows = np.flatnonzero(bad)
    if not len(rows):
        return []
    texts = table.columns[column].take(pa.array(rows)).to_pylist()
    return [(int(table.lines[r]), column, table.where(table.lines[r], column, what(int(r), shown(t))))
            for r, t in zip(rows, texts)]


# ------------------------------------------------------------------ writing
def int_text(values: np.ndarray) -> pa.Array:
    return pc.cast(pa.array(np.asarray(values, dtype=np.int64)), pa.string())


def money_text(micros: np.ndarray) -> pa.Array:
    """Micro-dollars as dollars with exactly 6 decimals (``-1.500000``), exactly."""
    micros = np.asarray(micros, dtype=np.int64)
    magnitude = np.abs(micros)
    whole = int_text(magnitude // 1_000_000)
    frac = pc.utf8_lpad(int_text(magnitude % 1_000_000), width=6, padding="0")
    sign = pa.array(np.where(micros < 0, "-", ""), type=pa.string())
    return pc.binary_join_element_wise(sign, whole, ".", frac, "")  # "" joins with no separator


def text_column(values) -> pa.Array:
    """Strings with minimal CSV quoting (only where a comma, quote or newline needs it)."""
    array = values if isinstance(values, (pa.Array, pa.ChunkedArray)) else pa.array(values, type=pa.string())
    encoded = pc.dictionary_encode(array)
    quoted = [quote(s) for s in encoded.dictionary.to_pylist()]
    return pa.array(quoted, type=pa.string()).take(encoded.indices)


def quote(text: str) -> str:
    """Minimal CSV quoting: only a cell holding a comma, quote or line break is quoted."""
    if any(ch in text for ch in ',"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


def csv_text(header: list[str], columns: list) -> str:
    """CSV text (LF endings) from a header and equal-length string arrays."""
    lines = [",".join(header)]
    if columns and len(columns[0]):
        joined = pc.binary_join_element_wise(*columns, ",")
        lines.append("\n".join(joined.to_pylist()))
    return "\n".join(lines) + "\n"


def write_lines_atomically(path, header: list[str], chunks) -> None:
    """Stream CSV to ``path`` atomically: ``chunks`` yields bytes of whole lines (LF
    endings); everything goes to a temporary name, renamed only when complete."""
    directory = os.path.dirname(os.path.abspath(path))
    mask = os.umask(0)
    os.umask(mask)
    handle, temp = tempfile.mkstemp(prefix=".tmp-", suffix=".csv", dir=directory)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write((",".join(header) + "\n").encode())
            for chunk in chunks:
                out.write(chunk)
        os.chmod(temp, 0o666 & ~mask)
        os.replace(temp, path)
    except BaseException:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise
