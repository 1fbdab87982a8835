"""Numba kernel of docs/RULES.md §7: a block of periods x the contracts given, integers only.

The caller may pass slices of the contract columns (a block of contracts) with the
matching slices of the bank and the metering grid; the kernel never looks beyond them.

Loops run period-outer, contract-inner, so per-contract state (the make-up
bank) carries from one period to the next and a block of n periods equals n
blocks of one. The bank of contract c is a ring of ``M = min(makeup_periods, P)``
slots: at period t slot ``(t + k) % M`` holds what is left of period
``t - M + k``'s deficiency (k = 0 is the oldest); after make-up the oldest
slot expires and takes period t's deficiency.

Money is int64 micro-dollars; every division floors (all operands are
non-negative) except ``minimum``, a ceiling.
"""
from __future__ import annotations

import numba as nb
import numpy as np

BP = 10_000

# Statement columns of ``lines[i, col, c]`` (period t0 + i, contract c).
LINE_COLUMNS = (
    "active", "metered", "available_hours", "used_hours", "goodput_bp", "sched", "avail", "undelivered",
    "taken", "minimum", "deficiency", "excess", "bank_before", "makeup", "bank_after", "billable",
    "charge", "sla", "goodput_cr", "credit", "net", "fee_each", "buyer_pays", "provider_receives",
)
COL = {name: k for k, name in enumerate(LINE_COLUMNS)}
NCOL = len(LINE_COLUMNS)
# Per (period, party) sums in ``party_sums[i, party, k]``.
PAID, RECEIVED, FEES, LINES = 0, 1, 2, 3


@nb.njit(cache=True, nogil=True)
def settle_block(t0, qty, periods, p, floor_bp, take_or_pay, makeup_periods, sla_credit, credit_cap, fee,
                 buyer, provider, m_avail, m_used, m_goodput, bank, party_sums, lines):
    """Settle periods ``t0 .. t0 + n - 1`` (n = m_avail.shape[0]) for every contract.

    ``m_*[i, c]``: metering of period t0 + i; ``m_avail < 0`` means no row.
    ``bank[c, :M]`` is updated in place; ``party_sums`` is added to;
    ``lines`` (shape (n, NCOL, C), or (0, 0, 0) to skip) receives every quantity.
    """
    n = m_avail.shape[0]
    detail = lines.shape[0] > 0
    for i in range(n):
        t = t0 + i
        for c in range(qty.shape[0]):
            P = periods[c]
            if t >= P:
                continue
            q = qty[c]
            sched = q // P + (1 if t < q % P else 0)
            metered = m_avail[i, c] >= 0
            if metered:
                a_hours, u_hours, g = m_avail[i, c], m_used[i, c], m_goodput[i, c]
            else:
                a_hours, u_hours, g = sched, 0, floor_bp[c]
            avail = min(a_hours, sched)
            undelivered = sched - avail
            taken = min(u_hours, avail)
            minimum = (avail * take_or_pay[c] + BP - 1) // BP
            deficiency = max(0, minimum - taken)
            excess = max(0, taken - minimum)

            M = min(makeup_periods[c], P)
            before = 0
            for k in range(M):
                before += bank[c, k]
            left = excess
            for k in range(M):  # oldest first
                j = (t + k) % M
                use = min(left, bank[c, j])
                bank[c, j] -= use
                left -= use
            makeup = excess - left
            after = 0
            if M > 0:
                bank[c, t % M] = deficiency  # the oldest entry expires; this period's deficiency enters
                for k in range(M):
                    after += bank[c, k]

            billable = max(taken, minimum) - makeup
            price = p[c]
            charge = billable * price
            sla = undelivered * price * sla_credit[c] // BP
            fl = floor_bp[c]
            goodput_cr = taken * price * (fl - g) // fl if g < fl else 0
            credit = min(sla + goodput_cr, charge * credit_cap[c] // BP)
            net = charge - credit
            fee_each = net * fee[c] // BP
            pays = net + fee_each
            receives = net - fee_each

            b, s = buyer[c], provider[c]
            party_sums[i, b, PAID] += pays
            party_sums[i, s, RECEIVED] += receives
            party_sums[i, b, FEES] += fee_each
            party_sums[i, s, FEES] += fee_each
            party_sums[i, b, LINES] += 1
            if s != b:
                party_sums[i, s, LINES] += 1

            if detail:
                row = lines[i]
                row[0, c] = 1
                row[1, c] = 1 if metered else 0
                row[2, c] = a_hours
                row[3, c] = u_hours
                row[4, c] = g
                row[5, c] = sched
                row[6, c] = avail
                row[7, c] = undelivered
                row[8, c] = taken
                row[9, c] = minimum
                row[10, c] = deficiency
                row[11, c] = excess
                row[12, c] = before
                row[13, c] = makeup
                row[14, c] = after
                row[15, c] = billable
                row[16, c] = charge
                row[17, c] = sla
                row[18, c] = goodput_cr
                row[19, c] = credit
                row[20, c] = net
                row[21, c] = fee_each
                row[22, c] = pays
                row[23, c] = receives


def no_lines() -> np.ndarray:
    return np.zeros((0, 0, 0), dtype=np.int64)
