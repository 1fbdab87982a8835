"""One pass over an action array before ``Exchange.apply`` or ``run_batch`` runs it.

The checks ``apply`` makes (codes in range, ts not going back) and the seq numbering,
in one compiled loop over the rows: about 1 ns a row, where the same checks as numpy
reductions over the structured columns cost about 20 us per 1,000 rows.
"""
from exchange.nb.kernel import kernel
from exchange.schema import ACT_NEW, STP_CANCEL_BOTH, STP_CANCEL_INCOMING

BAD_PARTY = 1
BAD_INSTRUMENT = 2
BAD_STP = 3
BAD_TS = 4


@kernel
def check_and_number(actions, n_parties, n_instruments, last_ts, first_seq):
    """Returns (problems, highest order id). ``problems`` is 0 after writing seqs first_seq,
    first_seq + 1, ... into the rows; else a bit set of (1 << BAD_*) for every kind of
    problem found, with no row changed (the caller reports them in its own order)."""
    ts = last_ts
    highest = 0
    problems = 0
    for i in range(actions.shape[0]):
        a = actions[i]
        if a.party < -1 or a.party >= n_parties:
            problems |= 1 << BAD_PARTY
        if a.instrument >= n_instruments:
            problems |= 1 << BAD_INSTRUMENT
        if a.action == ACT_NEW and (a.stp < STP_CANCEL_INCOMING or a.stp > STP_CANCEL_BOTH):
            problems |= 1 << BAD_STP
        if a.ts < ts:
            problems |= 1 << BAD_TS
        ts = a.ts
        highest = max(highest, a.order_id)
    if problems == 0:
        for i in range(actions.shape[0]):
            actions[i].seq = first_seq + i
    return problems, highest


@kernel
def batch_facts(actions):
    """What ``run_batch`` checks and sizes by, in one pass over the rows (about 1 ns a row;
    the same as numpy reductions over the structured columns cost some 10 ns): (lowest
    party, highest party, highest instrument, 1 if a ``new`` row's stp is not a code else
    0, ``new`` rows, highest order id). Needs at least one row."""
    first = actions[0]
    low_party, high_party, high_instrument, highest = first.party, first.party, first.instrument, first.order_id
    bad_stp, n_new = 0, 0
    for i in range(actions.shape[0]):
        a = actions[i]
        low_party = min(low_party, a.party)
        high_party = max(high_party, a.party)
        high_instrument = max(high_instrument, a.instrument)
        highest = max(highest, a.order_id)
        if a.action == ACT_NEW:
            n_new += 1
            if a.stp < STP_CANCEL_INCOMING or a.stp > STP_CANCEL_BOTH:
                bad_stp = 1
    return low_party, high_party, high_instrument, bad_stp, n_new, highest
