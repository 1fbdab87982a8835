"""Where each field lives in the kernel's state arrays.

The book is a handful of plain numpy arrays. Order slots and price levels are record
arrays: one 64-byte record per slot (``orders[slot].next``), one 8-byte record per level
(``levels[g].tail``). A record's size is a compile-time constant, so a field's address is
one shift and add from the slot number, with no run-time row length to load; and
everything about one order sits in one cache line (the arrays are allocated 64-byte
aligned, ``aligned_records``), everything about one level in one eighth of a line.
Resting, filling or ending an order touches its own line and its neighbours' in the
queue; a row per field touched eleven lines, a row of int64 fields and one of int32
fields two. Other multi-field arrays are 2-D (``ladders[ladder, L_BEST]``); these field
names and row and column numbers are the only names the kernels use for them.
"""
import numpy as np

ORDER_DTYPE = np.dtype([
    ("id", np.int64),  # order id
    ("open", np.int64),  # open (unfilled) quantity
    ("arrival", np.int64),  # arrival seq: priority among equal prices
    ("party", np.int32),  # party index
    ("ladder", np.int32),  # ladder id: (instrument, side, grade or min_grade)
    ("level", np.int32),  # level index in the ladder (0 = best price)
    ("next", np.int32),  # next order at the same level (FIFO), or the next free slot; -1 = none
    ("prev", np.int32),  # previous order at the same level; -1 = none
    ("modes", np.int32),  # time in force (GTC or POST_ONLY: only these rest) | stp mode << STP_SHIFT
    ("party_next", np.int32),  # next resting ask of the same provider (regrade list, kept from the first regrade on)
    ("party_prev", np.int32),
    ("spare", np.int64),  # a regrade's sort space: the first k records hold the k slots being sorted
])
"""One order slot: 64 bytes, one cache line."""
ORDER_UNSET = (0, 0, 0, -1, -1, -1, -1, -1, -1, -1, -1, 0)
"""A slot never used: links -1 (none)."""
# The stp mode shares the modes field with the tif: low byte tif, next byte stp.
STP_SHIFT = 8
TIF_MASK = 0xFF

LEVEL_DTYPE = np.dtype([
    ("head", np.int32),  # first order of the FIFO queue, as slot + 1 (0 = empty level)
    ("tail", np.int32),  # last order, as slot + 1
])
"""One price level: 8 bytes, the ends of its queue. No open-quantity total: kept on every
rest, fill and end it cost the matching 1-3% (10% on 1,000 instruments, whose level rows
outgrow the caches at 16 bytes), and only the depth query reads it, which now walks the
queue (``ladder_nb.level_open_qty``)."""

# ladders[ladder, column]: one price ladder per instrument x side x grade.
# Level index 0 is the best price of the side: asks count up from price_min,
# bids count down from price_max, so "better" is always "lower index".
L_BASE = 0  # offset of this ladder's levels in ``levels``
L_NLEVELS = 1  # number of price levels
L_BEST = 2  # best non-empty level index; NLEVELS when the ladder is empty
L_SIGN = 3  # +1 asks, -1 bids: price = anchor + sign * level
L_ANCHOR = 4  # price ticks of level 0 (price_min for asks, price_max for bids)
L_DEN = 5  # asks: the grade's factor in bp; bids: 10000 (prices already effective)
L_INSTRUMENT = 6
L_SIDE = 7  # SELL or BUY, which the sign of L_SIGN also tells: reading the sign instead cost 1% more instructions
L_GRADE = 8  # asks: grade index; bids: min_grade index
L_BITS = 9  # 9..12: offsets of the four occupancy-bitset layers in `bits`
L_WORDS = 13  # 13..16: words in each layer
LADDER_COLUMNS = 17
BIT_LAYERS = 4  # 64**4 = 16.7 M levels per ladder, above the 10 M config limit

# instruments[instrument, column]
I_MIN = 0  # price_min in ticks
I_MAX = 1  # price_max in ticks
I_MAX_QTY = 2
I_CLOSED = 3  # 1 once closed
I_UNITS_PER_TICK = 4  # price units (config.price_unit) in one tick of this instrument
INSTRUMENT_COLUMNS = 5

# parties[row, party]
P_GRADE = 0  # grade index; NOT_A_PROVIDER (-1); G = ungraded
P_GOODPUT = 1  # last goodput in bp
P_ASK_HEAD = 2  # first resting ask of this provider, -1 = none (while C_ASK_LISTS)
PARTY_ROWS = 3

# counters[...]: scalars the kernels update.
C_LIVE = 0  # resting orders
C_FREE = 1  # head of the free-slot list, -1 = none
C_HWM = 2  # slots ever used (next never-used slot)
C_IDS = 3  # order ids in the id hash (ids below len(id_direct) are not counted)
C_TRADES = 4  # trades ever (the last trade id)
C_EVENT_COUNT = 5  # events written in the current event buffer
C_TRADE_COUNT = 6  # trades written in the current trade buffer
C_MAX_ID = 7  # highest order id ever accepted
C_ASK_LISTS = 8  # 1 while the providers' ask lists (P_ASK_HEAD, orders' party_next/party_prev) are kept
COUNTERS = 9

# cursors[row, k]: a merge walk over up to G ladders of one side (FOK check, book, close).
K_LADDER = 0
K_LEVEL = 1
K_SLOT = 2
CURSOR_ROWS = 3

# Batch kernel status: why it stopped before the end (the caller grows that array).
DONE = 0
NEED_SLOTS = 1
NEED_IDS = 2
NEED_EVENTS = 3
NEED_TRADES = 4

# The kernels' ``book`` tuple (BookState.arrays), read by name: book[B_COUNTERS].
(B_ORDERS, B_LADDERS, B_LEVELS, B_BITS, B_CURSORS, B_INSTRUMENTS, B_GRADE_FLOOR, B_PARTIES,
 B_ID_KEYS, B_ID_SLOTS, B_COUNTERS, B_ID_DIRECT) = range(12)
