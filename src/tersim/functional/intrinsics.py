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


def _prefetch_call(builder, ptr) -> None:  # type: ignore[no-untyped-def]
    """Emit a read prefetch of ``ptr`` into every cache level (``llvm.prefetch``: read 0,
    locality 3, data cache 1)."""
    i8p, i32 = ir.IntType(8).as_pointer(), ir.IntType(32)
    fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
    fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0i8")
    builder.call(fn, [builder.bitcast(ptr, i8p), i32(0), i32(3), i32(1)])


@intrinsic
def prefetch(typingctx, arr, i, j):  # type: ignore[no-untyped-def]
    """Prefetch ``arr[i, j]`` (2-D array) for reading into every cache level."""
    if not (isinstance(arr, types.Array) and arr.ndim == 2):
        raise TypeError("prefetch takes a 2-D array")
    sig = types.void(arr, types.intp, types.intp)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        ptr = _element_pointer(context, builder, signature.args[0], args[0], [args[1], args[2]])
        _prefetch_call(builder, ptr)
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def mul32(typingctx, a, b):  # type: ignore[no-untyped-def]
    """``a * b`` modulo 2**32 (uint32)."""
    sig = types.uint32(types.uint32, types.uint32)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        return builder.mul(args[0], args[1])

    return sig, codegen


def _bitcast(source, target, target_ir, doc: str):  # type: ignore[no-untyped-def]
    """An intrinsic reinterpreting a ``source`` scalar's bits as ``target`` (Numba types)."""

    def typer(typingctx, value):  # type: ignore[no-untyped-def]
        def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
            return builder.bitcast(args[0], target_ir)

        return target(source), codegen

    typer.__doc__ = doc
    return intrinsic(typer)


float_bits = _bitcast(types.float32, types.uint32, ir.IntType(32), "float32 bits as uint32.")
bits_float = _bitcast(types.uint32, types.float32, ir.FloatType(), "uint32 bits as a float32.")
double_bits = _bitcast(types.float64, types.uint64, ir.IntType(64), "float64 bits as uint64.")


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


_I8, _I16, _I32 = ir.IntType(8), ir.IntType(16), ir.IntType(32)
_V8, _V16, _V32 = ir.VectorType(_I8, 32), ir.VectorType(_I16, 16), ir.VectorType(_I32, 16)


def _madd_setup(context, builder, signature, args, arrays, accumulators):  # type: ignore[no-untyped-def]
    """Common code of the ``vpmaddubsw`` intrinsics: the ``llvm.x86.avx2.pmadd.ub.sw``
    function, the data pointers of the arguments at positions ``arrays`` and ``accumulators``
    int16 vector slots set to zero (allocas, which LLVM keeps in registers)."""
    fn = cgutils.get_or_insert_function(
        builder.module, ir.FunctionType(_V16, [_V8, _V8]), "llvm.x86.avx2.pmadd.ub.sw"
    )
    ptrs = [_data_pointer(context, builder, signature.args[i], args[i]) for i in arrays]
    slots = [cgutils.alloca_once(builder, _V16) for _ in range(accumulators)]
    for s in slots:
        builder.store(ir.Constant(_V16, None), s)
    return fn, ptrs, slots


def _splat_bytes(builder, value):  # type: ignore[no-untyped-def]
    """An int16 ``value`` in all 16 lanes, as 32 bytes."""
    one = builder.insert_element(ir.Constant(_V16, ir.Undefined), value, _I32(0))
    zeros = ir.Constant(ir.VectorType(_I32, 16), [0] * 16)
    return builder.bitcast(builder.shuffle_vector(one, ir.Constant(_V16, ir.Undefined), zeros), _V8)


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
        _, woff, _, xoff, xstride, npairs, _ = args
        v8, v32 = _V8, _V32
        fn, (wptr, xptr, aptr), slots = _madd_setup(
            context, builder, signature, args, (0, 2, 6), 2 * MADD_ROWS
        )
        with cgutils.for_range(builder, npairs) as loop:
            i = loop.index
            base = builder.add(woff, builder.mul(i, ir.Constant(i.type, 64)))
            wv = []
            for half in range(2):
                p = builder.gep(wptr, [builder.add(base, ir.Constant(i.type, 32 * half))])
                wv.append(builder.load(builder.bitcast(p, v8.as_pointer()), align=1))
            for r in range(MADD_ROWS):
                xi = builder.add(builder.add(xoff, builder.mul(xstride, ir.Constant(i.type, r))), i)
                xb = _splat_bytes(builder, builder.load(builder.gep(xptr, [xi]), align=2))
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


