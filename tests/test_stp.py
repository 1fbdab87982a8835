"""Self-trade prevention modes, one rule per scenario (docs/RULES.md §4 "Self-trade
prevention", §5 "Exact details").

An order's ``stp`` decides what happens when the next order it would meet (compatible
and crossing) belongs to its own party: ``cancel_incoming`` (the default) cancels the
incoming remainder, ``cancel_resting`` cancels that resting order and goes on,
``cancel_both`` cancels that resting order and then the incoming remainder.

The per-call scenarios run over every engine of ``engine_cls`` (tests/conftest.py):
instruments of tick 0.001, factors A 9500, B 9000, C 8000, D 7000. The buyer in most
scenarios is the provider pB (grade B), so its own asks sit in the B ladder among pA's
A asks. Effective prices (raw * 10000 / factor) are written beside each ask.

The file scenarios replay order files through the command with the default
configuration (p.atlas and p.borealis are grade A providers).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from compute_exchange.cli import main
from exchange.schema import Event, EventType, Reason, Side, Stp

X = "GPU-X"
ACC, REJ, FILL, CXL, REP = (EventType.ACCEPTED, EventType.REJECTED, EventType.FILL,
                            EventType.CANCELED, EventType.REPLACED)
NONE, SELF, FOK, IOC = Reason.NONE, Reason.SELF_TRADE, Reason.FOK, Reason.IOC
MODES = ["cancel_incoming", "cancel_resting", "cancel_both"]


# ------------------------------------------------------------ expected events
def acc(seq, oid, qty):
    return Event(seq, 0, oid, ACC, NONE, qty, qty, None)


def fill(seq, oid, qty, leaves, trade_id):
    return Event(seq, 0, oid, FILL, NONE, qty, leaves, trade_id)


def cxl(seq, oid, qty, reason=NONE):
    return Event(seq, 0, oid, CXL, reason, qty, 0, None)


def rej(seq, oid, reason, qty):
    return Event(seq, 0, oid, REJ, reason, qty, None, None)


def rep(seq, oid, qty):
    return Event(seq, 0, oid, REP, NONE, qty, qty, None)


def ids(ex):
    return [o.order_id for o in ex.book()]


def trades(ex):
    """(buy id, sell id, grade, price ticks, qty) of every trade."""
    return [(t.buy_order_id, t.sell_order_id, t.grade, t.price, t.qty) for t in ex.trades()]


def five_asks(ex):
    """Asks at five levels, pB's own at the 2nd and 4th (seqs 0..4, ids 1..5)."""
    ex.submit("pA", X, "sell", 4, "1.900", order_id=1)   # A, effective 2.000
    ex.submit("pB", X, "sell", 3, "1.845", order_id=2)   # B, effective 2.050: pB's own
    ex.submit("pA", X, "sell", 5, "1.995", order_id=3)   # A, effective 2.100
    ex.submit("pB", X, "sell", 6, "1.935", order_id=4)   # B, effective 2.150: pB's own
    ex.submit("pA", X, "sell", 10, "2.090", order_id=5)  # A, effective 2.200
    assert ids(ex) == [1, 2, 3, 4, 5]


# ================================================ the three modes, several levels
def test_cancel_incoming_is_the_default(ex):
    five_asks(ex)
    # A bid of 2.200 crosses all five; the first own ask (2) stops it.
    assert ex.submit("pB", X, "buy", 12, "2.200", order_id=6) == [
        acc(5, 6, 12), fill(5, 6, 4, 8, 1), fill(5, 1, 4, 0, 1), cxl(5, 6, 8, SELF)]
    assert ids(ex) == [2, 3, 4, 5]
    assert ex.order(2).qty == 3 and ex.order(2).arrival_seq == 1  # untouched


def test_cancel_incoming_named_is_the_default(ex):
    five_asks(ex)
    assert ex.submit("pB", X, "buy", 12, "2.200", order_id=6, stp="cancel_incoming") == [
        acc(5, 6, 12), fill(5, 6, 4, 8, 1), fill(5, 1, 4, 0, 1), cxl(5, 6, 8, SELF)]
    assert ids(ex) == [2, 3, 4, 5]


