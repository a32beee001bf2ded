r"""LaTeX that never emits a name as markup: the printer behind :func:`derive.render.latex`.

SymPy prints a symbol's name almost verbatim (``Symbol(r"\input{/etc/passwd}")`` becomes
``\input{/etc/passwd}``, which ``pdflatex`` executes); so do function and matrix names.
:class:`SafeLatexPrinter` routes every name — ``Symbol``, ``Dummy``, ``IndexedBase``,
``Idx``, ``MatrixSymbol``, function and class names, ``Str`` — through one check:

* a name in the *safe grammar* (runs of ASCII letters, digits, ``|``, ``+``, ``-``, ``'``,
  ``,`` joined by single ``_``, ``__`` or ``^`` for sub- and superscripts — never ``^^``,
  TeX's character-code escape) is printed as SymPy prints it, so Greek names
  (``sigma``), subscripts (``mu_1``), accents (``yhat``) render as they always did;
* any other name is printed as :func:`tex_name`: ``\mathtt{…}`` of its characters, each
  LaTeX special (``\ { } $ # % & _ ~ ^``) escaped, Greek letters as ``\sigma``, and
  everything else (newlines, other Unicode) as ``[U+000A]`` — markup-free text that
  ``pdflatex`` and MathJax (Markdown, notebooks) both show literally.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from sympy.printing.latex import LatexPrinter

__all__ = ["SafeLatexPrinter", "is_safe_name", "tex_name"]

_SEGMENT = r"[A-Za-z0-9|+\-',]+"
# segments joined by one _, ^ or __ (sub- and superscripts): never "^^", which TeX reads
# as a character code ("^^5c" is a backslash), and never a name that is only separators
_SAFE_NAME = re.compile(rf"_?{_SEGMENT}(?:(?:__|_|\^){_SEGMENT})*\Z")

_ESCAPES = {
    "\\": r"{\backslash}", "{": r"\{", "}": r"\}", "$": r"\$", "#": r"\#", "%": r"\%",
    "&": r"\&", "_": r"\_", "~": r"{\sim}", "^": r"{\wedge}", " ": r"\ ",
}
_PLAIN = frozenset("()[]+-*/=,.;:!?<>|'@")


def is_safe_name(name: str) -> bool:
    """Whether SymPy's own rendering of ``name`` is safe (see the module docstring)."""
    return bool(_SAFE_NAME.match(name))


def _greek(ch: str) -> str | None:
    uname = unicodedata.name(ch, "")
    if not (uname.startswith("GREEK") and "LETTER" in uname) or "FINAL" in uname:
        return None
    word = uname.split()[-1].lower().replace("lamda", "lambda")
    if word not in _GREEK_WORDS:
        return None
    return "\\" + (word.capitalize() if "CAPITAL" in uname else word)


_GREEK_WORDS = frozenset({
    "alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa",
    "lambda", "mu", "nu", "xi", "pi", "rho", "sigma", "tau", "upsilon", "phi", "chi", "psi",
    "omega",
})
_CAPITALS = frozenset({"Gamma", "Delta", "Theta", "Lambda", "Xi", "Pi", "Sigma", "Upsilon",
                       "Phi", "Psi", "Omega"})


def _char(ch: str) -> str:
    if ch.isascii() and ch.isalnum():
        return ch
    if ch in _ESCAPES:
        return _ESCAPES[ch]
    if ch in _PLAIN:
        return ch
    greek = _greek(ch)
    if greek is not None and (greek[1].islower() or greek[1:] in _CAPITALS):
        return "{" + greek + "}"
    return f"[U+{ord(ch):04X}]"


def tex_name(name: str) -> str:
    r"""``name`` as literal text in math mode: ``\mathtt{…}`` with every special escaped.

    >>> print(tex_name(r"\input{x}"))
    \mathtt{{\backslash}input\{x\}}
    """
    return r"\mathtt{" + "".join(_char(ch) for ch in name) + "}"


class SafeLatexPrinter(LatexPrinter):
    """SymPy's ``LatexPrinter`` with every name checked (see the module docstring)."""

    def _deal_with_super_sub(self, string: str, style: str = "plain") -> str:
        if is_safe_name(string):
            return super()._deal_with_super_sub(string, style=style)
        out = tex_name(string)
        return rf"\mathbf{{{out}}}" if style == "bold" else out

    def _print_Function(self, expr: Any, exp: Any = None) -> str:
        name = expr.func.__name__
        if is_safe_name(name):
            return super()._print_Function(expr, exp)
        # not SymPy's: it %-formats the name, and an escaped name holds "\\%"
        head = tex_name(name) if exp is None else rf"{tex_name(name)}^{{{exp}}}"
        args = ",".join(self._print(a) for a in expr.args)
        return rf"{head}{{\left({args} \right)}}"

    def _print_Str(self, s: Any) -> str:
        name = str(s.name)
        return name if is_safe_name(name) else tex_name(name)

    def _print_Basic(self, expr: Any) -> str:
        name = type(expr).__name__
        if is_safe_name(name):
            return super()._print_Basic(expr)
        head = tex_name(name)
        if not expr.args:
            return head
        args = ", ".join(self._print(a) for a in expr.args)
        return rf"\operatorname{{{head}}}\left({args}\right)"
