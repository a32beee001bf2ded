"""Input checks shared by the public constructors of :mod:`derive`: no code from strings.

SymPy turns a ``str`` into an expression by *evaluating* it (``sympify`` runs Python code),
and its constructors do that implicitly (``sympy.Eq("…", 0)``, ``expr.subs("x", "…")``,
``sigmoid("…")``).  So nothing that reaches SymPy from lossproof's public API may be a
string: :func:`refuse_str` raises a :class:`TypeError` that names the argument and points
to :func:`derive.parse`, the restricted parser.

Names are a second way for text to become code: ``lambdify`` (the numeric checks) prints
the *name* of a function class (``Function("f")``) and of a bound variable (the index of a
``Sum``, the variable of an ``Integral``) into Python source that it executes.  Free symbols
are safe there (``lambdify`` renames arguments that are not identifiers; ``derive.export``
sanitises every name), but those two kinds are not: :func:`check_code_names` admits only
plain identifiers for them.
"""

from __future__ import annotations

import builtins
import keyword
import math
import numbers
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import sympy
from sympy.concrete.expr_with_limits import ExprWithLimits

__all__ = [
    "check_bounds",
    "check_code_names",
    "check_mapping",
    "check_size",
    "is_code_identifier",
    "refuse_str",
    "require_callable",
    "require_expr",
    "require_instance",
    "require_real",
    "require_sequence",
    "require_text",
]

_HINT = "build the expression with SymPy or use derive.parse(...)"
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_BUILTIN_NAMES = frozenset(dir(builtins))


def refuse_str(value: Any, arg: str) -> None:
    """Raise ``TypeError`` when ``value`` is text (``str``/``bytes``) meant for SymPy."""
    if isinstance(value, str | bytes | bytearray):
        raise TypeError(f"{arg}: a string is not accepted; {_HINT}")


def require_expr(value: Any, arg: str, *, numbers_ok: bool = False) -> Any:
    """``value`` when it is a SymPy object (expression, relation or matrix), else an error.

    Strings are refused (:func:`refuse_str`); so is anything else SymPy would have to
    convert, since a conversion is where text could be evaluated — except, with
    ``numbers_ok``, a Python ``int``/``float`` (not ``bool``), returned as a SymPy number.
    """
    refuse_str(value, arg)
    if numbers_ok and isinstance(value, int | float) and not isinstance(value, bool):
        return sympy.Integer(value) if isinstance(value, int) else sympy.Float(value)
    if not isinstance(value, sympy.Basic | sympy.MatrixBase):
        raise TypeError(f"{arg}: a SymPy expression is needed, got {type(value).__name__}")
    return value


def require_text(value: Any, arg: str) -> str:
    """``value`` when it is a ``str`` (a title, a reason: text that is never evaluated)."""
    if not isinstance(value, str):
        raise TypeError(f"{arg}: a str is needed, got {type(value).__name__}")
    return value


def require_callable(value: Any, arg: str) -> None:
    """``value`` must be ``None`` or callable (a hint, a constraint)."""
    if value is not None and not callable(value):
        raise TypeError(f"{arg}: a callable or None is needed, got {type(value).__name__}")


def require_real(value: Any, arg: str, *, integer: bool = False) -> None:
    """A finite real number (``int``, ``float``, a SymPy or mpmath number; not ``bool``)."""
    refuse_str(value, arg)
    if isinstance(value, bool) or not _is_real_number(value):
        kind = "an integer" if integer else "a finite real number"
        raise TypeError(f"{arg}: {kind} is needed, got {type(value).__name__}")
    if integer and not _is_integer(value):
        raise TypeError(f"{arg}: an integer is needed, got {value!r}")
    if not math.isfinite(float(value)):
        raise ValueError(f"{arg}: must be finite, got {value!r}")


def check_bounds(lo: Any, hi: Any, *, positive: bool = False) -> None:
    """The bounds of an interval: finite real numbers, ``lo <= hi`` (and ``lo > 0``)."""
    require_real(lo, "lo")
    require_real(hi, "hi")
    if positive and not lo > 0:
        raise ValueError(f"lo: must be > 0 for a log-uniform domain, got {lo!r}")
    if not lo <= hi:
        raise ValueError(f"hi: must be >= lo = {lo!r}, got {hi!r}")


