"""The four settlement outputs of docs/RULES.md §7, as CSV text, written atomically.

Money is dollars with 6 decimals, hours and bp are integers, LF endings.
Choices where the rules leave room:

- ``statements.csv``: ``p`` is the price in dollars per GPU-hour (6 decimals);
  ``metered`` is 1 when a metering row was given, 0 when the line uses the
  missing-row defaults (which are what ``available_hours``, ``used_hours`` and
  ``goodput_bp`` then show).
- ``parties.csv``: a party is listed in a period when it is buyer or provider
  of a contract active in that period. ``paid`` = what it pays as buyer
  (net + fee_each), ``received`` = what it receives as provider
  (net - fee_each), ``fees`` = the fee_each it bears on every side it is on
  (so a party on both sides of a contract bears two), ``net`` = received - paid.
- ``netting.csv``: ``net_position`` = received - paid against the exchange as
  central counterparty; ``gross_flows`` = paid + received (what would move
  without netting); ``net_flows`` = |net_position| (the one payment that
  settles it). The ``*`` row per period sums each column; its net_position is
  minus the fees the exchange keeps.
- ``obligations.csv``: ``contracts`` counts all of the pair's contracts (also
  those whose window has ended); ``min_hours`` and ``obligation`` cover the
  periods after the last settled one at full availability, without make-up.
  Sorted by buyer then provider.

Streaming: ``write_outputs`` settles and writes period by period. Statement lines
come from the settlement kernel a block of contracts at a time (``LineBlock``) and
are formatted by the Numba kernel of ``report_nb`` (digits written into a reused
byte buffer, no Python object per line) or appended to a Parquet file as one
record batch per block, so memory does not grow with the number of lines.

Parquet (``fmt="parquet"``): the same four tables with the same columns. Names are
strings; hours, bp, counts and periods int64; **money is int64 micro-dollars** (µ$,
the unit of docs/RULES.md §2: ``p``, ``charge`` ... ``provider_receives``, ``paid``,
``received``, ``fees``, ``net``, ``net_position``, ``gross_flows``, ``net_flows``,
``obligation``), exact, never float; each money field carries the metadata
``unit = micro-dollars`` and the schema ``money = int64 micro-dollars``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa

from exchange.files import atomic_dir

from . import report_nb, settle_nb
from .csvio import csv_text, int_text, money_text, quote, text_column
from .settlement import LineBlock

STATEMENT_COLUMNS = (
    "trade_id", "period", "instrument", "buyer", "provider", "grade", "p", "metered", "available_hours",
    "used_hours", "goodput_bp", "floor_bp", "sched", "avail", "undelivered", "taken", "minimum",
    "deficiency", "excess", "bank_before", "makeup", "bank_after", "billable", "charge", "sla",
    "goodput_cr", "credit", "net", "fee_each", "buyer_pays", "provider_receives",
)
MONEY = {"p", "charge", "sla", "goodput_cr", "credit", "net", "fee_each", "buyer_pays", "provider_receives",
         "paid", "received", "fees", "net_position", "gross_flows", "net_flows", "obligation"}
TEXT = {"instrument", "buyer", "provider", "grade", "party"}
PARTY_COLUMNS = ("party", "period", "paid", "received", "fees", "net")
NETTING_COLUMNS = ("period", "party", "net_position", "gross_flows", "net_flows")
OBLIGATION_COLUMNS = ("buyer", "provider", "contracts", "min_hours", "obligation")
REPORTS = ("statements", "parties", "netting", "obligations")
FILES = tuple(f"{name}.csv" for name in REPORTS)
FORMATS = ("csv", "parquet")
OUTPUT_NAMES = tuple(f"{name}.{fmt}" for fmt in FORMATS for name in REPORTS)  # what a run may replace


# ------------------------------------------------------------ statements
class StatementFormatter:
    """Statement lines of ``LineBlock``s as CSV bytes (``report_nb`` kernel) or an Arrow batch."""

    def __init__(self, contracts):
        c = self.contracts = contracts
        self.words = {
            "instrument": tuple(i.symbol for i in c.config.instruments),
            "buyer": tuple(c.parties), "provider": tuple(c.parties),
            "grade": tuple(g.name for g in c.config.grades),
        }
        entries = [quote(w).encode("utf-8") for key in ("instrument", "buyer", "grade") for w in self.words[key]]
        self.bases = np.array([0, len(self.words["instrument"]), len(self.words["instrument"]) + len(c.parties)],
                              np.int64)
        self.offs = np.zeros(len(entries) + 1, np.int64)
        self.offs[1:] = np.cumsum([len(e) for e in entries]) if entries else []
        self.dictionary = np.frombuffer(b"".join(entries) or b"\0", np.uint8).copy()
        self.line_bytes = (len(STATEMENT_COLUMNS) * (report_nb.CELL_BYTES + 1)
                           + 4 * max((len(e) for e in entries), default=0))
        self.header = (",".join(STATEMENT_COLUMNS) + "\n").encode()

    def csv(self, block: LineBlock, out: np.ndarray | None = None) -> memoryview:
        """The block's CSV lines (no header), formatted into ``out`` (grown if too small;
        a new buffer when None); the view is valid until ``out`` is reused."""
        need = len(block.contract) * self.line_bytes
        if out is None or len(out) < need:
            out = np.empty(need, np.uint8)
        c = self.contracts
        used = report_nb.statement_lines(block.period, block.contract, block.lines, c.trade_id, c.instrument,
                                         c.buyer, c.provider, c.grade, c.p, c.floor_bp, self.dictionary,
                                         self.offs, self.bases, out)
        return memoryview(out)[:used]

    def values(self, block: LineBlock) -> dict:
        """{column: int64 values (codes for names)} of the block's lines."""
        c, k = self.contracts, block.contract
        out = {"trade_id": c.trade_id[k], "period": np.full(len(k), block.period, np.int64),
               "instrument": c.instrument[k], "buyer": c.buyer[k], "provider": c.provider[k],
               "grade": c.grade[k], "p": c.p[k], "floor_bp": c.floor_bp[k]}
        for name in STATEMENT_COLUMNS:
            if name not in out:
                out[name] = block.column(name)
        return out

    def arrow(self, block: LineBlock) -> pa.RecordBatch:
        values = self.values(block)
        arrays = [pa.array(list(self.words[name]), pa.string()).take(pa.array(values[name].astype(np.int64)))
                  if name in TEXT else pa.array(np.asarray(values[name], np.int64))
                  for name in STATEMENT_COLUMNS]
        return pa.RecordBatch.from_arrays(arrays, schema=arrow_schema(STATEMENT_COLUMNS))


