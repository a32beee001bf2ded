"""No code from strings: every public entry that hands its input to SymPy refuses a ``str``.

SymPy's constructors ``sympify`` a string, and ``sympify`` evaluates it as Python.  Each
test passes a payload that would create a marker file if it ran, and asserts both the
``TypeError``/``ValueError`` naming the argument and that the marker file does not exist.
Names are the other way in: ``lambdify`` prints function names and bound variables into
code it executes, so those must be plain identifiers.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sympy
from sympy import Eq, Function, Symbol

import derive
from derive import render, rewrite
from derive._inputs import check_code_names, is_code_identifier
from derive.core import (
    Assumption,
    Definition,
    Derivation,
    EarlierResult,
    Identity,
    IntegerRange,
    Interval,
    LogUniform,
    Step,
    VectorOf,
)
from derive.functions import (
    expm1mx,
    log1pmx,
    logratio,
    logsumexp,
    sigmoid,
    softplus,
    xlogy,
)

x = Symbol("x", real=True)
k = Symbol("k", integer=True)
L = Symbol("L")
REFUSED = "a string is not accepted; build the expression with SymPy or use derive.parse"


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    return tmp_path / "marker"


@pytest.fixture
def payload(marker: Path) -> str:
    """Python that creates the marker file when evaluated (as ``sympify`` would)."""
    return f"__import__('pathlib').Path(r'{marker}').touch()"


def derivation(expr, **kw) -> Derivation:
    """``L := expr`` as a one-step derivation over ``x`` in [-1, 1]."""
    args = dict(name="t", title="t", statement="s", topic="test",
                steps=[Step(Eq(L, expr), "definition")], result=Eq(L, expr),
                domains={x: Interval(-1, 1)}, definitions=[Definition(L, expr)])
    args.update(kw)
    return Derivation(**args)


def add_identity(d: Derivation, domains: dict) -> None:
    """A step relying on ``x = x``, whose (frozen) Identity's domains dict then changes."""
    ident = Identity("x = x", Eq(x, x, evaluate=False), {x: Interval(-1, 1)})
    d.steps.append(Step(x, "r", relies_on=(ident,)))
    ident.domains.clear()
    ident.domains.update(domains)


class TestStabilise:
    def test_refuses_a_string(self, payload, marker):
        with pytest.raises(TypeError, match=f"^expr: {REFUSED}"):
            rewrite.stabilise(payload)
        assert not marker.exists()

    def test_refuses_other_objects(self):
        with pytest.raises(TypeError, match=r"^expr: a SymPy expression is needed"):
            rewrite.stabilise([x])

    def test_expressions_and_numbers_still_work(self):
        assert rewrite.stabilise(sympy.log(1 + sympy.exp(x))) == softplus(x)
        assert rewrite.stabilise(3) == 3


class TestDefinition:
    @pytest.mark.parametrize("arg", ["symbol", "expr"])
    def test_refuses_a_string(self, arg, payload, marker):
        kw = {"symbol": L, "expr": x, arg: payload}
        with pytest.raises(TypeError, match=f"^{arg}: {REFUSED}"):
            Definition(**kw)
        assert not marker.exists()

    def test_refuses_a_function_name_that_is_code(self, payload, marker):
        evil = Function(f"(lambda *a: {payload} or 1)")
        with pytest.raises(ValueError, match=r"^expr: the function name .* is not a plain"):
            Definition(L, evil(x))
        assert not marker.exists()


class TestStep:
    def test_refuses_a_string(self, payload, marker):
        with pytest.raises(TypeError, match=f"^expr: {REFUSED}"):
            Step(payload, "a continuation that would be Eq(previous, payload)")
        assert not marker.exists()

    def test_reason_and_reliances_are_checked(self, payload, marker):
        with pytest.raises(TypeError, match=r"^reason: a str is needed"):
            Step(x, None)
        with pytest.raises(TypeError, match=r"^relies_on: "):
            Step(x, "r", relies_on=payload)
        with pytest.raises(TypeError, match=r"^relies_on: an Assumption"):
            Step(x, "r", relies_on=(1,))
        with pytest.raises(TypeError, match=r"^hint: a callable"):
            Step(x, "r", hint=payload)
        assert not marker.exists()

    def test_a_note_in_words_is_still_a_reliance(self):
        assert Step(x, "r", relies_on=["see the text"]).relies_on == ("see the text",)

    def test_refuses_a_function_name_that_is_code_before_verify_runs_it(self, payload, marker):
        # before the check, verify() lambdified this name and so executed it
        evil = Function(f"(lambda *a: {payload} or 1)")
        with pytest.raises(ValueError, match=r"^expr: the function name"):
            derivation(evil(x) + x).verify(points=8)
        assert not marker.exists()

    @pytest.mark.parametrize("bound", ["Sum", "Product", "Integral", "logsumexp", "Lambda",
                                       "Subs"])
    def test_refuses_a_bound_variable_that_is_code(self, bound, payload, marker):
        var = Symbol(f"k) or ({payload}", integer=True)
        build = {
            "Sum": lambda: sympy.Sum(x * var, (var, 1, 3)),
            "Product": lambda: sympy.Product(x * var, (var, 1, 3)),
            "Integral": lambda: sympy.Integral(x * var, (var, 1, 3)),
            "logsumexp": lambda: logsumexp(x * var, (var, 1, 3)),
            "Lambda": lambda: sympy.Lambda(var, x * var),
            "Subs": lambda: sympy.Subs(Function("f")(var), var, x),
        }[bound]
        with pytest.raises(ValueError, match=r"^expr: the bound variable name"):
            Step(build(), "r")
        assert not marker.exists()


