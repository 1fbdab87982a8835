"""The exchange configuration: instruments, grades, providers and settlement terms.

Read from TOML (docs/RULES.md §5, last paragraph, and §7 "Settlement exact details").
All numbers that reach the engine are exact integers: prices in ticks, goodput
in basis points. Decimal text and TOML floats are read through ``decimal`` (a
float through its shortest repr, so ``0.001`` is exactly 0.001).
"""
from __future__ import annotations

import functools
import math
import re
import tomllib
from dataclasses import dataclass, field, replace
from decimal import MAX_EMAX, MIN_EMIN, Context, Decimal, Inexact, InvalidOperation
from importlib import resources
from os import PathLike
from pathlib import Path
from typing import Any, Iterable

from exchange.schema import BP

MAX_LEVELS_PER_SIDE = 10_000_000
DEFAULT_MAX_QTY = 1_000_000
MAX_QTY = 10**12  # GPU-hours in one order; volumes of a whole replay stay far inside int64
MAX_DELIVERY_PERIODS = 1_000_000
DEFAULT_DELIVERY_PERIODS = 30
DEFAULT_GRADES = (("A", 9500), ("B", 9000), ("C", 8000), ("D", 7000))
PARTY_PATTERN = r"[A-Za-z0-9_.:-]{1,64}"

TERM_NAMES = ("take_or_pay", "makeup_periods", "sla_credit", "credit_cap", "fee")

# Prices are exact integers all the way: a price is read as a whole number of the
# exchange's price unit (10**-P, P the most decimal places of any tick), in at most 18
# digits so it fits int64 with room; effective prices print as micro-dollars in int64
# (price * 10**10 / factor), which bounds a price at MAX_PRICE dollars.
MAX_PRICE = Decimal(100_000_000)
MAX_PRICE_DIGITS = 18
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_EXACT = Context(prec=80, Emax=MAX_EMAX, Emin=MIN_EMIN, traps=[])


class ConfigError(ValueError):
    """A configuration that cannot be used; the message names the file and the problem."""


def to_decimal(value: str | int | float | Decimal, what: str) -> Decimal:
    """Exact decimal from a TOML string, int or float (a float through its shortest repr)."""
    if isinstance(value, bool):
        raise ConfigError(f"{what}: expected a decimal number, got {value!r}")
    if isinstance(value, float):
        value = repr(value)
    elif isinstance(value, int):
        value = str(value)
    if not isinstance(value, str):
        raise ConfigError(f"{what}: expected a decimal number, got {value!r}")
    try:
        number = Decimal(value.strip())
    except InvalidOperation:
        raise ConfigError(f"{what}: {value!r} is not a decimal number") from None
    if not number.is_finite():
        raise ConfigError(f"{what}: {value!r} is not a finite number")
    return number


def whole_multiple(value: Decimal, step: Decimal, limit: int) -> int | None:
    """``value / step`` when that is exactly a whole number within ``-limit..limit``, else
    None. Exact for any finite Decimal (no rounding to the context's 28 digits, so
    ``2.0000000000000000000000000000000001`` is not a multiple of 0.001) and never raises
    (``1e999999`` is simply too large). Cost: one 80-digit division."""
    if not value.is_finite():
        return None
    if value.is_zero():
        return 0
    if value.adjusted() - step.adjusted() > len(str(limit)):
        return None
    context = _EXACT.copy()
    quotient = context.divide(value, step)
    if context.flags[Inexact] or quotient != quotient.to_integral_value(context=context):
        return None
    whole = int(quotient)
    return whole if -limit <= whole <= limit else None


def decimal_places(value: Decimal) -> int:
    """Decimal places of a finite Decimal by value (``0.0010`` has 3, ``20`` has 0); exact."""
    _, digits, exponent = value.as_tuple()
    trailing = len(digits) - len("".join(map(str, digits)).rstrip("0"))
    return max(0, -(exponent + trailing)) if any(digits) else 0