def arrow_schema(columns) -> pa.Schema:
    """Strings for names, int64 for the rest; money fields marked as micro-dollars."""
    fields = [pa.field(name, pa.string()) if name in TEXT else
              pa.field(name, pa.int64(), metadata={"unit": "micro-dollars"} if name in MONEY else None)
              for name in columns]
    return pa.schema(fields, metadata={"money": "int64 micro-dollars (1 dollar = 1,000,000)"})


class StatementSink:
    """Writes statement lines to ``path`` (CSV or Parquet) as the settlement hands them over.

    CSV: each block is formatted into one of two reused buffers while a writer thread
    writes the other one (the kernel and the file write both run without the GIL).
    Parquet: one record batch (row group) per block.
    """

    def __init__(self, contracts, path, fmt: str = "csv"):
        self.formatter = StatementFormatter(contracts)
        self.fmt = fmt
        self.lines = 0
        self.pending = [None, None]  # the write in flight from each buffer
        self.buffers = [np.empty(0, np.uint8), np.empty(0, np.uint8)]
        self.turn = 0
        if fmt == "csv":
            from concurrent.futures import ThreadPoolExecutor

            self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="statements-writer")
            self.handle = open(path, "wb")  # noqa: SIM115 - closed by close()
            self.handle.write(self.formatter.header)
        else:
            import pyarrow.parquet as pq

            self.pool = None
            self.handle = pq.ParquetWriter(path, arrow_schema(STATEMENT_COLUMNS))

    def __call__(self, block: LineBlock) -> None:
        self.lines += len(block.contract)
        if self.fmt != "csv":
            self.handle.write_batch(self.formatter.arrow(block))
            return
        k = self.turn
        self.turn = 1 - k
        if self.pending[k] is not None:
            self.pending[k].result()  # that buffer's bytes are on their way to the file
        need = len(block.contract) * self.formatter.line_bytes
        if len(self.buffers[k]) < need:
            self.buffers[k] = np.empty(need, np.uint8)
        view = self.formatter.csv(block, self.buffers[k])
        self.pending[k] = self.pool.submit(self.handle.write, view)

    def close(self) -> None:
        try:
            for future in self.pending:
                if future is not None:
                    future.result()
        finally:
            if self.pool is not None:
                self.pool.shutdown()
            self.handle.close()


