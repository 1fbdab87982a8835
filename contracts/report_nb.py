"""Numba kernel writing ``statements.csv`` lines (docs/RULES.md §7) into a reused byte buffer.

It reads the settlement kernel's line matrix (``settle_nb.LINE_COLUMNS`` by
contract) and the contract columns directly and writes digits straight into
``out``: no Python object per line, no gathered copy of the columns. Names come
from one byte dictionary (already CSV-quoted where a name needs it). Money is µ$
printed as dollars with exactly 6 decimals (``-1.500000``). The digits are the replay
writers' (``exchange.files.writers.put_int``/``put_fixed``), so both layers print numbers alike.

Cost: O(bytes written); about 200 bytes per statement line.
"""
from __future__ import annotations

import numba as nb

from exchange.files.writers import put_fixed, put_int, put_word

from .settle_nb import COL

CELL_BYTES = 22  # the widest number: a sign and 20 digits, or a sign, 13 digits, a point and 6
MONEY_FROM = COL["charge"]  # line rows from here on are money
FIRST_INT, LAST_INT = COL["sched"], COL["billable"]


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
        pos = put_int(out, pos, trade_id[c])
        out[pos] = 44
        pos = put_int(out, pos + 1, period)
        out[pos] = 44
        pos = put_word(out, pos + 1, words, offs, b_ins + instrument[c])
        out[pos] = 44
        pos = put_word(out, pos + 1, words, offs, b_party + buyer[c])
        out[pos] = 44
        pos = put_word(out, pos + 1, words, offs, b_party + provider[c])
        out[pos] = 44
        pos = put_word(out, pos + 1, words, offs, b_grade + grade[c])
        out[pos] = 44
        pos = put_fixed(out, pos + 1, p[c], 6)
        for row in range(1, FIRST_INT):  # metered, available_hours, used_hours, goodput_bp
            out[pos] = 44
            pos = put_int(out, pos + 1, lines[row, j])
        out[pos] = 44
        pos = put_int(out, pos + 1, floor_bp[c])
        for row in range(FIRST_INT, LAST_INT + 1):  # sched .. billable
            out[pos] = 44
            pos = put_int(out, pos + 1, lines[row, j])
        for row in range(MONEY_FROM, lines.shape[0]):  # charge .. provider_receives
            out[pos] = 44
            pos = put_fixed(out, pos + 1, lines[row, j], 6)
        out[pos] = 10
        pos += 1
    return pos