def test_cancel_resting_cancels_each_own_order_and_goes_on(ex):
    five_asks(ex)
    # Each own ask is cancelled where it stands in priority, between the fills around it.
    assert ex.submit("pB", X, "buy", 12, "2.200", order_id=6, stp="cancel_resting") == [
        acc(5, 6, 12),
        fill(5, 6, 4, 8, 1), fill(5, 1, 4, 0, 1),
        cxl(5, 2, 3, SELF),
        fill(5, 6, 5, 3, 2), fill(5, 3, 5, 0, 2),
        cxl(5, 4, 6, SELF),
        fill(5, 6, 3, 0, 3), fill(5, 5, 3, 7, 3)]
    assert trades(ex) == [(6, 1, "A", 1900, 4), (6, 3, "A", 1995, 5), (6, 5, "A", 2090, 3)]
    assert ids(ex) == [5] and ex.order(5).qty == 7


def test_cancel_both_cancels_the_own_order_then_the_incoming_remainder(ex):
    five_asks(ex)
    assert ex.submit("pB", X, "buy", 12, "2.200", order_id=6, stp="cancel_both") == [
        acc(5, 6, 12), fill(5, 6, 4, 8, 1), fill(5, 1, 4, 0, 1),
        cxl(5, 2, 3, SELF), cxl(5, 6, 8, SELF)]
    assert ids(ex) == [3, 4, 5]  # the second own ask is never reached


def test_cancel_resting_cancels_the_whole_open_quantity(ex):
    ex.submit("pB", X, "sell", 10, "1.800", order_id=1)  # B, effective 2.000
    ex.submit("b1", X, "buy", 4, "2.000", order_id=2)  # 2000*9000 >= 1800*10000: 4 filled
    assert ex.order(1).qty == 6
    # pB's bid meets its own ask first: the 6 still open are cancelled, then the bid rests.
    assert ex.submit("pB", X, "buy", 3, "2.500", order_id=3, stp="cancel_resting") == [
        acc(2, 3, 3), cxl(2, 1, 6, SELF)]
    assert ids(ex) == [3] and ex.order(3).stp == Stp.CANCEL_RESTING


def test_cancel_resting_on_a_sell_skips_the_own_bid_ahead_in_the_same_level(ex):
    ex.submit("pA", X, "buy", 5, "2.000", order_id=1)  # pA's own bid, first at 2.000
    ex.submit("b1", X, "buy", 5, "2.000", order_id=2)  # behind it at the same price
    # pA sells 12 at 1.000: its own bid is cancelled, b1's fills at floor(2000*9500/10000),
    # nothing else crosses, so 7 rest.
    assert ex.submit("pA", X, "sell", 12, "1.000", order_id=3, stp="cancel_resting") == [
        acc(2, 3, 12), cxl(2, 1, 5, SELF), fill(2, 3, 5, 7, 1), fill(2, 2, 5, 0, 1)]
    assert trades(ex) == [(2, 3, "A", 1900, 5)]
    assert ids(ex) == [3] and ex.order(3).qty == 7


def test_cancel_resting_ioc_remainder_is_ioc(ex):
    ex.submit("pB", X, "sell", 5, "1.800", order_id=1)  # pB's own, effective 2.000
    ex.submit("pA", X, "sell", 2, "1.995", order_id=2)  # effective 2.100
    assert ex.submit("pB", X, "buy", 6, "2.200", tif="ioc", order_id=3, stp="cancel_resting") == [
        acc(2, 3, 6), cxl(2, 1, 5, SELF), fill(2, 3, 2, 4, 1), fill(2, 2, 2, 0, 1), cxl(2, 3, 4, IOC)]
    assert ex.book() == []


def test_cancel_both_market_remainder_is_self_trade_not_ioc(ex):
    ex.submit("pB", X, "sell", 5, "9.000", order_id=1)  # pB's own, the only ask
    assert ex.submit("pB", X, "buy", 6, order_type="market", order_id=2, stp="cancel_both") == [
        acc(1, 2, 6), cxl(1, 1, 5, SELF), cxl(1, 2, 6, SELF)]
    assert ex.book() == [] and ex.trades() == []


