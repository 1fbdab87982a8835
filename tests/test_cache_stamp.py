"""Numba's cache is stale after any kernel source changes (exchange/nb/cache_stamp.py):
Numba alone would keep a kernel whose inlined helpers, in another file, had changed."""
import importlib
import pkgutil

import numpy as np
from numba.core.dispatcher import Dispatcher

import contracts
import exchange
from exchange.nb import cache_stamp


def _project_kernels():
    for package in (exchange, contracts):
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            if info.name.endswith("__main__"):
                continue
            module = importlib.import_module(info.name)
            for name, obj in vars(module).items():
                if isinstance(obj, Dispatcher) and obj.py_func.__module__ == module.__name__:
                    yield f"{module.__name__}.{name}", obj


def test_every_cached_kernel_of_the_project_is_stamped_with_the_kernel_sources():
    kernels = dict(_project_kernels())
    assert len(kernels) > 50
    for name, kernel in kernels.items():
        if kernel._cache.__class__.__name__ == "NullCache":
            continue  # not cached: nothing can be stale
        locator = kernel._cache._impl._locator
        assert isinstance(locator, cache_stamp._ProjectStamped), name
        assert locator.get_source_stamp()[1] == cache_stamp.kernel_sources_stamp(), name


def _tree(root):
    for folder in ("exchange/nb", "contracts", "simulation"):
        (root / folder).mkdir(parents=True)
    (root / "exchange/nb/matching_nb.py").write_text("SLOT = 1\n")
    (root / "contracts/settle_nb.py").write_text("COL = 2\n")
    (root / "simulation/market.py").write_text("DAYS = 3\n")


def _stamp_of(monkeypatch, root):
    monkeypatch.setattr(cache_stamp, "ROOT", root)
    monkeypatch.setattr(cache_stamp, "_stamp", None)
    return cache_stamp.kernel_sources_stamp()


def test_a_change_to_any_kernel_source_changes_the_stamp(tmp_path, monkeypatch):
    _tree(tmp_path)
    before = _stamp_of(monkeypatch, tmp_path)
    assert _stamp_of(monkeypatch, tmp_path) == before  # the same files: the same stamp
    (tmp_path / "exchange/nb/matching_nb.py").write_text("SLOT = 2\n")
    after_helper = _stamp_of(monkeypatch, tmp_path)
    assert after_helper != before
    (tmp_path / "contracts/new_nb.py").write_text("")
    assert _stamp_of(monkeypatch, tmp_path) not in (before, after_helper)


def test_a_file_without_kernels_leaves_the_stamp(tmp_path, monkeypatch):
    _tree(tmp_path)
    before = _stamp_of(monkeypatch, tmp_path)
    (tmp_path / "simulation/market.py").write_text("DAYS = 4\n")
    assert _stamp_of(monkeypatch, tmp_path) == before


def test_other_packages_keep_numbas_own_cache(tmp_path):
    assert cache_stamp.in_project(exchange.__file__)
    assert not cache_stamp.in_project(np.__file__)
    assert not cache_stamp.in_project(str(tmp_path / "user_model.py"))
