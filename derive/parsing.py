"""A restricted parser: text to a SymPy expression without evaluating anything.

``sympy.sympify(text)`` runs ``text`` as Python (``"__import__('os').system(…)"`` runs the
command).  :func:`parse` reads the same arithmetic notation with Python's own parser
(``ast.parse(text, mode="eval")``) and then *walks* the syntax tree, admitting only

* numbers: ``int`` and ``float`` literals (a float becomes the exact rational of the
  decimal text: ``0.1`` is 1/10);
* names: a ``Symbol`` (real) of that name, or the object ``symbols[name]`` when given;
  ``pi`` is π unless ``symbols`` says otherwise; names are ASCII and not dunders;
* ``+ - * / **`` and unary ``-``/``+``;
* calls of the functions in :data:`FUNCTIONS` (``exp``, ``log``, ``sigmoid``, ``softplus``,
  ``xlogy``, ``min``/``max`` …) with positional arguments;
* subscripts ``y[k]``, ``A[i, j]`` of an ``IndexedBase`` given in ``symbols``.

Constructs with a bound index (``Sum``, ``logsumexp``) are not read: build them with SymPy
around the parsed terms.

Everything else — attributes, lambdas, comprehensions, strings, f-strings, keywords,
starred arguments, walrus, comparisons, slices, dunder names — is refused with a
``ValueError`` that quotes the offending piece and its column, as are texts longer than
:data:`MAX_LENGTH` characters, trees nested deeper than :data:`MAX_DEPTH`, and numeric
powers whose value would exceed :data:`MAX_POWER_BITS` bits.  Nothing is ever passed to
``eval``, ``exec`` or ``sympify``.

>>> parse("-(y*log(sigmoid(z)) + (1 - y)*log(1 - sigmoid(z)))")
-y*log(sigmoid(z)) - (1 - y)*log(1 - sigmoid(z))
>>> parse("__import__('os').system('true')")
Traceback (most recent call last):
...
ValueError: text: column 1: attribute access is not allowed: "__import__('os').system"
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable, Mapping
from fractions import Fraction
from typing import Any

import sympy
from sympy.codegen.cfunctions import expm1, log1p

from derive.functions import expm1mx, log1pmx, logratio, sigmoid, softplus, xlogy

__all__ = ["FUNCTIONS", "MAX_DEPTH", "MAX_LENGTH", "MAX_POWER_BITS", "parse"]

#: Longest text :func:`parse` reads, in characters.
MAX_LENGTH = 10_000
#: Deepest syntax tree :func:`parse` walks (``((x))`` is depth 1: brackets add none).
MAX_DEPTH = 100
#: Largest numeric power (``10**400``) built exactly, in bits of its value.
MAX_POWER_BITS = 100_000

#: name -> (SymPy callable, number of arguments; ``None``: one or more).
FUNCTIONS: dict[str, tuple[Callable[..., sympy.Basic], int | None]] = {
    "exp": (sympy.exp, 1),
    "log": (sympy.log, 1),
    "log1p": (log1p, 1),
    "expm1": (expm1, 1),
    "sqrt": (sympy.sqrt, 1),
    "abs": (sympy.Abs, 1),
    "sin": (sympy.sin, 1),
    "cos": (sympy.cos, 1),
    "tan": (sympy.tan, 1),
    "tanh": (sympy.tanh, 1),
    "cosh": (sympy.cosh, 1),
    "sinh": (sympy.sinh, 1),
    "sigmoid": (sigmoid, 1),
    "softplus": (softplus, 1),
    "expm1mx": (expm1mx, 1),
    "log1pmx": (log1pmx, 1),
    "xlogy": (xlogy, 2),
    "logratio": (logratio, 2),
    "min": (sympy.Min, None),
    "max": (sympy.Max, None),
}

_CONSTANTS: dict[str, sympy.Basic] = {"pi": sympy.pi}

_BINARY: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
}

#: What a refused node is called in the error message.
_REFUSED: dict[type, str] = {
    ast.Attribute: "attribute access",
    ast.Lambda: "a lambda",
    ast.ListComp: "a comprehension",
    ast.SetComp: "a comprehension",
    ast.DictComp: "a comprehension",
    ast.GeneratorExp: "a generator expression",
    ast.JoinedStr: "an f-string",
    ast.FormattedValue: "an f-string",
    ast.NamedExpr: "an assignment expression (:=)",
    ast.Compare: "a comparison",
    ast.BoolOp: "and/or",
    ast.IfExp: "a conditional expression",
    ast.Starred: "a starred argument",
    ast.Slice: "a slice",
    ast.List: "a list",
    ast.Tuple: "a tuple",
    ast.Set: "a set",
    ast.Dict: "a dict",
    ast.Await: "await",
    ast.Yield: "yield",
    ast.YieldFrom: "yield",
}


class _Refused(ValueError):
    pass


def parse(text: str, symbols: Mapping[str, sympy.Basic] | None = None) -> sympy.Basic:
    """The SymPy expression written in ``text``, read without evaluating any code.

    Parameters
    ----------
    text
        Arithmetic in Python notation: numbers, names, ``+ - * / **``, calls of the
        functions in :data:`FUNCTIONS`, subscripts of the ``IndexedBase`` objects in
        ``symbols``.
    symbols
        ``name -> Symbol`` or ``IndexedBase`` (or any SymPy object a name stands for).
        Names not in it become ``Symbol(name, real=True)``.

    Returns
    -------
    sympy.Basic
        The expression, built with SymPy's constructors from the admitted pieces.

    Raises
    ------
    TypeError
        ``text`` is not a ``str``; ``symbols`` is not a mapping of str to SymPy objects.
    ValueError
        ``text`` is not admitted: a syntax error, a construct outside the grammar above
        (the message quotes it and gives its column), too long or too deeply nested.

    Examples
    --------
    >>> import sympy
    >>> y = sympy.IndexedBase("y")
    >>> parse("xlogy(y[k], q)", {"y": y})
    xlogy(y[k], q)
    """
    if not isinstance(text, str):
        raise TypeError(f"text: a str is needed, got {type(text).__name__}")
    table = _check_symbols(symbols)
    if len(text) > MAX_LENGTH:
        raise ValueError(f"text: {len(text)} characters; at most {MAX_LENGTH} are read")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        where = f"column {exc.offset}: " if exc.offset else ""
        raise ValueError(f"text: {where}not an expression ({exc.msg})") from None
    except (ValueError, RecursionError, MemoryError) as exc:  # null bytes, deep nesting
        raise ValueError(f"text: not an expression ({type(exc).__name__})") from None
    try:
        return _Walker(text.strip(), table).visit(tree.body, 1)
    except _Refused as exc:
        raise ValueError(f"text: {exc}") from None


def _check_symbols(symbols: Mapping[str, sympy.Basic] | None) -> dict[str, sympy.Basic]:
    if symbols is None:
        return {}
    if not isinstance(symbols, Mapping):
        raise TypeError(f"symbols: a mapping name -> SymPy object is needed, "
                        f"got {type(symbols).__name__}")
    for name, value in symbols.items():
        if not isinstance(name, str):
            raise TypeError(f"symbols: keys are names (str), got {type(name).__name__}")
        if not isinstance(value, sympy.Basic):
            raise TypeError(f"symbols[{name!r}]: a SymPy object is needed, "
                            f"got {type(value).__name__}")
    return dict(symbols)


class _Walker:
    """Builds the expression node by node; refuses every node type it does not know."""

    def __init__(self, text: str, symbols: dict[str, sympy.Basic]) -> None:
        self.text = text
        self.symbols = symbols

    def refuse(self, node: ast.AST, what: str) -> _Refused:
        piece = ast.get_source_segment(self.text, node) or ""
        if len(piece) > 40:
            piece = piece[:37] + "..."
        col = getattr(node, "col_offset", None)
        where = f"column {col + 1}: " if col is not None else ""
        return _Refused(f"{where}{what} is not allowed: {piece!r}")

    def visit(self, node: ast.AST, depth: int) -> sympy.Basic:
        if depth > MAX_DEPTH:
            raise self.refuse(node, f"nesting deeper than {MAX_DEPTH}")
        method = getattr(self, f"visit_{type(node).__name__}", None)
        if method is None:
            raise self.refuse(node, _REFUSED.get(type(node), type(node).__name__))
        return method(node, depth)

    def visit_Constant(self, node: ast.Constant, depth: int) -> sympy.Basic:
        v = node.value
        if isinstance(v, bool) or not isinstance(v, int | float):
            kind = "a string" if isinstance(v, str | bytes) else f"the constant {v!r}"
            raise self.refuse(node, kind)
        if isinstance(v, int):
            return sympy.Integer(v)
        if not math.isfinite(v):
            raise self.refuse(node, "a non-finite number")
        frac = Fraction(repr(v))  # the decimal the user wrote, exactly
        return sympy.Rational(frac.numerator, frac.denominator)

    def visit_Name(self, node: ast.Name, depth: int) -> sympy.Basic:
        name = node.id
        if name in self.symbols:
            return self.symbols[name]
        if name.startswith("__"):
            raise self.refuse(node, "a dunder name")
        if not name.isascii():
            raise self.refuse(node, "a non-ASCII name (write sigma for σ, or pass symbols=)")
        if name in FUNCTIONS:
            raise self.refuse(node, f"the function name {name!r} without a call")
        if name in _CONSTANTS:
            return _CONSTANTS[name]
        return sympy.Symbol(name, real=True)

    def visit_UnaryOp(self, node: ast.UnaryOp, depth: int) -> sympy.Basic:
        operand = self.visit(node.operand, depth + 1)
        if isinstance(node.op, ast.USub):
            return -operand
        if isinstance(node.op, ast.UAdd):
            return operand
        raise self.refuse(node, f"the operator {type(node.op).__name__}")

    def visit_BinOp(self, node: ast.BinOp, depth: int) -> sympy.Basic:
        if isinstance(node.op, ast.BitXor):
            raise self.refuse(node, "^ (write powers as **)")
        if not isinstance(node.op, (*_BINARY, ast.Pow)):
            raise self.refuse(node, f"the operator {type(node.op).__name__}")
        left = self.visit(node.left, depth + 1)
        right = self.visit(node.right, depth + 1)
        if isinstance(node.op, ast.Pow):
            self._check_power(node, left, right)
            return left**right
        return _BINARY[type(node.op)](left, right)

    def _check_power(self, node: ast.AST, base: sympy.Basic, exponent: sympy.Basic) -> None:
        """Refuse a numeric power whose exact value is too large to build (``9**9**9``)."""
        if not (base.is_Rational and exponent.is_Rational):
            return
        size = max(abs(int(base.p)).bit_length(), abs(int(base.q)).bit_length(), 1)
        if abs(exponent) * size > MAX_POWER_BITS:
            raise self.refuse(node, f"a power of more than {MAX_POWER_BITS} bits")

    def visit_Call(self, node: ast.Call, depth: int) -> sympy.Basic:
        func = node.func
        if not isinstance(func, ast.Name):
            raise self.refuse(func, _REFUSED.get(type(func), "calling this"))
        name = func.id
        if name not in FUNCTIONS or name in self.symbols:
            raise self.refuse(node, f"a call of {name!r} (not a whitelisted function: "
                                    f"{', '.join(FUNCTIONS)})")
        if node.keywords:
            raise self.refuse(node.keywords[0], "a keyword argument")
        build, nargs = FUNCTIONS[name]
        if nargs is not None and len(node.args) != nargs:
            raise self.refuse(node, f"{name} with {len(node.args)} arguments ({nargs} needed)")
        if not node.args:
            raise self.refuse(node, f"{name} without arguments")
        args = [self.visit(a, depth + 1) for a in node.args]
        return build(*args)

    def visit_Subscript(self, node: ast.Subscript, depth: int) -> sympy.Basic:
        base = node.value
        if not (isinstance(base, ast.Name)
                and isinstance(self.symbols.get(base.id), sympy.IndexedBase)):
            raise self.refuse(node, "a subscript of anything but an IndexedBase in symbols")
        index = node.slice
        parts = index.elts if isinstance(index, ast.Tuple) else [index]
        indices = [self.visit(p, depth + 1) for p in parts]
        return self.symbols[base.id][tuple(indices) if len(indices) > 1 else indices[0]]

