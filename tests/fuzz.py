"""Fuzzing the replay with mutated order files, against the reference engine.

    python3 -m tests.fuzz --rows 1000000 --seed 7          # the long run (minutes)
    python3 -m tests.fuzz --rows 0 --api-calls 650000 --seed 7   # the API against the reference
    python3 -m tests.fuzz --rows 3000 --seed 1 --keep out/ # keep the failing files

Each case is a window of consecutive rows of ``samples/orders.csv`` with some rows
mutated, byte by byte (a flipped, inserted or deleted byte: quotes, commas, line
breaks, non-UTF-8) or cell by cell (a hostile value in one cell: empty, huge,
negative, exponent, unicode, another column's word). Every case is replayed through
the command's ``main()`` in this process, strict and ``--lenient``, and must:

* exit 0 or 2, never with a traceback;
* report every problem as ``FILE:LINE: column: what is wrong`` (or one
  ``compute-exchange: ...`` summary line);
* in lenient mode, give the events the reference engine gives for the same rows,
  read by this module's own reading of docs/RULES.md §5 (a malformed row is one
  ``REJECTED BAD_FIELD`` event).

``tests/test_fuzz.py`` runs a few thousand rows of it in CI with a fixed seed.
"""
from __future__ import annotations

import argparse
import contextlib
import csv
import io
import re
import sys
import tempfile
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import numpy as np

SAMPLE = Path(__file__).resolve().parent.parent / "samples" / "orders.csv"
INT64 = (-(2**63), 2**63 - 1)
PARTY = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
INTEGER = re.compile(r"[+-]?[0-9]+")
DECIMAL = re.compile(r"[0-9]+(\.[0-9]*)?|\.[0-9]+")
WORDS = {"action": ("new", "cancel", "replace", "grade", "close"), "side": ("buy", "sell"),
         "type": ("limit", "market"), "tif": ("gtc", "ioc", "fok", "post_only")}
HOSTILE_CELLS = ["", "0", "-1", "-0", "+7", "9223372036854775807", "9223372036854775808",
                 "-9223372036854775808", "99999999999999999999999999", "1e5", "NaN", "inf", " 1",
                 "1 ", "2.0001", "2.000000000000000000000000000000001", ".5", "5.", ".", "0.00005",
                 "1.00000", "ÿ", "é", "\u00a0", "日本", '"', '""', ",", "\\n", "x" * 300,
                 "new", "cancel", "sell", "market", "post_only", "A", "Z", "H100-SXM.2027-01",
                 "p.atlas", "b.titan", "p" * 65]


@dataclass
class Outcome:
    """What one replay did."""

    status: int
    stderr: str
    events: list = field(default_factory=list)


# ------------------------------------------------------------------ mutations
def mutate(lines: list[bytes], rng: np.random.Generator, share: float = 0.15) -> list[bytes]:
    """A copy of ``lines`` (data rows, no header) with about ``share`` of them mutated."""
    out = []
    for line in lines:
        if rng.random() >= share:
            out.append(line)
            continue
        if rng.random() < 0.5:
            out.append(_mutate_bytes(line, rng))
        else:
            out.append(_mutate_cell(line, rng))
    return out


def _mutate_bytes(line: bytes, rng) -> bytes:
    data = bytearray(line)
    for _ in range(int(rng.integers(1, 4))):
        kind = int(rng.integers(4))
        at = int(rng.integers(len(data) + 1))
        if kind == 0 and data:  # flip a byte
            at = min(at, len(data) - 1)
            data[at] = int(rng.integers(256))
        elif kind == 1:  # insert a troublesome byte
            data[at:at] = bytes([int(rng.choice([0x22, 0x2C, 0x0A, 0x0D, 0xFF, 0xC3, 0x00, 0x20]))])
        elif kind == 2 and data:  # delete a byte
            del data[min(at, len(data) - 1)]
        else:  # duplicate a slice
            end = min(len(data), at + int(rng.integers(1, 8)))
            data[at:at] = data[at:end]
    return bytes(data)


def _mutate_cell(line: bytes, rng) -> bytes:
    cells = line.split(b",")
    k = int(rng.integers(len(cells)))
    value = HOSTILE_CELLS[int(rng.integers(len(HOSTILE_CELLS)))]
    if value == "\\n":
        value = "\n"
    cells[k] = value.encode("utf-8")
    return b",".join(cells)


