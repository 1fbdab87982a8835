"""Tables of a run (CSV text, exact integers underneath) and the digest over them.

Prices and money are computed in integers (ticks, micro-dollars) and printed
as decimals: prices and money with 6 places, hours as integers. Effective
prices are ``price * 10000 / floor`` rounded half-even to 6 places (docs/RULES.md §5).
The same run gives the same text, byte for byte.
"""
from __future__ import annotations

import csv
import hashlib
import io

import numpy as np

from exchange.units import half_even_array, micros_text, parse_micros

from .market import Branch

money = micros_text  # µ$ as dollars with 6 places
half_even = half_even_array  # num / den rounded half-even, elementwise


def csv_text(header, rows) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


class Columns:
    """Per-contract columns of a branch, in trade_id order (the order of ``trades()``)."""

    def __init__(self, branch: Branch):
        c = branch.contracts
        config = c.config
        self.branch = branch
        self.symbols = [i.symbol for i in config.instruments]
        self.grades = [g.name for g in config.grades]
        self.parties = c.parties
        self.instrument, self.grade = c.instrument.astype(np.int64), c.grade.astype(np.int64)
        self.buyer, self.provider = c.buyer.astype(np.int64), c.provider.astype(np.int64)
        self.qty, self.price, self.p = c.qty, c.price_ticks, c.p
        self.effective = half_even(c.p * 10_000, c.floor_bp)  # µ$ per effective GPU-hour
        self.ts = np.array([t.ts for t in branch.trades], np.int64)
        self.totals = branch.per_contract

    def vwap(self, mask) -> str:
        volume = int(self.qty[mask].sum())
        if not volume:
            return ""
        return money(int(half_even(int((self.qty[mask] * self.effective[mask]).sum()), volume)))


def trades_csv(branch: Branch) -> str:
    """The branch's trades, with the columns of the replay's trades.csv (docs/RULES.md §5)."""
    config = branch.exchange.config
    places = {i.symbol: i.price_places for i in config.instruments}
    ticks = {i.symbol: i.tick for i in config.instruments}
    floors = {g.name: g.floor_bp for g in config.grades}
    micros = {i.symbol: i.tick_micros() for i in config.instruments}
    rows = []
    for t in branch.trades:
        price = f"{t.price * ticks[t.instrument]:.{places[t.instrument]}f}"
        effective = money(int(half_even(t.price * micros[t.instrument] * 10_000, floors[t.grade])))
        rows.append((t.trade_id, t.seq, t.ts, t.instrument, t.buy_order_id, t.sell_order_id, t.buyer, t.seller,
                     t.grade, price, effective, t.qty, "buy" if t.aggressor == 0 else "sell"))
    return csv_text(("trade_id", "seq", "ts", "instrument", "buy_order_id", "sell_order_id", "buyer", "seller",
                     "grade", "price", "effective_price", "qty", "aggressor"), rows)


def prices_csv(branch: Branch, days: int) -> str:
    """Per day, instrument and grade: trades, volume and VWAP of effective GPU-hours."""
    col = Columns(branch)
    day = col.ts // 86_400
    rows = []
    for d in range(days):
        for i, symbol in enumerate(col.symbols):
            for g, grade in enumerate(col.grades):
                mask = (day == d) & (col.instrument == i) & (col.grade == g)
                count = int(mask.sum())
                if count:
                    rows.append((d, symbol, grade, count, int(col.qty[mask].sum()), col.vwap(mask)))
    return csv_text(("day", "instrument", "grade", "trades", "volume", "vwap_effective"), rows)


SUMMARY_COLUMNS = ("branch", "instrument", "grade", "trades", "volume", "vwap_effective", "sched_hours",
                   "taken_hours", "unused_paid_hours", "take_or_pay", "pay_per_use", "buyer_pays",
                   "provider_receives")


