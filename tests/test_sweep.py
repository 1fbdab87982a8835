"""compute-exchange sweep: one row per grid point, the same table whatever runs it (issue 16).

Small on purpose: 2-day runs with 150 buyers, grids of 2-4 points, local clusters
of 1-2 worker processes.
"""
from __future__ import annotations

import os
import signal
import sys
from decimal import Decimal
from pathlib import Path

import cloudpickle
import pyarrow.parquet as pq
import pytest

from compute_exchange.cli import main
from exchange.cluster import connect
from simulation import run_simulation
from simulation import sweep as sweep_module
from simulation.api import load_config
from simulation.grid import GridError, build_grid
from simulation.sweep import csv_text, row_columns, run_point, run_sweep, stress_figures

SMALL = {"seed": "1-2", "days": "2", "buyers": "150", "providers": "8", "whatif": "both,none"}
QUIET = dict(plots=False)

cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the workers run this module's tasks


@pytest.fixture(scope="module")
def two_workers():
    with connect(workers=2) as client:  # the command's own local cluster: 2 processes, 1 thread each
        yield client


@pytest.fixture(scope="module")
def reference(two_workers, tmp_path_factory):
    """The small grid swept on two workers: (sweep.csv bytes, result, out dir)."""
    out = tmp_path_factory.mktemp("reference")
    result = run_sweep(build_grid(flags=SMALL), out, client=two_workers, progress=False, **QUIET)
    return (out / "sweep.csv").read_bytes(), result, out


def test_rows_follow_the_grid_and_equal_runs_in_this_process(reference):
    data, result, _ = reference
    grid = build_grid(flags=SMALL)
    assert [(p.seed, p.whatif) for p in grid.points()] == [(1, "both"), (1, "none"), (2, "both"), (2, "none")]
    config = load_config(None)
    rows = [run_point(point, config) for point in grid.points()]  # a plain loop, no dask
    assert csv_text(rows, row_columns([g.name for g in config.grades])).encode() == data
    assert result.failed == [] and result.ran == 4
    # Each seed is its own market; the fork's deltas are there only with a what-if.
    assert rows[0]["volume"] != rows[2]["volume"]
    assert rows[0]["volume"] == rows[1]["volume"]  # the base branch does not see the fork
    assert rows[0]["alt_volume_delta"] != "" and rows[1]["alt_volume_delta"] == ""


def test_row_figures_match_the_simulation_summary():
    """The row's totals are the simulation's own summary.csv totals (base branch, '*' row)."""
    point = build_grid(flags=SMALL).points()[0]
    result = run_simulation(days=2, seed=1, buyers=150, providers=8, whatif="both", plots=False)
    row = run_point(point, load_config(None))
    header, *lines = result.tables["summary.csv"].splitlines()
    total = dict(zip(header.split(","), next(line for line in lines if line.startswith("base,*,*")).split(",")))
    for name in ("trades", "volume", "take_or_pay", "unused_paid_hours", "buyer_pays", "provider_receives"):
        assert row[name] == total[name], name
    assert sum(int(row[f"volume_{g}"]) for g in "ABCD") == int(row["volume"])
    assert all(len(row[f"vwap_{g}"].split(".")[1]) == 6 for g in "ABCD" if row[f"vwap_{g}"])


def test_parquet_holds_the_same_exact_values(reference):
    _, result, out = reference
    table = pq.read_table(out / "sweep.parquet")
    assert str(table.schema.field("buyer_pays").type) == "decimal128(38, 6)"
    assert str(table.schema.field("volume").type) == "int64"
    for column in ("buyer_pays", "vwap_A", "alt_shortfall_delta"):
        texts = [row[column] for row in result.rows]
        assert [None if t == "" else Decimal(t) for t in texts] == table.column(column).to_pylist()


def test_one_worker_gives_the_same_bytes(reference, tmp_path):
    with connect(workers=1) as client:
        run_sweep(build_grid(flags=SMALL), tmp_path, client=client, progress=False, **QUIET)
    assert (tmp_path / "sweep.csv").read_bytes() == reference[0]


