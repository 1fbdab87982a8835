"""Ours, the plain-Python reference engine (``ReferenceExchange``), same calls as per-call."""
from exchange.oracles.reference import ReferenceExchange

from . import ours_percall

NAME = "ours: reference (plain Python)"
PACKAGE = None


def available():
    return "this repo"


class Engine(ours_percall.Engine):
    engine = ReferenceExchange
