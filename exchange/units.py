"""Exact decimal text <-> integer units, and the one half-even rounding (docs/RULES.md §2).

Prices, money and goodput are integers inside (ticks, micro-dollars, basis points)
and decimal text outside. Every conversion between the two, and every division
that must be written as a decimal, goes through here, so replay, settlement and
the simulation print the same numbers the same way. No float is involved.

>>> micros_text(-1_500_000), micros_text(1_234_500_000, grouping=True)
('-1.500000', '1,234.500000')
>>> to_units("2.1", 3), units_text(2100, 3)
(2100, '2.100')
>>> half_even(5, 2), half_even(7, 2), half_even(-5, 2)
(2, 4, -2)
"""
from __future__ import annotations

from decimal import Decimal, InvalidOperation

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

MICROS = 1_000_000  # micro-dollars (µ$) in one dollar
MONEY_PLACES = 6


def half_even(num: int, den: int) -> int:
    """``num / den`` rounded half-even, exactly (Python ints, ``den > 0``)."""
    q, r = divmod(int(num), int(den))
    if 2 * r > den or (2 * r == den and q % 2):
        q += 1
    return q


def half_even_array(num, den) -> np.ndarray:
    """``half_even`` elementwise over int64 arrays (``den > 0``; no overflow checks)."""
    num, den = np.asarray(num, np.int64), np.asarray(den, np.int64)
    q, r = np.divmod(num, den)
    return q + ((2 * r > den) | ((2 * r == den) & (q % 2 == 1)))


def units_text(value: int, places: int, *, grouping: bool = False) -> str:
    """An integer count of ``10**-places`` as decimal text with exactly ``places`` decimals
    (``units_text(-1500, 3) == '-1.500'``); ``grouping`` puts commas in the whole part."""
    value = int(value)
    whole, frac = divmod(abs(value), 10 ** places)
    sign = "-" if value < 0 else ""
    whole_text = f"{whole:,}" if grouping else str(whole)
    return f"{sign}{whole_text}.{frac:0{places}d}" if places else f"{sign}{whole_text}"


def micros_text(micros: int, *, grouping: bool = False) -> str:
    """µ$ as dollars with 6 decimals: ``-1.500000``."""
    return units_text(micros, MONEY_PLACES, grouping=grouping)


def to_units(text, places: int) -> int:
    """Decimal text (or a Decimal) as an integer count of ``10**-places``.

    ValueError when it is not a finite decimal or has more than ``places`` decimals
    that are not zeros (judged by value: ``to_units('1.50', 1) == 15``)."""
    try:
        number = text if isinstance(text, Decimal) else Decimal(text)
    except (InvalidOperation, TypeError):
        raise ValueError(f"{text!r} is not a decimal number") from None
    if not number.is_finite():
        raise ValueError(f"{text!r} is not a finite decimal number")
    scaled = number.scaleb(places)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{text!r} has more than {places} decimal places")
    return int(scaled)


def parse_micros(text: str) -> int:
    """Dollars (decimal text, at most 6 places) as µ$: the inverse of ``micros_text``."""
    return to_units(text, MONEY_PLACES)


def micros_column(micros) -> pa.Array:
    """``micros_text`` over an int64 array, as an Arrow string array (vectorised, exact)."""
    micros = np.asarray(micros, dtype=np.int64)
    magnitude = np.abs(micros)
    whole = pc.cast(pa.array(magnitude // MICROS), pa.string())
    frac = pc.utf8_lpad(pc.cast(pa.array(magnitude % MICROS), pa.string()), width=MONEY_PLACES, padding="0")
    sign = pa.array(np.where(micros < 0, "-", ""), type=pa.string())
    return pc.binary_join_element_wise(sign, whole, ".", frac, "")  # "" joins with no separator
