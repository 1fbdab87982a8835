"""The obligation network of docs/RULES.md §8: who owes whom, and what each party holds.

    network = load_network(["obligations.csv", "deals.csv"], "assets.csv")   # files, checked
    network = ObligationNetwork.from_edges(debtors, creditors, amounts_micros, cash={...})
    network = ObligationNetwork.from_settlement(settlement, cash={...})       # in memory
    stressed = network.shocked({"lab": 5000})                                 # half the lab's cash gone

A liabilities file is recognised by its header: ``debtor,creditor,amount`` (a
deals file; any other columns are kept as labels) or ``buyer,provider,obligation``
(a settlement's ``obligations.csv``: the buyer owes the provider). Rows for the
same pair add up. The assets file is ``party,cash[,external_debt]``. Money is
integer µ$; every amount, and the sum of all of them, fits int64 (about
$9.2 trillion), so later sums never overflow. Parties are indexed in code-point
order, which is report order.

Cost: reading is O(rows) with one Python call per distinct cell text; building
is a sort of the rows, O(rows log rows).
"""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field

import numpy as np

from exchange.config import PARTY_PATTERN

from .csvio import InputError, cell_errors, distinct_cells, parse_money, read_table

DEALS_COLUMNS = ("debtor", "creditor", "amount")
OBLIGATIONS_COLUMNS = ("buyer", "provider", "obligation")
ASSETS_COLUMNS = ("party", "cash")
BP = 10_000
INT64_MAX = 2**63 - 1


