"""The agents' side of the books: every order the simulation sent, and what each agent holds.

The exchange keeps the real book; the agents decide from this copy, kept up to date
from the events each engine call returns (``observe``), so deciding needs no engine
query. Positions are flat arrays indexed by ``agent * n_inst + instrument`` (the
order's *key*). Cost: O(events) per call, O(orders) memory (four Python lists).
"""
from __future__ import annotations

import numpy as np

from exchange import EventType

FILL, ACCEPTED, CANCELED, REPLACED = EventType.FILL, EventType.ACCEPTED, EventType.CANCELED, EventType.REPLACED


class Ledger:
    """Per order (index = order id): owner key, side, open qty, normalised price; per key:
    bought, sold, open buy and open sell quantities; per instrument: the hour's fills."""

    def __init__(self, n_agents: int, n_inst: int):
        self.n_inst = n_inst
        self.bought = np.zeros(n_agents * n_inst, np.int64)
        self.sold = np.zeros(n_agents * n_inst, np.int64)
        self.open_buy = np.zeros(n_agents * n_inst, np.int64)
        self.open_sell = np.zeros(n_agents * n_inst, np.int64)
        self.next_id = 1
        self.order_key = [0]
        self.order_side = [0]
        self.order_open = [0]
        self.order_norm = [0.0]  # effective price / (1 + grade premium): what the reference tracks
        self.hour_volume = np.zeros(n_inst)
        self.hour_notional = np.zeros(n_inst)

    def new_order(self, agent: int, inst: int, side: int, norm: float) -> int:
        """A fresh order id for ``agent`` on ``inst`` (side 1 = sell), open 0 until ACCEPTED."""
        oid = self.next_id
        self.next_id += 1
        self.order_key.append(agent * self.n_inst + inst)
        self.order_side.append(side)
        self.order_open.append(0)
        self.order_norm.append(norm)
        return oid

    def open_orders(self, agent: int) -> list[int]:
        """Ids of ``agent``'s orders with open quantity, in id order. O(orders ever)."""
        return [oid for oid in range(1, self.next_id)
                if self.order_open[oid] > 0 and self.order_key[oid] // self.n_inst == agent]

    def observe(self, events) -> None:
        """Keep the agents' books: open and filled quantities, and the fills the reference tracks."""
        key, side, open_, norm = self.order_key, self.order_side, self.order_open, self.order_norm
        n_inst = self.n_inst
        fills = 0
        for ev in events:
            kind = ev.event
            if kind is FILL:
                oid, qty = ev.order_id, ev.qty
                k = key[oid]
                if side[oid]:
                    self.sold[k] += qty
                    self.open_sell[k] -= qty
                else:
                    self.bought[k] += qty
                    self.open_buy[k] -= qty
                open_[oid] = ev.leaves_qty
                fills += 1
                if not fills & 1:  # the second FILL of a trade is the resting order: its price
                    inst = k % n_inst
                    self.hour_volume[inst] += qty
                    self.hour_notional[inst] += qty * norm[oid]
            elif kind is ACCEPTED or kind is REPLACED or kind is CANCELED:
                oid = ev.order_id
                if kind is CANCELED:
                    delta = -ev.qty
                    open_[oid] -= ev.qty
                else:
                    delta = ev.qty - open_[oid]
                    open_[oid] = ev.qty
                if side[oid]:
                    self.open_sell[key[oid]] += delta
                else:
                    self.open_buy[key[oid]] += delta

    def take_hour_fills(self) -> tuple[np.ndarray, np.ndarray]:
        """(volume, notional) per instrument of the fills since the last call; resets them."""
        volume, notional = self.hour_volume.copy(), self.hour_notional.copy()
        self.hour_volume[:] = 0
        self.hour_notional[:] = 0
        return volume, notional
