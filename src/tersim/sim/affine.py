"""Times as affine functions of a repetition index, for the drift closed form of
:meth:`tersim.sim.core.Machine.pattern`.

An :class:`Aff` is ``a + b j`` for every integer ``j`` in a range ``[0, last]``. The
recurrence's code runs unchanged on them (sums, differences, maxima, comparisons): a comparison
gives its answer at ``j = 0`` and, when that answer changes inside the range, shrinks the range
(shared by every value of one evaluation, :class:`Range`) to where it holds. So one repetition
played on a state ``x + j delta`` takes the same branches for every ``j`` left in the range at
its end, and each of its times is affine in ``j`` there.
"""

from __future__ import annotations


class Range:
    """The ``j`` every answer so far holds for: ``[0, last]``."""

    __slots__ = ("last",)

    def __init__(self, last: int) -> None:
        self.last = last


def _lift(o: object) -> tuple[int, int]:
    if isinstance(o, Aff):
        return o.a, o.b
    if not isinstance(o, int):  # the caller falls back to concrete times
        raise TypeError(f"affine times take ints, not {type(o).__name__}")
    return o, 0


def _holds(f0: int, g: int, strict: bool, r: Range) -> bool:
    """Whether ``f0 + g j > 0`` (``>= 0`` unless ``strict``) at ``j = 0``; the range shrunk to
    the ``j`` with the same answer."""
    now = f0 > 0 if strict else f0 >= 0
    if g == 0:
        return now
    f1 = f0 + g * r.last
    if now != (f1 > 0 if strict else f1 >= 0):  # linear: the answer changes once
        if now:  # g < 0: f0 + g j stays positive (non-negative) while j is below the root
            r.last = (f0 - 1) // -g if strict else f0 // -g
        else:  # g > 0
            r.last = -f0 // g if strict else (-f0 - 1) // g
    return now


class Aff:
    """``a + b j`` for ``j`` in range ``r``."""

    __slots__ = ("a", "b", "r")
    __hash__ = None  # type: ignore[assignment]

    def __init__(self, a: int, b: int, r: Range) -> None:
        self.a = a
        self.b = b
        self.r = r

    def at(self, j: int) -> int:
        return self.a + self.b * j

    def __repr__(self) -> str:
        return f"Aff({self.a}, {self.b})"

    def __add__(self, o: object) -> Aff:
        oa, ob = _lift(o)
        return Aff(self.a + oa, self.b + ob, self.r)

    __radd__ = __add__

    def __sub__(self, o: object) -> Aff:
        oa, ob = _lift(o)
        return Aff(self.a - oa, self.b - ob, self.r)

    def __rsub__(self, o: object) -> Aff:
        oa, ob = _lift(o)
        return Aff(oa - self.a, ob - self.b, self.r)

    def __gt__(self, o: object) -> bool:
        oa, ob = _lift(o)
        return _holds(self.a - oa, self.b - ob, True, self.r)

    def __ge__(self, o: object) -> bool:
        oa, ob = _lift(o)
        return _holds(self.a - oa, self.b - ob, False, self.r)

    def __lt__(self, o: object) -> bool:
        oa, ob = _lift(o)
        return _holds(oa - self.a, ob - self.b, True, self.r)

    def __le__(self, o: object) -> bool:
        oa, ob = _lift(o)
        return _holds(oa - self.a, ob - self.b, False, self.r)

    def __eq__(self, o: object) -> bool:
        if not isinstance(o, Aff | int):
            return NotImplemented
        oa, ob = _lift(o)
        f0, g = self.a - oa, self.b - ob
        if g == 0:
            return f0 == 0
        r = self.r
        if f0 == 0:  # equal at j = 0 only
            r.last = 0
            return True
        if f0 % g == 0 and 0 < -f0 // g <= r.last:  # equal at one later j
            r.last = -f0 // g - 1
        return False

    def __ne__(self, o: object) -> bool:
        eq = self.__eq__(o)
        return eq if eq is NotImplemented else not eq


def value_at(x: object, j: int) -> int:
    """``x`` (an int or an :class:`Aff`) at ``j``."""
    return x.at(j) if isinstance(x, Aff) else x  # type: ignore[return-value]


def coefficients(x: object) -> tuple[int, int]:
    """``(a, b)`` of ``x = a + b j`` (an int is ``(x, 0)``)."""
    return _lift(x)
