"""MathML Core for the proofs site: SymPy's presentation printer, escaped, with our functions.

SymPy's :class:`~sympy.printing.mathml.MathMLPresentationPrinter` writes every text node
*unescaped* (so that its entity strings such as ``&#x2211;`` survive): a symbol named
``<script>`` becomes markup.  :class:`SafeMathMLPrinter` makes every text node a real,
escaped XML text node, turning SymPy's own entity strings into the characters they name
first (``&dd;`` and ``&ExponentialE;``, which XML does not define, become ``d`` and ``e``).
A name therefore always reaches the page as text, whatever its characters.

The primitives of :mod:`derive.functions` and the quantities of :mod:`derive.information`,
:mod:`derive.gaussian` and :mod:`derive.losses` print as their LaTeX does (σ(z), φ(u),
D_KL(p ‖ q), ∇²f, xᵀ Σ x …) instead of SymPy's default ``<mi>sigmoid</mi>``; derivatives
print as ∂f/∂x fractions.  The output uses only MathML Core elements.
"""

from __future__ import annotations

import html
import re
from xml.dom.minidom import Document

import sympy
from sympy.core.function import AppliedUndef
from sympy.printing.mathml import MathMLPresentationPrinter

from derive._inputs import require_expr

__all__ = ["SafeMathMLPrinter", "mathml", "mathml_relation"]

_ENTITY = re.compile(r"&(#x[0-9A-Fa-f]+|#[0-9]+|[A-Za-z]+);?")
#: SymPy's named entities that XML lacks, as the characters a reader expects.
_NAMED = {"dd": "d", "ExponentialE": "e", "ImaginaryI": "i", "InvisibleTimes": "\u2062",
          "pi": "π", "int": "∫"}
_REL = {sympy.Eq: "=", sympy.Le: "≤", sympy.Ge: "≥", sympy.Lt: "<", sympy.Gt: ">",
        sympy.Ne: "≠"}
#: Applied undefined functions of lossproof printed under another name (as their LaTeX).
_UNDEF_NAMES = {"SelfInfo": "I"}
_SEP = {" || ": "‖", " | ": "|", "; ": ";", ", ": ","}


def _plain(data: str) -> str:
    """A text node's characters: SymPy's entity strings decoded, anything else verbatim."""
    m = _ENTITY.fullmatch(data)
    if m is None:
        return data
    word = m.group(1)
    if word in _NAMED:
        return _NAMED[word]
    decoded = html.unescape(f"&{word};")
    return decoded if not decoded.startswith("&") else data