def goodput_to_bp(value: str | int | float | Decimal, what: str) -> int:
    """Goodput fraction in [0, 1] with at most 4 places, as basis points."""
    number = to_decimal(value, what)
    scaled = number * BP
    if scaled != scaled.to_integral_value():
        raise ConfigError(f"{what}: goodput {value!r} has more than 4 decimal places")
    if not 0 <= number <= 1:
        raise ConfigError(f"{what}: goodput {value!r} is outside [0, 1]")
    return int(scaled)


@dataclass(frozen=True)
class Grade:
    """A goodput grade: providers at or above ``floor_bp`` qualify; the floor is also its factor."""

    name: str
    floor_bp: int


@dataclass(frozen=True)
class SettlementTerms:
    """Take-or-pay terms of docs/RULES.md §7 (all bp except ``makeup_periods``)."""

    take_or_pay: int = 10_000
    makeup_periods: int = 0
    sla_credit: int = 0
    credit_cap: int = 10_000
    fee: int = 0


@dataclass(frozen=True)
class Instrument:
    """One GPU-hour product with its own book. Prices are multiples of ``tick`` in the band."""

    symbol: str
    tick: Decimal
    price_min: Decimal
    price_max: Decimal
    max_qty: int = DEFAULT_MAX_QTY
    delivery_periods: int = DEFAULT_DELIVERY_PERIODS
    terms: SettlementTerms = field(default_factory=SettlementTerms)

    @functools.cached_property
    def min_ticks(self) -> int:
        return int(self.price_min / self.tick)

    @functools.cached_property
    def max_ticks(self) -> int:
        return int(self.price_max / self.tick)

    @functools.cached_property
    def n_levels(self) -> int:
        """Price levels per side: the ladder length."""
        return self.max_ticks - self.min_ticks + 1

    @functools.cached_property
    def price_places(self) -> int:
        """Decimals printed for a price: those of the tick (0.001 -> 3)."""
        return decimal_places(self.tick)

    def price_to_ticks(self, value: str | Decimal) -> int | None:
        """Absolute ticks of a decimal price (str or Decimal); None when it is off tick or
        beyond any representable price. Exact (see ``whole_multiple``)."""
        number = value if isinstance(value, Decimal) else Decimal(value)
        return whole_multiple(number, self.tick, 2**63 - 1)

    def format_price(self, ticks: int) -> str:
        """Decimal text of a price in ticks, with exactly the tick's places."""
        return f"{Decimal(ticks) * self.tick:.{self.price_places}f}"

    def tick_micros(self) -> int:
        """The tick in micro-dollars; settlement needs it to be whole."""
        micros = self.tick * 1_000_000
        if micros != micros.to_integral_value():
            raise ConfigError(
                f"instrument {self.symbol}: tick {self.tick} is not a whole number of micro-dollars"
            )
        return int(micros)


@dataclass(frozen=True)
class Provider:
    """A party that may sell, with its measured goodput in bp."""

    party: str
    goodput_bp: int


