"""Where each field lives in the kernel's state arrays.

The book is a handful of plain numpy arrays. Two-dimensional arrays hold several
fields of the same dtype, so the kernels take few arguments. Order slots and price
levels keep their fields side by side, one row per slot or level (``order_i32[slot,
O_NEXT]``): an order's int32 fields share one 32-byte row, its int64 fields one
24-byte row, a level's queue ends one 8-byte row, so resting, filling or ending an
order touches two or three cache lines where a row per field touched eleven
(measured: 6% of the plain workload's kernel time, 5% of the standard mix's, 11% with
1,000 instruments). The price: a walk over the whole book reads whole rows, where a row
per field let consecutive slots share cache lines (see ``dump_book``). These row and
column numbers are the only names the kernels use for them.
"""

# order_i64[slot, field]: int64 fields of a resting order.
O_ID = 0  # order id
O_OPEN = 1  # open (unfilled) quantity
O_ARRIVAL = 2  # arrival seq: priority among equal prices
ORDER_I64_FIELDS = 3

# order_i32[slot, field]: int32 fields of a resting order.
O_PARTY = 0  # party index
O_LADDER = 1  # ladder id: (instrument, side, grade or min_grade)
O_LEVEL = 2  # level index in the ladder (0 = best price)
O_NEXT = 3  # next order at the same level (FIFO), or the next free slot; -1 = none
O_PREV = 4  # previous order at the same level; -1 = none
O_TIF = 5  # modes: time in force (GTC or POST_ONLY: only these rest) | stp mode << STP_SHIFT
O_PARTY_NEXT = 6  # next resting ask of the same provider (regrade list, kept from the first regrade on)
O_PARTY_PREV = 7
ORDER_I32_FIELDS = 8
# The stp mode shares the tif field, so a slot stays at 64 bytes: low byte tif, next byte stp.
STP_SHIFT = 8
TIF_MASK = 0xFF

# ladders[ladder, column]: one price ladder per instrument x side x grade.
# Level index 0 is the best price of the side: asks count up from price_min,
# bids count down from price_max, so "better" is always "lower index".
L_BASE = 0  # offset of this ladder's levels in level_link / level_qty
L_NLEVELS = 1  # number of price levels
L_BEST = 2  # best non-empty level index; NLEVELS when the ladder is empty
L_SIGN = 3  # +1 asks, -1 bids: price = anchor + sign * level
L_ANCHOR = 4  # price ticks of level 0 (price_min for asks, price_max for bids)
L_DEN = 5  # asks: the grade's factor in bp; bids: 10000 (prices already effective)
L_INSTRUMENT = 6
L_SIDE = 7
L_GRADE = 8  # asks: grade index; bids: min_grade index
L_COUNT = 9  # resting orders in this ladder
L_BITS = 10  # 10..13: offsets of the four occupancy-bitset layers in `bits`
L_WORDS = 14  # 14..17: words in each layer
LADDER_COLUMNS = 18
BIT_LAYERS = 4  # 64**4 = 16.7 M levels per ladder, above the 10 M config limit

# level_link[level, end]: FIFO queue ends of each price level, as slot + 1 (0 = empty).
LV_HEAD = 0
LV_TAIL = 1

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
C_ASK_LISTS = 8  # 1 while the providers' ask lists (P_ASK_HEAD, O_PARTY_*) are kept
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
(B_ORDER_I64, B_ORDER_I32, B_LADDERS, B_LEVEL_LINK, B_LEVEL_QTY,
 B_BITS, B_CURSORS, B_INSTRUMENTS, B_GRADE_FLOOR, B_PARTIES,
 B_ID_KEYS, B_ID_SLOTS, B_COUNTERS, B_SCRATCH, B_ID_DIRECT) = range(15)
