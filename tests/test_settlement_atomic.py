"""The settle output directory is replaced as a whole (exchange/atomic_dir.py): a reader,
or a run killed at any moment, finds the complete old set or the complete new one."""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from exchange.files import atomic_dir
from tests.test_settlement import TRADES_HEADER

REPO = Path(__file__).resolve().parents[1]
METERING_HEADER = "trade_id,period,available_hours,used_hours,goodput"


def snapshot(directory: Path) -> dict:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())} if directory.exists() else {}


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.parent.iterdir() if p.name.startswith(f".{directory.name}."))


def write_set(directory, files: dict, owns=("*.csv",)) -> None:
    with atomic_dir.replace(directory, owns=owns) as stage:
        for name, text in files.items():
            (stage / name).write_text(text)


# ------------------------------------------------------------------ the module
def test_new_directory_then_whole_replacement(tmp_path):
    out = tmp_path / "bills"
    write_set(out, {"a.csv": "1", "b.csv": "2"})
    assert snapshot(out) == {"a.csv": b"1", "b.csv": b"2"}
    write_set(out, {"a.csv": "3"})  # b.csv is not in the new set: it goes too
    assert snapshot(out) == {"a.csv": b"3"}
    assert leftovers(out) == []


def test_an_error_while_writing_leaves_the_old_set(tmp_path):
    out = tmp_path / "bills"
    write_set(out, {"a.csv": "old"})
    with pytest.raises(RuntimeError), atomic_dir.replace(out, owns=("*.csv",)) as stage:
        (stage / "a.csv").write_text("new")
        raise RuntimeError("disk full")
    assert snapshot(out) == {"a.csv": b"old"}
    assert leftovers(out) == []


def test_foreign_files_are_refused_before_anything_is_written(tmp_path):
    out = tmp_path / "data"
    out.mkdir()
    (out / "orders.csv").write_text("keep me")
    with (pytest.raises(atomic_dir.OutputDirError, match=r"holds files this command does not write \(orders.csv\)"),
          atomic_dir.replace(out, owns=("statements.csv",))):
        pytest.fail("must refuse before the body runs")
    assert snapshot(out) == {"orders.csv": b"keep me"}
    assert leftovers(out) == []


def test_the_current_directory_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(atomic_dir.OutputDirError, match="current directory"), atomic_dir.replace(".", owns=("*",)):
        pass


def test_sweep_removes_only_dead_runs_leftovers_of_this_directory(tmp_path):
    out = tmp_path / "bills"
    write_set(out, {"a.csv": "1"})
    dead = _dead_pid()
    (tmp_path / f".bills.staging-{dead}-0a1b2c3d").mkdir()
    (tmp_path / f".bills.staging-{os.getpid()}-0a1b2c3e").mkdir()  # a live run's: kept
    (tmp_path / f".other.staging-{dead}-0a1b2c3d").mkdir()  # another directory's: kept
    removed = atomic_dir.sweep(out)
    assert [p.name for p in removed] == [f".bills.staging-{dead}-0a1b2c3d"]
    assert snapshot(out) == {"a.csv": b"1"}
    assert leftovers(out) == [f".bills.staging-{os.getpid()}-0a1b2c3e"]


def test_temporaries_of_the_old_per_file_writers_go_with_the_old_set(tmp_path):
    out = tmp_path / "bills"
    write_set(out, {"a.csv": "1"})
    (out / ".tmp-abc123.csv").write_text("half")  # what contracts/csvio.py used to leave
    (out / ".statements.csv.x1y2.tmp").write_text("half")  # what exchange/files/writers.py leaves
    write_set(out, {"a.csv": "2"}, owns=("a.csv",))
    assert snapshot(out) == {"a.csv": b"2"}


def test_sweep_puts_back_a_retired_set_when_the_directory_is_missing(tmp_path):
    """A kill between the two renames of the fallback leaves NAME missing; the next run restores it."""
    retired = tmp_path / f".bills.retired-{_dead_pid()}-00ff00ff"
    retired.mkdir()
    (retired / "a.csv").write_text("old")
    atomic_dir.sweep(tmp_path / "bills")
    assert snapshot(tmp_path / "bills") == {"a.csv": b"old"}
    assert leftovers(tmp_path / "bills") == []


