"""First run and embedding (issue 14): one compiled signature per kernel, no compile on
a query, a cold cache announced before the wait, and a prompt exit.

The process-wide checks run in a fresh interpreter, so that what other tests
compiled cannot hide or fake a second signature.
"""
from __future__ import annotations

import importlib.util
import json
import logging
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from exchange.nb.kernel import announce_compile, is_cached, load

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "samples" / "orders.csv"

_EVERY_INPUT_AND_CALL = r"""
import importlib, json, pkgutil, sys
from pathlib import Path
import numpy as np
import pyarrow as pa, pyarrow.csv as pacsv, pyarrow.parquet as pq
from numba.core import event
from numba.core.dispatcher import Dispatcher
import exchange
from compute_exchange.cli import main

tmp, sample = Path(sys.argv[1]), Path(sys.argv[2])
def replay(path, name):
    assert main(["replay", str(path), "--out", str(tmp / ("out-" + name)), "--no-progress"]) == 0, path

columns = sample.read_text().splitlines()[0].split(",")
text = pacsv.read_csv(sample, convert_options=pacsv.ConvertOptions(
    column_types={c: pa.string() for c in columns}, strings_can_be_null=True))
typed = text.set_column(0, "ts", text.column("ts").cast(pa.int64()))
pq.write_table(text, tmp / "text.parquet")
pq.write_table(typed, tmp / "typed.parquet")
pq.write_table(text.cast(pa.schema([pa.field(c, pa.large_string()) for c in columns])), tmp / "large.parquet")
kept = [c for c in columns if c not in ("type", "tif", "min_grade")]  # optional columns missing
pacsv.write_csv(text.select(kept), tmp / "some_columns.csv")
pq.write_table(text.select(kept), tmp / "some_columns.parquet")
for name in ("text.parquet", "typed.parquet", "large.parquet", "some_columns.csv", "some_columns.parquet"):
    replay(tmp / name, name)
replay(sample, "csv")

from exchange.engine import Exchange
from exchange.schema import ACT_CANCEL, ACTION_DTYPE
ex = Exchange()
symbol, provider = ex.config.instruments[0].symbol, ex.config.providers[0].party
with event.install_recorder("numba:compile") as compiles:
    ex.submit(provider, symbol, "sell", 5, str(ex.config.instruments[0].price_max), order_id=7)
    ex.submit("b.1", symbol, "buy", 2, None, order_type="market")
    ex.submit("b.1", symbol, "buy", 1, str(ex.config.instruments[0].price_min), order_id=9)
    ex.order(np.int32(7)); ex.order(9); ex.order(12345)
    ex.book(); ex.book(symbol); ex.depth(symbol, "sell"); ex.depth(symbol, "buy", levels=3)
    ex.best_bid(symbol); ex.best_ask(symbol); ex.best_ask(symbol, "A"); ex.trades()
    ex.submit_fast(ex.party_index("b.1"), 0, 0, 1, order_id=20); ex.cancel_fast(20, ex.party_index("b.1"))
    ex.replace(9, "b.1", qty=1); ex.cancel(9, "b.1"); ex.regrade(provider, "0.5")
    rows = np.zeros(4, ACTION_DTYPE)[::2]  # strided
    rows["action"] = ACT_CANCEL; rows["order_id"] = [100, 101]; rows["party"] = ex.party_index("b.1"); rows["ts"] = 1
    rows["instrument"] = -1
    ex.apply(rows); ex.fork().state_digest(); ex.close(symbol); ex.state_digest()
    for _ in range(3000):  # grows the id hash and the order slots
        ex.submit("b.2", symbol, "buy", 1, str(ex.config.instruments[1].price_min))
    Exchange(ex.config)

for info in pkgutil.iter_modules(exchange.__path__):
    if info.name != "__main__":
        importlib.import_module(f"exchange.{info.name}")
found = {}
for name, module in list(sys.modules.items()):
    if name == "exchange" or name.startswith("exchange."):
        for obj in vars(module).values():
            if isinstance(obj, Dispatcher):
                key = f"{obj.py_func.__module__}.{obj.py_func.__qualname__}"
                found[key] = [str(s) for s in obj.signatures]
print(json.dumps({"signatures": found, "compiles_during_calls": len(compiles.buffer)}))
"""