def check_size(value: Any, arg: str) -> None:
    """A size or bound that is an integer or a SymPy expression (a symbol sampled earlier)."""
    if isinstance(value, sympy.Basic) and not value.is_number:
        return
    require_real(value, arg, integer=True)


def require_instance(value: Any, arg: str, kind: type, what: str) -> None:
    """``value`` must be a ``kind`` (``what`` names it in the message)."""
    if not isinstance(value, kind):
        raise TypeError(f"{arg}: {what} is needed, got {type(value).__name__}")


def require_sequence(value: Any, arg: str, kind: type) -> None:
    """``value`` must be a list (not text) of ``kind``."""
    refuse_str(value, arg)
    if not isinstance(value, Sequence):
        raise TypeError(f"{arg}: a list of {kind.__name__} is needed, got {type(value).__name__}")
    for x in value:
        if not isinstance(x, kind):
            raise TypeError(f"{arg}: a list of {kind.__name__} is needed, "
                            f"got an item of type {type(x).__name__}")


def _is_real_number(value: Any) -> bool:
    if isinstance(value, sympy.Basic):
        return bool(value.is_number and value.is_extended_real)
    if isinstance(value, numbers.Real):
        return True
    try:  # mpmath.mpf
        import mpmath
    except ImportError:  # pragma: no cover - mpmath is a dependency of SymPy
        return False
    return isinstance(value, mpmath.mpf)


def _is_integer(value: Any) -> bool:
    if isinstance(value, sympy.Basic):
        return bool(value.is_Integer)
    return isinstance(value, numbers.Integral)


def is_code_identifier(name: str) -> bool:
    """Whether ``name`` is safe to print into generated Python: an ASCII identifier that
    is not a keyword, not a dunder and not a builtin (``exec``, ``open``, ``input`` …)."""
    return (bool(_IDENTIFIER.match(name)) and not keyword.iskeyword(name)
            and not name.startswith("__") and name not in _BUILTIN_NAMES)


def _walk(e: Any) -> Iterable[Any]:
    if isinstance(e, sympy.MatrixBase) and not isinstance(e, sympy.Basic):
        for x in e:
            yield from _walk(x)
        return
    if isinstance(e, sympy.Basic):
        yield from sympy.preorder_traversal(e)


def check_code_names(exprs: Iterable[Any], arg: str) -> None:
    """Refuse function names and bound variables that are not plain identifiers.

    Raises
    ------
    ValueError
        Naming ``arg`` and the offending name, e.g. a ``Function("__import__('os')…")``
        or a ``Sum`` over a symbol named ``"k) or exec(…"``.
    """
    for e in exprs:
        for node in _walk(e):
            names: list[tuple[str, str]] = []
            if isinstance(node, sympy.Function | sympy.FunctionClass):
                func = node if isinstance(node, sympy.FunctionClass) else node.func
                names.append(("function", func.__name__))
            if isinstance(node, ExprWithLimits):
                names += [("bound variable", _name(v)) for v in node.variables]
            elif isinstance(node, sympy.Lambda | sympy.Subs):
                names += [("bound variable", _name(v)) for v in node.variables]
            for kind, name in names:
                if not is_code_identifier(name):
                    raise ValueError(
                        f"{arg}: the {kind} name {name!r} is not a plain identifier "
                        f"(letters, digits, _; not a keyword, builtin or dunder)")


def _name(v: Any) -> str:
    if isinstance(v, sympy.Indexed):  # a bound Indexed is its base's name
        v = v.base
    if isinstance(v, sympy.IndexedBase | sympy.Idx):
        return str(v.label)
    return getattr(v, "name", str(v))


def check_mapping(value: Any, arg: str, check_value: Callable[[Any, str], None]) -> None:
    """``value`` must be a mapping with SymPy keys; ``check_value`` checks each value."""
    refuse_str(value, arg)
    if not isinstance(value, Mapping):
        raise TypeError(f"{arg}: a mapping is needed, got {type(value).__name__}")
    for k, v in value.items():
        require_expr(k, f"{arg} key")
        check_value(v, f"{arg}[{k}]")