def test_a_killed_worker_s_points_run_again_elsewhere(two_workers, reference, tmp_path):
    killed = []

    def kill_a_busy_worker(client, _finished):
        if killed:
            return
        busy = [address for address, keys in client.processing().items() if keys]
        pid = client.run(os.getpid, workers=busy[:1])[busy[0]]
        os.kill(pid, signal.SIGKILL)
        killed.append(pid)

    result = run_sweep(build_grid(flags=SMALL), tmp_path, client=two_workers, progress=False,
                       on_result=kill_a_busy_worker, **QUIET)
    assert killed and killed[0] not in two_workers.run(os.getpid).values()  # it really died
    assert result.failed == []
    assert (tmp_path / "sweep.csv").read_bytes() == reference[0]


def seed_2_fails(point, config):
    if point.seed == 2:
        raise RuntimeError("market closed for maintenance")
    return run_point(point, config)


def test_a_failing_point_is_reported_and_the_others_finish(two_workers, reference, tmp_path):
    result = run_sweep(build_grid(flags=SMALL), tmp_path, client=two_workers, progress=False,
                       task=seed_2_fails, **QUIET)
    assert [(p.index, message) for p, message in result.failed] == [
        (2, "RuntimeError: market closed for maintenance"), (3, "RuntimeError: market closed for maintenance")]
    lines = (tmp_path / "sweep.csv").read_text().splitlines()
    good = reference[0].decode().splitlines()
    assert lines[:3] == good[:3]  # header and seed 1's two points
    assert lines[3].startswith("2,2,2,150,8,,both,,error,RuntimeError: market closed for maintenance,,")


def test_resume_runs_only_the_missing_points(two_workers, reference, tmp_path):
    first = run_sweep(build_grid(flags={**SMALL, "seed": "1"}), tmp_path, client=two_workers, progress=False,
                      **QUIET)
    assert (first.ran, first.skipped, first.failed) == (2, 0, [])
    second = run_sweep(build_grid(flags=SMALL), tmp_path, client=two_workers, resume=True, progress=False,
                       **QUIET)
    assert (second.ran, second.skipped, second.failed) == (2, 2, [])
    assert (tmp_path / "sweep.csv").read_bytes() == reference[0]
    third = run_sweep(build_grid(flags=SMALL), tmp_path, resume=True, progress=False, **QUIET)  # no cluster
    assert (third.ran, third.skipped, third.workers) == (0, 4, 0)


def test_cli_runs_a_sweep_on_a_running_scheduler(two_workers, reference, tmp_path, capsys):
    argv = ["sweep", "--seeds", "1-2", "--days", "2", "--buyers", "150", "--providers", "8", "--whatif",
            "both,none", "--scheduler", two_workers.scheduler.address, "--out", str(tmp_path), "--no-progress"]
    assert main(argv) == 0
    assert (tmp_path / "sweep.csv").read_bytes() == reference[0]
    assert sorted(os.listdir(tmp_path / "plots")) == ["take_or_pay.png", "vwap_by_grade.png", "whatif_deltas.png"]
    assert "4 grid points: 4 run" in capsys.readouterr().out


