"""The pictures of a run (matplotlib, Agg, no pyplot state), drawn from the run's CSV tables.

Every plot reads only the CSV text the run also writes, so a picture shows
exactly what the tables hold. PNGs are saved without a Software/date entry;
their bytes still depend on the matplotlib and FreeType versions, which is why
the run digest covers the CSV files and not the PNGs.
"""
from __future__ import annotations

import csv
import io
import os

PLOTS = ("price_by_grade.png", "depth.png", "volume_by_grade.png", "revenue.png", "whatif.png")
GRADE_COLORS = ("#1b7837", "#5aae61", "#f1a340", "#d73027", "#762a83", "#999999")


def _rows(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


def _figure(width=10.0, height=6.0):
    from matplotlib.figure import Figure  # Agg canvas by default; no pyplot, no global state

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def _save(fig, path: str) -> str:
    fig.savefig(path, format="png", metadata={"Software": None})
    return path


def _color(grades: list, grade: str) -> str:
    return GRADE_COLORS[grades.index(grade) % len(GRADE_COLORS)] if grade in grades else GRADE_COLORS[-1]


def price_by_grade(prices: list[dict], instruments: list, grades: list, path: str) -> str:
    """Daily VWAP of effective GPU-hours, one line per grade, one panel per instrument."""
    cols = 2 if len(instruments) > 1 else 1
    rows_n = (len(instruments) + cols - 1) // cols
    fig = _figure(11, 3.2 * rows_n + 0.6)
    axes = fig.subplots(rows_n, cols, squeeze=False)
    for k, symbol in enumerate(instruments):
        ax = axes[k // cols][k % cols]
        for grade in grades:
            pts = [(int(r["day"]), float(r["vwap_effective"])) for r in prices
                   if r["instrument"] == symbol and r["grade"] == grade]
            if pts:
                ax.plot([p[0] for p in pts], [p[1] for p in pts], marker=".", label=f"grade {grade}",
                        color=_color(grades, grade))
        ax.set_title(symbol)
        ax.set_xlabel("day")
        _whole_days(ax)
        ax.set_ylabel("$ per effective GPU-hour")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    for k in range(len(instruments), rows_n * cols):
        axes[k // cols][k % cols].set_visible(False)
    fig.suptitle("Price of effective GPU-hours by grade (daily VWAP)")
    return _save(fig, path)


def depth(rows: list[dict], grades: list, path: str) -> str:
    """Cumulative open quantity against effective price, bids (by min_grade) and asks (by grade)."""
    fig = _figure(10, 5.5)
    ax = fig.subplots()
    title = "book depth"
    if rows:
        title = f"Depth of {rows[0]['instrument']} at hour {rows[0]['hour']} by grade"
    for side, style in (("buy", "--"), ("sell", "-")):
        for grade in grades:
            pts = [(float(r["effective_price"]), int(r["qty"])) for r in rows
                   if r["side"] == side and r["grade"] == grade]
            if not pts:
                continue
            xs, ys, total = [], [], 0
            for price, qty in pts:  # already in priority order
                total += qty
                xs.append(price)
                ys.append(total)
            label = f"{'bids, min_grade' if side == 'buy' else 'asks, grade'} {grade}"
            ax.step(xs, ys, where="post", linestyle=style, color=_color(grades, grade), label=label)
    ax.set_xlabel("effective price, $ per GPU-hour")
    ax.set_ylabel("cumulative open GPU-hours")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if rows:
        ax.legend(fontsize=8, ncol=2)
    else:
        ax.text(0.5, 0.5, "empty book", ha="center", va="center", transform=ax.transAxes)
    return _save(fig, path)


def volume_by_grade(prices: list[dict], instruments: list, grades: list, days: int, path: str) -> str:
    """Traded GPU-hours by grade: per instrument (stacked) and per day (stacked, all instruments)."""
    fig = _figure(12, 5)
    left, right = fig.subplots(1, 2)
    bottom = [0] * len(instruments)
    for grade in grades:
        vols = [sum(int(r["volume"]) for r in prices if r["instrument"] == s and r["grade"] == grade)
                for s in instruments]
        left.bar(range(len(instruments)), vols, bottom=bottom, label=f"grade {grade}", color=_color(grades, grade))
        bottom = [b + v for b, v in zip(bottom, vols)]
    left.set_xticks(range(len(instruments)), instruments, rotation=20, fontsize=8)
    left.set_ylabel("GPU-hours traded")
    left.set_title("Volume by instrument and grade")
    left.legend(fontsize=8)
    day_axis = list(range(days))
    stack = []
    for grade in grades:
        per_day = [0] * days
        for r in prices:
            if r["grade"] == grade and int(r["day"]) < days:
                per_day[int(r["day"])] += int(r["volume"])
        stack.append(per_day)
    right.stackplot(day_axis, stack, labels=[f"grade {g}" for g in grades],
                    colors=[_color(grades, g) for g in grades])
    right.set_xlabel("day")
    _whole_days(right)
    right.set_ylabel("GPU-hours traded")
    right.set_title("Daily volume by grade (all instruments)")
    right.legend(fontsize=8, loc="upper left")
    return _save(fig, path)


def revenue(rows: list[dict], path: str, top: int = 20) -> str:
    """Provider revenue under take-or-pay against pay-per-use, largest providers first."""
    fig = _figure(12, 5.5)
    ax = fig.subplots()
    rows = sorted(rows, key=lambda r: (-float(r["take_or_pay"]), r["provider"]))[:top]
    xs = range(len(rows))
    top_ = [float(r["take_or_pay"]) / 1e6 for r in rows]
    ppu = [float(r["pay_per_use"]) / 1e6 for r in rows]
    ax.bar([x - 0.2 for x in xs], top_, width=0.4, label="take-or-pay (billable x price)", color="#2166ac")
    ax.bar([x + 0.2 for x in xs], ppu, width=0.4, label="pay-per-use (hours used x price)", color="#f4a582")
    ax.set_xticks(list(xs), [f"{r['provider']} ({r['grade_at_close']})" for r in rows], rotation=60,
                  ha="right", fontsize=7)
    ax.set_ylabel("revenue over the delivery window, $M")
    ax.set_title(f"Provider revenue: take-or-pay vs pay-per-use (top {len(rows)} providers)")
    ax.grid(axis="y", alpha=0.3)
    ax.legend()
    return _save(fig, path)


def _daily_vwap(prices: list[dict], symbol: str):
    volume, notional = {}, {}
    for r in prices:
        if r["instrument"] == symbol:
            d, v = int(r["day"]), int(r["volume"])
            volume[d] = volume.get(d, 0) + v
            notional[d] = notional.get(d, 0.0) + v * float(r["vwap_effective"])
    days = sorted(volume)
    return days, [notional[d] / volume[d] for d in days]


def whatif(base_prices: list[dict], alt_prices: list[dict] | None, comparison: list[dict], instruments: list,
           fork_day: int, path: str) -> str:
    """Base against alternative: daily prices per instrument, and the settlement totals."""
    fig = _figure(13, 5.5)
    left, right = fig.subplots(1, 2)
    for k, symbol in enumerate(instruments):
        color = f"C{k}"
        days, vwap = _daily_vwap(base_prices, symbol)
        left.plot(days, vwap, color=color, label=f"{symbol} base")
        if alt_prices is not None:
            days, vwap = _daily_vwap(alt_prices, symbol)
            left.plot(days, vwap, color=color, linestyle="--", label=f"{symbol} alt")
    left.axvline(fork_day, color="black", linewidth=0.8, linestyle=":")
    left.set_xlabel("day (dotted: the fork)")
    _whole_days(left)
    left.set_ylabel("$ per effective GPU-hour (daily VWAP, all grades)")
    left.set_title("Prices, base vs what-if")
    left.legend(fontsize=7, ncol=2)
    left.grid(alpha=0.3)
    metrics = [r for r in comparison if r["metric"] in ("buyer_pays", "provider_receives", "take_or_pay",
                                                        "pay_per_use")]
    if metrics:
        xs = range(len(metrics))
        right.bar([x - 0.2 for x in xs], [float(r["base"]) / 1e6 for r in metrics], width=0.4, label="base")
        right.bar([x + 0.2 for x in xs], [float(r["alt"]) / 1e6 for r in metrics], width=0.4, label="what-if")
        right.set_xticks(list(xs), [r["metric"] for r in metrics], fontsize=8)
        right.set_ylabel("$M over the delivery window")
        right.legend()
    else:
        right.text(0.5, 0.5, "no what-if branch", ha="center", va="center", transform=right.transAxes)
    right.set_title("Take-or-pay settlement, base vs what-if")
    right.grid(axis="y", alpha=0.3)
    return _save(fig, path)


def render_all(tables: dict, out_dir: str, instruments: list, grades: list, days: int, fork_day: int) -> list:
    """Draw every plot from the run's tables into ``out_dir``; returns the paths written."""
    os.makedirs(out_dir, exist_ok=True)
    prices = _rows(tables["prices.csv"])
    alt = _rows(tables["alt/prices.csv"]) if "alt/prices.csv" in tables else None
    comparison = _rows(tables["whatif.csv"]) if "whatif.csv" in tables else []
    return [
        price_by_grade(prices, instruments, grades, os.path.join(out_dir, PLOTS[0])),
        depth(_rows(tables["depth.csv"]), grades, os.path.join(out_dir, PLOTS[1])),
        volume_by_grade(prices, instruments, grades, days, os.path.join(out_dir, PLOTS[2])),
        revenue(_rows(tables["revenue.csv"]), os.path.join(out_dir, PLOTS[3])),
        whatif(prices, alt, comparison, instruments, fork_day, os.path.join(out_dir, PLOTS[4])),
    ]


def _whole_days(ax) -> None:
    """Day axes tick at whole days only."""
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