# ========================================== only compatible crossing own orders count
@pytest.mark.parametrize("stp", MODES)
def test_incompatible_own_order_is_skipped(ex, stp):
    ex.submit("pC", X, "sell", 5, "1.000", order_id=1)  # pC's own C ask, effective 1.250: best
    ex.submit("pA", X, "sell", 5, "2.000", order_id=2)
    # pC buys admitting A and B only: its C ask is not compatible, so no mode touches it.
    assert ex.submit("pC", X, "buy", 5, "3.000", min_grade="B", order_id=3, stp=stp) == [
        acc(2, 3, 5), fill(2, 3, 5, 0, 1), fill(2, 2, 5, 0, 1)]
    assert ids(ex) == [1] and ex.order(1).qty == 5


@pytest.mark.parametrize("stp", MODES)
def test_own_order_that_does_not_cross_is_untouched(ex, stp):
    ex.submit("pA", X, "sell", 5, "2.000", order_id=1)  # effective 2.105
    # 1.800 * 9500 < 2.000 * 10000: no cross, so no self-trade under any mode.
    assert ex.submit("pA", X, "buy", 5, "1.800", order_id=2, stp=stp) == [acc(1, 2, 5)]
    assert ids(ex) == [2, 1]


@pytest.mark.parametrize("stp", MODES)
def test_post_only_is_would_cross_whatever_the_party_and_mode(ex, stp):
    ex.submit("pA", X, "sell", 5, "2.000", order_id=1)  # pA's own ask
    assert ex.submit("pA", X, "buy", 4, "2.200", tif="post_only", order_id=2, stp=stp) == [
        rej(1, 2, Reason.WOULD_CROSS, 4)]
    assert ids(ex) == [1] and ex.order(1).qty == 5


# ======================================================================== FOK
def three_asks(ex):
    """pA 5, pB's own 5, pA 5 (seqs 0..2, ids 1..3), all crossing a bid of 2.200."""
    ex.submit("pA", X, "sell", 5, "1.900", order_id=1)  # A, effective 2.000
    ex.submit("pB", X, "sell", 5, "1.845", order_id=2)  # B, effective 2.050: pB's own
    ex.submit("pA", X, "sell", 5, "1.995", order_id=3)  # A, effective 2.100


def test_fok_cancel_resting_counts_past_own_orders_and_fills(ex):
    three_asks(ex)
    # The check skips the own ask: 5 + 5 = 10 can fill; matching then cancels the own ask.
    assert ex.submit("pB", X, "buy", 10, "2.200", tif="fok", order_id=4, stp="cancel_resting") == [
        acc(3, 4, 10), fill(3, 4, 5, 5, 1), fill(3, 1, 5, 0, 1), cxl(3, 2, 5, SELF),
        fill(3, 4, 5, 0, 2), fill(3, 3, 5, 0, 2)]
    assert ex.book() == []


@pytest.mark.parametrize("stp, qty", [
    ("cancel_resting", 11),  # 10 fillable past the own ask
    ("cancel_both", 6),  # 5 fillable before the own ask stops the walk
    ("cancel_incoming", 6),
])
def test_fok_that_cannot_fill_does_nothing_not_even_cancel_the_own_order(ex, stp, qty):
    three_asks(ex)
    before = ex.book()
    assert ex.submit("pB", X, "buy", qty, "2.200", tif="fok", order_id=4, stp=stp) == [
        acc(3, 4, qty), cxl(3, 4, qty, FOK)]
    assert ex.book() == before and ex.trades() == []


@pytest.mark.parametrize("stp", ["cancel_both", "cancel_incoming"])
def test_fok_that_fills_before_the_own_order_leaves_it_alone(ex, stp):
    three_asks(ex)
    assert ex.submit("pB", X, "buy", 5, "2.200", tif="fok", order_id=4, stp=stp) == [
        acc(3, 4, 5), fill(3, 4, 5, 0, 1), fill(3, 1, 5, 0, 1)]
    assert ids(ex) == [2, 3]


