"""The four settlement outputs of docs/RULES.md §7, as CSV text, written atomically.

Money is dollars with 6 decimals, hours and bp are integers, LF endings.
Choices where docs/RULES.md leaves room:

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
"""
from __future__ import annotations

import os

import numpy as np
import pyarrow as pa

from . import settle_nb
from .csvio import csv_text, int_text, money_text, text_column, write_atomically

STATEMENT_COLUMNS = (
    "trade_id", "period", "instrument", "buyer", "provider", "grade", "p", "metered", "available_hours",
    "used_hours", "goodput_bp", "floor_bp", "sched", "avail", "undelivered", "taken", "minimum",
    "deficiency", "excess", "bank_before", "makeup", "bank_after", "billable", "charge", "sla",
    "goodput_cr", "credit", "net", "fee_each", "buyer_pays", "provider_receives",
)
MONEY = {"p", "charge", "sla", "goodput_cr", "credit", "net", "fee_each", "buyer_pays", "provider_receives"}
PARTY_COLUMNS = ("party", "period", "paid", "received", "fees", "net")
NETTING_COLUMNS = ("period", "party", "net_position", "gross_flows", "net_flows")
OBLIGATION_COLUMNS = ("buyer", "provider", "contracts", "min_hours", "obligation")
FILES = ("statements.csv", "parties.csv", "netting.csv", "obligations.csv")


def _names(names, index) -> pa.Array:
    return text_column(pa.array(list(names), type=pa.string()).take(pa.array(np.asarray(index, np.int64))))


def statements_csv(settlement) -> str:
    c = settlement.contracts
    parts = []
    for result in settlement.results:
        if result.lines is None:
            raise ValueError("statements need a Settlement with keep_lines=True")
        k = result.contract
        cols = []
        for name in STATEMENT_COLUMNS:
            if name == "trade_id":
                values = int_text(c.trade_id[k])
            elif name == "period":
                values = int_text(np.full(len(k), result.period))
            elif name == "instrument":
                values = _names([i.symbol for i in c.config.instruments], c.instrument[k])
            elif name in ("buyer", "provider"):
                values = _names(c.parties, (c.buyer if name == "buyer" else c.provider)[k])
            elif name == "grade":
                values = _names([g.name for g in c.config.grades], c.grade[k])
            elif name == "p":
                values = money_text(c.p[k])
            elif name == "floor_bp":
                values = int_text(c.floor_bp[k])
            else:
                data = result.lines[name]
                values = money_text(data) if name in MONEY else int_text(data)
            cols.append(values)
        parts.append(cols)
    columns = [pa.concat_arrays([p[j] for p in parts]) for j in range(len(STATEMENT_COLUMNS))] if parts else []
    return csv_text(list(STATEMENT_COLUMNS), columns)


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
    return tuple(np.concatenate([r[j] for r in rows]) for j in range(5))


def parties_csv(settlement) -> str:
    period, party, paid, received, fees = _party_rows(settlement)
    cols = [_names(settlement.contracts.parties, party), int_text(period), money_text(paid),
            money_text(received), money_text(fees), money_text(received - paid)]
    return csv_text(list(PARTY_COLUMNS), cols)


def netting_csv(settlement) -> str:
    period, party, paid, received, _ = _party_rows(settlement)
    names = [text_column(pa.array(list(settlement.contracts.parties), type=pa.string())).to_pylist()[k]
             for k in party.tolist()] if len(party) else []
    position, gross = received - paid, received + paid
    rows_period, rows_party, rows_pos, rows_gross, rows_net = [], [], [], [], []
    for t in np.unique(period).tolist():
        sel = np.flatnonzero(period == t)
        for k in sel.tolist():
            rows_period.append(t), rows_party.append(names[k])
            rows_pos.append(position[k]), rows_gross.append(gross[k]), rows_net.append(abs(position[k]))
        rows_period.append(t), rows_party.append("*")
        rows_pos.append(position[sel].sum()), rows_gross.append(gross[sel].sum())
        rows_net.append(np.abs(position[sel]).sum())
    cols = [int_text(np.array(rows_period, np.int64)), pa.array(rows_party, type=pa.string()),
            money_text(np.array(rows_pos, np.int64)), money_text(np.array(rows_gross, np.int64)),
            money_text(np.array(rows_net, np.int64))]
    return csv_text(list(NETTING_COLUMNS), cols)


def obligations_csv(settlement) -> str:
    buyer, provider, count, hours, money = settlement.obligations()
    cols = [_names(settlement.contracts.parties, buyer), _names(settlement.contracts.parties, provider),
            int_text(count), int_text(hours), money_text(money)]
    return csv_text(list(OBLIGATION_COLUMNS), cols)


def render(settlement) -> dict:
    """{file name: CSV text} for the four outputs."""
    return {
        "statements.csv": statements_csv(settlement),
        "parties.csv": parties_csv(settlement),
        "netting.csv": netting_csv(settlement),
        "obligations.csv": obligations_csv(settlement),
    }


def write_reports(settlement, out_dir) -> dict:
    """Render everything first, then write the four files atomically into ``out_dir``."""
    texts = render(settlement)
    os.makedirs(out_dir, exist_ok=True)
    write_atomically({os.path.join(out_dir, name): text for name, text in texts.items()})
    return texts