@dataclass(frozen=True)
class ExchangeConfig:
    """Instruments (config order), grades (best first), initial providers, default terms."""

    instruments: tuple[Instrument, ...]
    grades: tuple[Grade, ...] = tuple(Grade(n, f) for n, f in DEFAULT_GRADES)
    providers: tuple[Provider, ...] = ()
    settlement: SettlementTerms = field(default_factory=SettlementTerms)
    source: str = "<default>"

    @functools.cached_property
    def price_unit(self) -> Decimal:
        """The finest price step of the exchange: the gcd of all instruments' ticks.

        Action records carry prices in these units, so a row's price can be read before
        the engine knows its instrument (a replace names only an order id). With one tick
        for all instruments the unit is that tick."""
        places = max(decimal_places(ins.tick) for ins in self.instruments)
        scale = 10 ** places
        unit = 0
        for ins in self.instruments:
            unit = math.gcd(unit, int(ins.tick * scale))
        return Decimal(unit) / scale

    def units_per_tick(self, instrument: int) -> int:
        """How many price units make one tick of this instrument."""
        return int(self.instruments[instrument].tick / self.price_unit)

    @functools.cached_property
    def _instrument_positions(self) -> dict:
        return {ins.symbol: index for index, ins in enumerate(self.instruments)}

    @property
    def ungraded(self) -> int:
        """Grade index of a provider below the lowest floor (one past the lowest grade)."""
        return len(self.grades)

    def grade_index(self, goodput_bp: int) -> int:
        """Best grade whose floor is at or below ``goodput_bp``, else ``ungraded``."""
        for index, grade in enumerate(self.grades):
            if grade.floor_bp <= goodput_bp:
                return index
        return self.ungraded

    def grade_by_name(self, name: str) -> int | None:
        for index, grade in enumerate(self.grades):
            if grade.name == name:
                return index
        return None

    def instrument_index(self, symbol: str) -> int | None:
        """Config position of a symbol (a dict look-up: configs may hold 100,000 instruments)."""
        return self._instrument_positions.get(symbol) if isinstance(symbol, str) else None

    @classmethod
    def load(cls, path: str | PathLike[str]) -> "ExchangeConfig":
        """Read a TOML configuration file; ConfigError names the file and what is wrong."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError(f"{path}: no such file") from None
        except OSError as error:
            raise ConfigError(f"{path}: cannot read: {error.strerror}") from None
        except UnicodeDecodeError:
            raise ConfigError(f"{path}: not UTF-8 text") from None
        return cls.from_toml(text, source=str(path))

    @classmethod
    def from_toml(cls, text: str, source: str = "<string>") -> "ExchangeConfig":
        try:
            document = tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            raise ConfigError(f"{source}: invalid TOML: {error}") from None
        try:
            return _build(document, source)
        except ConfigError as error:
            raise ConfigError(f"{source}: {error}") from None

    @classmethod
    def default(cls) -> "ExchangeConfig":
        """The configuration of the bundled sample (instruments and providers it uses)."""
        text = resources.files("exchange").joinpath("data/default.toml").read_text(encoding="utf-8")
        return cls.from_toml(text, source="<default config>")

    @classmethod
    def build(cls, *, instruments: Iterable[Instrument | dict[str, Any]],
              grades: Iterable[Grade | tuple[str, int]] | dict[str, int] | None = None,
              providers: Iterable[Provider | tuple[str, Any] | dict[str, Any]] = (),
              settlement: SettlementTerms | dict[str, Any] | None = None,
              source: str = "<built in code>") -> "ExchangeConfig":
        """A configuration from Python objects, under the same checks and messages as a
        TOML file (each object becomes the table it stands for, then the TOML path runs).

        ``instruments``: ``Instrument``s (tick and band as str, Decimal or int) or dicts with
        an ``[[instrument]]``'s keys; ``grades``: ``Grade``s, (name, floor_bp) pairs or a
        {name: floor_bp} dict (None: A/B/C/D); ``providers``: ``Provider``s, (party, goodput)
        pairs or dicts; ``settlement``: ``SettlementTerms`` or a dict of terms. Raises
        ConfigError naming ``source`` and the problem, as ``load`` does for a file."""
        try:
            return _build(_document(instruments, grades, providers, settlement), source)
        except ConfigError as error:
            raise ConfigError(f"{source}: {error}") from None

    def to_toml(self) -> str:
        """TOML text that loads back to an equal configuration."""
        lines = ["[grades]"]
        lines += [f'{g.name} = {g.floor_bp}' for g in self.grades]
        lines += ["", "[settlement]"]
        lines += [f"{name} = {getattr(self.settlement, name)}" for name in TERM_NAMES]
        for ins in self.instruments:
            lines += ["", "[[instrument]]", f'symbol = "{ins.symbol}"', f'tick = "{ins.tick}"',
                      f'price_min = "{ins.price_min}"', f'price_max = "{ins.price_max}"',
                      f"max_qty = {ins.max_qty}", f"delivery_periods = {ins.delivery_periods}"]
            lines += [f"{name} = {getattr(ins.terms, name)}" for name in TERM_NAMES
                      if getattr(ins.terms, name) != getattr(self.settlement, name)]
        for prov in self.providers:
            lines += ["", "[[provider]]", f'party = "{prov.party}"',
                      f'goodput = "{Decimal(prov.goodput_bp) / BP:.4f}"']
        return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ building
def _check_keys(table: dict, allowed: set, where: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r} (allowed: {', '.join(sorted(allowed))})")


def _term(table: dict, name: str, default: int, where: str) -> int:
    value = table.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{where}: term {name} must be a TOML integer, got {value!r}")
    if name in ("take_or_pay", "credit_cap", "fee") and not 0 <= value <= 10_000:
        raise ConfigError(f"{where}: term {name} = {value} is outside 0..10000")
    if name in ("sla_credit", "makeup_periods") and value < 0:
        raise ConfigError(f"{where}: term {name} = {value} must be >= 0")
    return value


def _terms(table: dict, base: SettlementTerms, where: str) -> SettlementTerms:
    return SettlementTerms(**{n: _term(table, n, getattr(base, n), where) for n in TERM_NAMES})


def _positive_int(table: dict, name: str, default: int, where: str, most: int) -> int:
    value = table.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= most:
        raise ConfigError(f"{where}: {name} must be an integer 1..{most:,}, got {_short(value)}")
    return value


def _tables(document: dict, key: str) -> list:
    """The ``[[key]]`` array of tables; anything else (``instrument = [1]``, ``provider = 5``)
    is a ConfigError naming the key."""
    value = document.get(key, [])
    if not isinstance(value, list):
        raise ConfigError(f"{key}: expected [[{key}]] tables, got {_short(value)}")
    for number, table in enumerate(value, start=1):
        if not isinstance(table, dict):
            raise ConfigError(f"[[{key}]] #{number}: expected a table, got {_short(table)}")
    return value


def _short(value) -> str:
    """``repr`` of a config value cut to about 40 characters."""
    text = repr(value)
    return text if len(text) <= 40 else text[:40] + "…"


def _check_prices(instruments: list) -> None:
    """Every band must be exactly representable beside every other tick: prices are read
    in the exchange's price unit 10**-P (P the most decimal places of any tick) in at most
    MAX_PRICE_DIGITS digits. A band that does not fit would turn valid prices into wrong
    BAD_PRICE rejects, so it is refused here, naming the instrument, its tick and band."""
    places = max(decimal_places(ins.tick) for ins in instruments)
    finest = next(ins for ins in instruments if decimal_places(ins.tick) == places)
    for ins in instruments:
        top = max(ins.price_max, ins.tick)
        if top.adjusted() + places >= MAX_PRICE_DIGITS:
            beside = "" if finest is ins else f" beside instrument {finest.symbol}'s tick {finest.tick}"
            raise ConfigError(
                f"instrument {ins.symbol}: band [{ins.price_min}, {ins.price_max}] at tick {ins.tick} "
                f"cannot be represented exactly{beside}: prices are read in units of 1e-{places} "
                f"in at most {MAX_PRICE_DIGITS} digits, so every price_max must be below "
                f"1e{MAX_PRICE_DIGITS - places}; narrow the band or coarsen the finest tick")


def _build(document: dict, source: str) -> ExchangeConfig:
    _check_keys(document, {"instrument", "provider", "grades", "settlement"}, "top level")

    grades_table = document.get("grades")
    if grades_table is None:
        grades = tuple(Grade(n, f) for n, f in DEFAULT_GRADES)
    else:
        if not isinstance(grades_table, dict) or not grades_table:
            raise ConfigError("[grades]: expected a table of name = floor_bp")
        pairs = []
        for name, floor in grades_table.items():
            if _CONTROL.search(name) or not name or name != name.strip() or len(name) > 64:
                raise ConfigError(f"[grades]: grade name {_short(name)} must be 1..64 characters, "
                                  "without line breaks, control characters or edge spaces")
            if isinstance(floor, bool) or not isinstance(floor, int) or not 1 <= floor <= BP:
                raise ConfigError(f"[grades]: grade {name!r} floor must be an integer 1..10000, got {floor!r}")
            pairs.append((name, floor))
        floors = [f for _, f in pairs]
        if len(set(floors)) != len(floors):
            duplicate = next(f for f in floors if floors.count(f) > 1)
            raise ConfigError(f"[grades]: duplicate grade floor {duplicate}")
        if len(pairs) > 100:
            raise ConfigError("[grades]: at most 100 grades")
        grades = tuple(Grade(n, f) for n, f in sorted(pairs, key=lambda p: -p[1]))

    settlement_table = document.get("settlement", {})
    if not isinstance(settlement_table, dict):
        raise ConfigError("[settlement]: expected a table")
    _check_keys(settlement_table, set(TERM_NAMES), "[settlement]")
    settlement = _terms(settlement_table, SettlementTerms(), "[settlement]")

    raw_instruments = _tables(document, "instrument")
    if not raw_instruments:
        raise ConfigError("at least one [[instrument]] is required")
    instruments = []
    symbols = set()
    allowed = {"symbol", "tick", "price_min", "price_max", "max_qty", "delivery_periods", *TERM_NAMES}
    for number, table in enumerate(raw_instruments, start=1):
        symbol = table.get("symbol")
        where = f"[[instrument]] #{number}"
        if not isinstance(symbol, str) or not symbol:
            raise ConfigError(f"{where}: symbol must be a non-empty string")
        if _CONTROL.search(symbol) or symbol != symbol.strip() or len(symbol) > 64:
            raise ConfigError(f"{where}: symbol {_short(symbol)} must be at most 64 characters, "
                              "without line breaks, control characters or edge spaces")
        where = f"instrument {symbol}"
        _check_keys(table, allowed, where)
        if symbol in symbols:
            raise ConfigError(f"{where}: duplicate symbol")
        symbols.add(symbol)
        for key in ("tick", "price_min", "price_max"):
            if key not in table:
                raise ConfigError(f"{where}: {key} is required")
        tick = to_decimal(table["tick"], f"{where}: tick")
        price_min = to_decimal(table["price_min"], f"{where}: price_min")
        price_max = to_decimal(table["price_max"], f"{where}: price_max")
        if tick <= 0:
            raise ConfigError(f"{where}: tick must be > 0, got {tick}")
        if decimal_places(tick) > MAX_PRICE_DIGITS:
            raise ConfigError(f"{where}: tick {tick} has more than {MAX_PRICE_DIGITS} decimal places")
        if tick > MAX_PRICE or price_max > MAX_PRICE:
            raise ConfigError(f"{where}: tick {tick} and price_max {price_max} must be at most "
                              f"{MAX_PRICE} $/GPU-hour (effective prices are exact micro-dollars in int64)")
        if price_min < 0 or price_max < price_min:
            raise ConfigError(f"{where}: band [{price_min}, {price_max}] must satisfy 0 <= price_min <= price_max")
        for key, value in (("price_min", price_min), ("price_max", price_max)):
            if whole_multiple(value, tick, 2**63 - 1) is None:
                raise ConfigError(f"{where}: {key} {value} is not a whole number of ticks ({tick})")
        instrument = Instrument(
            symbol=symbol,
            tick=tick,
            price_min=price_min,
            price_max=price_max,
            max_qty=_positive_int(table, "max_qty", DEFAULT_MAX_QTY, where, MAX_QTY),
            delivery_periods=_positive_int(table, "delivery_periods", DEFAULT_DELIVERY_PERIODS, where,
                                           MAX_DELIVERY_PERIODS),
            terms=_terms(table, settlement, where),
        )
        if instrument.n_levels > MAX_LEVELS_PER_SIDE:
            raise ConfigError(
                f"{where}: band [{price_min}, {price_max}] at tick {tick} needs "
                f"{instrument.n_levels:,} price levels per side; the limit is {MAX_LEVELS_PER_SIDE:,} "
                f"(narrow the band or coarsen the tick)"
            )
        if instrument.max_ticks >= 2**40:
            raise ConfigError(f"{where}: price_max {price_max} is too many ticks for exact integer matching")
        instruments.append(instrument)
    _check_prices(instruments)

    providers = []
    provider_names = set()
    for number, table in enumerate(_tables(document, "provider"), start=1):
        party = table.get("party")
        where = f"provider {party}" if isinstance(party, str) else f"[[provider]] #{number}"
        _check_keys(table, {"party", "goodput"}, where)
        if not isinstance(party, str) or not re.fullmatch(PARTY_PATTERN, party):
            raise ConfigError(f"{where}: party must match {PARTY_PATTERN}")
        if "goodput" not in table:
            raise ConfigError(f"{where}: goodput is required")
        if party in provider_names:
            raise ConfigError(f"{where}: duplicate provider")
        provider_names.add(party)
        providers.append(Provider(party, goodput_to_bp(table["goodput"], f"{where}: goodput")))

    return ExchangeConfig(tuple(instruments), grades, tuple(providers), settlement, source)


def _toml_value(value):
    """A Decimal as the text TOML would hold; everything else as given (checked later)."""
    return str(value) if isinstance(value, Decimal) else value


def _document(instruments, grades, providers, settlement) -> dict:
    """The TOML document ``ExchangeConfig.build``'s objects stand for."""
    document: dict = {"instrument": []}
    for ins in instruments:
        if isinstance(ins, Instrument):
            table = {key: _toml_value(getattr(ins, key)) for key in
                     ("symbol", "tick", "price_min", "price_max", "max_qty", "delivery_periods")}
            if ins.terms != SettlementTerms():  # terms given: they override [settlement]
                table.update({name: getattr(ins.terms, name) for name in TERM_NAMES})
        else:
            table = {key: _toml_value(value) for key, value in dict(ins).items()}
        document["instrument"].append(table)
    if grades is not None:
        pairs = list(grades.items()) if isinstance(grades, dict) else [
            (g.name, g.floor_bp) if isinstance(g, Grade) else tuple(g) for g in grades]
        names = [name for name, _ in pairs]
        for name in names:
            if names.count(name) > 1:
                raise ConfigError(f"[grades]: duplicate grade name {name!r}")
        document["grades"] = dict(pairs)
    document["provider"] = []
    for prov in providers:
        if isinstance(prov, Provider):
            goodput = (f"{Decimal(prov.goodput_bp) / BP}" if isinstance(prov.goodput_bp, int)
                       and not isinstance(prov.goodput_bp, bool) else prov.goodput_bp)
            table = {"party": prov.party, "goodput": goodput}
        elif isinstance(prov, dict):
            table = {key: _toml_value(value) for key, value in prov.items()}
        else:
            party, goodput = prov
            table = {"party": party, "goodput": _toml_value(goodput)}
        document["provider"].append(table)
    if settlement is not None:
        document["settlement"] = (
            {name: getattr(settlement, name) for name in TERM_NAMES}
            if isinstance(settlement, SettlementTerms) else dict(settlement))
    return document


def with_listed(config: ExchangeConfig, instrument: Instrument | dict[str, Any]) -> ExchangeConfig:
    """``config`` with one more instrument after the others (listed while trading runs),
    under the checks and messages of a configuration file: ConfigError, a ValueError.
    ``instrument``: an ``Instrument`` or a dict with an ``[[instrument]]`` table's keys."""
    return ExchangeConfig.build(instruments=[*config.instruments, instrument], grades=config.grades,
                                providers=config.providers, settlement=config.settlement,
                                source=config.source)


def with_instruments(config: ExchangeConfig, instruments: Iterable[Instrument]) -> ExchangeConfig:
    """A copy of ``config`` with other instruments, unchecked: take them from a checked config
    (benchmarks, tests, and the simulation opening with its front month build these)."""
    return replace(config, instruments=tuple(instruments))