# ==================================================================== replace
def test_replace_rearrival_keeps_cancel_resting(ex):
    ex.submit("pB", X, "buy", 5, "1.500", order_id=1, stp="cancel_resting")  # rests
    ex.submit("pB", X, "sell", 2, "1.800", order_id=2)  # pB's own, effective 2.000
    ex.submit("pA", X, "sell", 3, "1.995", order_id=3)  # effective 2.100
    # A pure quantity decrease keeps place and mode.
    assert ex.replace(1, "pB", qty=4) == [rep(3, 1, 4)]
    assert ex.order(1).stp == Stp.CANCEL_RESTING
    # Re-arrival at 2.200 for 6: its own ask is cancelled, pA's fills, 3 rest.
    assert ex.replace(1, "pB", price="2.200", qty=6) == [
        rep(4, 1, 6), cxl(4, 2, 2, SELF), fill(4, 1, 3, 3, 1), fill(4, 3, 3, 0, 1)]
    assert ids(ex) == [1]
    assert (ex.order(1).qty, ex.order(1).arrival_seq, ex.order(1).stp) == (3, 4, Stp.CANCEL_RESTING)


def test_replace_rearrival_keeps_cancel_both(ex):
    ex.submit("pB", X, "buy", 5, "1.500", order_id=1, stp="cancel_both")
    ex.submit("pB", X, "sell", 2, "1.800", order_id=2)  # pB's own, effective 2.000
    ex.submit("pA", X, "sell", 3, "1.995", order_id=3)
    assert ex.replace(1, "pB", price="2.200", qty=6) == [
        rep(3, 1, 6), cxl(3, 2, 2, SELF), cxl(3, 1, 6, SELF)]
    assert ids(ex) == [3]


def test_replace_rearrival_of_default_order_cancels_itself(ex):
    ex.submit("pB", X, "buy", 5, "1.500", order_id=1)
    ex.submit("pB", X, "sell", 2, "1.800", order_id=2)
    assert ex.replace(1, "pB", price="2.200") == [rep(2, 1, 5), cxl(2, 1, 5, SELF)]
    assert ids(ex) == [2] and ex.order(2).qty == 2


# ============================================================ API arguments
@pytest.mark.parametrize("bad", ["Cancel_Resting", "cancel", "cancel-both", 1, None])
def test_submit_refuses_an_unknown_stp_naming_the_field(ex, bad):
    with pytest.raises(ValueError, match="stp"):
        ex.submit("b1", X, "buy", 5, "2.000", order_id=1, stp=bad)
    # Nothing happened: the next call takes seq 0.
    assert ex.submit("b1", X, "buy", 5, "2.000", order_id=1, stp=Stp.CANCEL_BOTH) == [acc(0, 1, 5)]
    assert ex.order(1).stp == Stp.CANCEL_BOTH


def test_an_empty_stp_is_an_empty_cell_so_the_default(ex):
    """docs/RULES.md §5: an empty cell is "not given"; stp's default is cancel_incoming."""
    assert ex.submit("b1", X, "buy", 5, "2.000", order_id=1, stp="") == [acc(0, 1, 5)]
    assert ex.order(1).stp == Stp.CANCEL_INCOMING


# ============================================================== action arrays
def _rows(ex, modes):
    """The five_asks book and pB's bid as ACTION_DTYPE rows (prices in ticks)."""
    from exchange.schema import ACT_NEW, ACTION_DTYPE, BUY, GRADE_ABSENT, PRICE_OK, SELL

    book = [("pA", SELL, 4, 1900), ("pB", SELL, 3, 1845), ("pA", SELL, 5, 1995),
            ("pB", SELL, 6, 1935), ("pA", SELL, 10, 2090), ("pB", BUY, 12, 2200)]
    rows = np.zeros(len(book), ACTION_DTYPE)
    for i, (party, side, qty, price) in enumerate(book):
        rows[i] = (0, 0, ACT_NEW, i + 1, ex.party_index(party), ex.instrument_index(X), side, 0, 0,
                   PRICE_OK, price, qty, GRADE_ABSENT, 0, modes[i])
    return rows