def test_fallback_without_rename_exchange_gives_the_same_result(tmp_path, monkeypatch):
    monkeypatch.setattr(atomic_dir, "_exchange", lambda a, b: False)
    out = tmp_path / "bills"
    write_set(out, {"a.csv": "1"})
    write_set(out, {"a.csv": "2", "b.csv": "3"})
    assert snapshot(out) == {"a.csv": b"2", "b.csv": b"3"}
    assert leftovers(out) == []


@pytest.mark.parametrize("moment", ["staged", "exchanged", "retired"])
def test_sigkill_at_each_step_of_the_swap(tmp_path, moment):
    """A child is SIGKILLed at a step of the swap; the directory is whole old or whole new,
    and after the next run's sweep no leftovers remain."""
    out = tmp_path / "bills"
    write_set(out, {"a.csv": "old", "b.csv": "old"})
    old = snapshot(out)
    pid = os.fork()
    if pid == 0:  # the child: die at the chosen moment
        try:
            def kill(*_args, **_kwargs):
                os.kill(os.getpid(), signal.SIGKILL)

            if moment == "staged":
                atomic_dir.swap_in = kill
            elif moment == "exchanged":
                atomic_dir._remove = kill
            else:  # the fallback, between its two renames
                atomic_dir._exchange = lambda a, b: False
                real_rename = os.rename
                calls = []

                def rename(a, b):
                    calls.append(a)
                    real_rename(a, b)
                    if len(calls) == 1:
                        kill()
                atomic_dir.os.rename = rename
            with atomic_dir.replace(out, owns=("*.csv",)) as stage:
                (stage / "a.csv").write_text("new")
                (stage / "b.csv").write_text("new")
        finally:
            os._exit(3)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    if moment == "retired":
        assert not out.exists()  # the one window of the fallback; the next run repairs it
        atomic_dir.sweep(out)
    assert snapshot(out) in (old, {"a.csv": b"new", "b.csv": b"new"})
    write_set(out, {"a.csv": "next"})
    assert snapshot(out) == {"a.csv": b"next"}
    assert leftovers(out) == []


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


# ------------------------------------------------------------------ the command
def test_settle_killed_at_random_moments_leaves_a_whole_set(tmp_path):
    """Run settle in a subprocess and SIGKILL it after a random delay, several times."""
    trades = tmp_path / "trades.csv"
    body = [f"{k},0,0,H100-SXM.2027-01,1,2,b.{k % 7},p.atlas,A,2.{k % 900:03d},0,{30 + k},buy"
            for k in range(1, 3001)]
    trades.write_text("\n".join([TRADES_HEADER, *body]) + "\n")
    metering = tmp_path / "metering.csv"
    metering.write_text(METERING_HEADER + "\n" + "".join(
        f"{k},{t},{(k + t) % 5},{(k * t) % 4},0.9{k % 10}\n" for k in range(1, 3001) for t in range(30)))
    out = tmp_path / "bills"

    def settle(through):
        return [sys.executable, "-m", "compute_exchange", "settle", str(trades), "--metering", str(metering),
                "--through", str(through), "--out", str(out)]

    subprocess.run(settle(3), cwd=REPO, check=True, capture_output=True)
    old = snapshot(out)
    started = time.monotonic()
    subprocess.run(settle(20), cwd=REPO, check=True, capture_output=True)
    full = time.monotonic() - started
    new = snapshot(out)
    assert old != new and set(old) == set(new)
    rng = random.Random(11)
    for attempt in range(6):
        expected = (old, new)
        proc = subprocess.Popen(settle(3 if attempt % 2 else 20), cwd=REPO, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.3, 1.0) * full)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert snapshot(out) in expected
    subprocess.run(settle(20), cwd=REPO, check=True, capture_output=True)
    assert snapshot(out) == new
    assert leftovers(out) == []
