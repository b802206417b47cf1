"""LLVM operations Numba does not expose, as ``numba.extending.intrinsic``s.

- :func:`atomic_add`, :func:`atomic_load`, :func:`atomic_store`: atomics on an element of a
  1-D int64 array (sequentially consistent add; acquire load; release store), for the chunk
  claims of ``threads.py``.
- :func:`prefetch`: a read prefetch of the element ``arr[i, j]`` of a 2-D array into all cache
  levels (``llvm.prefetch``, locality 3). The address is not bounds-checked; a prefetch never
  faults, so one past the end of an array is harmless.
- :func:`mul32`: a wrapping 32-bit product (Numba types ``uint32 * uint32`` as 64-bit, which
  does not vectorize to 32-bit lanes).
- :func:`float_bits`, :func:`bits_float`: bitcasts between float32 and uint32 (Numba has no
  scalar view); :func:`double_bits`: float64 to uint64.
- :func:`half_bits_float`: the float32 value of a half's bit pattern via LLVM's ``fpext`` from
  ``half``, which compiles to the F16C instruction ``vcvtph2ps`` (8 halves at once). Use it only
  where :data:`HAS_F16C`; elsewhere LLVM would call a runtime function Numba does not link.
"""

from __future__ import annotations

import llvmlite.binding as llvm
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic


def _element_pointer(context, builder, arrty, arr, indices):  # type: ignore[no-untyped-def]
    ary = context.make_array(arrty)(context, builder, arr)
    return cgutils.get_item_pointer(context, builder, arrty, ary, indices, wraparound=False)


def _check_int64_array(arr) -> None:  # type: ignore[no-untyped-def]
    if not (isinstance(arr, types.Array) and arr.dtype == types.int64 and arr.ndim == 1):
        raise TypeError("atomics work on 1-D int64 arrays")


@intrinsic
def atomic_add(typingctx, arr, index, value):  # type: ignore[no-untyped-def]
    """``old = arr[index]; arr[index] += value`` as one sequentially consistent atomic; returns old."""
    _check_int64_array(arr)
    sig = types.int64(arr, types.intp, types.int64)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        ptr = _element_pointer(context, builder, signature.args[0], args[0], [args[1]])
        return builder.atomic_rmw("add", ptr, args[2], "seq_cst")

    return sig, codegen


@intrinsic
def atomic_load(typingctx, arr, index):  # type: ignore[no-untyped-def]
    """``arr[index]`` read with acquire ordering (sees every write before a release store)."""
    _check_int64_array(arr)
    sig = types.int64(arr, types.intp)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        ptr = _element_pointer(context, builder, signature.args[0], args[0], [args[1]])
        return builder.load_atomic(ptr, "acquire", 8)

    return sig, codegen