def test_apply_rows_carry_their_stp(config):
    from exchange.engine import Exchange

    ex = Exchange(config)
    events = ex.apply(_rows(ex, [0, 0, 0, 0, 0, int(Stp.CANCEL_RESTING)]))
    last = events[events["seq"] == 5]
    assert [(int(e["order_id"]), EventType(e["event"]), Reason(e["reason"]), int(e["qty"]))
            for e in last] == [
        (6, ACC, NONE, 12), (6, FILL, NONE, 4), (1, FILL, NONE, 4), (2, CXL, SELF, 3),
        (6, FILL, NONE, 5), (3, FILL, NONE, 5), (4, CXL, SELF, 6), (6, FILL, NONE, 3), (5, FILL, NONE, 3)]
    assert ids(ex) == [5] and ex.order(5).qty == 7


def test_apply_refuses_an_stp_code_out_of_range(config):
    from exchange.engine import Exchange

    ex = Exchange(config)
    with pytest.raises(ValueError, match="stp"):
        ex.apply(_rows(ex, [0, 0, 0, 0, 0, 3]))
    assert ex.book() == [] and ex.submit("b1", X, "buy", 1, "1.000", order_id=9) == [acc(0, 9, 1)]


def test_run_batch_refuses_an_stp_code_out_of_range(config):
    from exchange.engine import Exchange, run_batch

    ex = Exchange(config)
    with pytest.raises(ValueError, match="stp"):
        run_batch(config, _rows(ex, [0, 0, -1, 0, 0, 0]), ex.parties)


# ================================================================ order files
H100 = "H100-SXM.2027-01"
HEADER = "ts,action,order_id,party,instrument,side,type,tif,price,qty,min_grade,goodput"
# p.atlas sells 5 at 2.000 (seq 0), p.borealis 5 at 2.010 (seq 1); then p.atlas bids 8 at 2.500.
BOOK_ROWS = (f"1,new,1,p.atlas,{H100},sell,limit,gtc,2.000,5,,",
             f"2,new,2,p.borealis,{H100},sell,limit,gtc,2.010,5,,")
BID = f"3,new,3,p.atlas,{H100},buy,limit,gtc,2.500,8,,"


def _replay(tmp_path: Path, header: str, *rows: str, lenient: bool = False, name: str = "orders.csv"):
    orders = tmp_path / name
    orders.write_text("\n".join((header,) + rows) + "\n", encoding="utf-8")
    out = tmp_path / (name + ".out")
    code = main(["replay", str(orders), "--out", str(out), "--no-progress"]
                + (["--lenient"] if lenient else []))
    return code, orders, out


def _events(out: Path) -> list[str]:
    return (out / "events.csv").read_text().splitlines()


def test_file_without_stp_column_uses_cancel_incoming(tmp_path):
    code, _, out = _replay(tmp_path, HEADER, *BOOK_ROWS, BID)
    assert code == 0
    assert _events(out)[3:] == ["2,3,3,ACCEPTED,,8,8", "2,3,3,CANCELED,SELF_TRADE,8,0"]
    assert (out / "trades.csv").read_text().splitlines()[1:] == []


def test_file_with_empty_stp_cell_uses_cancel_incoming(tmp_path):
    rows = [r + "," for r in (*BOOK_ROWS, BID)]
    code, _, out = _replay(tmp_path, HEADER + ",stp", *rows)
    assert code == 0
    assert _events(out)[3:] == ["2,3,3,ACCEPTED,,8,8", "2,3,3,CANCELED,SELF_TRADE,8,0"]


def test_file_stp_cancel_resting(tmp_path):
    rows = [r + "," for r in BOOK_ROWS] + [BID + ",cancel_resting"]
    code, _, out = _replay(tmp_path, HEADER + ",stp", *rows)
    assert code == 0
    assert _events(out)[3:] == [
        "2,3,3,ACCEPTED,,8,8", "2,3,1,CANCELED,SELF_TRADE,5,0", "2,3,3,FILL,,5,3", "2,3,2,FILL,,5,0"]
    trade = (out / "trades.csv").read_text().splitlines()[1]
    assert trade.startswith(f"1,2,3,{H100},3,2,p.atlas,p.borealis,A,2.010,")
    # book.csv has no stp column; the remainder rests.
    assert (out / "book.csv").read_text().splitlines() == [
        "instrument,side,order_id,party,price,qty,grade,min_grade,tif,arrival_seq",
        f"{H100},buy,3,p.atlas,2.500,3,,D,gtc,2"]


