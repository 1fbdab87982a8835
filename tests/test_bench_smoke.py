"""The benchmarks, run once in a minimal mode so they cannot rot (no timing asserted).

* every hot-path case of bench/test_hotpath.py: set up, run once, check its result;
* the runner (``python -m bench``) on tiny sizes, in this process, every workload and
  part except the cold-compile subprocess (slow: it compiles every kernel afresh);
* bench/bench_risk.py's network, small: one clearing and one compression.
"""
import json

import numpy as np
import pytest

from bench import runner
from bench.test_hotpath import ALL_CASES, PerCall


@pytest.mark.parametrize("name", list(ALL_CASES))
def test_hotpath_case_once(name):
    case, check = ALL_CASES[name]()
    check(*case.once())


def test_per_call_case_once():
    per_call = PerCall()
    PerCall.check(per_call.run())


def test_runner_tiny(tmp_path):
    messages = []
    report = runner.main(["--quick", "--in-process", "--sizes", "2000", "--runs", "1", "--deep-resting", "2000",
                          "--latency-calls", "500", "--peer-size", "1500", "--scaling-size", "3000",
                          "--max-threads", "2", "--skip", "compile", "--out", str(tmp_path)],
                         log=messages.append)
    assert {r["workload"] for r in report["workloads"]} == {"plain", "standard", "flash", "deep", "graded", "many"}
    for row in report["workloads"]:
        assert row["kernel"]["actions_per_s"] > 0 and row["events"] >= row["size"]
        assert row["minimal"]["actions_per_s"] > 0 and row["vs_minimal"]["min"] > 0
    assert report["latency"]["p50_ns"] > 0
    engines = report["side_by_side"]["engines"]
    assert len({(r["trades"], r["volume"]) for r in engines}) == 1 and len(engines) >= 3
    assert [p["threads"] for p in report["scaling"]["points"]] == [1, 2]
    assert json.loads((tmp_path / "results.json").read_text())["machine"]["cpus"]
    assert "| standard |" in (tmp_path / "results.md").read_text()


def test_compute_exchange_bench_runs_the_runner(tmp_path):
    from compute_exchange.cli import main

    code = main(["bench", "--workloads", "standard", "--sizes", "1000", "--runs", "1", "--in-process",
                 "--skip", "latency", "compile", "peers", "scaling", "--out", str(tmp_path)])
    assert code == 0
    assert (tmp_path / "results.json").stat().st_size > 0


def test_risk_bench_once():
    """bench/bench_risk.py's network at a small size: clearing cascades, compression keeps positions."""
    from bench.bench_risk import make_network
    from contracts.clearing import clear
    from contracts.compression import compress

    network = make_network(3000, 30000)
    result = clear(network, method="fast")
    assert len(result.rounds) >= 3 and (result.paid <= network.owed).all()
    small = make_network(300, 1500)
    report = compress(small)

    def positions(amount):
        out = np.zeros(len(small), np.int64)
        np.add.at(out, small.creditor, amount)
        np.subtract.at(out, small.debtor, amount)
        return out

    assert report.compressed <= report.gross and (positions(report.amount) == positions(small.amount)).all()


def test_instruction_counts_add_a_functions_own_cost_and_its_calls(tmp_path):
    """bench/instructions.py reads callgrind's output: a function's count is its own
    instructions plus the inclusive cost of each call it makes; other functions are not
    counted, whoever calls them."""
    from bench.instructions import inclusive_counts

    out = tmp_path / "callgrind.out"
    out.write_text("\n".join([
        "positions: instr line", "events: Ir", "",
        "ob=???", "fl=???",
        "fn=0x0000000000001000",  # ours: 3 + 4 of its own, a call costing 50 in all
        "0x1000 0 3", "0x1004 0 4",
        "cfn=0x0000000000009000", "calls=2 0x9000 0", "0x1008 0 50",
        "fn=0x0000000000002000",  # the minimal book
        "0x2000 0 7",
        "fn=0x0000000000009000",  # called by ours: counted in the call, not again
        "0x9000 0 50",
        "fn=0x0000000000001000'2",  # a second context of ours (recursion level 2)
        "0x1000 0 1", "",
    ]))
    assert inclusive_counts(str(out), {"ours": 0x1000, "minimal": 0x2000, "absent": 0x3000}) == {
        "ours": 58, "minimal": 7, "absent": 0}


def test_instruction_counts_refuse_a_bad_size_and_a_missing_valgrind(monkeypatch, capsys):
    from bench import instructions

    with pytest.raises(SystemExit) as refused:
        instructions.main(["plain", "--size", "10"])
    assert refused.value.code == 2 and "--size: '10' is not a whole number of at least 1000" in capsys.readouterr().err
    monkeypatch.setattr(instructions.shutil, "which", lambda name: None)
    with pytest.raises(SystemExit) as refused:
        instructions.main(["plain"])
    assert refused.value.code == 2 and "valgrind is not installed" in capsys.readouterr().err