@pytest.fixture(scope="module")
def every_input_and_call(tmp_path_factory):
    """Replays of CSV and Parquet inputs (text, typed, large_string, optional columns
    missing) and every per-call action and query, in one fresh interpreter."""
    tmp = tmp_path_factory.mktemp("inputs")
    done = subprocess.run([sys.executable, "-c", _EVERY_INPUT_AND_CALL, str(tmp), str(SAMPLE)],
                          capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_every_kernel_holds_at_most_one_signature(every_input_and_call):
    signatures = every_input_and_call["signatures"]
    twice = {name: sigs for name, sigs in signatures.items() if len(sigs) > 1}
    assert twice == {}


def test_the_replay_and_call_kernels_were_each_loaded_once(every_input_and_call):
    signatures = every_input_and_call["signatures"]
    for name in ("exchange.files.orders_io._parse_batch", "exchange.nb.matching_nb.process",
                 "exchange.nb.matching_nb.process_one", "exchange.nb.matching_nb.dump_book",
                 "exchange.files.writers._trades_csv", "exchange.files.writers._events_csv",
                 "exchange.files.writers._book_csv", "exchange.nb.orderids_nb.lookup",
                 "exchange.nb.ladder_nb.level_price", "exchange.nb.ladder_nb.next_level",
                 "exchange.nb.lean_nb.submit_traded", "exchange.nb.lean_nb.cancel_open"):
        assert len(signatures[name]) == 1, name


def test_no_call_or_query_compiles_after_construction(every_input_and_call):
    assert every_input_and_call["compiles_during_calls"] == 0


def test_only_the_first_exchange_of_a_process_spends_time_loading():
    from exchange.engine import Exchange

    Exchange()  # loads, unless an earlier test did
    later = Exchange()
    assert later.load_seconds == 0.0
    assert later.fork().load_seconds == 0.0


def test_the_first_exchange_reports_its_load_time():
    done = subprocess.run([sys.executable, "-c",
                           "from exchange.engine import Exchange; print(Exchange().load_seconds)"],
                          capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    assert float(done.stdout.strip().splitlines()[-1]) > 0.0


# ---------------------------------------------------------------- a tiny kernel
_TINY = """
from exchange.nb.kernel import kernel


@kernel
def first_plus(values, k):
    return values[0] + k
"""


@pytest.fixture
def tiny(tmp_path):
    """A kernel of its own, with its cache in ``tmp_path``: cold until compiled here."""
    path = tmp_path / "tiny_kernel.py"
    path.write_text(_TINY)
    spec = importlib.util.spec_from_file_location(f"tiny_kernel_{time.time_ns()}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.first_plus


def test_integer_scalars_of_any_width_share_one_signature(tiny):
    values = np.array([40], np.int64)
    assert tiny(values, 2) == 42
    assert tiny(values, np.int32(2)) == 42
    assert tiny(values, np.int8(-2)) == 38
    assert len(tiny.signatures) == 1


def test_load_refuses_a_kernel_with_a_second_signature(tiny):
    load(tiny, np.zeros(1, np.int64), 0)
    tiny(np.zeros(1, np.float64), 1)  # another array type: a second copy
    with pytest.raises(RuntimeError, match="2 compiled signatures"):
        load(tiny, np.zeros(1, np.int64), 0)


def test_a_cold_cache_is_announced_once_before_compiling(tiny, caplog):
    assert is_cached(tiny) is False
    with caplog.at_level(logging.WARNING, logger="exchange"):
        assert announce_compile("the tiny kernel", 5, [tiny]) is True
    assert len(caplog.records) == 1
    line = caplog.records[0].getMessage()
    assert "compiling the tiny kernel" in line and "once per machine" in line and "about 5 s" in line
    load(tiny, np.zeros(1, np.int64), 0)
    assert is_cached(tiny) is True
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="exchange"):
        assert announce_compile("the tiny kernel", 5, [tiny]) is False
    assert caplog.records == []


# ----------------------------------------------------------------- the command
def _replay_and_time_exit(out: Path) -> tuple[float, str, str]:
    """Run the README's first command; seconds from its last stdout line to its exit."""
    process = subprocess.Popen([sys.executable, "-m", "compute_exchange", "replay", str(SAMPLE), "--out", str(out),
                                "--no-progress"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    lines = []
    last = time.perf_counter()
    for line in process.stdout:
        last = time.perf_counter()
        lines.append(line.decode())
    process.wait()
    exited = time.perf_counter()
    assert process.returncode == 0
    return exited - last, "".join(lines), process.stderr.read().decode()


def test_the_replay_command_exits_promptly_and_quietly_on_a_warm_cache(tmp_path):
    _replay_and_time_exit(tmp_path / "first")  # compiles, if no test did before
    runs = [_replay_and_time_exit(tmp_path / f"run{k}") for k in range(3)]
    assert min(seconds for seconds, _, _ in runs) < 0.5  # best of three: the machine is shared
    for _, stdout, stderr in runs:
        assert stdout.splitlines()[-1].startswith("wrote ")
        assert "compiling" not in stderr
