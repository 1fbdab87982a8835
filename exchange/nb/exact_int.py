"""``exact_int64``: an int64 parameter that a call from Python fills only from a Python ``int``.

Numba converts a Python argument for an ``int64`` parameter with ``PyNumber_Long``, so
``2.5`` arrives as 2, ``"3"`` as 3 and ``True`` as 1: a wrong order, silently. The lean
per-call path (``Exchange.submit_fast``) used to rule these out in Python, at about
150 ns a call for eleven ``type(x) is int`` tests. A parameter typed ``exact_int64``
does the same test in the compiled entry's argument conversion instead (a pointer
compare): anything but an ``int`` raises ValueError, an ``int`` outside int64
OverflowError, and the function does not run. Inside the function the value is an
ordinary int64 after ``np.int64(x)``.
"""
from numba import types
from numba.core import cgutils
from numba.core.typeconv import Conversion
from numba.extending import NativeValue, lower_cast, models, register_model, unbox


class ExactInt64(types.Integer):
    """int64, converted from Python only when the argument's type is exactly ``int``."""

    def __init__(self):
        super().__init__("exact_int64", bitwidth=64, signed=True)

    def can_convert_to(self, _typingctx, other):
        if other == types.int64:
            return Conversion.safe
        return None


exact_int64 = ExactInt64()
register_model(ExactInt64)(models.IntegerModel)


@unbox(ExactInt64)
def _unbox_exact(_typ, obj, c):
    is_int = c.builder.icmp_unsigned("==", c.pyapi.get_type(obj), c.pyapi.get_c_object("PyLong_Type"))
    value = cgutils.alloca_once_value(c.builder, c.context.get_constant(types.int64, 0))
    with c.builder.if_else(is_int) as (an_int, other):
        with an_int:
            c.builder.store(c.pyapi.long_as_longlong(obj), value)  # OverflowError outside int64
        with other:
            c.pyapi.err_set_string("PyExc_ValueError", "expected an int")
    return NativeValue(c.builder.load(value), is_error=c.pyapi.c_api_error())


@lower_cast(ExactInt64, types.int64)
def _as_int64(_context, _builder, _fromty, _toty, value):
    return value
