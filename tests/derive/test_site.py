"""``lossproof proofs --html``: well-formed pages, escaped names, MathML Core, links that resolve,
and pages that a real headless Chromium renders (screenshot not blank, no MathML error)."""

from __future__ import annotations

import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest
import sympy
from sympy import (
    Derivative,
    Eq,
    Function,
    IndexedBase,
    Integral,
    Matrix,
    Product,
    Sum,
    Symbol,
    exp,
    oo,
)

from derive import proofs, site
from derive._mathml import mathml, mathml_relation
from derive.cli import main
from derive.core import Definition, Derivation, Step, StepReport, get, names
from derive.functions import logsumexp, sigmoid, softplus, xlogy

#: Derivations the site tests render: sums, a Hessian matrix, a derivative (softmax), an
#: integral, fractions and a picture (gaussian-kl), a limit and a reliance on a derivation
#: not in the selection (distillation).  Three, not 28: each costs a full verification.
PAGES = ("softmax-ce-gradient", "gaussian-kl", "distillation-gradient")
HOSTILE = '<script>alert("x")</script>&amp;'
MATHML_CORE = frozenset({
    "math", "mrow", "mi", "mo", "mn", "mtext", "msub", "msup", "msubsup", "mfrac", "msqrt",
    "mroot", "munder", "mover", "munderover", "mtable", "mtr", "mtd", "mspace", "mstyle",
    "mpadded", "mphantom",
})
#: Children an element of fixed arity must have (else a browser shows it as broken).
ARITY = {"mfrac": 2, "msub": 2, "msup": 2, "msubsup": 3, "munder": 2, "mover": 2,
         "munderover": 3, "mroot": 2}
VOID = frozenset({"meta", "link", "img", "br", "hr", "input", "source", "col", "wbr"})
MATH_BLOCK = re.compile(r"<math\b.*?</math>", re.S)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """The site for PAGES, written once (three verifications: under a minute of CPU)."""
    out = tmp_path_factory.mktemp("site")
    site.write_site(out, PAGES)
    return out


def _tree(markup: str) -> ET.Element:
    return ET.fromstring(markup)


def _tags(markup: str) -> set[str]:
    return {el.tag for el in _tree(markup).iter()}


def _all_expressions():
    for n in names():
        d = get(n)
        yield from (s.expr for s in d.steps)
        yield d.result
        for df in d.definitions:
            yield Eq(df.symbol, df.expr, evaluate=False)
        yield from (a.statement for a in d.assumptions())


