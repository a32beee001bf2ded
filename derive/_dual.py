"""Forward-mode differentiation over python-flint's ``arb`` balls (used by ``oracle_arb``).

A :class:`Dual` is a value with its tangents ``∂value/∂x_j`` for every seeded input ``x_j``.
Each operation applies the chain rule of one elementary function, so evaluating an
expression on duals gives the expression's value and its *exact* partial derivatives —
the derivatives of the expression as written, with no step size and no truncation error;
with ``arb`` values every one of them is a rigorous enclosure.  Nesting works (the value
and tangents of a dual may be duals): the outer tangents of the inner tangents are the
second derivatives (Hessians, used by the maximisation oracles).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from flint import arb

__all__ = ["Dual", "gradient", "hessian", "mid_float", "seed"]


class Dual:
    """``v + Σ_j d_j ε_j`` with ``ε_j ε_k = 0``: a value and its tangents."""

    __slots__ = ("d", "v")

    def __init__(self, v: Any, d: list) -> None:
        self.v = v
        self.d = d

    # -------------------------------------------------------------- arithmetic
    def __add__(self, o: Any) -> Dual:
        if isinstance(o, Dual):
            return Dual(self.v + o.v, [a + b for a, b in zip(self.d, o.d, strict=True)])
        return Dual(self.v + o, self.d)

    __radd__ = __add__

    def __neg__(self) -> Dual:
        return Dual(-self.v, [-a for a in self.d])

    def __sub__(self, o: Any) -> Dual:
        if isinstance(o, Dual):
            return Dual(self.v - o.v, [a - b for a, b in zip(self.d, o.d, strict=True)])
        return Dual(self.v - o, self.d)

    def __rsub__(self, o: Any) -> Dual:
        return Dual(o - self.v, [-a for a in self.d])

    def __mul__(self, o: Any) -> Dual:
        if isinstance(o, Dual):
            return Dual(self.v * o.v,
                        [self.v * b + o.v * a for a, b in zip(self.d, o.d, strict=True)])
        return Dual(self.v * o, [a * o for a in self.d])

    __rmul__ = __mul__

    def __truediv__(self, o: Any) -> Dual:
        if isinstance(o, Dual):
            q = self.v / o.v
            return Dual(q, [(a - q * b) / o.v for a, b in zip(self.d, o.d, strict=True)])
        return Dual(self.v / o, [a / o for a in self.d])

    def __rtruediv__(self, o: Any) -> Dual:  # o / self
        q = o / self.v
        return Dual(q, [-(q * a) / self.v for a in self.d])

    def __pow__(self, n: int) -> Dual:
        if n != 2:
            raise ValueError(f"n: only squares are needed here, got {n!r}")
        return self * self

    # ---------------------------------------------------- elementary functions
    def exp(self) -> Dual:
        e = self.v.exp()
        return Dual(e, [e * a for a in self.d])

    def log(self) -> Dual:
        return Dual(self.v.log(), [a / self.v for a in self.d])

    def log1p(self) -> Dual:
        one_plus = 1 + self.v
        return Dual(self.v.log1p(), [a / one_plus for a in self.d])


def mid_float(x: Any) -> float:
    """The midpoint of a value (or of a dual's value) as a float, for comparisons."""
    while isinstance(x, Dual):
        x = x.v
    return float(x.mid())


def seed(x: Sequence[Any]) -> list[Dual]:
    """``x_j`` as duals with the unit tangents ``e_j``."""
    m = len(x)
    zero, one = arb(0), arb(1)
    return [Dual(xj, [one if k == j else zero for k in range(m)]) for j, xj in enumerate(x)]


def gradient(f: Callable[[list], Any], x: Sequence[Any]) -> tuple[Any, list]:
    """``f(x)`` and ``[∂f/∂x_j]`` in one forward pass."""
    out = f(seed(x))
    return out.v, list(out.d)


def hessian(f: Callable[[list], Any], x: Sequence[Any]) -> tuple[Any, list, list[list]]:
    """``f(x)``, its gradient and its Hessian by nested duals (one pass)."""
    m = len(x)
    zero, one = arb(0), arb(1)
    zeros = [zero] * m
    xs = [Dual(Dual(xj, [one if k == j else zero for k in range(m)]),
               [Dual(one if k == j else zero, zeros) for k in range(m)])
          for j, xj in enumerate(x)]
    out = f(xs)
    return out.v.v, list(out.v.d), [list(dj.d) for dj in out.d]
