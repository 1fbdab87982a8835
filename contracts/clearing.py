"""Clearing an obligation network in rounds: Eisenberg–Noe with Rogers–Veraart costs (docs/RULES.md §8).

    result = clear(network, alpha_bp=10000, beta_bp=10000)      # method="auto" | "exact" | "fast"
    result.default_round, result.paid, result.received, result.rounds

With ``pbar`` what each party owes, ``Π[j][i] = L[j][i] / pbar[j]`` and
``inflow[i] = Σ_j Π[j][i] p[j]``, the clearing vector is the greatest ``p`` with
``p[i] = pbar[i]`` where ``e[i] + inflow[i] >= pbar[i]`` and
``p[i] = alpha e[i] + beta inflow[i]`` elsewhere (the defaulters).

**Rounds.** Nobody has defaulted before round 1. Each round adds every party
with ``e + inflow < pbar`` under the current ``p``, then solves the equations
with that default set ``D`` fixed: non-defaulters pay ``pbar``, defaulters
``alpha e + beta inflow``, a linear system ``(I - beta Π_DD^T) p_D = alpha e_D +
beta (what non-defaulters pay into D)``. The previous round's ``p`` is a
super-solution of the new system (every new defaulter had less than it owed,
every old one pays exactly its formula), so the system always has solutions at
or below it, and ``p`` only falls from round to round; the greatest one is
taken. With ``beta < 1`` the matrix is strictly diagonally dominant by columns,
so the solution is unique. With ``beta = 1`` it is singular exactly when a
*closed class* of defaulters (a strongly connected set that owes everything
inside itself, no external debt) is in ``D``; such a class then gets nothing
from outside and keeps the previous round's payments, which are a circulation
of it (the greatest solution at or below them). The rest of ``D`` is solved
normally. Rounds stop when one adds nobody: at most ``n`` rounds.

**Exact path** (``method="exact"``, the default up to ``EXACT_PARTIES``
parties): ``fractions.Fraction`` throughout; each round solves the defaulters'
strongly connected blocks in topological order, dense Gaussian elimination
inside a block. Cost per round O(Σ block³) Fraction operations, whose size grows
with the block: fine for tens of parties.

**Fast path** (``method="fast"``): per round one sparse linear solve in
floating point (SuperLU for up to ``DIRECT_LIMIT`` unknowns; else the monotone
iteration ``p <- rhs + beta Π^T p`` from the previous round's payments, one
sparse product a step, GMRES where it is slow; residual checked), and O(edges)
numpy work for the default tests: about 1 s for 100,000 parties, 1,000,000
obligations and five rounds (bench/bench_risk.py). The tests are decided as exact
arithmetic would. A party's inflow splits into what non-defaulters pay (exact
integers: ``L[j][i]``) and what defaulters pay (floating point). Where no
defaulter pays it, the test is an integer comparison. Where one does and the
float margin ``e + inflow - pbar`` lies within ``BAND_MICROS + BAND_RELATIVE x
(pbar + e + receivable)`` of zero, the defaulters upstream of the party get
certified integer bounds ``q <= p* <= u`` (``T(q) >= q`` and ``T(u) <= u``
checked in Python integers, ``T`` the round's monotone map with a unique fixed
point), and the test is decided when both bounds agree; only a tie or a margin
below the bounds' width is solved exactly in Fractions over the upstream
defaulters. Amounts (``paid``, ``received``) are floors of the float values,
within 1 µ$ plus the solver's relative error (about 1e-13) of the exact ones.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import scipy.sparse as sp
from scipy.sparse import csgraph
from scipy.sparse import linalg as splinalg

from .network import BP, ObligationNetwork

EXACT_PARTIES = 60
DIRECT_LIMIT = 2000
BAND_RELATIVE = 1e-8  # float margins within this share of (pbar + e + receivable) ...
BAND_MICROS = 16.0  # ... plus this many µ$ are re-decided exactly


@dataclass(frozen=True)
class Round:
    """One round that added defaulters: how many, how many so far, total printed shortfall after it."""

    round: int
    new_defaults: int
    defaulted: int
    shortfall: int


@dataclass(frozen=True, repr=False, eq=False)
class Clearing:
    """The clearing of ``network``: per party ``payment`` (p) and ``inflow`` (Fractions on the exact
    path, floats on the fast path), their floors ``paid`` and ``received`` in µ$, and
    ``default_round`` (0: never). ``rounds``: the rounds that added defaulters."""

    network: ObligationNetwork
    alpha_bp: int
    beta_bp: int
    method: str
    payment: object
    inflow: object
    paid: np.ndarray
    received: np.ndarray
    default_round: np.ndarray
    rounds: tuple

    def __repr__(self) -> str:
        return (f"<Clearing {self.method}: {int((self.default_round > 0).sum())} of {len(self.network)} parties "
                f"default in {len(self.rounds)} rounds, shortfall {self.shortfall.sum()} µ$>")

    @property
    def defaulted(self) -> np.ndarray:
        return self.default_round > 0

    @property
    def shortfall(self) -> np.ndarray:
        """owed - paid (µ$), from the printed values."""
        return self.network.owed - self.paid

    @property
    def lost(self) -> np.ndarray:
        """What bankruptcy costs destroyed: cash + received - paid for a defaulter, else 0."""
        return np.where(self.defaulted, self.network.cash + self.received - self.paid, 0)

    @property
    def equity(self) -> np.ndarray:
        """cash + received - paid for a non-defaulter, else 0."""
        return np.where(self.defaulted, 0, self.network.cash + self.received - self.paid)


def clear(network: ObligationNetwork, alpha_bp: int = BP, beta_bp: int = BP, method: str = "auto") -> Clearing:
    """Clear ``network`` in rounds (see the module docstring). ValueError for bad ``alpha_bp``/``beta_bp``/``method``."""
    for name, value in (("alpha", alpha_bp), ("beta", beta_bp)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 0 <= value <= BP:
            raise ValueError(f"--{name}: {value!r} is not a whole number of bp in 0..10000")
    if method == "auto":
        method = "exact" if len(network) <= EXACT_PARTIES else "fast"
    if method not in ("exact", "fast"):
        raise ValueError(f"method: {method!r} is not auto, exact or fast")
    engine = (_Exact if method == "exact" else _Fast)(network, int(alpha_bp), int(beta_bp))
    n = len(network)
    owed = network.owed
    in_default = np.zeros(n, dtype=bool)
    default_round = np.zeros(n, dtype=np.int64)
    rounds = []
    while True:
        new = engine.new_defaults(in_default)
        if not new.any():
            break
        k = len(rounds) + 1
        in_default |= new
        default_round[new] = k
        engine.solve(in_default)
        paid, _ = engine.printed(in_default)
        rounds.append(Round(k, int(new.sum()), int(in_default.sum()), int((owed - paid).sum())))
    paid, received = engine.printed(in_default)
    return Clearing(network, int(alpha_bp), int(beta_bp), method, engine.payment(), engine.inflow(in_default),
                    paid, received, default_round, tuple(rounds))


# --------------------------------------------------------------------- shared
def closed_classes(network: ObligationNetwork, in_default: np.ndarray, owed: np.ndarray | None = None) -> np.ndarray:
    """Mask of defaulters in a closed class: a strongly connected set of defaulters owing everything
    (no external debt) inside itself. Exact (integer sums); O(edges)."""
    n = len(network)
    owed = network.owed if owed is None else owed
    d, c, amount = network.debtor, network.creditor, network.amount
    positive = amount > 0
    # only a defaulter with no external debt that owes nothing to a non-defaulter can be in one
    member = in_default & (network.external_debt == 0) & (owed > 0)
    member[d[positive & member[d] & ~in_default[c]]] = False
    inside = member[d] & member[c] & positive
    if not inside.any():
        return np.zeros(n, bool)
    graph = sp.csr_matrix((np.ones(int(inside.sum())), (d[inside], c[inside])), shape=(n, n))
    _, label = csgraph.connected_components(graph, directed=True, connection="strong")
    same = inside & (label[d] == label[c])
    within = np.zeros(n, np.int64)
    np.add.at(within, d[same], amount[same])
    owes_all_inside = member & (within == owed)
    # a class is closed when every member owes everything inside it
    bad = np.zeros(label.max() + 1, bool)
    np.logical_or.at(bad, label[member], ~owes_all_inside[member])
    bad[np.unique(label[~member])] = True
    return member & ~bad[label]


def _topological_blocks(nodes: list, edges: list) -> list:
    """Strongly connected blocks of the graph ``edges`` (pairs within ``nodes``), upstream blocks first."""
    index = {v: k for k, v in enumerate(nodes)}
    m = len(nodes)
    if not m:
        return []
    rows = [index[a] for a, b in edges]
    cols = [index[b] for a, b in edges]
    graph = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(m, m))
    count, label = csgraph.connected_components(graph, directed=True, connection="strong")
    succ = [set() for _ in range(count)]
    indegree = [0] * count
    for a, b in zip(rows, cols):
        la, lb = label[a], label[b]
        if la != lb and lb not in succ[la]:
            succ[la].add(lb)
            indegree[lb] += 1
    members = [[] for _ in range(count)]
    for k, v in enumerate(nodes):
        members[label[k]].append(v)
    ready = sorted(b for b in range(count) if indegree[b] == 0)
    order = []
    while ready:
        b = ready.pop()
        order.append(members[b])
        for s in sorted(succ[b]):
            indegree[s] -= 1
            if indegree[s] == 0:
                ready.append(s)
    return order


def exact_payments(nodes, incoming: dict, pbar: list, cash: list, alpha: Fraction, beta: Fraction,
                   known) -> dict:
    """Solve ``p[i] = alpha cash[i] + beta Σ_j L[j][i] p[j] / pbar[j]`` exactly for ``i`` in ``nodes``.

    ``incoming[i]``: list of (j, L[j][i]); ``known(j)`` gives p[j] (exact) for every payer not in
    ``nodes``. The system restricted to ``nodes`` must be nonsingular (no closed class). Blocks are
    solved upstream first, Gaussian elimination in Fractions inside each.
    """
    nodes = sorted(nodes)
    inside = set(nodes)
    edges = [(j, i) for i in nodes for j, amount in incoming.get(i, ()) if j in inside and amount]
    p = {}

    def value(j):
        return p[j] if j in p else known(j)

    for block in _topological_blocks(nodes, edges):
        pos = {v: k for k, v in enumerate(block)}
        m = len(block)
        matrix = [[Fraction(int(r == s)) for s in range(m)] + [Fraction(0)] for r in range(m)]
        for r, i in enumerate(block):
            rhs = alpha * cash[i]
            for j, amount in incoming.get(i, ()):
                if not amount:
                    continue
                share = Fraction(amount, pbar[j])
                if j in pos:
                    matrix[r][pos[j]] -= beta * share
                else:
                    rhs += beta * share * value(j)
            matrix[r][m] = rhs
        for col in range(m):  # Gauss-Jordan; the diagonal dominance of an M-matrix keeps pivots nonzero
            pivot = next(r for r in range(col, m) if matrix[r][col] != 0)
            matrix[col], matrix[pivot] = matrix[pivot], matrix[col]
            head = matrix[col]
            inv = 1 / head[col]
            head[:] = [v * inv for v in head]
            for r in range(m):
                if r != col and matrix[r][col] != 0:
                    f = matrix[r][col]
                    row = matrix[r]
                    row[:] = [a - f * b for a, b in zip(row, head)]
        for r, i in enumerate(block):
            p[i] = matrix[r][m]
    return p


# ----------------------------------------------------------------- exact path
class _Exact:
    """Fractions throughout; for small networks and as the oracle of the fast path."""

    def __init__(self, network: ObligationNetwork, alpha_bp: int, beta_bp: int):
        self.network = network
        self.n = len(network)
        self.alpha, self.beta = Fraction(alpha_bp, BP), Fraction(beta_bp, BP)
        self.pbar = [int(v) for v in network.owed]
        self.cash = [int(v) for v in network.cash]
        self.incoming = {}
        for j, i, amount in zip(network.debtor.tolist(), network.creditor.tolist(), network.amount.tolist()):
            self.incoming.setdefault(i, []).append((j, amount))
        self.p = list(self.pbar)

    def _inflow(self, i) -> Fraction:
        total = Fraction(0)
        for j, amount in self.incoming.get(i, ()):
            total += amount if self.p[j] == self.pbar[j] else Fraction(amount, self.pbar[j]) * self.p[j]
        return total

    def new_defaults(self, in_default) -> np.ndarray:
        return np.array([not in_default[i] and self.cash[i] + self._inflow(i) < self.pbar[i]
                         for i in range(self.n)], dtype=bool)

    def solve(self, in_default) -> None:
        closed = closed_classes(self.network, in_default) if self.beta == 1 else np.zeros(self.n, bool)
        nodes = np.flatnonzero(in_default & ~closed).tolist()
        previous = list(self.p)
        solved = exact_payments(nodes, self.incoming, self.pbar, self.cash, self.alpha, self.beta,
                                lambda j: previous[j])
        for i, v in solved.items():
            self.p[i] = v

    def payment(self):
        return list(self.p)

    # The exact engine's inflows need no default set (every payment is exact); the
    # argument keeps one interface with the fast engine, whose floats do.
    def inflow(self, in_default):  # noqa: ARG002
        return [self._inflow(i) for i in range(self.n)]

    def printed(self, in_default):  # noqa: ARG002
        paid = np.array([v if isinstance(v, int) else v.numerator // v.denominator for v in self.p], np.int64)
        received = np.array([_floor(self._inflow(i)) for i in range(self.n)], np.int64)
        return paid, received


def _floor(value) -> int:
    return value if isinstance(value, int) else value.numerator // value.denominator


# ------------------------------------------------------------------ fast path
class _Fast:
    """Sparse floating-point solves per round, default tests decided exactly (see the module docstring)."""

    def __init__(self, network: ObligationNetwork, alpha_bp: int, beta_bp: int):
        self.network = network
        self.n = len(network)
        self.alpha_bp, self.beta_bp = alpha_bp, beta_bp
        self.d, self.c, self.amount = network.debtor, network.creditor, network.amount
        self.pbar = network.owed
        self.cash = network.cash
        self.receivable = network.receivable
        with np.errstate(divide="ignore", invalid="ignore"):
            self.share = np.where(self.pbar[self.d] > 0, self.amount / self.pbar[self.d].astype(np.float64), 0.0)
        self.p = self.pbar.astype(np.float64)
        self.band = BAND_MICROS + BAND_RELATIVE * (self.pbar + self.cash + self.receivable).astype(np.float64)
        self.closed = None  # defaulters in closed classes, as of the last solve

    def _inflow_parts(self, in_default):
        """(exact int64 part paid by non-defaulters, float part paid by defaulters, has a defaulter payer)."""
        from_default = in_default[self.d]
        exact_part = self.receivable.copy()
        np.subtract.at(exact_part, self.c[from_default], self.amount[from_default])
        dd, cc = self.d[from_default], self.c[from_default]
        float_part = np.bincount(cc, weights=self.share[from_default] * self.p[dd], minlength=self.n)
        touched = np.zeros(self.n, bool)
        touched[cc[self.amount[from_default] > 0]] = True
        return exact_part, float_part, touched

    def new_defaults(self, in_default) -> np.ndarray:
        exact_part, float_part, touched = self._inflow_parts(in_default)
        margin_int = self.cash + exact_part - self.pbar
        margin = margin_int + float_part
        open_ = ~in_default
        new = open_ & np.where(touched, margin < 0, margin_int < 0)
        borderline = open_ & touched & (np.abs(margin) <= self.band)
        if borderline.any():
            parties = np.flatnonzero(borderline)
            decided = self._certified(parties, in_default)
            for i in parties.tolist():
                if i in decided:
                    new[i] = decided[i]
            rest = np.array([i for i in parties.tolist() if i not in decided], np.int64)
            if len(rest):
                for i, value in self._exact_inflow(rest, in_default).items():
                    new[i] = int(self.cash[i]) + value < int(self.pbar[i])
        return new

    def _upstream(self, parties, in_default):
        """(mask of defaulters that pay, directly or through other defaulters, into ``parties``;
        mask of ``parties``)."""
        upstream = np.zeros(self.n, bool)
        targets = np.zeros(self.n, bool)
        targets[parties] = True
        paying = in_default[self.d] & (self.amount > 0)
        while True:
            grow = paying & (targets[self.c] | upstream[self.c]) & ~upstream[self.d]
            if not grow.any():
                return upstream, targets
            upstream[self.d[grow]] = True

    def _certified(self, parties, in_default) -> dict:
        """{party: defaults?} for the ``parties`` whose test integer bounds settle.

        Around the float payments ``p~`` of the defaulters upstream, ``q`` (below) and ``u`` (above)
        are checked in exact integers to satisfy ``T(q) >= q`` and ``T(u) <= u`` for this round's
        map ``T`` (sums of floors, resp. ceilings, of ``L p / pbar``). ``T`` is monotone with a
        unique fixed point there, so ``q <= p* <= u``; a test is settled when the margin has the
        same sign at both bounds. Python integers over the upstream edges only.
        """
        upstream, targets = self._upstream(parties, in_default)
        nodes = np.flatnonzero(upstream)
        if not len(nodes):
            return {}
        p = self.p[nodes]
        slack = 1e-9 * p + 4.0
        q = np.zeros(self.n, dtype=object)
        u = np.zeros(self.n, dtype=object)
        q[nodes] = [max(int(v), 0) for v in np.floor(p - slack)]
        u[nodes] = [int(v) for v in np.ceil(p + slack)]
        pbar = self.pbar.astype(object)
        edges = np.flatnonzero((upstream[self.c] | targets[self.c]) & (self.amount > 0))
        dd, cc, amount = self.d[edges], self.c[edges], self.amount[edges].astype(object)
        from_up = upstream[dd]
        low = np.zeros(self.n, dtype=object)
        high = np.zeros(self.n, dtype=object)
        solvent = ~in_default[dd]
        np.add.at(low, cc[solvent], amount[solvent])
        np.add.at(high, cc[solvent], amount[solvent])
        payer = dd[from_up]
        np.add.at(low, cc[from_up], (amount[from_up] * q[payer]) // pbar[payer])
        np.add.at(high, cc[from_up], -((-amount[from_up] * u[payer]) // pbar[payer]))
        cash = self.cash.astype(object)
        # T(q) >= q and T(u) <= u on the upstream defaulters, everything times 10000
        lower_ok = (self.alpha_bp * cash[nodes] + self.beta_bp * low[nodes] >= BP * q[nodes]).all()
        upper_ok = (self.alpha_bp * cash[nodes] + self.beta_bp * high[nodes] + (BP - 1) <= BP * u[nodes]).all()
        if not (lower_ok and upper_ok):
            return {}
        decided = {}
        for i in parties.tolist():
            if int(self.cash[i]) + low[i] >= int(self.pbar[i]):
                decided[i] = False
            elif int(self.cash[i]) + high[i] < int(self.pbar[i]):
                decided[i] = True
        return decided

    def _exact_inflow(self, parties, in_default) -> dict:
        """Exact inflow of ``parties`` under this round's exact solution: the defaulters upstream of
        them are solved in Fractions (non-defaulters pay pbar). The last resort: a tie or a test
        the integer bounds cannot settle."""
        upstream, targets = self._upstream(parties, in_default)
        nodes = np.flatnonzero(upstream).tolist()
        relevant = upstream[self.c] | targets[self.c]
        incoming = {}
        for j, i, amount in zip(self.d[relevant].tolist(), self.c[relevant].tolist(), self.amount[relevant].tolist()):
            incoming.setdefault(i, []).append((j, amount))
        pbar = {int(k): int(self.pbar[k]) for k in set(self.d[relevant].tolist())}
        cash = {k: int(self.cash[k]) for k in nodes}
        p = exact_payments(nodes, incoming, pbar, cash, Fraction(self.alpha_bp, BP), Fraction(self.beta_bp, BP),
                           lambda j: pbar[j])
        out = {}
        for i in parties.tolist():
            total = Fraction(0)
            for j, amount in incoming.get(i, ()):
                total += Fraction(amount, pbar[j]) * p[j] if j in p else amount
            out[i] = total
        return out

    def solve(self, in_default) -> None:
        closed = closed_classes(self.network, in_default, self.pbar) if self.beta_bp == BP else np.zeros(self.n, bool)
        self.closed = closed
        solve = in_default & ~closed
        nodes = np.flatnonzero(solve)
        if not len(nodes):
            return
        position = np.full(self.n, -1, np.int64)
        position[nodes] = np.arange(len(nodes))
        beta = self.beta_bp / BP
        both = solve[self.d] & solve[self.c]
        m = len(nodes)
        coupling = sp.csr_matrix((self.share[both], (position[self.c[both]], position[self.d[both]])), shape=(m, m))
        matrix = (sp.identity(m, format="csr") - beta * coupling).tocsc()
        from_solvent = solve[self.c] & ~in_default[self.d]
        paid_in = np.zeros(self.n, np.int64)
        np.add.at(paid_in, self.c[from_solvent], self.amount[from_solvent])
        rhs = (self.alpha_bp / BP) * self.cash[nodes].astype(np.float64) + beta * paid_in[nodes].astype(np.float64)
        self.p[nodes] = _linear_solve(matrix, rhs, np.minimum(self.p[nodes], self.pbar[nodes]))

    def payment(self):
        return self.p.copy()

    def inflow(self, in_default):
        exact_part, float_part, _ = self._inflow_parts(in_default)
        return exact_part + float_part

    def printed(self, in_default):
        exact_part, float_part, _ = self._inflow_parts(in_default)
        received = exact_part + np.floor(float_part).astype(np.int64)
        # a defaulter pays floor(alpha e + beta inflow), split so no product leaves int64
        e_hi, e_lo = np.divmod(self.cash, BP)
        i_hi, i_lo = np.divmod(exact_part, BP)
        whole = self.alpha_bp * e_hi + self.beta_bp * i_hi
        rest = (self.alpha_bp * e_lo + self.beta_bp * i_lo + self.beta_bp * float_part) / BP
        formula = whole + np.floor(rest).astype(np.int64)
        if self.alpha_bp == BP and self.beta_bp == BP:  # Eisenberg-Noe: a defaulter pays all it has, exactly
            formula = self.cash + received
        closed = self.closed if self.closed is not None else np.zeros(self.n, bool)
        paid = np.where(in_default, np.where(closed, np.floor(self.p).astype(np.int64), formula), self.pbar)
        return np.minimum(paid, self.pbar), received


def _linear_solve(matrix, rhs, start) -> np.ndarray:
    """Solve ``matrix x = rhs`` for a nonsingular M-matrix ``I - B`` (``B >= 0``) to a relative residual of
    about 1e-13: small systems by SuperLU; larger ones by the iteration ``x <- rhs + B x`` from ``start``
    (a super-solution, so it falls monotonically; one sparse product a step), GMRES where that is slow."""
    m = matrix.shape[0]
    scale = max(float(np.abs(rhs).max()) if m else 0.0, 1.0)
    if m <= DIRECT_LIMIT:
        x = np.asarray(splinalg.spsolve(matrix, rhs), dtype=np.float64)
    else:
        coupling = (sp.identity(m, format="csr") - matrix).tocsr()
        x = start.astype(np.float64)
        for _ in range(400):
            step = rhs + coupling @ x
            change = float(np.abs(step - x).max())
            x = step
            if change <= 1e-14 * scale:
                break
        else:
            x, _ = splinalg.gmres(matrix, rhs, x0=x, rtol=1e-12, atol=0.0, restart=60, maxiter=50)
            for _ in range(50):  # polish
                x = rhs + coupling @ x
    if not np.isfinite(x).all() or float(np.abs(rhs - matrix @ x).max()) > 1e-9 * scale:
        raise ArithmeticError("clearing: the sparse solve did not converge")
    return np.maximum(x, 0.0)