class SafeMathMLPrinter(MathMLPresentationPrinter):
    """Presentation MathML with escaped text and textbook forms of lossproof's functions."""

    printmethod = "_lossproof_mathml"  # no class defines it: the methods below decide

    def __init__(self, settings: dict | None = None) -> None:
        super().__init__(settings)
        dom = self.dom
        dom.createTextNode = lambda data: Document.createTextNode(dom, _plain(str(data)))

    def doprint(self, expr) -> str:
        holder = self.dom.createElement("mrow")
        holder.appendChild(self._print(expr))
        _polish(holder)
        return holder.firstChild.toxml().encode("ascii", "xmlcharrefreplace").decode()

    # ------------------------------------------------------------------ building blocks
    def _el(self, tag: str, *children, **attrs):
        node = self.dom.createElement(tag)
        for k, v in attrs.items():
            node.setAttribute(k, v)
        for c in children:
            node.appendChild(c)
        return node

    def _tok(self, tag: str, text: str):
        return self._el(tag, self.dom.createTextNode(text))

    def _row(self, *children):
        return self._el("mrow", *children)

    def _paren(self, *inner, left: str = "(", right: str = ")"):
        return self._row(self._tok("mo", left), *inner, self._tok("mo", right))

    def _joined(self, items, sep: str = ","):
        out = []
        for i, a in enumerate(items):
            if i:
                out.append(self._tok("mo", sep))
            out.append(self._print(a))
        return out

    def _call(self, head, args, sep: str = ","):
        return self._row(head, self._paren(*self._joined(args, sep)))

    def _name(self, name: str):
        """A function or quantity name (``D_KL``, ``L_MSE``, ``ell``) as SymPy prints a symbol."""
        return self._print(sympy.Symbol(name))

    # ------------------------------------------------------------------------- names
    def _print_Symbol(self, sym, style="plain"):
        if sym.name == "ell" or sym.name.startswith("ell_"):
            sym = sympy.Symbol("ℓ" + sym.name[3:])
        node = super()._print_Symbol(sym, style)
        return _accented(node) or node

    _print_Dummy = _print_Symbol

    def _print_Function(self, e):
        if isinstance(e, AppliedUndef) and hasattr(type(e), "_symbol") and len(e.args) > 1:
            *args, b = e.args  # information._Applied: H_b(p), I_b(u)
            head = self._el("msub", self._name(e._symbol), self._print(b))
            return self._call(head, args)
        if isinstance(e, AppliedUndef):  # SymPy dispatches these by AppliedUndef, not class
            name = _UNDEF_NAMES.get(type(e).__name__, e.func.__name__)
            return self._call(self._name(name), e.args)
        if hasattr(type(e), "_text") and hasattr(type(e), "_sep"):  # information._Quantity
            return self._call(self._name(type(e)._text), e.args, _SEP.get(e._sep, ","))
        return super()._print_Function(e)

    # ---------------------------------------------------------- lossproof's primitives
    def _print_sigmoid(self, e):
        return self._call(self._tok("mi", "σ"), e.args)

    def _print_expm1mx(self, e):
        return self._call(self._tok("mi", "φ"), e.args)

    def _named_call(self, e):
        return self._call(self._tok("mi", type(e).__name__), e.args)

    _print_softplus = _named_call
    _print_log1pmx = _named_call
    _print_xlogy = _named_call

    def _print_logratio(self, e):
        a, b = e.args
        frac = self._el("mfrac", self._print(a), self._print(b))
        return self._row(self._tok("mi", "log"), self._paren(frac))

    def _print_logsumexp(self, e):
        out = [self._tok("mi", "log")]
        for k, lo, hi in reversed(e.limits):
            low = self._row(self._print(k), self._tok("mo", "="), self._print(lo))
            out.append(self._el("munderover", self._tok("mo", "∑"), low, self._print(hi)))
        out.append(self._call(self._tok("mi", "exp"), [e.function]))
        return self._row(*out)

    def _print_Product(self, e):
        out = []
        for k, lo, hi in reversed(e.limits):
            low = self._row(self._print(k), self._tok("mo", "="), self._print(lo))
            out.append(self._el("munderover", self._tok("mo", "∏"), low, self._print(hi)))
        body = self._print(e.function)
        if isinstance(e.function, sympy.Add):
            body = self._paren(body)
        return self._row(*out, body)

    def _print_Trace(self, e):
        return self._call(self._tok("mi", "tr"), [e.arg])

    def _print_QuadForm(self, e):
        v, m = e.args
        vt = self._print(v)
        if isinstance(v, sympy.MatAdd | sympy.MatMul):
            vt = self._paren(vt)
        again = self._print(v) if not isinstance(v, sympy.MatAdd | sympy.MatMul) else \
            self._paren(self._print(v))
        return self._row(self._el("msup", vt, self._tok("mi", "T")), self._print(m), again)

    def _print_GaussianExpectation(self, e):
        g, xv, m, s = e.args
        normal = self._call(self._tok("mi", "𝒩"), [m, s])
        sub = self._row(self._print(xv), self._tok("mo", "∼"), normal)
        head = self._el("msub", self._tok("mi", "𝔼"), sub)
        return self._row(head, self._paren(self._print(g), left="[", right="]"))

    def _print__Hessian(self, e):
        nabla = self._el("msup", self._tok("mo", "∇"), self._tok("mn", "2"))
        return self._row(nabla, self._print(e.args[0]))

    def _print__L3(self, e):
        return self._el("msub", self._tok("mi", "L"), self._tok("mn", "3"))

    def _print_KroneckerDelta(self, e):
        idx = self._row(*self._joined(e.args))
        return self._el("msub", self._tok("mi", "δ"), idx)

    # -------------------------------------------------------------------- calculus
    def _print_Derivative(self, e):
        order = sum(int(n) for _, n in e.variable_count)
        top = self._tok("mo", "∂")
        if order > 1:
            top = self._el("msup", top, self._tok("mn", str(order)))
        bottom = []
        for v, n in e.variable_count:
            d = self._row(self._tok("mo", "∂"), self._print(v))
            bottom.append(d if n == 1 else self._el("msup", d, self._tok("mn", str(n))))
        body = self._print(e.expr)
        if not isinstance(e.expr, sympy.Symbol | sympy.Indexed | sympy.Function):
            body = self._paren(body)
        return self._row(self._el("mfrac", top, self._row(*bottom)), body)

    def _print_Limit(self, e):
        f, z, z0, _ = e.args
        under = self._row(self._print(z), self._tok("mo", "→"), self._print(z0))
        head = self._el("munder", self._tok("mo", "lim"), under)
        return self._row(head, self._paren(self._print(f)))

    def _print_Subs(self, e):
        f, old, new = e.args
        pairs = []
        for i, (o, n) in enumerate(zip(old, new, strict=True)):
            if i:
                pairs.append(self._tok("mo", ","))
            pairs += [self._print(o), self._tok("mo", "="), self._print(n)]
        bar = self._row(self._print(f), self._tok("mo", "|"))  # f|_{x=a}
        return self._el("msub", bar, self._row(*pairs))

    def _print_UnevaluatedExpr(self, e):
        return self._print(e.args[0])

    def _print_And(self, e):
        out = []
        for i, a in enumerate(e.args):
            if i:
                out.append(self._tok("mtext", "\u2003and\u2003"))
            out.append(self._print(a))
        return self._row(*out)

    def _print_Str(self, e):
        return self._tok("mi", e.name)


# (an accent's mover is not tall: p̂ in brackets keeps them at text height)
_TALL = frozenset({"mfrac", "munderover", "munder", "msubsup", "mtable", "msqrt"})


