"""Sharded replay on dask.distributed writes the single-process replay's bytes (issue 16)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bench.many_instruments import write_many
from compute_exchange.cli import main
from exchange.cluster import connect
from exchange.config import ExchangeConfig
from exchange.files.distributed_replay import replay_distributed
from exchange.files.orders_io import read_orders
from exchange.parallel import plan_shards
from exchange.files.replay import MalformedRows, replay

OUTPUTS = ("trades.csv", "events.csv", "book.csv")


@pytest.fixture(scope="module")
def two_workers():
    with connect(workers=2) as client:
        yield client


def single_and_files(directory, **kwargs):
    paths = write_many(directory, rows=12_000, seed=5, n_instruments=9, **kwargs)
    config = ExchangeConfig.load(paths["config"])
    single = directory / "single"
    replay(paths["orders"], config, single)
    return paths, config, {name: (single / name).read_bytes() for name in OUTPUTS}


def test_two_shards_give_the_single_replay_bytes(two_workers, tmp_path):
    paths, config, expected = single_and_files(tmp_path)
    actions = read_orders(paths["orders"], config).actions
    bounds = plan_shards(config, actions, 2)[0]
    result = replay_distributed(paths["orders"], config, tmp_path / "sharded", client=two_workers)
    for name in OUTPUTS:
        assert (tmp_path / "sharded" / name).read_bytes() == expected[name], name
    # Both shards traded: the merge had real work to do.
    instruments = result.trades["instrument"]
    assert np.any(instruments < bounds[1]) and np.any(instruments >= bounds[1])
    assert len(result.trades) > 500 and result.rows == 12_000


def test_cli_on_a_running_scheduler(two_workers, tmp_path, capsys):
    paths, _, expected = single_and_files(tmp_path)
    out = tmp_path / "cli"
    assert main(["replay", str(paths["orders"]), "--config", str(paths["config"]), "--out", str(out),
                 "--scheduler", two_workers.scheduler.address]) == 0
    for name in OUTPUTS:
        assert (out / name).read_bytes() == expected[name], name
    assert "trades.csv sha256" in capsys.readouterr().out


def test_a_file_that_cannot_be_split_is_replayed_whole(two_workers, tmp_path):
    paths, config, expected = single_and_files(tmp_path, shared_ids=True)
    assert plan_shards(config, read_orders(paths["orders"], config).actions, 2) is None
    replay_distributed(paths["orders"], config, tmp_path / "sharded", client=two_workers)
    for name in OUTPUTS:
        assert (tmp_path / "sharded" / name).read_bytes() == expected[name], name


def test_malformed_rows_are_reported_as_by_the_single_replay(two_workers, tmp_path):
    paths, config, _ = single_and_files(tmp_path)
    with open(paths["orders"], "a") as handle:
        handle.write("99999999,new,1,b1,I0,buy,limit,gtc,1.000,five,,\n")
    with pytest.raises(MalformedRows) as single:
        replay(paths["orders"], config, tmp_path / "x")
    with pytest.raises(MalformedRows) as sharded:
        replay_distributed(paths["orders"], config, tmp_path / "y", client=two_workers)
    assert sharded.value.lines == single.value.lines and sharded.value.count == single.value.count == 1
    assert not (tmp_path / "y").exists()


@pytest.mark.parametrize("flags,message", [
    (["--workers", "0"], "compute-exchange: --workers must be a positive number of processes, got 0\n"),
    (["--workers", "2", "--scheduler", "tcp://127.0.0.1:1"],
     "compute-exchange: give --workers (a local cluster) or --scheduler (a running one), not both\n"),
])
def test_bad_cluster_flags_exit_2(tmp_path, capsys, flags, message):
    sample = Path(__file__).parent.parent / "samples" / "orders.csv"
    assert main(["replay", str(sample), "--out", str(tmp_path / "out"), *flags]) == 2
    assert capsys.readouterr().err == message