#: Most groups whose ``madd_words_row`` sums one int16 accumulator may hold:
#: ``15 * 4 * 2 * 2 * 128 = 30720 < 2**15``.
WORDS_MAX_GROUPS = 15


@intrinsic
def madd_words_row(typingctx, w, w_off, vectors, xq, x_off, acc, ahead):  # type: ignore[no-untyped-def]
    """``acc[16 v + l] += sum_j (d_j x_{8g+j} + d_{j+4} x_{8g+4+j})`` for ``vectors`` vectors
    of 16 consecutive outputs of *one* group ``g`` of 2-bit words, with AVX2 ``vpmaddubsw`` on
    the packed words themselves and the int16 accumulators ``acc`` in memory (wrapping adds).

    ``w``: uint16, 1-D; output ``l``'s word of the group is ``w[w_off + l]``, digit ``j`` of
    input ``8g + j`` at bits ``2j``. ``(w >> 2j) & 0x0303`` holds, per 16-bit lane, the digit
    of input ``8g + j`` in its low byte and of input ``8g + 4 + j`` in its high byte;
    ``xq[x_off + j]`` (int16) holds those two inputs the same way (low byte input ``8g + j``),
    so one ``vpmaddubsw`` per ``j`` sums both products (a lane's pair is at most
    ``2 * 2 * 128 = 512``, never saturated; ``WORDS_MAX_GROUPS`` groups keep an int16 sum
    exact). Reading a group's words left to right streams memory in order; the accumulators
    stay in L1. The 32 bytes ``ahead`` elements on are prefetched with each vector (a
    prefetch never faults). ``acc``: int16, 1-D, at least ``16 * vectors``. Nothing is
    bounds-checked. Only where :data:`HAS_AVX2`.
    """
    sig = types.void(w, types.intp, types.intp, xq, types.intp, acc, types.intp)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        _, woff, nvec, _, xoff, _, ahead = args
        v8, v16 = _V8, _V16
        fn, (wptr, xptr, aptr), _ = _madd_setup(context, builder, signature, args, (0, 3, 5), 0)
        mask = ir.Constant(v16, [0x0303] * 16)
        splats = []
        for j in range(4):
            xi = builder.add(xoff, xoff.type(j))
            splats.append(_splat_bytes(builder, builder.load(builder.gep(xptr, [xi]), align=2)))
        with cgutils.for_range(builder, nvec) as loop:
            v = loop.index
            col = builder.mul(v, v.type(16))
            at = builder.add(woff, col)
            _prefetch_call(builder, builder.gep(wptr, [builder.add(at, ahead)]))
            word = builder.load(builder.bitcast(builder.gep(wptr, [at]), v16.as_pointer()), align=2)
            ap = builder.bitcast(builder.gep(aptr, [col]), v16.as_pointer())
            total = builder.load(ap, align=2)
            for j in range(4):
                shifted = word if j == 0 else builder.lshr(word, ir.Constant(v16, [2 * j] * 16))
                digits = builder.bitcast(builder.and_(shifted, mask), v8)
                total = builder.add(total, builder.call(fn, [digits, splats[j]]))
            builder.store(total, ap, align=2)
        return context.get_dummy_value()

    return sig, codegen
