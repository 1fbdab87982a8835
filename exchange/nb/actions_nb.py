"""One pass over an action array before ``Exchange.apply`` runs it.

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
