"""Checking and converting the per-call API's arguments (docs/API.md).

Each helper takes what a caller passed and returns the int or Decimal the kernel takes,
or raises ValueError naming the field; none touches the exchange's state. Shared by
``Exchange``'s actions (exchange/engine.py), its queries (exchange/queries.py) and its
lean calls (exchange/embedding.py).
"""
from __future__ import annotations

import re
from decimal import Decimal

import numpy as np

INT64_MAX = np.iinfo(np.int64).max
_DECIMAL_RE = re.compile(r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")


def short(value) -> str:
    """``repr`` of an argument cut to about 40 characters, for error messages."""
    text = repr(value)
    return text if len(text) <= 40 else text[:40] + "…"


def word(value, words: dict, enum_type, field: str):
    """The code of an enum member or of one of its words."""
    if isinstance(value, enum_type):
        return int(value)
    code = words.get(value) if isinstance(value, str) else None
    if code is None:
        raise ValueError(f"{field}: {short(value)} is not one of {', '.join(words)}")
    return int(code)


def integer(value, field: str, allow_none: bool = False):
    """An int64 from an int or numpy integer (not a bool)."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{field}: {short(value)} is not an integer")
    value = int(value)
    if not -INT64_MAX - 1 <= value <= INT64_MAX:
        raise ValueError(f"{field}: {short(value)} is outside int64")
    return value


def quantity(value) -> int:
    """A quantity: an int64 other than -2**63, which stands for "no value" in the records
    (docs/RULES.md §5 qty); such a quantity could not be echoed in its REJECTED event."""
    value = integer(value, "qty")
    if value == -INT64_MAX - 1:
        raise ValueError(f"qty: {value} is outside -(2**63-1)..2**63-1")
    return value


def exact_decimal(value, field: str, allow_int: bool = True) -> Decimal:
    """An exact decimal from plain decimal text, a finite Decimal or (prices) an int.

    Floats are refused: they cannot carry prices exactly. A negative Decimal or int is
    a number, so as a price it is BAD_PRICE (outside the band), not an error."""
    if isinstance(value, str):
        if not _DECIMAL_RE.fullmatch(value):
            raise ValueError(f"{field}: {short(value)} is not a plain decimal number")
        return Decimal(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{field}: {short(value)} is not a finite decimal")
        return value
    if allow_int and isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return Decimal(int(value))
    kinds = "a str, Decimal or int" if allow_int else "a str or Decimal"
    raise ValueError(f"{field}: {short(value)} is a {type(value).__name__}; give {kinds}")