@pytest.mark.parametrize("text,message", [
    ('seeds = "1-3"\nbuyers = 150\ndays = [2, "x"]\n', "{path}:3: days: 'x' is not an integer"),
    ('seeds = "1-3"\n\nwhatif = "sideways"\n', "{path}:3: whatif: 'sideways' is not one of none, buyer-exit, "
                                              "provider-downgrade, both"),
    ('seeds = "5-1"\n', "{path}:1: seeds: range '5-1' runs backwards"),
    ('days = 2\nbuyer = 10\n', "{path}:2: buyer: unknown field (known: config, seeds, days, buyers, providers, "
                               "grade_mix, whatif, shock)"),
    ('days = 2\ngrade_mix = "50:x"\n', "{path}:2: grade_mix: '50:x' is not a mix of integer shares like "
                                       "15:50:35 (best grade first)"),
])
def test_bad_grid_file_is_one_line_and_exit_2(tmp_path, capsys, text, message):
    grid = tmp_path / "grid.toml"
    grid.write_text(text)
    out = tmp_path / "out"
    assert main(["sweep", "--grid", str(grid), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err == f"compute-exchange sweep: {message.format(path=grid)}\n"
    assert not out.exists()


def test_toml_syntax_error_says_where(tmp_path, capsys):
    grid = tmp_path / "grid.toml"
    grid.write_text("days = 2\nseeds = [1,\nbuyers = 5\n")
    assert main(["sweep", "--grid", str(grid), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"compute-exchange sweep: {grid}:3: column 1: ") and err.count("\n") == 1
    grid.write_text("days = 2\nseeds = [1,\n")
    assert main(["sweep", "--grid", str(grid), "--out", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err.startswith(f"compute-exchange sweep: {grid}:2: ")


@pytest.mark.parametrize("flags,message", [
    (["--seeds", "3-1"], "--seeds: range '3-1' runs backwards"),
    (["--seeds", "a-b"], "--seeds: 'a-b' is not a seed range like 1-8 or a list like 1,3,5"),
    (["--days", "0"], "--days: 0 must be >= 1"),
    (["--days", "two"], "--days: 'two' is not an integer or a comma list of integers"),
    (["--days", "5000"], "days must be at most 3660, got 5000"),
    (["--grade-mix", "1:1:1:1:1"], "grade_mix: '1:1:1:1:1' has 5 shares; the configuration has 4 grades"),
    (["--workers", "0"], "--workers must be a positive number of processes, got 0"),
])
def test_bad_flags_are_one_line_and_exit_2(tmp_path, capsys, flags, message):
    assert main(["sweep", *flags, "--out", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err == f"compute-exchange sweep: {message}\n"
    assert not (tmp_path / "out").exists()


def test_unknown_scheduler_address_is_one_line(tmp_path, capsys):
    assert main(["sweep", "--days", "2", "--scheduler", "nonsense://x", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("compute-exchange sweep: --scheduler 'nonsense://x': unknown address scheme")
    assert err.count("\n") == 1


def test_the_sample_grid():
    points = build_grid(Path(__file__).parent.parent / "samples" / "sweep-grid.toml").points()
    assert len(points) == 8
    assert {(p.seed, p.grade_mix) for p in points} == {(s, m) for s in (1, 2, 3, 4) for m in ("15:50:35", "60:30:10")}


def test_flags_override_the_grid_file(tmp_path):
    grid = tmp_path / "grid.toml"
    grid.write_text('seeds = [7, 8, 9]\ndays = 5\nwhatif = ["none", "both"]\n')
    axes = build_grid(grid, {"seed": "1-2", "days": None}).axes
    assert axes["seed"] == (1, 2) and axes["days"] == (5,) and axes["whatif"] == ("none", "both")


def test_without_dask_the_command_says_what_to_install(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    assert main(["sweep", "--days", "2", "--out", str(tmp_path / "out")]) == 2
    assert "install compute-exchange[dist]" in capsys.readouterr().err
    assert run_simulation(days=1, seed=0, buyers=20, providers=2, whatif=None, plots=False).digest


def test_shock_hook(monkeypatch):
    """A grid shock is refused where the simulation has no stress step, else passed through as
    ``shocks`` (bp per party)."""
    monkeypatch.setattr(sweep_module, "shock_supported", lambda: False)
    with pytest.raises(GridError, match="shock: this simulation has no stress step"):
        sweep_module.check_points(build_grid(flags={"shock": "p.atlas=5000"}), 4, sweep_module.shock_supported())
    seen = {}

    def fake(**kwargs):
        seen.update(kwargs)
        raise LookupError("stop here")

    monkeypatch.setattr(sweep_module, "run_simulation", fake)
    point = build_grid(flags={"shock": "p.atlas=5000", "days": "2"}).points()[0]
    with pytest.raises(LookupError):
        run_point(point, load_config(None))
    assert seen["shocks"] == {"p.atlas": 5000} and seen["days"] == 2


def test_a_malformed_grid_shock_is_refused_before_any_run():
    with pytest.raises(GridError, match="shock: 'p.atlas=20000' is not PARTY=BP"):
        sweep_module.check_points(build_grid(flags={"shock": "p.atlas=20000"}), 4, True)


def test_the_stress_step_gives_each_run_its_default_rounds():
    point = build_grid(flags={"shock": "p.atlas=5000", "days": "2", "buyers": "40", "providers": "4"}).points()[0]
    row = run_point(point, load_config(None))
    assert row["default_rounds"] != "" and int(row["defaults"]) >= 0


def test_default_rounds_from_a_stress_rounds_table():
    rounds = "round,new_defaults,defaulted,shortfall\n1,2,2,10.000000\n2,1,3,15.500000\n3,2,5,21.250001\n"
    assert stress_figures({"stress/rounds.csv": rounds}) == {
        "defaults": "5", "default_rounds": "3", "later_defaults": "3", "stress_shortfall": "21.250001"}
    assert stress_figures({"summary.csv": "x\n"})["defaults"] == ""
