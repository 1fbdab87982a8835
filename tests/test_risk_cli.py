"""``compute-exchange risk`` (docs/RULES.md §8): byte-exact outputs, bad input -> exit 2, nothing written."""
from __future__ import annotations

import pathlib

import pytest

from compute_exchange.cli import main

ROOT = pathlib.Path(__file__).resolve().parent.parent


def write(path, text):
    path.write_text(text)
    return str(path)


@pytest.fixture
def chain(tmp_path):
    # A owes B $10, B owes C $6 and D $4. A has $6, B nothing, C $1, D no assets row.
    deals = write(tmp_path / "deals.csv", "debtor,creditor,amount,kind\nA,B,10,compute\nB,C,6,chips\nB,D,4,chips\n")
    assets = write(tmp_path / "assets.csv", "party,cash\nA,6\nB,0\nC,1.000000\n")
    return deals, assets


def test_outputs_byte_exact_on_a_hand_computed_chain(chain, tmp_path, capsys):
    # Round 1: A has 6 < 10. Then A pays 6, B receives 6 < 10: round 2. B pays 6: C gets 3.6, D 2.4.
    deals, assets = chain
    out = tmp_path / "out"
    assert main(["risk", deals, "--assets", assets, "--compress", "--out", str(out)]) == 0
    assert (out / "clearing.csv").read_bytes() == (
        b"party,cash,external_debt,owed,receivable,received,paid,shortfall,lost,equity,default_round\n"
        b"A,6.000000,0.000000,10.000000,0.000000,0.000000,6.000000,4.000000,0.000000,0.000000,1\n"
        b"B,0.000000,0.000000,10.000000,10.000000,6.000000,6.000000,4.000000,0.000000,0.000000,2\n"
        b"C,1.000000,0.000000,0.000000,6.000000,3.600000,0.000000,0.000000,0.000000,4.600000,0\n"
        b"D,0.000000,0.000000,0.000000,4.000000,2.400000,0.000000,0.000000,0.000000,2.400000,0\n"
    )
    # after round 1 only A falls short ($4); after round 2 B too ($4 more)
    assert (out / "rounds.csv").read_bytes() == (
        b"round,new_defaults,defaulted,shortfall\n1,1,1,4.000000\n2,1,2,8.000000\n")
    assert (out / "components.csv").read_bytes() == (
        b"component,parties,gross,compressed,circular_share\n*,4,20.000000,20.000000,0.000000\n")
    printed = capsys.readouterr().out
    assert "round 1: 1 default (A)" in printed and "round 2: 1 default (B)" in printed
    assert "total shortfall: $8.000000" in printed


def test_bankruptcy_costs_and_a_shock(chain, tmp_path):
    # --shock A=5000 leaves A $3. alpha 50%, beta 50%: A pays 1.5; B gets 1.5 and pays 0.75:
    # C gets 0.45, D 0.3. Lost: A 3 - 1.5 = 1.5, B 1.5 - 0.75 = 0.75.
    deals, assets = chain
    out = tmp_path / "out"
    assert main(["risk", deals, "--assets", assets, "--shock", "A=2500", "--shock", "A=2500",
                 "--alpha", "5000", "--beta", "5000", "--out", str(out)]) == 0
    rows = (out / "clearing.csv").read_text().splitlines()[1:]
    assert rows[0] == "A,3.000000,0.000000,10.000000,0.000000,0.000000,1.500000,8.500000,1.500000,0.000000,1"
    assert rows[1] == "B,0.000000,0.000000,10.000000,10.000000,1.500000,0.750000,9.250000,0.750000,0.000000,2"
    assert rows[2] == "C,1.000000,0.000000,0.000000,6.000000,0.450000,0.000000,0.000000,0.000000,1.450000,0"
    assert not (out / "components.csv").exists()


def test_circular_share_per_component(tmp_path):
    # A->B 10, B->C 5, C->A 7: least compression 7 of 22 (see test_risk); D->A 1 is outside the cycle.
    deals = write(tmp_path / "d.csv", "debtor,creditor,amount\nA,B,10\nB,C,5\nC,A,7\nD,A,1\n")
    assets = write(tmp_path / "a.csv", "party,cash\nD,1\n")
    out = tmp_path / "out"
    assert main(["risk", deals, "--assets", assets, "--compress", "--out", str(out)]) == 0
    assert (out / "components.csv").read_text() == (
        "component,parties,gross,compressed,circular_share\n"
        "1,3,22.000000,7.000000,0.681818\n"
        "*,4,23.000000,8.000000,0.652173\n")


