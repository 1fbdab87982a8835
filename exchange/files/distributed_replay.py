"""Sharded replay on dask.distributed: the single-process replay's outputs, byte for byte.

    result = replay_distributed("orders.csv", config, "out/", workers=4)        # a local cluster
    result = replay_distributed("/shared/orders.csv", config, "out/", scheduler="tcp://h:8786")

Each worker reads the order file itself, from a path it can reach (a shared disk
for a remote cluster), so the file never passes through the client. Every worker
parses the whole file and makes the same split (``exchange.parallel.plan_shards``:
contiguous instrument ranges with balanced row counts; cancels and replaces follow
the instrument of the order they name; grade rows go to every shard), keeps its own
rows and matches them (``run_batch``). The client gathers the shards' events,
trades and resting orders (compact binary records) and merges them as the threaded
replay does (``merge_shards``), then writes trades, events and book exactly as
``exchange.files.replay`` does.

Cost: each of N workers parses the whole file (reading is the cheap part of a
replay: see README "Where the time goes") and matches about 1/N of it; the merge
and the writing run on the client. A file whose order ids are shared across
instruments cannot be split (DUPLICATE_ID is global): then one worker replays all
of it, with the same result.
"""
from __future__ import annotations

import time
from pathlib import Path

from exchange.config import ExchangeConfig
from exchange.cluster import ClusterError, DaskMissing, connect, failure_message, failures, worker_count
from exchange.engine import BatchResult, run_batch
from exchange.files.orders_io import MAX_REPORTED, read_orders
from exchange.parallel import merge_shards, plan_shards, shard_batch
from exchange.files.replay import MalformedRows, ReplayResult, load_kernels
from exchange.files.writers import Formatter, write_tables

__all__ = ["ClusterError", "DaskMissing", "replay_distributed", "replay_shard"]


def replay_shard(orders: str, config: ExchangeConfig, lenient: bool, n_shards: int, shard: int) -> dict:
    """Runs on a worker: read ``orders``, keep shard ``shard`` of ``n_shards`` and match it.

    Returns {"rows", "malformed", "report", "bounds", "events", "trades", "book",
    "parties"}; a shard with nothing to do (the file cannot be split and this is not
    shard 0) has ``events`` None. In strict mode a file with malformed rows returns its
    report and no matching is done."""
    parsed = read_orders(orders, config)
    answer = {"rows": len(parsed.actions), "malformed": parsed.n_malformed,
              "report": parsed.report(str(orders), MAX_REPORTED) if shard == 0 else [],
              "bounds": None, "events": None, "trades": None, "book": None, "parties": None}
    if parsed.n_malformed and not lenient:
        return answer
    plan = plan_shards(config, parsed.actions, n_shards) if n_shards > 1 and len(parsed.actions) else None
    if plan is None:
        if shard != 0:
            return answer
        result = run_batch(config, parsed.actions, parsed.parties)
        answer["bounds"] = [0, len(config.instruments)]
    else:
        result = run_batch(*shard_batch(config, parsed.actions, plan, shard), parsed.parties)
        answer["bounds"] = [int(b) for b in plan[0]]
    answer.update(events=result.events, trades=result.trades, book=result.book, parties=result.parties)
    return answer


def replay_distributed(orders, config: ExchangeConfig | None = None, out_dir=".", *, lenient: bool = False,
                       fmt: str = "csv", workers: int | None = None, scheduler: str | None = None,
                       client=None) -> ReplayResult:
    """Replay ``orders`` split by instrument over a dask cluster; same outputs as
    ``exchange.files.replay.replay``. One shard per worker (at most one per instrument).

    ``client``: an existing dask Client (else one is made from ``workers`` /
    ``scheduler``, see ``exchange.cluster.connect``). Raises what ``replay`` raises
    (OrdersError, MalformedRows, OutputError), ClusterError, DaskMissing."""
    config = config or ExchangeConfig.default()
    path = Path(orders)
    if path.exists():  # a path this machine sees: make it absolute for the workers
        path = path.resolve()
    if client is None:
        t0 = time.perf_counter()
        with connect(workers, scheduler) as made:
            started = time.perf_counter() - t0
            result = replay_distributed(orders, config, out_dir, lenient=lenient, fmt=fmt, client=made)
        result.timings["start"] += started
        return result
    timings = {}
    try:
        t0 = time.perf_counter()
        n_workers = max(1, worker_count(client))
        n_shards = max(1, min(n_workers, len(config.instruments)))
        client.run(load_kernels, config)  # every worker loads the kernels, so "match" times the work
        timings["start"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        futures = [client.submit(replay_shard, str(path), config, lenient, n_shards, s, pure=False)
                   for s in range(n_shards)]
        shards = client.gather(futures)
    except failures() as error:
        raise ClusterError(failure_message(error)) from None
    timings["read"] = 0.0  # the workers read, match and send back: all of it is "match"
    timings["match"] = time.perf_counter() - t0
    timings["merge"] = 0.0

    head = shards[0]
    if head["malformed"] and not lenient:
        raise MalformedRows(head["report"], head["malformed"])
    done = [s for s in shards if s["events"] is not None]
    parts = [BatchResult(s["events"], s["trades"], s["book"], s["parties"], None, config) for s in done]
    if len(parts) == 1:
        result = parts[0]
    else:
        t0 = time.perf_counter()
        result = merge_shards(parts, done[0]["bounds"], config)
        timings["merge"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    formatter = Formatter(config, result.parties)
    tables = [formatter.trades(result.trades), formatter.events(result.events), formatter.book(result.book)]
    digests = write_tables(out_dir, tables, fmt)
    timings["write"] = time.perf_counter() - t0
    outputs = [Path(out_dir) / f"{t.name}.{fmt}" for t in tables]
    return ReplayResult(head["rows"], head["malformed"], result.events, result.trades, result.book,
                        result.parties, digests, timings, outputs, head["report"])
