"""Take-or-pay settlement of one contract in plain Python integers: the test oracle.

Written from the rules (docs/RULES.md §6-§7), independent of the kernel
(contracts/settle_nb.py): no numpy, no ring buffer, the make-up bank is a list
of ``[period, hours left]`` entries, oldest first. Slow and obvious on purpose;
the differential test (tests/test_settlement_reference.py) compares the kernel's
every statement quantity with it.
"""
from __future__ import annotations

BP = 10_000


def scheduled(qty: int, periods: int, t: int) -> int:
    """§6: ``qty // P`` hours per period, one more in each of the first ``qty % P`` periods."""
    return qty // periods + (1 if t < qty % periods else 0)


def settle_contract(*, qty: int, periods: int, p: int, floor_bp: int, take_or_pay: int, makeup_periods: int,
                    sla_credit: int, credit_cap: int, fee: int, metering: dict, through: int) -> list[dict]:
    """Statement lines of periods ``0 .. min(through, periods - 1)`` of one contract.

    ``p``: price in µ$ per hour; ``metering``: {period: (available_hours, used_hours,
    goodput_bp)}; a missing period means full availability, no use, goodput at the floor.
    """
    bank: list[list[int]] = []  # [period of the deficiency, hours left], oldest first
    lines = []
    for t in range(min(through, periods - 1) + 1):
        sched = scheduled(qty, periods, t)
        metered = t in metering
        available_hours, used_hours, goodput = metering[t] if metered else (sched, 0, floor_bp)
        avail = min(available_hours, sched)
        undelivered = sched - avail
        taken = min(used_hours, avail)
        minimum = -(-avail * take_or_pay // BP)  # the one ceiling
        deficiency = max(0, minimum - taken)
        excess = max(0, taken - minimum)

        # period s's deficiency is usable in s+1 .. s+makeup_periods
        bank = [entry for entry in bank if entry[0] + makeup_periods >= t and entry[1] > 0]
        bank_before = sum(left for _, left in bank)
        makeup = 0
        for entry in bank:  # oldest first, only out of excess
            use = min(excess - makeup, entry[1])
            entry[1] -= use
            makeup += use
        if makeup_periods > 0:
            bank.append([t, deficiency])
        bank_after = sum(left for s, left in bank if s + makeup_periods >= t + 1)

        billable = max(taken, minimum) - makeup
        charge = billable * p
        sla = undelivered * p * sla_credit // BP
        goodput_cr = taken * p * (floor_bp - goodput) // floor_bp if goodput < floor_bp else 0
        credit = min(sla + goodput_cr, charge * credit_cap // BP)
        net = charge - credit
        fee_each = net * fee // BP
        lines.append({
            "metered": int(metered), "available_hours": available_hours, "used_hours": used_hours,
            "goodput_bp": goodput, "sched": sched, "avail": avail, "undelivered": undelivered, "taken": taken,
            "minimum": minimum, "deficiency": deficiency, "excess": excess, "bank_before": bank_before,
            "makeup": makeup, "bank_after": bank_after, "billable": billable, "charge": charge, "sla": sla,
            "goodput_cr": goodput_cr, "credit": credit, "net": net, "fee_each": fee_each,
            "buyer_pays": net + fee_each, "provider_receives": net - fee_each,
        })
    return lines
