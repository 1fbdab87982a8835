"""``prefetch``: ask the CPU to start loading a cache line that a later step will read.

A hint: it never faults and changes no result, only when memory is read. The matching
kernel (exchange/nb/matching_nb.py) uses it where it knows an address well before it reads
it, so the miss overlaps the work in between instead of stalling it:
- ``_alloc``: the next free slot, which the next order to rest will take (its line was last
  touched when that order ended; plain -5%, standard and flash -3%);
- ``_look_ahead``, on books too large for the caches: the price level a new order 8 rows
  ahead will rest at.
"""
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from exchange.nb.kernel import helper


@intrinsic
def _prefetch_address(_typingctx, _address):
    def codegen(context, builder, _signature, args):
        byte_pointer = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        llvm_prefetch = builder.module.declare_intrinsic(
            "llvm.prefetch", [byte_pointer], ir.FunctionType(ir.VoidType(), [byte_pointer, i32, i32, i32]))
        # a read (0), to be kept in every cache level (3), of data (1)
        builder.call(llvm_prefetch, [builder.inttoptr(args[0], byte_pointer), i32(0), i32(3), i32(1)])
        return context.get_dummy_value()
    return types.none(types.intp), codegen


@helper
def prefetch(array, index):
    """Start loading the cache line of ``array[index]`` (0 <= index < len(array))."""
    _prefetch_address(array.ctypes.data + index * array.itemsize)