class TestAssumption:
    def test_refuses_a_string_statement(self, payload, marker):
        with pytest.raises(TypeError, match=f"^statement: {REFUSED}"):
            Assumption("a", payload)
        assert not marker.exists()

    def test_refuses_strings_in_subs(self, payload, marker):
        # subs are applied with expr.subs(...), which would sympify them
        for subs in (((x, payload),), ((payload, 1),), (payload,), payload):
            with pytest.raises(TypeError, match=r"^subs: "):
                Assumption("a", Eq(x, 1), subs=subs)
        assert not marker.exists()

    def test_numbers_in_subs_become_sympy_numbers(self):
        a = Assumption("a", Eq(x, 1), subs=((x, 1),))
        assert a.substitutions() == ((x, sympy.Integer(1)),)


class TestIdentity:
    def test_refuses_a_string_statement(self, payload, marker):
        with pytest.raises(TypeError, match=f"^statement: {REFUSED}"):
            Identity("i", payload)
        assert not marker.exists()

    def test_refuses_string_domain_keys(self, payload, marker):
        with pytest.raises(TypeError, match=f"^domains key: {REFUSED}"):
            Identity("i", Eq(x, x), {payload: Interval(0, 1)})
        assert not marker.exists()


class TestEarlierResult:
    def test_name_is_text(self):
        with pytest.raises(TypeError, match=r"^name: a str is needed"):
            EarlierResult(3)


class TestDerivation:
    @pytest.mark.parametrize("arg, value", [
        ("result", "{p}"), ("parameters", ("{p}",)), ("parameters", "{p}"),
        ("domains", {x: Interval(-1, 1), "a={p}": Interval(0, 1)}), ("steps", "{p}"),
        ("definitions", ["{p}"]),
        ("result_assumptions", ("{p}",)),
    ])
    def test_refuses_strings(self, arg, value, payload, marker):
        def fill(v):
            if isinstance(v, str):
                return v.format(p=payload)
            if isinstance(v, dict):
                return {fill(a): b for a, b in v.items()}
            if isinstance(v, tuple | list):
                return type(v)(fill(a) for a in v)
            return v

        with pytest.raises(TypeError, match=f"^{arg}"):
            derivation(x, **{arg: fill(value)}).verify(points=8)
        assert not marker.exists()

    @pytest.mark.parametrize("arg", ["name", "title", "statement", "topic", "notes"])
    def test_text_fields_must_be_text(self, arg):
        with pytest.raises(TypeError, match=f"^{arg}: a str is needed"):
            derivation(x, **{arg: sympy.Symbol("t")})

    @pytest.mark.parametrize("change, arg", [
        (lambda d, p: d.steps.append(p), "steps"),
        # a str key became a lambdify argument: "def f(x, a=<payload>)" ran it
        (lambda d, p: d.domains.update({f"a={p}": Interval(0, 1)}), "domains"),
        (lambda d, p: setattr(d, "result", p), "result"),
        (lambda d, p: add_identity(d, {x: Interval(-1, 1), f"a={p}": Interval(0, 1)}),
         "domains"),
    ])
    def test_verify_rechecks_fields_changed_after_construction(self, change, arg, payload,
                                                                marker):
        d = derivation(x)
        change(d, payload)
        with pytest.raises(TypeError, match=f"^{arg}"):
            d.verify(points=8)
        assert not marker.exists()

    def test_a_domain_must_be_a_domain(self):
        with pytest.raises(TypeError, match=r"^domains\[x\]: a Domain"):
            derivation(x, domains={x: (0, 1)})

    def test_any_free_symbol_or_vector_name_still_verifies(self, payload, marker):
        # free symbols are lambdify arguments, renamed when they are not identifiers;
        # vector entries become plain _ix symbols
        s, v = Symbol(payload, real=True), sympy.IndexedBase(payload)
        d = derivation(s + x + sympy.Sum(v[k], (k, 1, 3)),
                       domains={x: Interval(-1, 1), s: Interval(0, 1),
                                v: VectorOf(3, Interval(0, 1))})
        assert len(d.verify(points=8)) == 2
        assert not marker.exists()


