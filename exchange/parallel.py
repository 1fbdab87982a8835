"""Independent instruments matched on several threads, with the single-core output.

``run_batch_parallel(config, actions, parties, threads=None)`` returns exactly what
``exchange.engine.run_batch`` returns for the same input -- events, trades (trade ids
included) and the final book, byte for byte -- by splitting the instruments into
contiguous shards (config order), running each shard as its own ``run_batch`` on a
thread (the kernels are compiled with ``nogil=True``), and merging:

* ``new`` and ``close`` rows go to the shard of their instrument; rows with no known
  instrument (UNKNOWN_INSTRUMENT, malformed rows) go to shard 0, where they are
  rejected exactly as on one core;
* ``cancel``/``replace`` rows carry no instrument: they go to the shard of the
  instrument of the ``new`` row(s) that used their order id (shard 0 if no ``new``
  row did: UNKNOWN_ORDER either way);
* ``grade`` rows go to every shard (each shard keeps the provider's grade and
  cancels its own asks; shards are contiguous in config order, so the cancels come
  out in the same (instrument, level, arrival) order);
* events and trades are merged by (seq, shard order); trade ids are renumbered in
  merged order, and FILL events take the renumbered ids.

The split is unsafe when one order id appears in ``new`` rows of two instruments
(DUPLICATE_ID is global across instruments): then, and for one thread or one
instrument, this falls back to the single-core ``run_batch``.

A sharded result has ``state=None`` (each shard has its own ``BookState``; they are
in ``result.shard_states``); the fallback returns ``run_batch``'s result as is.

The split and the merge are public (``plan_shards``, ``shard_batch``, ``merge_shards``):
``exchange.files.distributed_replay`` runs the same shards in processes on other machines.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from exchange.config import ExchangeConfig, with_instruments
from exchange.engine import BatchResult, run_batch
from exchange.state import joined_records
from exchange.nb.kernel import kernel
from exchange.schema import (
    ACT_CANCEL, ACT_CLOSE, ACT_GRADE, ACT_NEW, ACT_REPLACE, ACTION_DTYPE, EV_FILL, EVENT_DTYPE,
    TRADE_DTYPE,
)

__all__ = ["merge_shards", "plan_shards", "run_batch_parallel", "shard_batch"]


@kernel
def _next_seq(rows, offsets, heads):
    """Lowest seq at the shards' heads; -1 when every shard is exhausted."""
    low = -1
    for s in range(offsets.shape[0] - 1):
        if heads[s] < offsets[s + 1]:
            seq = rows[heads[s]].seq
            if low == -1 or seq < low:
                low = seq
    return low


@kernel
def _merge_trades(trades, offsets, heads, merged, trade_map):
    """Merge the shards' trades (runs ``offsets[s]:offsets[s+1]``, each sorted by seq)
    by (seq, shard); renumber trade ids in merged order and record, for each input
    trade ``i``, its new id in ``trade_map[i]``. ``heads``: n_shards scratch."""
    n_shards = offsets.shape[0] - 1
    for s in range(n_shards):
        heads[s] = offsets[s]
    n = 0
    while True:
        low = _next_seq(trades, offsets, heads)
        if low == -1:
            break
        for s in range(n_shards):
            i = heads[s]
            end = offsets[s + 1]
            while i < end and trades[i].seq == low:
                merged[n] = trades[i]
                merged[n].trade_id = n + 1
                trade_map[i] = n + 1
                n += 1
                i += 1
            heads[s] = i
    return n


@kernel
def _merge_events(events, offsets, heads, merged, trade_map, trade_offsets):
    """Merge the shards' events by (seq, shard); FILL events take the renumbered
    trade id ``trade_map[trade_offsets[s] + old_id - 1]``."""
    n_shards = offsets.shape[0] - 1
    for s in range(n_shards):
        heads[s] = offsets[s]
    n = 0
    while True:
        low = _next_seq(events, offsets, heads)
        if low == -1:
            break
        for s in range(n_shards):
            i = heads[s]
            end = offsets[s + 1]
            while i < end and events[i].seq == low:
                merged[n] = events[i]
                if events[i].event == EV_FILL:
                    merged[n].trade_id = trade_map[trade_offsets[s] + events[i].trade_id - 1]
                n += 1
                i += 1
            heads[s] = i
    return n


def plan_shards(config: ExchangeConfig, actions: np.ndarray, n_shards: int):
    """Split instruments into ``n_shards`` contiguous ranges with balanced action
    counts and route every row. Returns ``(bounds, row_shard, is_grade)`` or None
    when the split is unsafe (an order id used by ``new`` rows of two instruments).

    ``bounds[s]:bounds[s+1]`` are shard s's instruments; ``row_shard`` the shard of
    each non-grade row; ``is_grade`` marks rows that go to every shard."""
    n_instruments = len(config.instruments)
    kind = actions["action"]
    instrument = actions["instrument"]
    is_new = (kind == ACT_NEW) & (instrument >= 0)
    new_ids = actions["order_id"][is_new]
    new_ins = instrument[is_new]
    # One instrument per order id, or the split is unsafe.
    if len(new_ids) > 1 and not np.all(new_ids[1:] > new_ids[:-1]):
        order = np.argsort(new_ids, kind="stable")
        new_ids, new_ins = new_ids[order], new_ins[order]
        same = new_ids[1:] == new_ids[:-1]
        if np.any(same & (new_ins[1:] != new_ins[:-1])):
            return None
        keep = np.ones(len(new_ids), bool)
        keep[1:] = ~same
        new_ids, new_ins = new_ids[keep], new_ins[keep]
    ids, ins_of_id = new_ids, new_ins.astype(np.int64)
    # Balanced contiguous ranges by number of rows per instrument.
    per_instrument = np.bincount(instrument[(instrument >= 0)], minlength=n_instruments)
    cumulative = np.cumsum(per_instrument)
    total = cumulative[-1] if n_instruments else 0
    bounds = [0]
    for s in range(1, n_shards):
        cut = int(np.searchsorted(cumulative, total * s / n_shards, side="left")) + 1
        cut = max(cut, bounds[-1] + 1)
        cut = min(cut, n_instruments - (n_shards - s))
        bounds.append(cut)
    bounds.append(n_instruments)
    bounds = np.array(bounds, np.int64)
    shard_of_instrument = np.repeat(np.arange(n_shards), np.diff(bounds))

    row_instrument = np.where((kind == ACT_NEW) | (kind == ACT_CLOSE), instrument, -1).astype(np.int64)
    by_id = (kind == ACT_CANCEL) | (kind == ACT_REPLACE)
    if np.any(by_id) and len(ids):
        order_ids = actions["order_id"][by_id]
        position = np.clip(np.searchsorted(ids, order_ids), 0, len(ids) - 1)
        found = ids[position] == order_ids
        row_instrument[by_id] = np.where(found, ins_of_id[position], -1)
    row_shard = np.where(row_instrument >= 0, shard_of_instrument[np.maximum(row_instrument, 0)], 0)
    return bounds, row_shard, kind == ACT_GRADE


