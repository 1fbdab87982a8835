"""The parameter grid of a sweep: a TOML file and/or flags, checked, expanded in a fixed order.

    seeds = "1-8"                      # or [1, 2, 3], or 4
    days = [7, 30]
    buyers = 2000
    providers = 60
    grade_mix = ["15:50:35", "50:30:20"]   # quality buyers' min-grade shares, best grade first
    whatif = ["both", "none"]
    shock = ["", "p.atlas=5000"]       # hook for the stress step (see ``sweep.run_point``)
    config = "exchange.toml"           # relative to the grid file

Every key takes one value or a list. The grid is the product of the axes in the
order of ``AXES`` (seed varies slowest), and its points are numbered 0, 1, 2, ...
in that order: the row order of ``sweep.csv``. A point's seed is its own, so the
same grid gives the same runs wherever they execute.

Problems: ``GridError`` with ``FILE:LINE: field: what is wrong`` for the file,
``--flag: what is wrong`` for flags.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import re
import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path

from .market import SimulationError, SimulationParams
from .whatif import SCENARIOS

AXES = ("seed", "days", "buyers", "providers", "grade_mix", "whatif", "shock")
FILE_KEYS = {"seeds": "seed", "days": "days", "buyers": "buyers", "providers": "providers",
             "grade_mix": "grade_mix", "whatif": "whatif", "shock": "shock"}
DEFAULTS = {"seed": (0,), "days": (30,), "buyers": (2000,), "providers": (60,), "grade_mix": ("",),
            "whatif": ("both",), "shock": ("",)}
WHATIFS = ("none",) + SCENARIOS
MAX_POINTS = 1_000_000
_RANGE = re.compile(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?")
_MIX = re.compile(r"\d+(?::\d+)*")


class GridError(ValueError):
    """A bad grid file or flag; the message is the one line to print."""


@dataclass(frozen=True)
class GridPoint:
    """One run of the sweep. ``grade_mix`` and ``shock`` are text ("" = the default)."""

    index: int
    seed: int
    days: int
    buyers: int
    providers: int
    grade_mix: str
    whatif: str
    shock: str

    def params(self) -> dict:
        """The point's parameters by name (everything but its index)."""
        values = asdict(self)
        del values["index"]
        return values

    def key(self, config_text: str) -> str:
        """A name for the point's result that changes with its parameters or the
        configuration, not with its place in the grid: sha256 of both, 20 hex digits."""
        text = json.dumps(self.params(), sort_keys=True) + "\n" + config_text
        return hashlib.sha256(text.encode()).hexdigest()[:20]

    def label(self) -> str:
        extra = "".join(f", {name} {value}" for name, value in (("grade mix", self.grade_mix),
                                                                ("shock", self.shock)) if value)
        return (f"point {self.index} (seed {self.seed}, days {self.days}, buyers {self.buyers}, "
                f"providers {self.providers}, whatif {self.whatif}{extra})")


@dataclass(frozen=True)
class Grid:
    """The axes (name -> tuple of values) and the configuration path (None: the default)."""

    axes: dict
    config: str | None = None

    def points(self) -> list[GridPoint]:
        values = [self.axes[name] for name in AXES]
        return [GridPoint(k, *combo) for k, combo in enumerate(itertools.product(*values))]

    def size(self) -> int:
        n = 1
        for name in AXES:
            n *= len(self.axes[name])
        return n


# ------------------------------------------------------------------ values
def parse_seeds(text: str) -> tuple:
    """``"1-8"``, ``"1,3,5"``, ``"0-3,10"`` -> the seeds, in the order written."""
    seeds = []
    for part in str(text).split(","):
        match = _RANGE.fullmatch(part)
        if not match:
            raise ValueError(f"{text!r} is not a seed range like 1-8 or a list like 1,3,5")
        low = int(match[1])
        high = int(match[2]) if match[2] is not None else low
        if high < low:
            raise ValueError(f"range {part.strip()!r} runs backwards")
        if high - low >= MAX_POINTS:
            raise ValueError(f"range {part.strip()!r} has more than {MAX_POINTS:,} seeds")
        seeds.extend(range(low, high + 1))
    return tuple(seeds)


def _ints(value, low: int) -> tuple:
    values = value if isinstance(value, list) else [value]
    if not values:
        raise ValueError("is an empty list")
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int):
            raise ValueError(f"{v!r} is not an integer")
        if v < low:
            raise ValueError(f"{v} must be >= {low}")
    return tuple(values)


def _texts(value) -> tuple:
    values = value if isinstance(value, list) else [value]
    if not values:
        raise ValueError("is an empty list")
    for v in values:
        if not isinstance(v, str):
            raise ValueError(f"{v!r} is not a string")
    return tuple(values)