class TestDomains:
    @pytest.mark.parametrize("domain", [Interval, LogUniform])
    def test_bounds_are_finite_numbers(self, domain, payload, marker):
        with pytest.raises(TypeError, match=f"^lo: {REFUSED}"):
            domain(payload, 1)
        with pytest.raises(TypeError, match=r"^hi: a finite real number"):
            domain(0.5, x)
        with pytest.raises(ValueError, match=r"^hi: must be finite"):
            domain(0.5, float("inf"))
        with pytest.raises(ValueError, match=r"^hi: must be >= lo"):
            domain(0.5, 0.25)
        assert not marker.exists()

    def test_log_uniform_is_positive(self):
        with pytest.raises(ValueError, match=r"^lo: must be > 0"):
            LogUniform(0, 1)

    def test_integer_range_bounds_are_integers_or_symbols(self, payload, marker):
        with pytest.raises(TypeError, match=f"^hi: {REFUSED}"):
            IntegerRange(1, payload)
        with pytest.raises(TypeError, match=r"^lo: an integer"):
            IntegerRange(1.5, 3)
        assert IntegerRange(1, k).hi == k
        assert not marker.exists()

    def test_vector_lengths_and_element(self, payload, marker):
        with pytest.raises(TypeError, match=f"^length: {REFUSED}"):
            VectorOf(payload, Interval(0, 1))
        with pytest.raises(TypeError, match=f"^length: {REFUSED}"):
            VectorOf((2, payload), Interval(0, 1))
        with pytest.raises(TypeError, match=r"^element: a Domain"):
            VectorOf(3, (0, 1))
        assert not marker.exists()

    def test_sympy_numbers_are_bounds(self):
        assert Interval(sympy.Rational(-1, 2), sympy.Integer(3)).hi == 3


class TestPrimitives:
    @pytest.mark.parametrize("func, nargs", [
        (sigmoid, 1), (softplus, 1), (expm1mx, 1), (log1pmx, 1), (xlogy, 2), (logratio, 2),
    ])
    def test_refuse_a_string_argument(self, func, nargs, payload, marker):
        args = [x] * (nargs - 1) + [payload]
        with pytest.raises(TypeError, match=f"^{func.__name__}: argument: {REFUSED}"):
            func(*args)
        assert not marker.exists()

    def test_logsumexp_refuses_strings(self, payload, marker):
        with pytest.raises(TypeError, match=f"^logsumexp: function: {REFUSED}"):
            logsumexp(payload, (k, 1, 3))
        with pytest.raises(TypeError, match=f"^logsumexp: limits: {REFUSED}"):
            logsumexp(x * k, (k, 1, payload))
        assert not marker.exists()


class TestLatex:
    def test_refuses_a_string(self, payload):
        with pytest.raises(TypeError, match=f"^e: {REFUSED}"):
            render.latex(r"\input{/etc/passwd}")
        with pytest.raises(TypeError, match=f"^e: {REFUSED}"):
            render.latex(payload)


class TestNamesAreLookedUp:
    """Derivation names are keys: looked up, never evaluated."""

    @pytest.mark.parametrize("entry", [derive.get, derive.meta, derive.export,
                                       derive.export_source, derive.exportable])
    def test_unknown_name(self, entry, payload, marker):
        with pytest.raises((KeyError, ValueError)):
            entry(payload)
        assert not marker.exists()


class TestCheckCodeNames:
    @pytest.mark.parametrize("name", ["f", "L_BCE", "_Hessian", "D_KL", "ell", "H_2"])
    def test_plain_identifiers_pass(self, name):
        check_code_names([Function(name)(x)], "expr")
        assert is_code_identifier(name)

    @pytest.mark.parametrize("name", ["exec", "open", "input", "breakpoint", "lambda",
                                      "__import__", "__x__", "a.b", "f(x)", "σ", ""])
    def test_keywords_builtins_dunders_and_non_identifiers_fail(self, name):
        assert not is_code_identifier(name)

    def test_the_project_derivations_pass(self):
        for name in derive.names():  # built: their constructors ran these checks
            assert derive.get(name).name == name