def _check(config: ExchangeConfig, actions: np.ndarray, parties) -> None:
    if actions.dtype != ACTION_DTYPE:
        raise ValueError("run_batch: actions must have exchange.schema.ACTION_DTYPE")
    if len(actions):
        if actions["party"].max() >= len(parties) or actions["party"].min() < -1:
            raise ValueError("run_batch: a party index is outside the parties list")
        if actions["instrument"].max() >= len(config.instruments):
            raise ValueError("run_batch: an instrument index is outside the configuration")


def run_batch_parallel(config: ExchangeConfig, actions: np.ndarray, parties,
                       threads: int | None = None, *, executor: ThreadPoolExecutor | None = None
                       ) -> BatchResult:
    """``run_batch`` over instrument shards on ``threads`` threads (default: the CPU
    count, at most one per instrument); identical output. See the module docstring."""
    parties = list(parties)
    _check(config, actions, parties)
    n_instruments = len(config.instruments)
    n_shards = min(threads or os.cpu_count() or 1, n_instruments)
    if n_shards <= 1 or len(actions) == 0:
        return run_batch(config, actions, parties)
    plan = plan_shards(config, actions, n_shards)
    if plan is None:
        return run_batch(config, actions, parties)

    def shard_job(s: int):
        result = run_batch(*shard_batch(config, actions, plan, s), parties)
        result.book  # read here, on the shard's thread: the merge takes every shard's book
        return result

    if executor is None:
        with ThreadPoolExecutor(max_workers=n_shards) as pool:
            results = list(pool.map(shard_job, range(n_shards)))
    else:
        results = list(executor.map(shard_job, range(n_shards)))
    return merge_shards(results, plan[0], config)


def shard_batch(config: ExchangeConfig, actions: np.ndarray, plan, s: int):
    """Shard ``s`` of ``plan_shards``' plan: ``(shard config, shard actions)``, instrument
    indexes rebased to the shard's own instruments. Cost: one pass over ``actions``."""
    bounds, row_shard, is_grade = plan
    first, last = int(bounds[s]), int(bounds[s + 1])
    sub = actions.take(np.flatnonzero((row_shard == s) | is_grade))
    keep_instrument = ((sub["action"] == ACT_NEW) | (sub["action"] == ACT_CLOSE)) & (sub["instrument"] >= 0)
    sub["instrument"] = np.where(keep_instrument, sub["instrument"] - first, -1)
    return with_instruments(config, config.instruments[first:last]), sub


def merge_shards(results: list, bounds, config: ExchangeConfig | None = None) -> BatchResult:
    """The shards' ``run_batch`` results (in shard order) merged into the single-core
    result: events and trades by (seq, shard), trade ids renumbered, instruments
    un-rebased. ``state`` is None; the shards' states are in ``shard_states``. ``config``:
    the whole configuration, for the frames' names and tick sizes (``BatchResult.to_arrow``).
    Cost: linear in the events, trades and resting orders."""
    n_shards = len(results)
    trade_offsets = np.zeros(n_shards + 1, np.int64)
    trade_offsets[1:] = np.cumsum([len(r.trades) for r in results])
    trades = joined_records([r.trades for r in results], TRADE_DTYPE)
    for s, r in enumerate(results):
        if len(r.trades):
            trades["instrument"][trade_offsets[s]:trade_offsets[s + 1]] += bounds[s]
    merged_trades = np.empty(len(trades), TRADE_DTYPE)
    trade_map = np.empty(len(trades), np.int64)
    heads = np.empty(n_shards, np.int64)
    _merge_trades(trades, trade_offsets, heads, merged_trades, trade_map)

    event_offsets = np.zeros(n_shards + 1, np.int64)
    event_offsets[1:] = np.cumsum([len(r.events) for r in results])
    events = joined_records([r.events for r in results], EVENT_DTYPE)
    merged_events = np.empty(len(events), EVENT_DTYPE)
    _merge_events(events, event_offsets, heads, merged_events, trade_map, trade_offsets)

    books = joined_records([r.book for r in results], results[0].book.dtype)
    book_offsets = np.cumsum([0] + [len(r.book) for r in results])
    for s in range(n_shards):
        books["instrument"][book_offsets[s]:book_offsets[s + 1]] += bounds[s]
    result = BatchResult(merged_events, merged_trades, books, results[0].parties, None, config)
    result.shard_states = [r.state for r in results]
    return result