def _is_tall(node) -> bool:
    return any(c.nodeType == c.ELEMENT_NODE and (c.tagName in _TALL or _is_tall(c))
               for c in node.childNodes)


def _polish(node) -> None:
    """A minus sign as U+2212 (not the hyphen SymPy writes); brackets around content of one
    line's height not stretched (stretched, they are set apart from a function's name);
    a subscript and a superscript on one base as one ``msubsup`` (p₁² with the 2 above the
    1, not after it)."""
    if node.nodeType != node.ELEMENT_NODE:
        return
    for k in [c for c in node.childNodes if c.nodeType == c.ELEMENT_NODE]:
        _polish(k)
        merged = _merged_scripts(k)
        if merged is not None:
            node.replaceChild(merged, k)
    kids = [c for c in node.childNodes if c.nodeType == c.ELEMENT_NODE]
    text = node.firstChild.data if node.firstChild is not None and \
        node.firstChild.nodeType == node.TEXT_NODE else None
    if node.tagName in ("mo", "mn") and text is not None and text.startswith("-"):
        node.firstChild.data = "\u2212" + text[1:]
    if (node.tagName == "mrow" and len(kids) >= 2 and _fence(kids[0]) and _fence(kids[-1])
            and not _is_tall(node)):
        for k in (kids[0], kids[-1]):
            k.setAttribute("stretchy", "false")


def _merged_scripts(node):
    """``msup(msub(b, i), e)`` or ``msub(msup(b, e), i)`` as ``msubsup(b, i, e)``; else None."""
    if node.tagName not in ("msup", "msub"):
        return None
    kids = [c for c in node.childNodes if c.nodeType == c.ELEMENT_NODE]
    inner_tag = "msub" if node.tagName == "msup" else "msup"
    if len(kids) != 2 or kids[0].tagName != inner_tag:
        return None
    base, inner_script = [c for c in kids[0].childNodes if c.nodeType == c.ELEMENT_NODE]
    outer_script = kids[1]
    sub, sup = (inner_script, outer_script) if node.tagName == "msup" else \
        (outer_script, inner_script)
    out = node.ownerDocument.createElement("msubsup")
    for c in (base, sub, sup):
        out.appendChild(c)
    return out


_ACCENT = re.compile(r"(.+?)(hat|bar|tilde)\Z")
_ACCENT_MARK = {"hat": "^", "bar": "\u00af", "tilde": "~"}


def _accented(node):
    """``phat`` (SymPy's spelling of p̂, as its LaTeX printer reads it) as ``mover(p, ^)``:
    the first ``mi`` of a printed symbol whose name ends in hat/bar/tilde; None if none."""
    target = node if node.tagName == "mi" else next(
        (c for c in node.childNodes if c.nodeType == c.ELEMENT_NODE), None)
    if target is None or target.tagName != "mi" or target.firstChild is None:
        return None
    m = _ACCENT.fullmatch(target.firstChild.data)
    if m is None or len(m.group(1)) != 1:
        return None
    doc = node.ownerDocument
    base = doc.createElement("mi")
    base.appendChild(doc.createTextNode(m.group(1)))
    mark = doc.createElement("mo")
    mark.appendChild(doc.createTextNode(_ACCENT_MARK[m.group(2)]))
    over = doc.createElement("mover")
    over.setAttribute("accent", "true")
    over.appendChild(base)
    over.appendChild(mark)
    if target is node:
        return over
    node.replaceChild(over, target)
    return node


def _fence(node) -> bool:
    return (node.tagName == "mo" and node.firstChild is not None
            and node.firstChild.data in "()[]|" and len(node.firstChild.data) == 1)


def mathml(e: sympy.Basic) -> str:
    """``<math display="block">`` of an expression or relation (relations never evaluated)."""
    return _math(_inner(require_expr(e, "e", numbers_ok=True)))


def mathml_relation(lhs: sympy.Basic | None, rel: str, rhs: sympy.Basic) -> str:
    """A displayed step: ``lhs rel rhs``, or ``rel rhs`` for a continuation line
    (``rel`` one of ``=``, ``<=``, ``>=``, ``<``, ``>``, or ``:=`` for a definition)."""
    op = {"=": "=", "<=": "≤", ">=": "≥", "<": "&lt;", ">": "&gt;", ":=": "≔"}.get(rel)
    if op is None:
        raise ValueError(f"rel: expected one of =, <=, >=, <, >, :=, got {rel!r}")
    left = "" if lhs is None else _inner(lhs)
    return _math(f"{left}<mo>{op}</mo>{_inner(rhs)}")


def _inner(e: sympy.Basic) -> str:
    if isinstance(e, sympy.core.relational.Relational) and type(e) in _REL:
        op = html.escape(_REL[type(e)], quote=False)
        return f"{_inner(e.lhs)}<mo>{op}</mo>{_inner(e.rhs)}"
    return SafeMathMLPrinter({"ln_notation": False}).doprint(e)


def _math(body: str, display: str = "block") -> str:
    return f'<math display="{display}"><mrow>{body}</mrow></math>'