def check_axis(name: str, value) -> tuple:
    """An axis from a TOML value or a flag's text; ValueError saying what is wrong."""
    if name == "seed":
        if isinstance(value, str):
            return parse_seeds(value)
        return _ints(value, 0)
    if name in ("days", "buyers"):
        return _ints(value, 1)
    if name == "providers":
        return _ints(value, 0)
    texts = _texts(value)
    if name == "grade_mix":
        out = []
        for v in texts:
            v = "" if v in ("", "default") else v.replace(" ", "")
            if v and (not _MIX.fullmatch(v) or not any(int(x) for x in v.split(":"))):
                raise ValueError(f"{v!r} is not a mix of integer shares like 15:50:35 (best grade first)")
            out.append(v)
        return tuple(out)
    if name == "whatif":
        for v in texts:
            if v not in WHATIFS:
                raise ValueError(f"{v!r} is not one of {', '.join(WHATIFS)}")
        return texts
    if name == "shock":
        return tuple("" if v in ("", "none") else v for v in texts)
    raise KeyError(name)


def _flag_values(name: str, text: str):
    """A flag's text as the TOML value it stands for: comma lists, integers."""
    if name == "seed":
        return text
    parts = [p.strip() for p in text.split(",")] if name != "shock" else [p.strip() for p in text.split(";")]
    if name in ("days", "buyers", "providers"):
        try:
            return [int(p) for p in parts]
        except ValueError:
            raise ValueError(f"{text!r} is not an integer or a comma list of integers") from None
    return parts


# ------------------------------------------------------------------ sources
def _line_of(lines: list[str], key: str) -> int:
    pattern = re.compile(rf"\s*{re.escape(key)}\s*=")
    for number, line in enumerate(lines, 1):
        if pattern.match(line):
            return number
    return 1


def read_grid_file(path) -> tuple[dict, str | None]:
    """Axes set by a grid file ({axis: values}) and its ``config`` (resolved against the
    file's folder). GridError ``FILE:LINE: field: what is wrong``."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise GridError(f"{path}: no such grid file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise GridError(f"{path}: cannot read: {getattr(error, 'strerror', None) or error}") from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        message = str(error)
        match = re.search(r"\(at line (\d+), column (\d+)\)", message)
        if match:
            what = message[:match.start()].strip()
            raise GridError(f"{path}:{match[1]}: column {match[2]}: {what}") from None
        if "at end of document" in message:
            raise GridError(f"{path}:{max(1, len(text.splitlines()))}: {message}") from None
        raise GridError(f"{path}:1: {message}") from None
    lines = text.splitlines()
    axes, config = {}, None
    for key, value in document.items():
        line = _line_of(lines, key)
        if key == "config":
            if not isinstance(value, str) or not value:
                raise GridError(f"{path}:{line}: config: expected the path of an exchange configuration")
            config = str(path.parent / value)
            continue
        if key not in FILE_KEYS:
            raise GridError(f"{path}:{line}: {key}: unknown field (known: config, {', '.join(FILE_KEYS)})")
        try:
            axes[FILE_KEYS[key]] = check_axis(FILE_KEYS[key], value)
        except ValueError as error:
            raise GridError(f"{path}:{line}: {key}: {error}") from None
    return axes, config


def build_grid(grid_file=None, flags: dict | None = None, config: str | None = None) -> Grid:
    """The grid: defaults, then the file's axes, then the flags' (``{axis: text}``,
    None for unset; they override the file). ``config`` overrides the file's."""
    axes = dict(DEFAULTS)
    file_config = None
    if grid_file is not None:
        file_axes, file_config = read_grid_file(grid_file)
        axes.update(file_axes)
    for name, text in (flags or {}).items():
        if text is None:
            continue
        flag = "--seeds" if name == "seed" else "--" + name.replace("_", "-")
        try:
            axes[name] = check_axis(name, _flag_values(name, text))
        except ValueError as error:
            raise GridError(f"{flag}: {error}") from None
    grid = Grid(axes, config if config is not None else file_config)
    if grid.size() > MAX_POINTS:
        raise GridError(f"the grid has {grid.size():,} points; at most {MAX_POINTS:,}")
    return grid


def check_points(grid: Grid, n_grades: int, shock_supported: bool) -> None:
    """What the simulation itself would refuse, found before any run starts."""
    for days in grid.axes["days"]:
        for seed in grid.axes["seed"][:1]:
            try:
                SimulationParams(days=days, seed=seed).check()
            except SimulationError as error:
                raise GridError(str(error)) from None
    for mix in grid.axes["grade_mix"]:
        if mix and len(mix.split(":")) > n_grades:
            raise GridError(f"grade_mix: {mix!r} has {len(mix.split(':'))} shares; the configuration has "
                            f"{n_grades} grades")
    if any(grid.axes["shock"]) and not shock_supported:
        raise GridError("shock: this simulation has no stress step (run_simulation takes no shocks); "
                        "leave shock out of the grid")
    from .sweep import parse_shock  # the one parser of a shock's text

    for shock in grid.axes["shock"]:
        if shock:
            try:
                parse_shock(shock)
            except ValueError as error:
                raise GridError(str(error)) from None