class TestMathml:
    def test_a_hostile_symbol_name_is_text_not_markup(self):
        out = mathml(Symbol(HOSTILE) + Symbol("x"))
        root = _tree(out)
        assert "script" not in {el.tag for el in root.iter()}
        assert "<script" not in out
        assert HOSTILE in [el.text for el in root.iter("mi")]

    def test_hostile_function_and_indexed_names_are_text(self):
        k = Symbol("k")
        e = Function(HOSTILE)(Symbol("x")) + IndexedBase(HOSTILE)[k]
        out = mathml(e)
        assert "<script" not in out
        assert sum(el.text == HOSTILE for el in _tree(out).iter("mi")) == 2

    def test_every_derivation_expression_is_mathml_core_with_correct_arity(self):
        seen = set()
        for e in _all_expressions():
            root = _tree(mathml(e))
            for el in root.iter():
                seen.add(el.tag)
                if el.tag in ARITY:
                    assert len(el) == ARITY[el.tag], (e, el.tag, len(el))
        assert seen <= MATHML_CORE, seen - MATHML_CORE
        assert {"mfrac", "munderover", "msubsup", "mtable", "msqrt"} <= seen

    def test_the_block_is_display_math(self):
        out = mathml(Symbol("x"))
        assert out.startswith('<math display="block">')

    def test_sigmoid_prints_as_sigma(self):
        root = _tree(mathml(sigmoid(Symbol("z"))))
        assert next(el.text for el in root.iter("mi")) == "σ"
        assert "sigmoid" not in mathml(sigmoid(Symbol("z")))

    def test_softplus_and_xlogy_keep_their_names_as_one_identifier(self):
        x, y = sympy.symbols("x y")
        assert "<mi>softplus</mi>" in mathml(softplus(x))
        assert "<mi>xlogy</mi>" in mathml(xlogy(x, y))

    def test_logsumexp_shows_log_sum_exp_with_limits(self):
        k, K = sympy.symbols("k K", integer=True)
        z = IndexedBase("z")
        root = _tree(mathml(logsumexp(z[k], (k, 1, K))))
        (under,) = root.iter("munderover")
        assert under[0].text == "∑"
        assert [el.text for el in root.iter("mi")][:1] == ["log"]

    def test_a_sum_has_its_limits_under_and_over(self):
        k, K = sympy.symbols("k K", integer=True)
        (under,) = _tree(mathml(Sum(IndexedBase("y")[k], (k, 1, K)))).iter("munderover")
        assert under[2].text == "K"

    def test_an_integral_has_no_undefined_xml_entity(self):
        x = Symbol("x")
        out = mathml(Integral(exp(-x ** 2), (x, -oo, oo)))
        _tree(out)  # &dd; and &ExponentialE; are not XML: this would raise
        assert "&dd;" not in out and "&ExponentialE;" not in out

    def test_a_derivative_is_a_partial_fraction(self):
        x = Symbol("x")
        root = _tree(mathml(Derivative(Function("L")(x), x)))
        (frac,) = root.iter("mfrac")
        assert "".join(frac[0].itertext()) == "∂"
        assert "".join(frac[1].itertext()) == "∂x"

    def test_a_matrix_is_a_table(self):
        x = Symbol("x")
        root = _tree(mathml(Matrix([[1, x], [x, 2]])))
        assert len(list(root.iter("mtr"))) == 2

    def test_minus_is_the_minus_sign_not_a_hyphen(self):
        x, y = sympy.symbols("x y")
        out = mathml(x - y)
        assert "&#8722;" in out and "<mo>-</mo>" not in out

    def test_a_subscripted_power_is_one_msubsup(self):
        root = _tree(mathml(Symbol("p_1") ** 2))
        (node,) = root.iter("msubsup")
        assert [c.text for c in node] == ["p", "1", "2"]

    def test_a_product_has_its_limits_under_and_over(self):
        k, K = sympy.symbols("k K", integer=True)
        (under,) = _tree(mathml(Product(IndexedBase("x")[k], (k, 1, K)))).iter("munderover")
        assert under[0].text == "∏" and under[2].text == "K"

    def test_a_hat_name_is_an_accent(self):
        root = _tree(mathml(Symbol("yhat_i")))
        (over,) = root.iter("mover")
        assert [c.text for c in over] == ["y", "^"] and over.get("accent") == "true"

    def test_self_information_and_trace_print_as_their_latex(self):
        from derive.information import SelfInfo

        out = mathml(SelfInfo(Symbol("u")) + sympy.Trace(sympy.MatrixSymbol("A", 2, 2)))
        texts = [el.text for el in _tree(out).iter("mi")]
        assert "I" in texts and "tr" in texts and "SelfInfo" not in texts

    def test_no_derivation_expression_falls_back_to_a_class_name(self):
        # SymPy prints a class it does not know as <mi>name</mi>(args): Product did
        fallback = {"product", "sum", "limit", "subs", "selfinfo", "sigmoid", "expm1mx",
                    "logsumexp", "quadform", "gaussianexpectation", "_hessian", "_l3",
                    "kroneckerdelta", "phat", "yhat"}
        for e in _all_expressions():
            for el in _tree(mathml(e)).iter("mi"):
                assert (el.text or "").lower() not in fallback, (e, el.text)

    def test_a_continuation_line_starts_with_its_relation(self):
        root = _tree(mathml_relation(None, "<=", Symbol("x")))
        assert [el.text for el in root.iter("mo")] == ["≤"]

    def test_an_unknown_relation_is_refused(self):
        with pytest.raises(ValueError, match="rel"):
            mathml_relation(None, "~", Symbol("x"))

    def test_text_is_refused(self):
        with pytest.raises(TypeError, match="e"):
            mathml("x + 1")