# ------------------------------------------------------------------ replay
def replay_in_process(orders: Path, out: Path, lenient: bool) -> Outcome:
    """``compute-exchange replay`` through ``main()``: exit status, stderr and events."""
    from compute_exchange.cli import main

    err, sink = io.StringIO(), io.StringIO()
    args = ["replay", str(orders), "--out", str(out), "--no-progress"] + (["--lenient"] if lenient else [])
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(sink):
            status = main(args)
    except BaseException as error:  # noqa: BLE001 - a traceback is a failure the caller reports
        import traceback

        return Outcome(-1, err.getvalue() + "Traceback\n" + "".join(traceback.format_exception(error)))
    events = []
    if status == 0:
        with open(out / "events.csv", newline="", encoding="utf-8") as handle:
            events = [tuple(row) for row in csv.reader(handle)][1:]
    return Outcome(status, err.getvalue(), events)


def problems(orders: Path, outcome: Outcome, lenient: bool) -> list[str]:
    """What is wrong with one outcome (empty when it holds to the rules)."""
    found = []
    if outcome.status not in (0, 2):
        found.append(f"exit status {outcome.status}")
    if "Traceback" in outcome.stderr:
        found.append("a traceback on stderr:\n" + outcome.stderr[-2000:])
    where = re.compile(re.escape(str(orders)) + r":[0-9]+: [a-z_]+: ")
    for line in outcome.stderr.splitlines():
        if line and not where.match(line) and not line.startswith("compute-exchange: "):
            found.append(f"stderr line not in FILE:LINE: column: form: {line[:200]!r}")
    if lenient and outcome.status != 0 and "Traceback" not in outcome.stderr:
        header_trouble = f"{orders}:1: header: " in outcome.stderr
        if not header_trouble:
            found.append("lenient replay refused the file:\n" + outcome.stderr[-500:])
    return found


# ------------------------------------------------------------------ the oracle
def reference_events(orders: Path) -> list[tuple] | None:
    """The events of a lenient replay of ``orders``, from the reference engine fed by
    this module's own reading of docs/RULES.md §5. None when the header is unusable."""
    from exchange.oracles.reference import ReferenceExchange

    with open(orders, "rb") as raw:
        text = io.TextIOWrapper(raw, encoding="latin-1", newline="")
        rows = csv.reader(text, strict=False)
        try:
            header = next(rows)
        except (StopIteration, csv.Error):
            return None
        if header and header[0].startswith("\u00ef\u00bb\u00bf"):
            header[0] = header[0][3:]
        allowed = ("ts", "action", "order_id", "party", "instrument", "side", "type", "tif",
                   "price", "qty", "min_grade", "goodput")
        if len(set(header)) != len(header) or not set(header) <= set(allowed) or not {"ts", "action"} <= set(header):
            return None
        ex = ReferenceExchange()
        events = []
        seq = 0
        last_ts = None
        for row in rows:
            if not row:
                continue
            cells = dict(zip(header, row)) if len(row) == len(header) else None
            parsed = _parse_row(cells, last_ts)
            if parsed is None:
                events.append((str(seq), "REJECTED", "BAD_FIELD"))
                seq += 1
                continue
            _, ts, call = parsed
            last_ts = ts
            for ev in call(ex):  # the reference counts only its own calls: the file's seq
                events.append((str(seq),) + _event_tuple(ev)[1:])
            seq += 1
        return events


def _event_tuple(ev) -> tuple:
    return (str(ev.seq), str(ev.ts), "" if ev.order_id is None else str(ev.order_id), ev.event.name,
            "" if ev.reason.name == "NONE" else ev.reason.name,
            "" if ev.qty is None else str(ev.qty), "" if ev.leaves_qty is None else str(ev.leaves_qty))


def _int(text, low=INT64[0]):
    if not INTEGER.fullmatch(text):
        return None
    value = int(text)
    return value if low <= value <= INT64[1] else None


def _qty(text):
    """A qty cell: an int64 other than -2**63 (docs/RULES.md §5)."""
    return _int(text, low=-INT64[1])


