"""``compute-exchange settle`` end to end at 10 M order rows (streamed outputs).

    pytest bench/bench_settlement_stream.py --benchmark-only          # 10 M rows
    SETTLE_BENCH_ROWS=1000000 pytest bench/bench_settlement_stream.py --benchmark-only

Not collected by the default ``pytest`` run (testpaths = tests). The inputs are the
real pipeline's: ``generate --rows N --seed 7`` (config, orders, metering) and
``replay`` (trades), made once into ``SETTLE_BENCH_DIR`` (default
``out/bench-settle-N``; at 10 M rows this takes several minutes and about 10 GB of
disk) and reused. The measured step is ``settle`` in its own process, as a user runs
it: reading trades and metering, settling every period and writing the four CSV
reports. Reported: wall time (the benchmark), peak RSS of the settle process
(``extra_info["max_rss_mib"]``), statement lines and bytes written.

Memory: at 10 M rows (about 4.2 M contracts x 30 periods) the metering grid takes
about 3.5 GiB; pass ``SETTLE_BENCH_MEMORY`` (e.g. ``8G``) if the default budget (half
of the memory available) is smaller. Figures at 1 M rows: see the report of issue 9.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROWS = int(os.environ.get("SETTLE_BENCH_ROWS", "10000000"))
REPO = Path(__file__).resolve().parents[1]


def _run(*argv) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "exchange", *argv], cwd=REPO, check=True,
                          capture_output=True, text=True)


@pytest.fixture(scope="module")
def data() -> Path:
    root = Path(os.environ.get("SETTLE_BENCH_DIR", REPO / "out" / f"bench-settle-{ROWS}"))
    if not (root / "out" / "trades.csv").exists():
        _run("generate", "--rows", str(ROWS), "--seed", "7", "--out", str(root))
        _run("replay", str(root / "orders.csv"), "--config", str(root / "config.toml"), "--out", str(root / "out"))
    return root


def test_settle_streams_at_scale(benchmark, data):
    bills = data / "bills"
    argv = ["settle", str(data / "out" / "trades.csv"), "--config", str(data / "config.toml"),
            "--metering", str(data / "metering.csv"), "--out", str(bills)]
    if os.environ.get("SETTLE_BENCH_MEMORY"):
        argv += ["--memory-limit", os.environ["SETTLE_BENCH_MEMORY"]]
    _run("settle", "--help")  # start-up (and kernel cache) warm before the timed run

    def settle():
        """The settle process alone: its own peak RSS from wait4 (not the generator's)."""
        proc = subprocess.Popen([sys.executable, "-m", "exchange", *argv], cwd=REPO, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        stdout = proc.stdout.read()
        proc.stderr.read()
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        return proc.returncode, stdout, usage.ru_maxrss

    code, stdout, max_rss_kib = benchmark.pedantic(settle, rounds=1, iterations=1)
    assert code == 0, stdout
    assert "conservation (paid = received + fees, every period): OK" in stdout
    lines = next(line for line in stdout.splitlines() if line.startswith("periods settled"))
    benchmark.extra_info.update({
        "rows": ROWS, "max_rss_mib": round(max_rss_kib / 1024, 1),
        "statement_bytes": (bills / "statements.csv").stat().st_size, "summary": lines,
    })
