"""The documents a newcomer reads first are true: their examples run, and they cite rules that exist.

* The ``>>>`` examples of README.md, docs/API.md and the ``exchange.units`` docstring run as
  doctests.
* Every ``docs/RULES.md §N`` cited in code, tests and docs names a section of docs/RULES.md, and
  nothing points at a rules file outside the repository.
"""
from __future__ import annotations

import doctest
import re
import subprocess
from pathlib import Path

import pytest

import exchange.units

ROOT = Path(__file__).resolve().parents[1]
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


@pytest.mark.parametrize("name", ["README.md", "docs/API.md"])
def test_examples_in_the_documents_run(name):
    result = doctest.testfile(str(ROOT / name), module_relative=False, optionflags=FLAGS, verbose=False)
    assert result.attempted >= 5, f"{name}: only {result.attempted} examples"
    assert result.failed == 0, f"{name}: {result.failed} of {result.attempted} examples failed"


def test_units_docstring_examples_run():
    result = doctest.testmod(exchange.units, optionflags=FLAGS)
    assert result.attempted >= 3 and result.failed == 0


def _tracked_text_files():
    names = subprocess.run(["git", "ls-files", "*.py", "*.md", "*.toml", ".ci/*"], cwd=ROOT, capture_output=True,
                           text=True, check=False).stdout.split()
    if not names:  # not a git checkout: every text file under the root
        names = [str(p.relative_to(ROOT)) for p in ROOT.rglob("*") if p.suffix in {".py", ".md", ".toml"}]
    return [ROOT / n for n in names if (ROOT / n).is_file()]


def test_cited_rule_sections_exist():
    headings = (ROOT / "docs" / "RULES.md").read_text(encoding="utf-8")
    sections = set(re.findall(r"^## (\d+)\. ", headings, flags=re.M))
    assert sections == {str(n) for n in range(1, 9)}
    cited = {}
    for path in _tracked_text_files():
        for number in re.findall(r"RULES(?:\.md)? §(\d+)", path.read_text(encoding="utf-8")):
            cited.setdefault(number, path)
    assert cited, "no file cites docs/RULES.md"
    missing = {n: str(p) for n, p in cited.items() if n not in sections}
    assert not missing, f"cited sections that docs/RULES.md lacks: {missing}"


def test_nothing_points_outside_the_repository():
    outside = re.compile(r"shared/SP[E]C|SP[E]C\.md|SP[E]C §")  # [E]: this line must not match itself
    offenders = [str(p.relative_to(ROOT)) for p in _tracked_text_files()
                 if p.name != "test_docs.py" and outside.search(p.read_text(encoding="utf-8"))]
    assert offenders == []