def _parse_row(cells, last_ts):
    """(action, ts, call) for a well-formed row, None for a malformed one (§5 Exact details)."""
    if cells is None:
        return None
    get = lambda name: cells.get(name, "")  # an absent column is an empty cell
    ts = _int(get("ts"))
    action = get("action")
    if ts is None or action not in WORDS["action"]:
        return None
    if last_ts is not None and ts < last_ts:
        return None
    order_id = party = None
    if action in ("new", "cancel", "replace"):
        order_id = _int(get("order_id"))
        if order_id is None or order_id <= 0:
            return None
    if action != "close":
        party = get("party")
        if not PARTY.fullmatch(party):
            return None
    if action == "new":
        instrument, side = get("instrument"), get("side")
        kind, tif = get("type") or "limit", get("tif") or "gtc"
        if not instrument or side not in WORDS["side"] or kind not in WORDS["type"] or tif not in WORDS["tif"]:
            return None
        price = get("price")
        if price and not DECIMAL.fullmatch(price):
            return None
        qty = _qty(get("qty"))
        if qty is None:
            return None
        min_grade = get("min_grade") or None
        return action, ts, lambda ex: ex.submit(party, instrument, side, qty, price or None, order_type=kind,
                                                tif=tif, min_grade=min_grade, order_id=order_id, ts=ts)
    if action == "cancel":
        return action, ts, lambda ex: ex.cancel(order_id, party, ts=ts)
    if action == "replace":
        price = get("price")
        if price and not DECIMAL.fullmatch(price):
            return None
        qty = None
        if get("qty"):
            qty = _qty(get("qty"))
            if qty is None:
                return None
        return action, ts, lambda ex: ex.replace(order_id, party, price=price or None, qty=qty, ts=ts)
    if action == "grade":
        goodput = get("goodput")
        if not DECIMAL.fullmatch(goodput):
            return None
        number = Decimal(goodput)
        if not 0 <= number <= 1 or (number * 10000) % 1 != 0:
            return None
        return action, ts, lambda ex: ex.regrade(party, goodput, ts=ts)
    instrument = get("instrument")
    if not instrument:
        return None
    return action, ts, lambda ex: ex.close(instrument, ts=ts)


def agreement(engine_events: list, reference: list) -> str | None:
    """None when the replay's events match the reference's; a BAD_FIELD row is compared
    by seq, event and reason only (the engine echoes what it could read of the row)."""
    mine = [(e[0], e[3], e[4]) if e[4] == "BAD_FIELD" else e for e in engine_events]
    if mine == reference:
        return None
    for k, (a, b) in enumerate(zip(mine, reference)):
        if a != b:
            return f"event {k}: replay {a} != reference {b}"
    return f"{len(mine)} events from the replay, {len(reference)} from the reference"


# ------------------------------------------------------------------ the API
HOSTILE = [None, "", " ", "buy", "sell", "A", "Z", "GPU-X", "GPU-Y", "pA", "pB", "b1", "b2", "日本",
           "x" * 100, "\n", 0, 1, -1, 2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 10**30, True, 1.5,
           float("nan"), Decimal("1e999999"), Decimal("-1e999999"), Decimal("1e-999999"),
           Decimal("NaN"), Decimal("sNaN"), Decimal("Infinity"), Decimal("2.000"), Decimal("2.0005"),
           "2.000", "2.0000000000000000000000000000000001", "1e3", "-2", ".5", "100.001", "0.0999",
           "0.9500", "1.00001", ["b1"], {"a": 1}, (), b"b1", object()]
PRICES = ["1.000", "2.000", "2.005", "99.999", "0.100", None]


def _pick(rng, good, hostile_share=0.3):
    return rng.choice(HOSTILE) if rng.random() < hostile_share else rng.choice(good)


def _call(rng):
    """One random call as (method name, args, kwargs): plausible values with hostile ones mixed in."""
    kind = rng.choice(["submit", "submit", "submit", "cancel", "replace", "regrade", "close"])
    if kind == "submit":
        kwargs = {"order_type": _pick(rng, ["limit", "limit", "market", ""]),
                  "tif": _pick(rng, ["gtc", "ioc", "fok", "post_only", ""], 0.1),
                  "min_grade": _pick(rng, [None, "A", "B", "D"], 0.1)}
        if rng.random() < 0.5:
            kwargs["order_id"] = _pick(rng, list(range(1, 40)), 0.2)
        args = (_pick(rng, ["pA", "pB", "pC", "b1", "b2"], 0.1), _pick(rng, ["GPU-X", "GPU-Y", "NOPE"], 0.1),
                _pick(rng, ["buy", "sell"], 0.1), _pick(rng, [1, 5, 10, 0], 0.1), _pick(rng, PRICES, 0.2))
        return kind, args, kwargs
    if kind in ("cancel", "replace"):
        args = (_pick(rng, list(range(1, 40)), 0.2), _pick(rng, ["pA", "pB", "b1", "b2"], 0.1))
        kwargs = {}
        if kind == "replace":
            kwargs = {"price": _pick(rng, PRICES, 0.2), "qty": _pick(rng, [None, 1, 3, 0], 0.2)}
        return kind, args, kwargs
    if kind == "regrade":
        return kind, (_pick(rng, ["pA", "pB", "pN"], 0.1), _pick(rng, ["0.9600", "0.5", "1", "0.85"], 0.3)), {}
    return kind, (_pick(rng, ["GPU-X", "GPU-Y", "NOPE"], 0.2),), {}


