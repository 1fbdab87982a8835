"""Streamed statements (docs/RULES.md §7 outputs): the Numba line formatter writes the
same bytes as plain Arrow text formatting of the same numbers, block by block."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.csvio import int_text, money_text, text_column
from contracts.metering import Metering
from contracts.report import STATEMENT_COLUMNS, render, write_outputs
from contracts.schedule import Contracts
from contracts.settlement import Settlement
from exchange.config import ExchangeConfig

SYMBOLS = ('GPU,"X"', "H100")  # a symbol that needs CSV quoting


def config() -> ExchangeConfig:
    lines = []
    for symbol, periods in zip(SYMBOLS, (3, 5)):
        quoted = symbol.replace('"', '\\"')
        lines += ["[[instrument]]", f'symbol = "{quoted}"', 'tick = "0.001"', 'price_min = "0"',
                  'price_max = "9000"', f"delivery_periods = {periods}", "take_or_pay = 7000",
                  "makeup_periods = 2", "sla_credit = 5000", "credit_cap = 8000", "fee = 25"]
    return ExchangeConfig.from_toml("\n".join(lines) + "\n")


def arrow_statements(settlement) -> bytes:
    """statements.csv the way it was written before streaming: Arrow text columns."""
    c = settlement.contracts
    names = {"instrument": list(SYMBOLS), "buyer": list(c.parties), "provider": list(c.parties),
             "grade": [g.name for g in c.config.grades]}
    money = {"p", "charge", "sla", "goodput_cr", "credit", "net", "fee_each", "buyer_pays", "provider_receives"}
    lines = [",".join(STATEMENT_COLUMNS)]
    for r in settlement.results:
        k = r.contract
        source = {"trade_id": c.trade_id[k], "period": np.full(len(k), r.period), "instrument": c.instrument[k],
                  "buyer": c.buyer[k], "provider": c.provider[k], "grade": c.grade[k], "p": c.p[k],
                  "floor_bp": c.floor_bp[k], **r.lines}
        cols = []
        for name in STATEMENT_COLUMNS:
            if name in names:
                cols.append(text_column(pa.array(names[name]).take(pa.array(source[name].astype(np.int64)))))
            else:
                cols.append((money_text if name in money else int_text)(source[name]))
        for j in range(len(k)):
            lines.append(",".join(col[j].as_py() for col in cols))
    return ("\n".join(lines) + "\n").encode()


@st.composite
def books(draw):
    n = draw(st.integers(1, 9))
    parties = ["b.a", "b.b", "p.x", "m.both"]
    book = Contracts.from_arrays(
        config(), list(range(1, n + 1)), draw(st.lists(st.sampled_from(SYMBOLS), min_size=n, max_size=n)),
        draw(st.lists(st.sampled_from(parties), min_size=n, max_size=n)),
        draw(st.lists(st.sampled_from(parties), min_size=n, max_size=n)),
        draw(st.lists(st.sampled_from("ABCD"), min_size=n, max_size=n)),
        draw(st.lists(st.integers(0, 9 * 10**6), min_size=n, max_size=n)),  # up to $9,000 an hour
        draw(st.lists(st.integers(1, 10**4), min_size=n, max_size=n)),  # qty x p x 10000 < 2^63
    )
    rows = []
    for c in range(n):
        for t in range(int(book.periods[c])):
            if draw(st.booleans()):
                big = st.integers(0, 10**17)  # hours are printed as given, however large
                rows.append((c + 1, t, draw(big), draw(big), f"0.{draw(st.integers(0, 9999)):04d}"))
    return book, rows, draw(st.integers(0, int(book.periods.max()) - 1)), draw(st.integers(1, 4))


@settings(max_examples=60, deadline=None)
@given(books())
def test_streamed_statements_equal_arrow_formatting(tmp_path_factory, book):
    contracts, rows, last, block = book
    kept = Settlement(contracts.config, contracts)
    kept.settle_through(last, Metering.from_rows(rows, contracts))
    streamed = Settlement(contracts.config, contracts, keep_lines=False)
    streamed.block_contracts = block
    streamed.add_metering(Metering.from_rows(rows, contracts))
    out = tmp_path_factory.mktemp("bills")
    written = write_outputs(streamed, out, last)
    assert (out / "statements.csv").read_bytes() == arrow_statements(kept)
    assert written["lines"] == sum(len(r.contract) for r in kept.results)
    texts = render(kept)
    for name in ("parties.csv", "netting.csv", "obligations.csv"):
        assert (out / name).read_text() == texts[name]
