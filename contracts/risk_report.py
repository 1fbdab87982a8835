"""The outputs of ``compute-exchange risk`` (docs/RULES.md §8) as CSV text, and the summary.

``clearing.csv`` (one row per party, code-point order), ``rounds.csv`` (one row
per round that adds defaulters) and, with compression, ``components.csv``.
Money is dollars with 6 decimals, LF endings; amounts are the floors of the
clearing's values in µ$, and shortfall, lost and equity are computed from those
printed values.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from exchange.units import micros_text

from .clearing import Clearing
from .compression import Compression
from .csvio import csv_text, int_text, money_text, text_column

CLEARING_COLUMNS = ("party", "cash", "external_debt", "owed", "receivable", "received", "paid", "shortfall",
                    "lost", "equity", "default_round")
ROUNDS_COLUMNS = ("round", "new_defaults", "defaulted", "shortfall")
COMPONENTS_COLUMNS = ("component", "parties", "gross", "compressed", "circular_share")


def clearing_csv(result: Clearing) -> str:
    net = result.network
    columns = [text_column(list(net.parties))] + [money_text(v) for v in (
        net.cash, net.external_debt, net.owed, net.receivable, result.received, result.paid, result.shortfall,
        result.lost, result.equity)] + [int_text(result.default_round)]
    return csv_text(list(CLEARING_COLUMNS), columns)


def rounds_csv(result: Clearing) -> str:
    rows = result.rounds
    columns = [int_text(np.array([getattr(r, name) for r in rows], np.int64)) for name in ROUNDS_COLUMNS[:3]]
    columns.append(money_text(np.array([r.shortfall for r in rows], np.int64)))
    return csv_text(list(ROUNDS_COLUMNS), columns)


def components_csv(report: Compression) -> str:
    rows = [(str(c.component), c.parties, c.gross, c.compressed, c.circular_share_micros) for c in report.components]
    rows.append(("*", report.parties, report.gross, report.compressed, report.circular_share_micros))
    columns = [pa.array([r[0] for r in rows], type=pa.string()), int_text(np.array([r[1] for r in rows], np.int64))]
    columns += [money_text(np.array([r[k] for r in rows], np.int64)) for k in (2, 3, 4)]
    return csv_text(list(COMPONENTS_COLUMNS), columns)


def dollars(micros: int) -> str:
    """µ$ as $1,234.567890 (for people, not files)."""
    sign = "-" if micros < 0 else ""
    return f"{sign}${micros_text(abs(int(micros)), grouping=True)}"


def summary(result: Clearing, report: Compression | None = None, shocks: dict | None = None) -> str:
    """What the command prints: parties, gross, defaults per round, shortfall and its share, losses."""
    net = result.network
    owed = int(net.owed.sum())
    shortfall = int(result.shortfall.sum())
    lost = int(result.lost.sum())
    share = _percent(shortfall * 1_000_000 // owed if owed else 0)
    lines = [f"parties: {len(net):,}, obligations: {len(net.amount):,} pairs, gross {dollars(net.gross)}"]
    if shocks:
        lines.append("shocks: " + ", ".join(f"{party} -{bp} bp" for party, bp in shocks.items()))
    lines.append(f"clearing: alpha {result.alpha_bp} bp, beta {result.beta_bp} bp ({result.method} path)")
    if result.rounds:
        for r in result.rounds:
            names = [net.parties[k] for k in np.flatnonzero(result.default_round == r.round)[:8].tolist()]
            more = f" (+{r.new_defaults - len(names)} more)" if r.new_defaults > len(names) else ""
            lines.append(f"  round {r.round}: {r.new_defaults} default ({', '.join(names)}{more}), "
                         f"{r.defaulted} so far, shortfall {dollars(r.shortfall)}")
    else:
        lines.append("  nobody defaults")
    lines.append(f"total shortfall: {dollars(shortfall)} ({share} of {dollars(owed)} owed)")
    lines.append(f"lost to bankruptcy costs: {dollars(lost)}")
    if report is not None:
        lines.append(f"compression: {len(report.components)} circular components, gross {dollars(report.gross)} "
                     f"-> {dollars(report.compressed)} (circular share {_percent(report.circular_share_micros)})")
    return "\n".join(lines)


def _percent(millionths: int) -> str:
    """A share in millionths as a percentage with 4 decimals, rounded down (integers only)."""
    return f"{millionths // 10_000}.{millionths % 10_000:04d} %"