def api_run(calls: int, seed: int, config=None, engines=None) -> list[str]:
    """``calls`` random calls (plausible values with hostile ones mixed in) on both engines:
    any exception other than ValueError, or a call the engines answer differently, is a
    failure; so are different books or trades at the end. Returns the failures."""
    import random

    from exchange.engine import Exchange
    from exchange.oracles.reference import ReferenceExchange

    if config is None:
        from tests.conftest import make_test_config

        config = make_test_config()
    engines = engines or (Exchange, ReferenceExchange)
    rng = random.Random(seed)
    pair = [cls(config) for cls in engines]
    failures = []
    for step in range(calls):
        name, args, kwargs = _call(rng)
        outcomes = []
        for ex in pair:
            try:
                outcomes.append(("events", getattr(ex, name)(*args, **kwargs)))
            except ValueError:
                outcomes.append(("ValueError", None))
            except Exception as error:  # noqa: BLE001 - any other exception is the failure
                outcomes.append((type(error).__name__, None))
                failures.append(f"step {step} (seed {seed}): {type(ex).__name__}.{name}{args!r:.200} "
                                f"{kwargs!r:.200} raised {type(error).__name__}: {error}")
        if outcomes[0] != outcomes[1]:
            failures.append(f"step {step} (seed {seed}): {name}{args!r:.200} {kwargs!r:.200}: "
                            f"{outcomes[0]!r:.300} != {outcomes[1]!r:.300}")
        if len(failures) > 20:
            break
    if not failures and (pair[0].book() != pair[1].book() or pair[0].trades() != pair[1].trades()):
        failures.append(f"seed {seed}: books or trades differ after {calls} calls")
    return failures


# ------------------------------------------------------------------ a run
def run(rows: int, seed: int, window: int = 50, keep: Path | None = None, log=None,
        stats: dict | None = None) -> list[str]:
    """Fuzz about ``rows`` mutated rows; returns the failures (empty: all held). ``stats``
    (if given) counts the cases, the lenient runs compared with the reference, and the
    strict runs that refused malformed rows."""
    stats = {} if stats is None else stats
    stats.update(cases=0, compared=0, refused=0)
    rng = np.random.default_rng(seed)
    lines = SAMPLE.read_bytes().splitlines(keepends=True)
    header, body = lines[0], lines[1:]
    failures = []
    done = 0
    case = 0
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        while done < rows:
            start = int(rng.integers(0, max(1, len(body) - window)))
            chunk = mutate(body[start:start + window], rng)
            orders = scratch / f"case{case}.csv"
            orders.write_bytes(header + b"".join(chunk))
            for lenient in (False, True):
                outcome = replay_in_process(orders, scratch / f"out{case}-{int(lenient)}", lenient)
                found = problems(orders, outcome, lenient)
                stats["refused"] += not lenient and outcome.status == 2
                if lenient and outcome.status == 0:
                    stats["compared"] += 1
                    expected = reference_events(orders)
                    differs = agreement(outcome.events, expected) if expected is not None else None
                    if differs:
                        found.append(differs)
                if found:
                    name = f"case {case} (seed {seed}, {'lenient' if lenient else 'strict'})"
                    failures.append(f"{name}: " + "; ".join(found))
                    if keep is not None:
                        keep.mkdir(parents=True, exist_ok=True)
                        (keep / f"case{case}.csv").write_bytes(orders.read_bytes())
            done += window
            case += 1
            stats["cases"] = case
            if log and case % 100 == 0:
                print(f"fuzz: {done:,} rows, {case:,} cases, {len(failures)} failures", file=log)
    return failures


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m tests.fuzz", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000, help="mutated rows in all (default 100,000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--window", type=int, default=50, help="rows per case (default 50)")
    parser.add_argument("--keep", type=Path, help="copy failing cases into this directory")
    parser.add_argument("--api-calls", type=int, default=0,
                        help="also this many random hostile API calls on both engines (default 0)")
    args = parser.parse_args(argv)
    failures = run(args.rows, args.seed, args.window, args.keep, log=sys.stderr)
    if args.api_calls:
        failures += api_run(args.api_calls, args.seed)
    for failure in failures[:20]:
        print(failure, file=sys.stderr)
    print(f"fuzz: {args.rows:,} rows, {args.api_calls:,} API calls, seed {args.seed}: {len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