@dataclass(frozen=True, repr=False, eq=False)
class ObligationNetwork:
    """Parties (code-point order), obligations per (debtor, creditor) pair in µ$, cash and external debt.

    ``debtor``/``creditor``/``amount``: one entry per pair, sorted by (debtor, creditor);
    ``cash``/``external_debt``: per party. ``deals``: the rows of deals files with
    their labels (``{"kind": ..., "source": ...}``), for reports and pictures.
    """

    parties: tuple
    debtor: np.ndarray
    creditor: np.ndarray
    amount: np.ndarray
    cash: np.ndarray
    external_debt: np.ndarray
    deals: tuple = field(default=())

    def __len__(self) -> int:
        return len(self.parties)

    def __repr__(self) -> str:
        return f"<ObligationNetwork {len(self)} parties, {len(self.amount)} obligations>"

    @property
    def owed(self) -> np.ndarray:
        """``pbar``: network obligations plus external debt, per party (µ$)."""
        return _sum_by(self.debtor, self.amount, len(self)) + self.external_debt

    @property
    def receivable(self) -> np.ndarray:
        """What the network owes each party (µ$)."""
        return _sum_by(self.creditor, self.amount, len(self))

    @property
    def gross(self) -> int:
        return int(self.amount.sum())

    def index(self, party: str) -> int:
        """Index of ``party``; KeyError if unknown."""
        k = int(np.searchsorted(np.array(self.parties, dtype=object), party)) if self.parties else 0
        if k >= len(self.parties) or self.parties[k] != party:
            raise KeyError(party)
        return k

    def shocked(self, shocks: dict) -> ObligationNetwork:
        """A copy with ``shocks[party]`` bp of each party's cash removed (the rest rounded down to µ$).

        ValueError naming the party for an unknown party or a total outside 0..10000 bp.
        """
        cash = self.cash.copy()
        for party, bp in shocks.items():
            try:
                k = self.index(party)
            except KeyError:
                raise ValueError(f"--shock {party}: unknown party") from None
            if isinstance(bp, bool) or not isinstance(bp, (int, np.integer)) or not 0 <= bp <= BP:
                raise ValueError(f"--shock {party}: {bp} bp is not a whole number in 0..10000")
            cash[k] = int(self.cash[k]) * (BP - int(bp)) // BP
        return ObligationNetwork(self.parties, self.debtor, self.creditor, self.amount, cash,
                                 self.external_debt, self.deals)

    # ------------------------------------------------------------------ building
    @classmethod
    def from_edges(cls, debtors, creditors, amounts, cash=None, external_debt=None, parties=(),
                   deals=()) -> ObligationNetwork:
        """From parallel sequences of names and µ$ amounts (pairs add up) and {party: µ$} dicts.

        ValueError for a bad name, a negative amount, a self-obligation or sums beyond int64.
        """
        debtors, creditors = list(debtors), list(creditors)
        amounts = [int(a) for a in amounts]
        cash, external_debt = dict(cash or {}), dict(external_debt or {})
        if not len(debtors) == len(creditors) == len(amounts):
            raise ValueError("debtors, creditors and amounts must have equal lengths")
        names = set(debtors) | set(creditors) | set(cash) | set(external_debt) | set(parties)
        for name in names:
            if not isinstance(name, str) or not re.fullmatch(PARTY_PATTERN, name):
                raise ValueError(f"party {name!r} is not a name {PARTY_PATTERN}")
        for k, (d, c, a) in enumerate(zip(debtors, creditors, amounts)):
            if d == c:
                raise ValueError(f"obligation {k}: {d} cannot owe itself")
            if a < 0:
                raise ValueError(f"obligation {k}: amount {a} is negative")
        for what, values in (("cash", cash), ("external_debt", external_debt)):
            for name, v in values.items():
                if int(v) < 0:
                    raise ValueError(f"{what} of {name}: {v} is negative")
        parties = tuple(sorted(names))
        lookup = {name: k for k, name in enumerate(parties)}
        n = len(parties)
        d = np.fromiter((lookup[x] for x in debtors), np.int64, len(debtors))
        c = np.fromiter((lookup[x] for x in creditors), np.int64, len(creditors))
        total = sum(amounts) + sum(int(v) for v in cash.values()) + sum(int(v) for v in external_debt.values())
        if total > INT64_MAX:
            raise ValueError("the amounts add up beyond int64 µ$ (about $9.2 trillion)")
        d, c, a = _aggregate(d, c, np.array(amounts, dtype=np.int64), n)
        e = np.zeros(n, np.int64)
        x = np.zeros(n, np.int64)
        for name, v in cash.items():
            e[lookup[name]] = int(v)
        for name, v in external_debt.items():
            x[lookup[name]] = int(v)
        return cls(parties, d, c, a, e, x, tuple(deals))

    @classmethod
    def from_arrays(cls, parties, debtor, creditor, amount, cash=None, external_debt=None) -> ObligationNetwork:
        """From index arrays into ``parties`` (sorted, distinct); pairs add up. For large networks."""
        parties = tuple(parties)
        n = len(parties)
        if list(parties) != sorted(set(parties)):
            raise ValueError("parties must be distinct and sorted")
        debtor, creditor = np.asarray(debtor, np.int64), np.asarray(creditor, np.int64)
        amount = np.asarray(amount, np.int64)
        cash = np.zeros(n, np.int64) if cash is None else np.asarray(cash, np.int64).copy()
        external = np.zeros(n, np.int64) if external_debt is None else np.asarray(external_debt, np.int64).copy()
        if len(debtor) and (min(debtor.min(), creditor.min()) < 0 or max(debtor.max(), creditor.max()) >= n):
            raise ValueError("party index out of range")
        if (debtor == creditor).any():
            raise ValueError("a party cannot owe itself")
        if (amount < 0).any() or (cash < 0).any() or (external < 0).any():
            raise ValueError("amounts, cash and external debt must be >= 0")
        total = sum(int(v.sum(dtype=object)) for v in (amount, cash, external))
        if total > INT64_MAX:
            raise ValueError("the amounts add up beyond int64 µ$ (about $9.2 trillion)")
        d, c, a = _aggregate(debtor, creditor, amount, n)
        return cls(parties, d, c, a, cash, external)

    @classmethod
    def from_settlement(cls, settlement, cash=None, external_debt=None) -> ObligationNetwork:
        """The remaining take-or-pay obligations of a ``Settlement`` (buyer owes provider)."""
        buyer, provider, _, _, money = settlement.obligations()
        names = settlement.contracts.parties
        return cls.from_edges([names[k] for k in buyer.tolist()], [names[k] for k in provider.tolist()],
                              money.tolist(), cash, external_debt, parties=names)


def _sum_by(index, values, n) -> np.ndarray:
    """Exact int64 sums of ``values`` grouped by ``index`` (0..n-1)."""
    out = np.zeros(n, np.int64)
    np.add.at(out, index, values)
    return out


def _aggregate(d, c, a, n):
    """Pairs sorted by (debtor, creditor), amounts of equal pairs added."""
    key = d * max(n, 1) + c
    order = np.argsort(key, kind="stable")
    key = key[order]
    if not len(key):
        z = np.zeros(0, np.int64)
        return z, z.copy(), z.copy()
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    amount = np.add.reduceat(a[order], starts)
    first = key[starts]
    return first // max(n, 1), first % max(n, 1), amount.astype(np.int64)