def _kept_blocks(settlement):
    """LineBlocks rebuilt from results that kept their lines."""
    for result in settlement.results:
        if result.lines is None:
            raise ValueError("statements need a Settlement with keep_lines=True")
        lines = np.stack([np.ones(len(result.contract), np.int64) if name == "active" else result.lines[name]
                          for name in settle_nb.LINE_COLUMNS]) if len(result.contract) else None
        if lines is not None:
            yield LineBlock(result.period, result.contract, lines)


def statements_csv(settlement) -> str:
    formatter = StatementFormatter(settlement.contracts)
    parts = [formatter.header] + [bytes(formatter.csv(block)) for block in _kept_blocks(settlement)]
    return b"".join(parts).decode("utf-8")


# ------------------------------------------------------------ the small reports
def _party_rows(settlement):
    """(period, party index, paid, received, fees) for every listed party, sorted."""
    rows = []
    for result in settlement.results:
        sums = result.party_sums
        listed = np.flatnonzero(sums[:, settle_nb.LINES] > 0)
        rows.append((np.full(len(listed), result.period), listed, sums[listed, settle_nb.PAID],
                     sums[listed, settle_nb.RECEIVED], sums[listed, settle_nb.FEES]))
    if not rows:
        z = np.zeros(0, np.int64)
        return z, z, z, z, z
    return tuple(np.concatenate([r[j] for r in rows]).astype(np.int64) for j in range(5))


def parties_table(settlement) -> dict:
    """{column: values}: names as a list of str, the rest int64 (money in µ$)."""
    period, party, paid, received, fees = _party_rows(settlement)
    names = settlement.contracts.parties
    return {"party": [names[k] for k in party.tolist()], "period": period, "paid": paid, "received": received,
            "fees": fees, "net": received - paid}


def netting_table(settlement) -> dict:
    period, party, paid, received, _ = _party_rows(settlement)
    names = settlement.contracts.parties
    position, gross = received - paid, received + paid
    rows_period, rows_party, rows_pos, rows_gross, rows_net = [], [], [], [], []
    for t in np.unique(period).tolist():
        sel = np.flatnonzero(period == t)
        for k in sel.tolist():
            rows_period.append(t), rows_party.append(names[party[k]])
            rows_pos.append(position[k]), rows_gross.append(gross[k]), rows_net.append(abs(position[k]))
        rows_period.append(t), rows_party.append("*")
        rows_pos.append(position[sel].sum()), rows_gross.append(gross[sel].sum())
        rows_net.append(np.abs(position[sel]).sum())
    as_int = lambda v: np.array(v, np.int64)
    return {"period": as_int(rows_period), "party": rows_party, "net_position": as_int(rows_pos),
            "gross_flows": as_int(rows_gross), "net_flows": as_int(rows_net)}