def summary_rows(branch: Branch) -> list:
    """Per instrument and grade, then a total: trading and take-or-pay settlement side by side."""
    col = Columns(branch)
    tot = col.totals
    rows = []
    groups = [(symbol, grade, (col.instrument == i) & (col.grade == g))
              for i, symbol in enumerate(col.symbols) for g, grade in enumerate(col.grades)]
    groups.append(("*", "*", np.ones(len(col.qty), bool)))
    for symbol, grade, mask in groups:
        if not mask.any() and symbol != "*":
            continue
        rows.append((branch.name, symbol, grade, int(mask.sum()), int(col.qty[mask].sum()),
                     col.vwap(mask) if symbol != "*" else "", int(tot["sched"][mask].sum()),
                     int(tot["taken"][mask].sum()), int(tot["deficiency"][mask].sum()),
                     money(tot["charge"][mask].sum()), money(tot["pay_per_use"][mask].sum()),
                     money(tot["buyer_pays"][mask].sum()), money(tot["provider_receives"][mask].sum())))
    return rows


def summary_csv(branches) -> str:
    rows = []
    for branch in branches:
        rows += summary_rows(branch)
    return csv_text(SUMMARY_COLUMNS, rows)


def party_totals(branch: Branch) -> dict:
    """party -> dict of hours and money totals over its contracts and settled periods."""
    col = Columns(branch)
    tot = col.totals
    n = len(col.parties)

    out = {}
    bought_contracts = np.bincount(col.buyer, minlength=n)
    sold_contracts = np.bincount(col.provider, minlength=n)
    sums = {}
    for name, index, values in (("hours_bought", col.buyer, col.qty), ("hours_sold", col.provider, col.qty),
                                ("hours_used", col.buyer, tot["taken"]),
                                ("hours_taken", col.provider, tot["taken"]),
                                ("unused_paid_hours", col.buyer, tot["deficiency"]),
                                ("take_or_pay", col.provider, tot["charge"]),
                                ("pay_per_use", col.provider, tot["pay_per_use"])):
        acc = np.zeros(n, dtype=object)
        for k, v in zip(index.tolist(), values.tolist()):
            acc[k] += v
        sums[name] = acc
    for k, party in enumerate(col.parties):
        paid, received, fees = branch.party_money.get(party, (0, 0, 0))
        out[party] = {"contracts_bought": int(bought_contracts[k]), "contracts_sold": int(sold_contracts[k]),
                      **{name: int(values[k]) for name, values in sums.items()},
                      "paid": paid, "received": received, "fees": fees}
    return out


def bills_csv(branch: Branch) -> str:
    """The take-or-pay bill of every party over the whole delivery window."""
    rows = []
    for party, t in party_totals(branch).items():
        role = "+".join(r for r, n in (("buyer", t["contracts_bought"]), ("provider", t["contracts_sold"])) if n)
        rows.append((party, role, t["contracts_bought"] + t["contracts_sold"], t["hours_bought"], t["hours_sold"],
                     t["hours_used"], t["unused_paid_hours"], money(t["paid"]), money(t["received"]),
                     money(t["fees"]), money(t["received"] - t["paid"])))
    return csv_text(("party", "role", "contracts", "hours_bought", "hours_sold", "hours_used",
                     "unused_paid_hours", "paid", "received", "fees", "net"), rows)


def revenue_csv(branch: Branch) -> str:
    """Provider revenue: take-or-pay charges against what pay-per-use (price x hours used) would bring."""
    rows = []
    for party, t in party_totals(branch).items():
        if not t["contracts_sold"]:
            continue
        rows.append((party, branch.provider_grades.get(party, "-"), t["hours_sold"], t["hours_taken"],
                     money(t["take_or_pay"]), money(t["pay_per_use"]), money(t["received"])))
    return csv_text(("provider", "grade_at_close", "hours_sold", "hours_taken", "take_or_pay", "pay_per_use",
                     "received"), rows)


def depth_csv(branch: Branch) -> str:
    """One book at one moment: open quantity per side, grade and price level, in priority order."""
    config = branch.exchange.config
    tick = {i.symbol: i for i in config.instruments}[branch.depth_instrument]
    levels: dict = {}
    for side, price, grade, qty, effective in branch.depth:
        key = (side, grade, price, effective)
        levels[key] = levels.get(key, 0) + qty
    order = {g.name: k for k, g in enumerate(config.grades)}
    keys = sorted(levels, key=lambda k: (k[0] == "sell", -k[3] if k[0] == "buy" else k[3], order[k[1]]))
    rows = [(branch.depth_instrument, branch.depth_hour, side, grade, tick.format_price(price),
             tick.format_price(effective), levels[(side, grade, price, effective)])
            for side, grade, price, effective in keys]
    return csv_text(("instrument", "hour", "side", "grade", "price", "effective_price", "qty"), rows)