def test_settlement_obligations_file_is_recognised(tmp_path):
    obligations = write(tmp_path / "obligations.csv",
                        "buyer,provider,contracts,min_hours,obligation\nlab,cloud,2,100,250.5\nlab,cloud2,1,4,1\n")
    deals = write(tmp_path / "deals.csv", "debtor,creditor,amount,source\ncloud,chips,100,note\n")
    assets = write(tmp_path / "assets.csv", "party,cash,external_debt\nlab,300,0\ncloud,0,150.5\n")
    out = tmp_path / "out"
    assert main(["risk", obligations, deals, "--assets", assets, "--out", str(out)]) == 0
    rows = {r.split(",")[0]: r.split(",") for r in (out / "clearing.csv").read_text().splitlines()[1:]}
    assert rows["lab"][3] == "251.500000" and rows["cloud"][3] == "250.500000"  # owed
    assert rows["cloud"][10] == "0"  # receives 250.5, owes 100 + 150.5: exactly enough


def test_plot_writes_pictures(chain, tmp_path):
    deals, assets = chain
    out = tmp_path / "out"
    assert main(["risk", deals, "--assets", assets, "--plot", "--out", str(out)]) == 0
    for name in ("network.png", "shortfall_by_round.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_help_has_an_example(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["risk", "--help"])
    assert exit_.value.code == 0
    assert "example:" in capsys.readouterr().out


def test_dealweb_example_runs(tmp_path):
    out = tmp_path / "dw"
    code = main(["risk", str(ROOT / "examples/dealweb/deals.csv"), "--assets",
                 str(ROOT / "examples/dealweb/assets.csv"), "--shock", "OpenAI=5000", "--compress", "--out", str(out)])
    assert code == 0
    rounds = (out / "rounds.csv").read_text().splitlines()
    assert len(rounds) >= 3, "the shock to the lab should cascade over at least two rounds"
    assert (out / "components.csv").read_text().splitlines()[1].startswith("1,")


BAD = [
    ("debtor,creditor,amount\nA,B,-5\n", "party,cash\n", "d.csv:2: amount: -5 is negative"),
    ("debtor,creditor,amount\nA,B,1.0000001\n", "party,cash\n", "d.csv:2: amount: 1.0000001 has more than 6"),
    ("debtor,creditor,amount\nA,B,ten\n", "party,cash\n", "d.csv:2: amount: 'ten' is not a plain decimal"),
    ("debtor,creditor,amount\nA,A,1\n", "party,cash\n", "d.csv:2: creditor: A is also the debtor"),
    ("debtor,creditor,amount\nA B,C,1\n", "party,cash\n", "d.csv:2: debtor: 'A B' is not a party name"),
    ("from,to,amount\nA,B,1\n", "party,cash\n", "d.csv:1: header: expected debtor,creditor,amount"),
    ("debtor,creditor,amount\nA,B,1\n", "party,cash\nA,1\nA,2\n", "a.csv:3: party: A is listed twice"),
    ("debtor,creditor,amount\nA,B,1\n", "party\nA\n", "a.csv:1: cash: missing column"),
    ("debtor,creditor,amount\nA,B,1\n", "party,cash\nA,-1\n", "a.csv:2: cash: -1 is negative"),
]


@pytest.mark.parametrize("deals, assets, message", BAD)
def test_bad_cells_exit_2_and_write_nothing(tmp_path, capsys, deals, assets, message):
    d = write(tmp_path / "d.csv", deals)
    a = write(tmp_path / "a.csv", assets)
    out = tmp_path / "out"
    assert main(["risk", d, "--assets", a, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not out.exists()


@pytest.mark.parametrize("flags, message", [
    (["--shock", "Z=100"], "--shock Z=100: unknown party Z"),
    (["--shock", "A=6000", "--shock", "A=5000"], "--shock A: the shocks add up to 11000 bp"),
    (["--shock", "A"], "--shock A: expected PARTY=BP"),
    (["--shock", "A=1.5"], "--shock A=1.5: '1.5' is not a whole number of bp"),
    (["--alpha", "10001"], "--alpha 10001: expected a whole number of bp in 0..10000"),
    (["--beta", "x"], "--beta x: expected a whole number of bp"),
])
def test_bad_flags_exit_2_and_write_nothing(chain, tmp_path, capsys, flags, message):
    deals, assets = chain
    out = tmp_path / "out"
    assert main(["risk", deals, "--assets", assets, *flags, "--out", str(out)]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_every_bad_cell_is_reported(tmp_path, capsys):
    d = write(tmp_path / "d.csv", "debtor,creditor,amount\nA,B,-1\nC,C,2\nD,E,x\n")
    a = write(tmp_path / "a.csv", "party,cash\n")
    assert main(["risk", d, "--assets", a, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert [line.split(":")[1] for line in err.splitlines()] == ["2", "3", "4"]  # FILE:LINE: column: ...


def test_simulate_shock_flag_is_checked_before_the_run(tmp_path, capsys):
    out = tmp_path / "sim"
    assert main(["simulate", "--days", "1", "--shock", "b.1=20000", "--no-plots", "--out", str(out)]) == 2
    assert "--shock b.1=20000: expected PARTY=BP" in capsys.readouterr().err
    assert not out.exists()
