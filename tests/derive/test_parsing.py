"""derive.parsing: text becomes a SymPy expression through a walker that admits numbers,
names, arithmetic, whitelisted calls and IndexedBase subscripts — and nothing runs.

Every refusal test writes its payload so that, were it evaluated (as ``sympify`` would),
it would create a marker file; each asserts the ValueError *and* that the file is absent.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sympy

import derive
from derive.functions import logratio, sigmoid, softplus, xlogy
from derive.parsing import FUNCTIONS, MAX_DEPTH, MAX_LENGTH, parse

z = sympy.Symbol("z", real=True)
y = sympy.Symbol("y", real=True)


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    return tmp_path / "marker"


def touch(marker: Path) -> str:
    """Python that creates ``marker`` when evaluated."""
    return f"__import__('pathlib').Path(r'{marker}').touch()"


class TestParse:
    def test_textbook_bce_is_the_sympy_expression(self):
        got = parse("-(y*log(sigmoid(z)) + (1 - y)*log(1 - sigmoid(z)))")
        want = -(y * sympy.log(sigmoid(z)) + (1 - y) * sympy.log(1 - sigmoid(z)))
        assert got == want

    def test_names_are_real_symbols_unless_given(self):
        k = sympy.Symbol("k", integer=True)
        assert parse("z") == z
        assert parse("k", {"k": k}) == k
        assert parse("k") != k  # a different symbol: real, not integer

    def test_floats_are_the_exact_decimal_written(self):
        assert parse("0.1") == sympy.Rational(1, 10)
        assert parse("2.5e-3") == sympy.Rational(1, 400)
        assert parse("3") == sympy.Integer(3)

    def test_operators(self):
        assert parse("-z + 2*y - z/y + z**2") == -z + 2 * y - z / y + z**2
        assert parse("+z") == z

    def test_pi_is_the_constant_unless_given(self):
        assert parse("2*pi") == 2 * sympy.pi
        p = sympy.Symbol("pi")
        assert parse("pi", {"pi": p}) == p

    @pytest.mark.parametrize("name", sorted(FUNCTIONS))
    def test_every_whitelisted_function_builds_its_sympy_call(self, name):
        build, nargs = FUNCTIONS[name]
        args = [z, y][: nargs or 2]
        text = f"{name}({', '.join(map(str, args))})"
        assert parse(text) == build(*args)

    def test_lossproof_primitives(self):
        assert parse("softplus(-z) + xlogy(y, z) + logratio(y, z)") == (
            softplus(-z) + xlogy(y, z) + logratio(y, z))

    def test_subscripts_of_an_indexedbase(self):
        p = sympy.IndexedBase("p")
        k = sympy.Idx("k")
        assert parse("log(p[k]) + p[1, k]", {"p": p, "k": k}) == sympy.log(p[k]) + p[1, k]

    def test_public_as_derive_parse(self):
        assert derive.parse("softplus(z)") == softplus(z)
        assert "parse(text, symbols=None)" in derive.__doc__


class TestParseRefuses:
    @pytest.mark.parametrize("template, piece", [
        ("{t}", "attribute access"),
        ("exp({t})", "attribute access"),
        ("(lambda: {t})()", "a lambda"),
        ("[{t} for _ in [1]]", "a comprehension"),
        ("exp({t} for _ in [1])", "a generator expression"),
        ('f"{{{t}}}"', "an f-string"),
        ("(m := {t})", "assignment expression"),
        ("z < {t}", "a comparison"),
        ("z if {t} else y", "a conditional expression"),
        ("exp(x={t})", "a keyword argument"),
        ("exp(*[{t}])", "a starred argument"),
        ("{{1: {t}}}", "a dict"),
        ("z or {t}", "and/or"),
    ])
    def test_code_is_refused_and_never_runs(self, template, piece, marker):
        text = template.format(t=touch(marker))
        with pytest.raises(ValueError, match=f"^text: .*{piece}"):
            parse(text)
        assert not marker.exists()

    def test_a_string_literal_is_refused(self, marker):
        with pytest.raises(ValueError, match="a string is not allowed"):
            parse(repr(touch(marker)))

    @pytest.mark.parametrize("text", ["__import__", "__builtins__", "__class__ + z"])
    def test_dunder_names(self, text):
        with pytest.raises(ValueError, match="a dunder name is not allowed"):
            parse(text)

    def test_non_ascii_names_unless_given(self):
        with pytest.raises(ValueError, match="a non-ASCII name"):
            parse("σ + 1")
        sigma = sympy.Symbol("sigma", positive=True)
        assert parse("σ + 1", {"σ": sigma}) == sigma + 1

    @pytest.mark.parametrize("text", ["foo(z)", "eval(z)", "exec(z)", "open(z)", "getattr(z)"])
    def test_calls_outside_the_whitelist(self, text):
        with pytest.raises(ValueError, match="not a whitelisted function"):
            parse(text)

    def test_a_name_given_as_a_symbol_cannot_be_called(self):
        with pytest.raises(ValueError, match="not a whitelisted function"):
            parse("exp(z)", {"exp": sympy.Symbol("exp")})

    def test_the_error_points_at_the_piece(self):
        with pytest.raises(ValueError, match=r"column 9: attribute access .*'os\.sep'"):
            parse("z + y * os.sep")

    @pytest.mark.parametrize("text", ["True", "None", "1j", "...", "1e999", "b'x'"])
    def test_constants_other_than_finite_int_and_float(self, text):
        with pytest.raises(ValueError, match="not allowed"):
            parse(text)

    @pytest.mark.parametrize("text", ["z ^ 2", "z % 2", "z // 2", "z @ y", "~z", "z & y"])
    def test_other_operators(self, text):
        with pytest.raises(ValueError, match="not allowed"):
            parse(text)

    @pytest.mark.parametrize("text", ["exp", "exp(z, y)", "xlogy(z)", "max()"])
    def test_function_arity(self, text):
        with pytest.raises(ValueError, match="not allowed"):
            parse(text)

    def test_subscripts_only_of_an_indexedbase_in_symbols(self):
        with pytest.raises(ValueError, match="subscript"):
            parse("q[1]")
        with pytest.raises(ValueError, match="subscript"):
            parse("q[1]", {"q": sympy.Symbol("q")})
        with pytest.raises(ValueError, match="slice"):
            parse("q[1:2]", {"q": sympy.IndexedBase("q")})

    def test_syntax_errors_and_statements(self, marker):
        for text in ("z +", f"import os; {touch(marker)}", "z = 1", "a\x00b"):
            with pytest.raises(ValueError, match=r"^text: "):
                parse(text)
        assert not marker.exists()

    def test_length_limit(self):
        ok = "+".join(["z"] * 50)
        assert parse(ok) == 50 * z
        with pytest.raises(ValueError, match=f"at most {MAX_LENGTH}"):
            parse("z" + " " * MAX_LENGTH)

    def test_depth_limit(self):
        deep = "exp(" * MAX_DEPTH + "z" + ")" * MAX_DEPTH
        with pytest.raises(ValueError, match=f"nesting deeper than {MAX_DEPTH}"):
            parse(deep)
        assert parse("exp(" * (MAX_DEPTH - 1) + "z" + ")" * (MAX_DEPTH - 1)).has(sympy.exp)
        with pytest.raises(ValueError, match=r"^text: "):
            parse("-" * 5000 + "z")  # Python's own parser gives up: still a ValueError

    def test_huge_numeric_powers_are_not_built(self):
        with pytest.raises(ValueError, match="a power of more than"):
            parse("9**9**9")
        assert parse("2**64") == 2**64

    def test_argument_types(self):
        with pytest.raises(TypeError, match=r"^text: a str is needed"):
            parse(b"z")
        with pytest.raises(TypeError, match=r"^symbols: a mapping"):
            parse("z", [("z", z)])
        with pytest.raises(TypeError, match=r"^symbols\['z'\]: a SymPy object"):
            parse("z", {"z": "z"})