def whatif_rows(base: Branch, alt: Branch, touched: dict) -> list:
    """(metric, base, alt, change) rows comparing the two branches."""
    rows = []

    def add(metric, a, b, kind):
        fmt = money if kind == "money" else str
        rows.append((metric, fmt(a), fmt(b), fmt(b - a)))

    cb, ca = Columns(base), Columns(alt)
    add("trades", len(cb.qty), len(ca.qty), "count")
    add("volume_hours", int(cb.qty.sum()), int(ca.qty.sum()), "count")
    for i, symbol in enumerate(cb.symbols):
        vb, va = cb.vwap(cb.instrument == i), ca.vwap(ca.instrument == i)
        rows.append((f"vwap_effective {symbol}", vb, va, money(_micros(va) - _micros(vb)) if vb and va else ""))
    for name, key in (("buyer_pays", "buyer_pays"), ("provider_receives", "provider_receives"),
                      ("take_or_pay", "charge"), ("pay_per_use", "pay_per_use")):
        add(name, int(cb.totals[key].sum()), int(ca.totals[key].sum()), "money")
    add("unused_paid_hours", int(cb.totals["deficiency"].sum()), int(ca.totals["deficiency"].sum()), "count")
    pb, pa = party_totals(base), party_totals(alt)
    empty = {k: 0 for k in ("hours_bought", "hours_sold", "hours_used", "unused_paid_hours", "paid", "received")}
    if "exited_buyer" in touched:
        who = touched["exited_buyer"]
        b, a = pb.get(who, empty), pa.get(who, empty)
        for metric in ("hours_bought", "hours_used", "unused_paid_hours"):
            add(f"{who} {metric}", b[metric], a[metric], "count")
        add(f"{who} paid", b["paid"], a["paid"], "money")
    if "downgraded_provider" in touched:
        who = touched["downgraded_provider"]
        b, a = pb.get(who, empty), pa.get(who, empty)
        add(f"{who} hours_sold", b["hours_sold"], a["hours_sold"], "count")
        add(f"{who} received", b["received"], a["received"], "money")
        rows.append((f"{who} grade_at_close", base.provider_grades.get(who, "-"),
                     alt.provider_grades.get(who, "-"), ""))
    return rows


_micros = parse_micros


def whatif_csv(base, alt, touched) -> str:
    return csv_text(("metric", "base", "alt", "change"), whatif_rows(base, alt, touched))


# -------------------------------------------------------------------- digest
def digest(files: dict) -> str:
    """sha256 over (path, sha256 of bytes) of every file, in path order."""
    h = hashlib.sha256()
    for path in sorted(files):
        data = files[path]
        h.update(path.encode() + b"\0" + hashlib.sha256(data).hexdigest().encode() + b"\n")
    return h.hexdigest()


def sums_text(files: dict) -> str:
    """``sha256sum``-style listing of every file."""
    return "".join(f"{hashlib.sha256(files[p]).hexdigest()}  {p}\n" for p in sorted(files))


def table_text(header, rows, limit: int | None = None) -> str:
    """Rows as aligned text for the terminal (right-aligned numbers)."""
    rows = [tuple(str(c) for c in r) for r in rows][:limit]
    widths = [max([len(h)] + [len(r[k]) for r in rows]) for k, h in enumerate(header)]
    numeric = [all(_numberlike(r[k]) for r in rows if r[k]) for k in range(len(header))]
    lines = []
    for row in [tuple(header)] + rows:
        lines.append("  ".join(c.rjust(w) if num else c.ljust(w) for c, w, num in zip(row, widths, numeric)))
    return "\n".join(line.rstrip() for line in lines)


def _numberlike(text: str) -> bool:
    return text.lstrip("-").replace(".", "", 1).isdigit()