def obligations_table(settlement) -> dict:
    buyer, provider, count, hours, money = settlement.obligations()
    names = settlement.contracts.parties
    return {"buyer": [names[k] for k in buyer.tolist()], "provider": [names[k] for k in provider.tolist()],
            "contracts": np.asarray(count, np.int64), "min_hours": np.asarray(hours, np.int64),
            "obligation": np.asarray(money, np.int64)}


def _table_csv(columns, table: dict) -> str:
    cols = []
    for name in columns:
        values = table[name]
        if name in TEXT:
            cols.append(text_column(pa.array(values, type=pa.string())))
        elif name in MONEY:
            cols.append(money_text(values))
        else:
            cols.append(int_text(values))
    return csv_text(list(columns), cols)


def _table_arrow(columns, table: dict) -> pa.Table:
    arrays = [pa.array(table[name], pa.string()) if name in TEXT else pa.array(np.asarray(table[name], np.int64))
              for name in columns]
    return pa.Table.from_arrays(arrays, schema=arrow_schema(columns))


def parties_csv(settlement) -> str:
    return _table_csv(PARTY_COLUMNS, parties_table(settlement))


def netting_csv(settlement) -> str:
    return _table_csv(NETTING_COLUMNS, netting_table(settlement))


def obligations_csv(settlement) -> str:
    return _table_csv(OBLIGATION_COLUMNS, obligations_table(settlement))


SMALL_REPORTS = (("parties", PARTY_COLUMNS, parties_table), ("netting", NETTING_COLUMNS, netting_table),
                 ("obligations", OBLIGATION_COLUMNS, obligations_table))


def render(settlement) -> dict:
    """{file name: CSV text} for the four outputs (the settlement must keep its lines)."""
    return {
        "statements.csv": statements_csv(settlement),
        "parties.csv": parties_csv(settlement),
        "netting.csv": netting_csv(settlement),
        "obligations.csv": obligations_csv(settlement),
    }


def write_small_reports(settlement, directory, fmt: str = "csv") -> list[str]:
    """parties, netting and obligations into ``directory``; returns the file names."""
    import pyarrow.parquet as pq

    written = []
    for name, columns, build in SMALL_REPORTS:
        path = Path(directory) / f"{name}.{fmt}"
        table = build(settlement)
        if fmt == "csv":
            path.write_bytes(_table_csv(columns, table).encode("utf-8"))
        else:
            pq.write_table(_table_arrow(columns, table), path)
        written.append(path.name)
    return written


def write_outputs(settlement, out_dir, last: int | None = None, fmt: str = "csv") -> dict:
    """Settle through ``last`` (None: settle nothing more) and write the four reports.

    Statements are streamed as the kernel makes them; all four files are written
    into a staging directory that replaces ``out_dir`` as a whole
    (``exchange.files.atomic_dir``). Returns {"files": [names], "lines": statement lines}.
    Raises ``atomic_dir.OutputDirError`` when ``out_dir`` cannot be replaced.
    """
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    with atomic_dir.replace(out_dir, owns=OUTPUT_NAMES) as stage:
        sink = StatementSink(settlement.contracts, stage / f"statements.{fmt}", fmt)
        try:
            if last is not None and last >= settlement.next_period:
                settlement.settle_through(last, sink=sink)
        finally:
            sink.close()
        files = [f"statements.{fmt}"] + write_small_reports(settlement, stage, fmt)
    return {"files": files, "lines": sink.lines}


def write_reports(settlement, out_dir) -> dict:
    """Render the four CSV outputs of a settlement that kept its lines and replace
    ``out_dir`` with them as a whole; returns {file name: text}."""
    texts = render(settlement)
    with atomic_dir.replace(out_dir, owns=OUTPUT_NAMES) as stage:
        for name, text in texts.items():
            (Path(stage) / name).write_bytes(text.encode("utf-8"))
    return texts