@intrinsic
def atomic_store(typingctx, arr, index, value):  # type: ignore[no-untyped-def]
    """``arr[index] = value`` with release ordering (earlier writes are visible first)."""
    _check_int64_array(arr)
    sig = types.void(arr, types.intp, types.int64)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        ptr = _element_pointer(context, builder, signature.args[0], args[0], [args[1]])
        builder.store_atomic(args[2], ptr, "release", 8)
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def prefetch(typingctx, arr, i, j):  # type: ignore[no-untyped-def]
    """Prefetch ``arr[i, j]`` (2-D array) for reading into every cache level."""
    if not (isinstance(arr, types.Array) and arr.ndim == 2):
        raise TypeError("prefetch takes a 2-D array")
    sig = types.void(arr, types.intp, types.intp)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        ptr = _element_pointer(context, builder, signature.args[0], args[0], [args[1], args[2]])
        i8p = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0i8")
        # read (0), locality 3 (keep in all levels), data cache (1)
        builder.call(fn, [builder.bitcast(ptr, i8p), i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def mul32(typingctx, a, b):  # type: ignore[no-untyped-def]
    """``a * b`` modulo 2**32 (uint32)."""
    sig = types.uint32(types.uint32, types.uint32)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        return builder.mul(args[0], args[1])

    return sig, codegen


@intrinsic
def float_bits(typingctx, value):  # type: ignore[no-untyped-def]
    """The bit pattern of a float32 as uint32 (a bitcast)."""
    sig = types.uint32(types.float32)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        return builder.bitcast(args[0], ir.IntType(32))

    return sig, codegen


@intrinsic
def bits_float(typingctx, value):  # type: ignore[no-untyped-def]
    """The float32 with bit pattern ``value`` (uint32; a bitcast)."""
    sig = types.float32(types.uint32)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        return builder.bitcast(args[0], ir.FloatType())

    return sig, codegen


@intrinsic
def double_bits(typingctx, value):  # type: ignore[no-untyped-def]
    """The bit pattern of a float64 as uint64 (a bitcast)."""
    sig = types.uint64(types.float64)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        return builder.bitcast(args[0], ir.IntType(64))

    return sig, codegen


#: Whether this CPU converts halves in hardware (x86 F16C).
HAS_F16C = bool(llvm.get_host_cpu_features().get("f16c", False))


@intrinsic
def half_bits_float(typingctx, value):  # type: ignore[no-untyped-def]
    """float32 of the half whose bit pattern is ``value`` (uint16), exact (``fpext``)."""
    sig = types.float32(types.uint16)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        return builder.fpext(builder.bitcast(args[0], ir.HalfType()), ir.FloatType())

    return sig, codegen


#: Whether this CPU has AVX2 (x86), which :func:`madd_u8s8_4x32` needs.
HAS_AVX2 = bool(llvm.get_host_cpu_features().get("avx2", False))
#: Rows and outputs of one :func:`madd_u8s8_4x32` call.
MADD_ROWS = 4
MADD_COLUMNS = 32
#: Most pairs one :func:`madd_u8s8_4x32` call may sum: ``63 * 2 * 2 * 128 = 32256 < 2**15``.
MADD_MAX_PAIRS = 63


def _data_pointer(context, builder, arrty, arr):  # type: ignore[no-untyped-def]
    return context.make_array(arrty)(context, builder, arr).data


@intrinsic
def madd_u8s8_4x32(typingctx, w, w_off, xp, x_off, x_stride, pairs, acc):  # type: ignore[no-untyped-def]
    """``acc[r, l] += sum_i w[i, 2l] * lo(xp[r, i]) + w[i, 2l + 1] * hi(xp[r, i])`` for the
    ``MADD_ROWS`` rows and ``MADD_COLUMNS`` outputs of one block, with AVX2 ``vpmaddubsw``.

    ``w``: uint8, 1-D; pair ``i`` of the block is the 64 bytes at ``w_off + 64 i``, two unsigned
    bytes (the weights of two inputs) per output ``l``. ``xp``: int16, 1-D; row ``r``'s pair
    ``i`` is ``xp[x_off + r * x_stride + i]``, its low byte the signed input of the first
    weight, its high byte that of the second. ``acc``: int32 (MADD_ROWS, MADD_COLUMNS),
    C-contiguous. ``pairs`` <= ``MADD_MAX_PAIRS``, and every weight byte at most 2, so that no
    int16 sum saturates or wraps (``vpmaddubsw`` saturates its pair sums; ``2 * 2 * 128`` is
    far below). Nothing is bounds-checked. Only where :data:`HAS_AVX2`.
    """
    sig = types.void(w, types.intp, xp, types.intp, types.intp, types.intp, acc)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        wa, woff, xa, xoff, xstride, npairs, acca = args
        wty, _, xty, _, _, _, accty = signature.args
        i8, i16, i32 = ir.IntType(8), ir.IntType(16), ir.IntType(32)
        v8, v16, v32 = ir.VectorType(i8, 32), ir.VectorType(i16, 16), ir.VectorType(i32, 16)
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(v16, [v8, v8]), "llvm.x86.avx2.pmadd.ub.sw"
        )
        wptr = _data_pointer(context, builder, wty, wa)
        xptr = _data_pointer(context, builder, xty, xa)
        aptr = _data_pointer(context, builder, accty, acca)
        slots = [cgutils.alloca_once(builder, v16) for _ in range(2 * MADD_ROWS)]
        for s in slots:
            builder.store(ir.Constant(v16, None), s)
        zeros16 = ir.Constant(ir.VectorType(i32, 16), [0] * 16)
        with cgutils.for_range(builder, npairs) as loop:
            i = loop.index
            base = builder.add(woff, builder.mul(i, ir.Constant(i.type, 64)))
            wv = []
            for half in range(2):
                p = builder.gep(wptr, [builder.add(base, ir.Constant(i.type, 32 * half))])
                wv.append(builder.load(builder.bitcast(p, v8.as_pointer()), align=1))
            for r in range(MADD_ROWS):
                xi = builder.add(builder.add(xoff, builder.mul(xstride, ir.Constant(i.type, r))), i)
                xs = builder.load(builder.gep(xptr, [xi]), align=2)
                splat = builder.shuffle_vector(
                    builder.insert_element(ir.Constant(v16, ir.Undefined), xs, i32(0)),
                    ir.Constant(v16, ir.Undefined),
                    zeros16,
                )
                xb = builder.bitcast(splat, v8)
                for half in range(2):
                    s = slots[2 * r + half]
                    builder.store(builder.add(builder.load(s), builder.call(fn, [wv[half], xb])), s)
        for r in range(MADD_ROWS):
            for half in range(2):
                p = builder.gep(aptr, [ir.Constant(ir.IntType(64), MADD_COLUMNS * r + 16 * half)])
                vp = builder.bitcast(p, v32.as_pointer())
                wide = builder.sext(builder.load(slots[2 * r + half]), v32)
                builder.store(builder.add(builder.load(vp, align=4), wide), vp, align=4)
        return context.get_dummy_value()

    return sig, codegen
