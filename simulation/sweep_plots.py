"""Pictures of a sweep: how the runs' figures spread across the grid (matplotlib, Agg).

Drawn from the rows of ``sweep.csv`` (the decimal text turned into floats for
drawing only). Importing this module fails with ImportError without matplotlib;
the sweep then writes its tables and says the plots were skipped.
"""
from __future__ import annotations

import os

import matplotlib  # noqa: F401  (ImportError here: the sweep skips its plots)
from matplotlib.ticker import MaxNLocator, StrMethodFormatter

PLOTS = ("vwap_by_grade.png", "take_or_pay.png", "whatif_deltas.png")


def _figure(width=10.0, height=5.0):
    """A Figure on the Agg canvas (no pyplot, no global state)."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def _values(rows, name):
    return [float(r[name]) for r in rows if r.get("status") == "ok" and r.get(name, "") != ""]


def _box(ax, series: dict, ylabel: str, title: str) -> None:
    names = [n for n, v in series.items() if v]
    if not names:
        ax.text(0.5, 0.5, "no runs with this figure", ha="center", va="center", transform=ax.transAxes)
    else:
        ax.boxplot([series[n] for n in names], showmeans=True)
        ax.set_xticks(range(1, len(names) + 1), names)
        for k, name in enumerate(names, 1):  # every run as a dot beside its box
            ax.plot([k + 0.25] * len(series[name]), series[name], ".", color="#555555", alpha=0.6)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, axis="y", alpha=0.3)


def render(rows: list, grades: list, out_dir: str) -> list:
    """Write the PNGs into ``out_dir``; returns their paths."""
    os.makedirs(out_dir, exist_ok=True)
    paths = []
    n = sum(1 for r in rows if r.get("status") == "ok")

    fig = _figure()
    ax = fig.subplots()
    _box(ax, {g: _values(rows, f"vwap_{g}") for g in grades}, "$ per effective GPU-hour",
         f"Effective VWAP by grade across {n} runs")
    paths.append(_save(fig, os.path.join(out_dir, PLOTS[0])))

    fig = _figure(12.0, 5.0)
    axes = fig.subplots(1, 3)
    for ax, (name, label) in zip(axes, (("take_or_pay", "take-or-pay charges ($)"),
                                        ("shortfall", "paid but unused ($)"), ("credits", "credits ($)"))):
        values = _values(rows, name)
        ax.hist(values, bins=max(1, min(20, len(values))), color="#4a78a8")
        ax.set_xlabel(label)
        ax.set_ylabel("runs")
        ax.xaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.tick_params(axis="x", labelrotation=30)
    fig.suptitle(f"Take-or-pay settlement across {n} runs")
    paths.append(_save(fig, os.path.join(out_dir, PLOTS[1])))

    fig = _figure()
    ax = fig.subplots()
    _box(ax, {name: _values(rows, f"alt_{name}_delta") for name in ("take_or_pay", "shortfall", "credits",
                                                                   "buyer_pays")},
         "alt - base ($)", "What-if: change caused by the fork, across runs")
    paths.append(_save(fig, os.path.join(out_dir, PLOTS[2])))
    return paths


def _save(fig, path: str) -> str:
    fig.savefig(path, format="png", metadata={"Software": None})
    return path
