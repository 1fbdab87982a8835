"""Output sets under kills: a replay killed at any moment leaves the output directory
holding the whole old set or the whole new set, never a mix; what killed runs leave
behind is swept by the next run (exchange/atomic_dir.py)."""
from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from compute_exchange.cli import main
from exchange.files.generate import orders_csv_bytes

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "samples" / "orders.csv"
NAMES = ("book.csv", "events.csv", "trades.csv")


def _set_of(directory: Path) -> dict:
    """Every entry of the directory with the sha256 of its bytes."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.iterdir())}


def test_a_replay_killed_at_any_moment_leaves_the_old_set_or_the_new(tmp_path, capsys):
    new_orders = tmp_path / "new.csv"
    new_orders.write_bytes(orders_csv_bytes(60_000, 3))
    out, reference = tmp_path / "out", tmp_path / "reference"
    assert main(["replay", str(SAMPLE), "--out", str(out), "--no-progress"]) == 0
    assert main(["replay", str(new_orders), "--out", str(reference), "--no-progress"]) == 0
    capsys.readouterr()
    old_set, new_set = _set_of(out), _set_of(reference)
    assert sorted(old_set) == sorted(new_set) == list(NAMES) and old_set != new_set

    seen = set()
    for delay in (0.3, 0.8, 1.3, 1.8, 2.3, 2.8, 3.5, 4.5):
        proc = subprocess.Popen([sys.executable, "-m", "compute_exchange", "replay", str(new_orders), "--out", str(out),
                                 "--no-progress"], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        now = _set_of(out)
        assert now in (old_set, new_set), f"killed after {delay} s: a mixed set {now}"
        seen.add("new" if now == new_set else "old")
        if now == new_set:  # put the old set back, so the next kill can catch the swap again
            assert main(["replay", str(SAMPLE), "--out", str(out), "--no-progress"]) == 0
            capsys.readouterr()
    assert "old" in seen  # some kill came before the swap (the test did kill mid-run)
    # What the kills left beside the directory is swept by the next run.
    assert main(["replay", str(new_orders), "--out", str(out), "--no-progress"]) == 0
    assert _set_of(out) == new_set
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_stale_temporaries_of_dead_runs_are_swept(tmp_path):
    out = tmp_path / "out"
    assert main(["replay", str(SAMPLE), "--out", str(out), "--no-progress"]) == 0
    dead = 2**22 + 12345  # above the usual pid range: no such process
    while True:
        try:
            os.kill(dead, 0)
            dead += 1
        except ProcessLookupError:
            break
    stale_stage = tmp_path / f".out.staging-{dead}-0badc0de"
    stale_stage.mkdir()
    (stale_stage / "trades.csv").write_bytes(b"x" * 1000)
    legacy = out / ".trades.csv.abc123.tmp"  # what the one-file-at-a-time writer left
    legacy.write_bytes(b"y" * 1000)
    assert main(["replay", str(SAMPLE), "--out", str(out), "--no-progress"]) == 0
    assert not stale_stage.exists() and not legacy.exists()
    assert sorted(p.name for p in out.iterdir()) == list(NAMES)


def test_an_output_directory_holding_other_files_is_refused_before_any_work(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert main(["replay", str(SAMPLE), "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("compute-exchange: ") and "notes.txt" in err
    assert (out / "notes.txt").read_text() == "mine"


def test_a_simulation_that_fails_while_writing_leaves_the_old_set(tmp_path, monkeypatch):
    from simulation import api

    out = tmp_path / "sim"
    api.run_simulation(days=1, seed=1, buyers=20, providers=3, whatif="none", out=out, plots=False)
    before = _set_of(out)
    assert "SHA256SUMS" in before and "trades.csv" in before

    def disk_full(_listing):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(api.report, "sums_text", disk_full)  # the last file of the set
    with pytest.raises(OSError):
        api.run_simulation(days=1, seed=2, buyers=20, providers=3, whatif="none", out=out, plots=False)
    assert _set_of(out) == before
    assert [p.name for p in tmp_path.iterdir()] == ["sim"]  # no staging directory left