def test_file_stp_cancel_both(tmp_path):
    rows = [r + "," for r in BOOK_ROWS] + [BID + ",cancel_both"]
    code, _, out = _replay(tmp_path, HEADER + ",stp", *rows)
    assert code == 0
    assert _events(out)[3:] == [
        "2,3,3,ACCEPTED,,8,8", "2,3,1,CANCELED,SELF_TRADE,5,0", "2,3,3,CANCELED,SELF_TRADE,8,0"]


def test_parquet_stp_column_gives_the_csv_outputs(tmp_path):
    rows = [r + "," for r in BOOK_ROWS] + [BID + ",cancel_resting"]
    code, csv_path, out_csv = _replay(tmp_path, HEADER + ",stp", *rows)
    assert code == 0
    lines = csv_path.read_text().splitlines()
    names = lines[0].split(",")
    cells = [line.split(",") for line in lines[1:]]
    table = pa.table({name: [row[k] or None for row in cells] for k, name in enumerate(names)})
    parquet = tmp_path / "orders.parquet"
    pq.write_table(table, parquet)
    out_pq = tmp_path / "pq"
    assert main(["replay", str(parquet), "--out", str(out_pq), "--no-progress"]) == 0
    for name in ("events.csv", "trades.csv", "book.csv"):
        assert (out_pq / name).read_bytes() == (out_csv / name).read_bytes(), name


@pytest.mark.parametrize("word", ["cancel_all", "Cancel_Resting", "CANCEL_BOTH", " cancel_both"])
def test_malformed_stp_word_strict(tmp_path, capsys, word):
    rows = [r + "," for r in BOOK_ROWS] + [BID + "," + word]
    code, orders, out = _replay(tmp_path, HEADER + ",stp", *rows)
    err = capsys.readouterr().err.splitlines()
    assert code == 2
    assert err[0] == (f"{orders}:4: stp: {word!r} is not one of "
                      "cancel_incoming, cancel_resting, cancel_both")
    assert not out.exists() or not any(out.iterdir())


def test_malformed_stp_word_lenient_is_rejected_bad_field(tmp_path):
    rows = [r + "," for r in BOOK_ROWS] + [BID + ",cancel_all"]
    code, _, out = _replay(tmp_path, HEADER + ",stp", *rows, lenient=True)
    assert code == 0
    # A malformed row carries the last accepted row's ts (2), its order id and qty.
    assert _events(out)[3:] == ["2,2,3,REJECTED,BAD_FIELD,8,"]
    assert len((out / "book.csv").read_text().splitlines()) == 3  # both asks still rest


def test_stp_cell_is_ignored_on_other_actions(tmp_path):
    rows = [BOOK_ROWS[0] + ",", "2,cancel,1,p.atlas,,,,,,,,,junk", "3,grade,,p.atlas,,,,,,,,0.9700,junk",
            f"4,close,,,{H100},,,,,,,,junk"]
    code, _, out = _replay(tmp_path, HEADER + ",stp", *rows)
    assert code == 0  # strict: the unused cells are not looked at
    assert _events(out)[1:] == ["0,1,1,ACCEPTED,,5,5", "1,2,1,CANCELED,,5,0"]


def test_file_replay_equals_the_per_call_api(tmp_path):
    from exchange.config import ExchangeConfig
    from exchange.engine import Exchange

    rows = [r + "," for r in BOOK_ROWS] + [BID + ",cancel_resting"]
    code, _, out = _replay(tmp_path, HEADER + ",stp", *rows)
    assert code == 0
    ex = Exchange(ExchangeConfig.default())
    ex.submit("p.atlas", H100, "sell", 5, "2.000", order_id=1, ts=1)
    ex.submit("p.borealis", H100, "sell", 5, "2.010", order_id=2, ts=2)
    events = ex.submit("p.atlas", H100, "buy", 8, "2.500", order_id=3, ts=3, stp="cancel_resting")
    assert [f"{e.seq},{e.ts},{e.order_id},{e.event.name},{'' if e.reason == NONE else e.reason.name},"
            f"{e.qty},{e.leaves_qty}" for e in events] == _events(out)[3:]
    assert ex.book()[0].side == Side.BUY and ex.book()[0].stp == Stp.CANCEL_RESTING
