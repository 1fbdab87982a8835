"""The bundled simulation (issue 6): determinism, fork, public API only, plots, bad options."""
from __future__ import annotations

import ast
import csv
import io
import pathlib

import numpy as np
import pytest

from contracts import Metering
from exchange import ExchangeConfig
from simulation import Market, SimulationError, SimulationParams, apply, run_simulation
from simulation.cli import main
from simulation.plots import PLOTS

SMALL = dict(days=3, buyers=150, providers=8)
SIM_DIR = pathlib.Path(__file__).resolve().parent.parent / "simulation"


def small_params(seed=3, days=3):
    return SimulationParams(days=days, seed=seed, buyers=150, providers=8)


@pytest.fixture(scope="module")
def run_a():
    return run_simulation(seed=11, **SMALL)


def test_same_seed_same_digest(run_a):
    again = run_simulation(seed=11, **SMALL)
    assert again.digest == run_a.digest
    assert again.tables == run_a.tables
    assert run_a.base.trades, "the small run should trade"
    other = run_simulation(seed=12, **SMALL)
    assert other.digest != run_a.digest


def test_unforked_branch_equals_run_without_fork(run_a):
    plain = run_simulation(seed=11, whatif="none", **SMALL)
    assert plain.alt is None
    assert plain.base.state_digest == run_a.base.state_digest
    assert plain.base.trades == run_a.base.trades
    for name in ("trades.csv", "prices.csv", "bills.csv", "revenue.csv", "depth.csv"):
        assert plain.tables[name] == run_a.tables[name], name
    assert run_a.alt is not None and run_a.alt.state_digest != run_a.base.state_digest


def test_fork_branches_continue_independently():
    market = Market(params=small_params()).run_until(30)
    alt = market.fork("alt")
    before = market.exchange.state_digest()
    assert alt.exchange.state_digest() == before
    touched = apply(alt, "both")
    alt.run_until(40)
    assert market.exchange.state_digest() == before, "stepping the fork must not touch the base"
    assert market.hour == 30 and alt.hour == 40
    market.run()
    alt.run()
    plain = Market(params=small_params()).run()
    assert market.exchange.state_digest() == plain.exchange.state_digest()
    assert market.exchange.trades() == plain.exchange.trades()
    assert alt.exchange.state_digest() != market.exchange.state_digest()
    # the buyer that left places no order after the fork
    name = touched["exited_buyer"]
    late = [t for t in alt.exchange.trades() if t.buyer == name and t.ts >= 30 * 3600]
    assert not late


def test_simulated_metering_is_valid_metering():
    market = Market(params=small_params(days=2))
    branch = market.settle()
    direct = market.metering(branch.contracts)
    c = branch.contracts
    rows = [(int(c.trade_id[k]), int(t), int(a), int(u), f"{g // 10000}.{g % 10000:04d}")
            for k, t, a, u, g in zip(direct.contract, direct.period, direct.available_hours, direct.used_hours,
                                     direct.goodput_bp)]
    checked = Metering.from_rows(rows, c)
    for name in ("contract", "period", "available_hours", "used_hours", "goodput_bp"):
        assert np.array_equal(getattr(checked, name), getattr(direct, name)), name


def test_settlement_conserves_money(run_a):
    paid = received = fees = 0
    for p, r, f in run_a.base.party_money.values():
        paid, received, fees = paid + p, received + r, fees + f
    assert paid == received + fees > 0
    rows = list(csv.DictReader(io.StringIO(run_a.tables["summary.csv"])))
    assert {r["branch"] for r in rows} == {"base", "alt"}
    total = next(r for r in rows if r["branch"] == "base" and r["instrument"] == "*")
    assert int(total["volume"]) == sum(t.qty for t in run_a.base.trades)


def _underscore_uses(path: pathlib.Path):
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in ("exchange", "contracts"):
            parts = node.module.split(".") + [alias.name for alias in node.names]
            found += [f"{path.name}:{node.lineno}: from {node.module} import {p}" for p in parts
                      if p.startswith("_")]
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in ("exchange", "contracts") and any(
                        p.startswith("_") for p in alias.name.split(".")):
                    found.append(f"{path.name}:{node.lineno}: import {alias.name}")
        elif isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
            # private attributes only on the simulation's own objects (self)
            if not (isinstance(node.value, ast.Name) and node.value.id == "self"):
                found.append(f"{path.name}:{node.lineno}: .{node.attr}")
    return found


def test_simulation_uses_only_public_names():
    files = sorted(SIM_DIR.glob("*.py"))
    assert len(files) >= 6
    problems = [p for f in files for p in _underscore_uses(f)]
    assert not problems, problems


