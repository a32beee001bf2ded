r"""derive._texnames: every name reaches LaTeX either as SymPy prints a safe name or as
escaped literal text — never as markup (``Symbol(r"\input{x}")`` is not ``\input{x}``)."""

from __future__ import annotations

import re

import pytest
import sympy
from sympy import Function, IndexedBase, MatrixSymbol, Symbol

from derive._texnames import SafeLatexPrinter, is_safe_name, tex_name

#: Names that would be markup if printed verbatim, and TeX's own "^^5c" (a backslash).
HOSTILE = [r"\input{M}", r"\def\x{}", "a$b", "#1", "50%", "a&b", "x~y", "x^^5cinput{M}",
           "{", "}", "a_{b}", "x\ny", "x\\\\", "a b", "\x07", "σ₁"]


def tex(e) -> str:
    return SafeLatexPrinter({"ln_notation": False, "mul_symbol": None}).doprint(e)


def no_markup(out: str) -> bool:
    r"""Only the printer's own commands: \mathtt, the escapes, SymPy's \left/\right."""
    commands = set(re.findall(r"\\([A-Za-z]+)", out))
    return commands <= {"mathtt", "backslash", "sim", "wedge", "left", "right", "mathbf",
                        "operatorname", "sigma"} and "^^" not in out


def balanced(out: str) -> bool:
    depth = 0
    for m in re.finditer(r"\\[{}]|[{}]", out):
        if m.group() in ("{", "}"):
            depth += 1 if m.group() == "{" else -1
            if depth < 0:
                return False
    return depth == 0


class TestIsSafeName:
    @pytest.mark.parametrize("name", ["x", "sigma", "mu_1", "mu1", "yhat", "p^s", "y^epsilon",
                                      "p_Y|X", "+", "-", "L_BCE", "x__2", "Sigma1"])
    def test_the_project_names_are_safe(self, name):
        assert is_safe_name(name)

    @pytest.mark.parametrize("name", [*HOSTILE, "", "^^5c", "x^^", "_", "x_", "x__^5c"])
    def test_markup_and_caret_pairs_are_not(self, name):
        assert not is_safe_name(name)


class TestTexName:
    @pytest.mark.parametrize("name", HOSTILE)
    def test_hostile_names_become_balanced_literal_text(self, name):
        out = tex_name(name)
        assert out.startswith(r"\mathtt{") and no_markup(out) and balanced(out)

    def test_each_special_is_escaped(self):
        assert tex_name(r"\input{M}") == r"\mathtt{{\backslash}input\{M\}}"
        assert tex_name("$#%&_") == r"\mathtt{\$\#\%\&\_}"
        assert tex_name("~^ ") == r"\mathtt{{\sim}{\wedge}\ }"

    def test_greek_letters_and_other_unicode(self):
        assert tex_name("σ₁") == r"\mathtt{{\sigma}[U+2081]}"
        assert tex_name("a\nb") == r"\mathtt{a[U+000A]b}"


class TestSafeLatexPrinter:
    @pytest.mark.parametrize("name", HOSTILE)
    @pytest.mark.parametrize("make", [
        Symbol, sympy.Dummy, lambda n: IndexedBase(n)[1], lambda n: MatrixSymbol(n, 2, 2),
        lambda n: Function(n)(Symbol("z")), lambda n: Function(n)(Symbol("z")) ** 2,
        lambda n: sympy.Idx(n), lambda n: Function(n), lambda n: MatrixSymbol(n, 2, 2).T,
    ], ids=["Symbol", "Dummy", "Indexed", "MatrixSymbol", "Function", "Function**2", "Idx",
            "FunctionClass", "Transpose"])
    def test_no_name_is_printed_as_markup(self, name, make):
        out = tex(make(name))
        assert tex_name(name) in out
        assert no_markup(out)
        assert balanced(out)

    def test_a_class_named_like_markup(self):
        cls = type(r"\input{M}", (sympy.Basic,), {})
        assert tex(cls()) == tex_name(r"\input{M}")
        assert tex(cls(Symbol("z"))) == r"\operatorname{" + tex_name(r"\input{M}") + \
            r"}\left(z\right)"

    def test_safe_names_print_exactly_as_sympy_prints_them(self):
        z, mu1, yhat = sympy.symbols("z mu_1 yhat")
        e = sympy.log(mu1) + yhat**2 / z + IndexedBase("p^s")[1] + Function("H_2")(z)
        assert tex(e) == sympy.latex(e, ln_notation=False, mul_symbol=None)
