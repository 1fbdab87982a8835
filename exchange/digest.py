"""The canonical state digest both engines give (docs/API.md, "State digest").

Two engines in the same observable state give the same digest, so tests can compare
whole states with one string. The digest is the sha256 of a canonical text, one
line per fact, LF endings, fields separated by one space:

    exchange-state 1
    next_seq SEQ
    last_ts TS
    trades COUNT
    grade NAME FLOOR_BP                 one per grade, best first
    provider PARTY GOODPUT_BP GRADE     one per provider, by party name (code points);
                                        GRADE is the grade name or "ungraded"
    closed SYMBOL                       one per closed instrument, in config order
    used_ids COUNT                      order ids ever accepted, then one line each:
    id ORDER_ID                         ascending
    order INSTRUMENT SIDE ORDER_ID PARTY PRICE QTY GRADE MIN_GRADE TIF ARRIVAL_SEQ STP
                                        one per resting order, as ``book()`` lists them
                                        (instruments in config order, bids then asks,
                                        priority order); PRICE in ticks; SIDE, TIF and STP
                                        as the order-file words; "-" for an empty grade

Cost: O(resting orders + ids ever accepted), one pass; text is hashed in pieces,
never held whole.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterable

from exchange.schema import SIDE_WORDS, STP_WORDS, TIF_WORDS, RestingOrder

FORMAT_VERSION = 2
_SIDE_NAMES = {code: word for word, code in SIDE_WORDS.items()}
_TIF_NAMES = {code: word for word, code in TIF_WORDS.items()}
_STP_NAMES = {code: word for word, code in STP_WORDS.items()}


def canonical_lines(*, next_seq: int, last_ts: int, trade_count: int,
                    grades: Iterable[tuple[str, int]],
                    providers: Iterable[tuple[str, int, str]],
                    closed: Iterable[str], used_ids: Iterable[int],
                    book: Iterable[RestingOrder]):
    """Yield the canonical text in pieces of whole lines (each line ends with LF).

    ``providers`` are (party, goodput bp, grade name or "ungraded") in any order;
    ``used_ids`` in any order; ``closed`` and ``book`` in the order described above."""
    yield f"exchange-state {FORMAT_VERSION}\n"
    yield f"next_seq {next_seq}\nlast_ts {last_ts}\ntrades {trade_count}\n"
    for name, floor_bp in grades:
        yield f"grade {name} {floor_bp}\n"
    for party, goodput_bp, grade in sorted(providers):
        yield f"provider {party} {goodput_bp} {grade}\n"
    for symbol in closed:
        yield f"closed {symbol}\n"
    ids = sorted(int(i) for i in used_ids)
    yield f"used_ids {len(ids)}\n"
    for start in range(0, len(ids), 4096):  # a few large pieces hash faster than many small
        yield "".join(f"id {order_id}\n" for order_id in ids[start:start + 4096])
    for o in book:
        yield (f"order {o.instrument} {_SIDE_NAMES[o.side]} {o.order_id} {o.party} {o.price} {o.qty} "
               f"{o.grade or '-'} {o.min_grade or '-'} {_TIF_NAMES[o.tif]} {o.arrival_seq} {_STP_NAMES[o.stp]}\n")


def state_digest(**facts) -> str:
    """sha256 hex of ``canonical_lines(**facts)``."""
    digest = hashlib.sha256()
    for line in canonical_lines(**facts):
        digest.update(line.encode("utf-8"))
    return digest.hexdigest()