def test_every_plot_written(tmp_path):
    pytest.importorskip("matplotlib")
    result = run_simulation(seed=4, days=2, buyers=100, providers=6, out=tmp_path)
    for name in PLOTS:
        path = tmp_path / "plots" / name
        assert path.is_file() and path.stat().st_size > 0, name
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    sums = (tmp_path / "SHA256SUMS").read_text()
    for name in PLOTS:
        assert f"plots/{name}" in sums
    for name in ("summary.csv", "trades.csv", "whatif.csv", "alt/trades.csv"):
        assert (tmp_path / name).read_text() == result.tables[name]


def test_cli_runs_and_prints_digest(tmp_path, capsys):
    status = main(["simulate", "--days", "2", "--buyers", "80", "--providers", "4", "--seed", "2",
                   "--no-plots", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert status == 0
    digest = run_simulation(seed=2, days=2, buyers=80, providers=4).digest
    assert f"digest {digest}" in out
    assert "speed:" in out and "engine" in out


@pytest.mark.parametrize("argv, message", [
    (["--days", "-1"], "--days"),
    (["--days", "0"], "days must be at least 1"),
    (["--fork-day", "9"], "fork day"),
    (["--buyers", "0"], "buyers"),
])
def test_bad_options_exit_2(tmp_path, capsys, argv, message):
    status = main(["simulate", "--days", "2", "--no-plots", "--out", str(tmp_path / "out")] + argv)
    err = capsys.readouterr().err
    assert status == 2
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_unknown_instrument_in_config_exits_2(tmp_path, capsys):
    text = ExchangeConfig.default().to_toml().replace('symbol = "B200.2027-01"', 'symbol = "TPU9.2027-01"')
    config = tmp_path / "config.toml"
    config.write_text(text)
    status = main(["simulate", "--days", "2", "--config", str(config), "--no-plots", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert status == 2
    assert "unknown instrument 'TPU9.2027-01'" in err and "Traceback" not in err
    missing = main(["simulate", "--config", str(tmp_path / "nope.toml"), "--out", str(tmp_path / "o")])
    assert missing == 2
    assert "no such file" in capsys.readouterr().err


def test_bad_options_from_python():
    with pytest.raises(SimulationError):
        run_simulation(days=-3)
    with pytest.raises(SimulationError):
        run_simulation(days=2, whatif="meteor")


def test_later_months_are_listed_as_the_calendar_reaches_them():
    """The run ends when the latest month starts (day 70: 2027-03-01). January's windows close
    59 days before (day 11), February's 28 days before (day 42); each window is listed
    60 days before its month (simulation.instruments.LISTING_LEAD_DAYS): March on day 10,
    February at the start (day -18 is before it)."""
    text = (ExchangeConfig.default().to_toml()
            .replace('symbol = "H200-SXM.2027-01"', 'symbol = "H200-SXM.2027-02"')
            .replace('symbol = "B200.2027-01"', 'symbol = "B200.2027-03"'))
    market = Market(ExchangeConfig.from_toml(text), SimulationParams(days=70, seed=5, buyers=150, providers=8))
    assert [p.close_hour for p in market.plans] == [11 * 24, 42 * 24, 70 * 24, 11 * 24]
    assert [p.list_hour for p in market.plans] == [0, 0, 10 * 24, 0]

    def listed():
        return [ins.symbol for ins in market.exchange.config.instruments]

    opening = ["H100-SXM.2027-01", "H200-SXM.2027-02", "A100-80G.2027-01"]
    assert listed() == opening
    market.run_until(10 * 24)
    assert listed() == opening
    market.run_until(10 * 24 + 1)
    assert listed() == opening + ["B200.2027-03"]
    branch = market.settle()
    march = [t for t in branch.trades if t.instrument == "B200.2027-03"]
    assert march and min(t.ts for t in march) >= 10 * 24 * 3600
    for symbol, closes in (("H100-SXM.2027-01", 11), ("H200-SXM.2027-02", 42)):
        assert max(t.ts for t in branch.trades if t.instrument == symbol) < closes * 24 * 3600
    assert len(branch.contracts) == len(branch.trades) > 0


def test_the_front_month_alone_opens_the_exchange():
    """Windows whose month is later than the front one wait for their listing day, even when
    that leaves the start with one window (an exchange opens with at least one instrument)."""
    text = (ExchangeConfig.default().to_toml()
            .replace('symbol = "H200-SXM.2027-01"', 'symbol = "H200-SXM.2027-05"')
            .replace('symbol = "B200.2027-01"', 'symbol = "B200.2027-05"')
            .replace('symbol = "A100-80G.2027-01"', 'symbol = "A100-80G.2027-05"'))
    market = Market(ExchangeConfig.from_toml(text), SimulationParams(days=150, seed=1, buyers=20, providers=2))
    assert [ins.symbol for ins in market.exchange.config.instruments] == ["H100-SXM.2027-01"]
    assert [p.list_hour for p in market.plans] == [0, 90 * 24, 90 * 24, 90 * 24]