class _Nesting(HTMLParser):
    """Every non-void element closed in order; records hrefs and srcs."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.refs: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.refs += [a[k] for k in ("href", "src") if k in a]
        if "id" in a:
            self.ids.add(a["id"])
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.stack.pop()

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()


def _parse(text: str) -> _Nesting:
    p = _Nesting()
    p.feed(text)
    p.close()
    return p


def _pages(built: Path) -> list[Path]:
    return sorted(built.glob("*.html"))


class TestWriteSite:
    def test_writes_an_index_a_page_per_derivation_the_css_and_the_picture(self, built):
        assert {p.name for p in _pages(built)} == {"index.html", *(f"{n}.html" for n in PAGES)}
        assert (built / "style.css").is_file()
        assert (built / "img" / "gaussian-kl.svg").is_file()

    def test_every_page_nests_correctly(self, built):
        for p in _pages(built):
            parsed = _parse(p.read_text(encoding="utf-8"))
            assert parsed.errors == [], (p.name, parsed.errors[:3])
            assert parsed.stack == [], (p.name, parsed.stack)

    def test_every_math_element_parses_as_xml(self, built):
        count = 0
        for p in _pages(built):
            for block in MATH_BLOCK.findall(p.read_text(encoding="utf-8")):
                _tree(block)
                count += 1
        assert count > 50

    def test_every_link_resolves(self, built):
        for p in _pages(built):
            parsed = _parse(p.read_text(encoding="utf-8"))
            for ref in parsed.refs:
                path, _, frag = ref.partition("#")
                target = built / path if path else p
                assert target.is_file(), (p.name, ref)
                if frag:
                    assert frag in _parse(target.read_text(encoding="utf-8")).ids, (p.name, ref)

    def test_nothing_is_fetched_and_nothing_runs(self, built):
        for p in [*_pages(built), built / "style.css"]:
            text = p.read_text(encoding="utf-8")
            assert "<script" not in text.lower()
            assert not re.search(r"(?:href|src)=\"(?:https?:)?//", text), p.name
            assert "@import" not in text and "url(" not in text
            assert not re.search(r"\son[a-z]+=", text), p.name

    def test_a_step_says_how_it_was_checked(self, built):
        text = (built / "softmax-ce-gradient.html").read_text(encoding="utf-8")
        assert text.count('class="checked"') == len(get("softmax-ce-gradient").steps) + 1
        assert "proved symbolically" in text

    def test_the_exports_are_shown_in_python_and_c(self, built):
        text = (built / "gaussian-kl.html").read_text(encoding="utf-8")
        assert 'class="language-python"' in text and 'class="language-c"' in text

    def test_a_derivation_outside_the_selection_is_named_not_linked(self, built):
        text = (built / "distillation-gradient.html").read_text(encoding="utf-8")
        assert "<code>temperature-softmax-gradient</code>" in text
        assert 'href="temperature-softmax-gradient.html"' not in text

    def test_an_unknown_selection_is_refused(self, tmp_path):
        with pytest.raises(ValueError, match="selected"):
            site.write_site(tmp_path, ["no-such-derivation"])

    def test_a_str_folder_is_refused(self):
        with pytest.raises(TypeError, match="out"):
            site.write_site("site", PAGES)


class TestPage:
    def test_hostile_names_and_prose_are_escaped(self):
        x = Symbol(HOSTILE)
        d = Derivation(name="hostile", title=HOSTILE, statement=HOSTILE, topic="test",
                       steps=[Step(Eq(Function("f")(x), x + 1), HOSTILE)],
                       result=Eq(Function("f")(x), x + 1), domains={})
        data = proofs.Collected(d, (), None, None, (), False)
        text = site.page("hostile", data, linked=())
        assert "<script" not in text
        assert text.count("&lt;script&gt;") >= 4
        parsed = _parse(text)
        assert parsed.errors == [] and parsed.stack == []
        for block in MATH_BLOCK.findall(text):
            _tree(block)


    def test_a_definition_is_shown_with_colon_equals_and_its_note(self):
        x, a = Symbol("x"), Symbol("a")
        d = Derivation(name="defs", title="defs", statement="s", topic="test",
                       steps=[Step(Eq(a, x + 1), "definition of a")], result=Eq(a, x + 1),
                       domains={}, definitions=[Definition(a, x + 1, "the <shift>")])
        text = site.page("defs", proofs.Collected(d, (), None, None, (), False), linked=())
        (item,) = re.findall(r"<h2>Definitions</h2>\n<ul>\n<li>(.*?)</li>", text)
        assert "<mo>≔</mo>" in item and "the &lt;shift&gt;" in item


    def test_code_spans_and_one_point_read_as_prose(self):
        x, a = Symbol("x"), Symbol("a")
        reason = "as in `other-name`, not `<b>`"
        d = Derivation(name="prose", title="prose", statement="s", topic="test",
                       steps=[Step(Eq(a, x + 1), reason)], result=Eq(a, x + 1), domains={})
        one = StepReport(index=1, symbolic=False, points=1, max_rel_diff=0.0, seconds=0.0,
                         checked_by="sampled", how="not proved: no counterexample")
        text = site.page("prose", proofs.Collected(d, (one,), None, None, (), False), linked=())
        assert "as in <code>other-name</code>, not <code>&lt;b&gt;</code>" in text
        assert "; checked numerically at 1 point;" in text


class TestCli:
    def test_html_into_a_file_is_a_user_error(self, tmp_path, capsys):
        f = tmp_path / "file"
        f.write_text("", encoding="utf-8")
        assert main(["proofs", "--html", str(f)]) == 2
        assert "--html" in capsys.readouterr().err

    def test_html_with_check_is_a_user_error(self, tmp_path, capsys):
        assert main(["proofs", "--html", str(tmp_path), "--check"]) == 2
        assert "--html" in capsys.readouterr().err


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync")


def _chromium(profile: Path, *args: str) -> str:
    res = subprocess.run([CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
                         capture_output=True, text=True, timeout=300, check=False)
    assert res.returncode == 0, res.stderr[-2000:]
    return res.stdout


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (Debian: chromium)")
class TestChromium:
    @pytest.mark.parametrize("page", ["index", *PAGES])
    def test_the_page_renders_with_maths_and_no_mathml_error(self, built, tmp_path, page):
        mpimg = pytest.importorskip("matplotlib.image")
        np = pytest.importorskip("numpy")
        url = (built / f"{page}.html").as_uri()
        png = tmp_path / "shot.png"
        _chromium(tmp_path / "profile", f"--screenshot={png}", "--window-size=1200,1600", url)
        pixels = mpimg.imread(png)
        flat = pixels.reshape(-1, pixels.shape[-1])
        colours = np.unique(flat, axis=0)
        # text, rules and anti-aliased glyphs: a blank or failed page has one or two colours
        assert len(colours) > 32, f"{page}: {len(colours)} distinct colours"
        ink = np.any(flat[:, :3] < 0.5, axis=1).mean()  # dark pixels: text and formulas
        assert ink > 0.005, f"{page}: {ink:.4f} of the pixels are dark"
        dom = _chromium(tmp_path / "profile", "--dump-dom", url)
        source = (built / f"{page}.html").read_text(encoding="utf-8")
        assert "<merror" not in dom
        assert dom.count("<math") == source.count("<math")
        for block in MATH_BLOCK.findall(dom):
            assert "error" not in block.lower()
        assert "<title>" in dom and "</main>" in dom