# ---------------------------------------------------------------------- files
def _header(path) -> list:
    """The header cells of a CSV file, [] when it cannot be read (read_table then says why)."""
    try:
        with open(path, "rb") as handle:
            first = handle.readline().decode("utf-8", errors="replace")
    except OSError:
        return []
    return next(csv.reader([first.lstrip("\ufeff").rstrip("\r\n")]), [])


def _party(text: str) -> str:
    if not re.fullmatch(PARTY_PATTERN, text):
        raise ValueError(f"{text!r} is not a party name {PARTY_PATTERN}" if text else "empty")
    return text


def _column(table, name, parse, errors):
    values, why, codes = distinct_cells(table.columns[name], parse)
    bad = np.isin(codes, list(why))
    errors += cell_errors(table, name, bad, lambda r, t: why[int(codes[r])])
    return [values[k] for k in codes.tolist()], bad


def read_liabilities(path):
    """Rows ``(debtor, creditor, amount µ$, labels)`` of one liabilities file; InputError lists every bad cell."""
    header = _header(path)
    if all(name in header for name in DEALS_COLUMNS):
        names, labels = DEALS_COLUMNS, [h for h in header if h not in DEALS_COLUMNS]
    elif all(name in header for name in OBLIGATIONS_COLUMNS):
        names, labels = OBLIGATIONS_COLUMNS, []
    else:
        read_table(path, ())  # a missing, unreadable or empty file: its own message
        why = "expected debtor,creditor,amount (a deals file) or buyer,provider,obligation (obligations.csv)"
        raise InputError([f"{path}:1: header: {why}"])
    table = read_table(path, tuple(names) + tuple(labels))
    errors = []
    debtor, bad_d = _column(table, names[0], _party, errors)
    creditor, bad_c = _column(table, names[1], _party, errors)
    same = ~bad_d & ~bad_c & np.array([a == b for a, b in zip(debtor, creditor)], dtype=bool)
    errors += cell_errors(table, names[1], same, lambda r, t: f"{t} is also the {names[0]}: a party cannot owe itself")
    amount, _ = _column(table, names[2], parse_money, errors)
    if errors:
        order = {name: k for k, name in enumerate(names)}
        errors.sort(key=lambda e: (e[0], order[e[1]]))
        raise InputError([e[2] for e in errors])
    label_cols = [table.columns[name].to_pylist() for name in labels]
    rows = [(d, c, a, {name: col[k] for name, col in zip(labels, label_cols)})
            for k, (d, c, a) in enumerate(zip(debtor, creditor, amount))]
    return rows


def read_assets(path) -> tuple[dict, dict]:
    """``({party: cash µ$}, {party: external_debt µ$})`` from ``party,cash[,external_debt]``."""
    header = _header(path)
    names = ASSETS_COLUMNS + (("external_debt",) if "external_debt" in header else ())
    table = read_table(path, names)
    errors = []
    party, bad_p = _column(table, "party", _party, errors)
    cash, _ = _column(table, "cash", parse_money, errors)
    external = _column(table, "external_debt", parse_money, errors)[0] if "external_debt" in names else [0] * len(party)
    seen = {}
    for k, name in enumerate(party):
        if bad_p[k]:
            continue
        if name in seen:
            line = int(table.lines[k])
            errors.append((line, "party", table.where(line, "party", f"{name} is listed twice (first on line {seen[name]})")))
        else:
            seen[name] = int(table.lines[k])
    if errors:
        order = {name: k for k, name in enumerate(names)}
        errors.sort(key=lambda e: (e[0], order[e[1]]))
        raise InputError([e[2] for e in errors])
    return dict(zip(party, cash)), {p: x for p, x in zip(party, external) if x}


def load_network(liability_paths, assets_path=None) -> ObligationNetwork:
    """Every liabilities file and the assets file, checked together: InputError lists every problem."""
    rows, errors = [], []
    for path in liability_paths:
        try:
            rows += read_liabilities(path)
        except InputError as error:
            errors += error.messages
    cash, external = {}, {}
    if assets_path is not None:
        try:
            cash, external = read_assets(assets_path)
        except InputError as error:
            errors += error.messages
    if errors:
        raise InputError(errors)
    deals = tuple(r for r in rows if r[3])
    try:
        return ObligationNetwork.from_edges([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows],
                                            cash, external, deals=deals)
    except ValueError as error:
        raise InputError([f"{', '.join(map(str, liability_paths))}: {error}"]) from None
