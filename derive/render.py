"""Render a :class:`~derive.core.Derivation` as plain text, Markdown or LaTeX.

* **text** — one line of Unicode per step, for the terminal (σ(z), Σ_{k=1..K} y_k, z_i,
  ∂L/∂z_i, x²);
* **markdown** — GitHub-flavoured, math in ``$$ … $$`` blocks (which GitHub renders),
  numbered steps, each with its reason and what it relies on;
* **latex** — an ``align*`` body with each reason as an ``\\intertext``; ``standalone=True``
  wraps it in a complete document that compiles with ``pdflatex``.

Once the derivation has been verified (:meth:`~derive.core.Derivation.verify` stores its
reports), each step and the result also say how they were checked — the report's ``how``:
"proved symbolically", "proved by interval arithmetic on [box]" or "not proved: no
counterexample in N evaluations and a search of M starts".  Without a verification (or after
the steps changed) nothing is said about how a step was checked.

Output is deterministic: it depends only on the derivation (and its reports), never on time
or machine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sympy
from sympy.core.function import AppliedUndef
from sympy.printing.precedence import PRECEDENCE
from sympy.printing.str import StrPrinter

from derive._inputs import require_expr
from derive._texnames import SafeLatexPrinter
from derive.core import Assumption, Definition, EarlierResult, Identity
from derive.functions import logsumexp

if TYPE_CHECKING:
    from derive.core import Derivation, Reliance, Step, StepReport

__all__ = ["how_checked", "latex", "step_reports", "to_latex", "to_markdown", "to_text"]

_ADD_PREC = PRECEDENCE["Add"]
_MUL_PREC = PRECEDENCE["Mul"]
_POW_PREC = PRECEDENCE["Pow"]
_LATEX_REL = {"=": "=", "<=": r"\le", ">=": r"\ge", "<": "<", ">": ">"}
_TEXT_REL = {"=": "=", "<=": "≤", ">=": "≥", "<": "<", ">": ">"}
_REL_OF = {sympy.Eq: "=", sympy.Le: "<=", sympy.Ge: ">=", sympy.Lt: "<", sympy.Gt: ">"}


def latex(e: sympy.Basic) -> str:
    """LaTeX for an expression or relation (relations as ``lhs = rhs``, never evaluated).

    Names that are not in the safe grammar of :mod:`derive._texnames` (a symbol named
    ``\\input{…}``) are printed as escaped literal text, never as markup; a ``str`` is
    refused with a ``TypeError``.
    """
    e = require_expr(e, "e", numbers_ok=True)
    if isinstance(e, sympy.core.relational.Relational):
        op = _LATEX_REL[_REL_OF[type(e)]]
        return f"{latex(e.lhs)} {op} {latex(e.rhs)}"
    return SafeLatexPrinter({"ln_notation": False, "mul_symbol": None}).doprint(e)


_SUPERSCRIPT = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")
_SUBSCRIPT = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")
_GREEK_NAMES = {
    "alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ", "epsilon": "ε", "zeta": "ζ",
    "eta": "η", "theta": "θ", "kappa": "κ", "lambda": "λ", "mu": "μ", "nu": "ν", "xi": "ξ",
    "pi": "π", "rho": "ρ", "sigma": "σ", "tau": "τ", "phi": "φ", "chi": "χ", "psi": "ψ",
    "omega": "ω", "ell": "ℓ", "Gamma": "Γ", "Delta": "Δ", "Theta": "Θ", "Lambda": "Λ",
    "Sigma": "Σ", "Phi": "Φ", "Psi": "Ψ", "Omega": "Ω",
}


def _printable(name: str) -> str:
    """A name for one line of text: control characters (a newline) as ``\\x0a``."""
    if name.isprintable():
        return name
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in name)


class _TextPrinter(StrPrinter):
    """One-line Unicode for the terminal: σ(z), Σ_{k=1..K} f, z_i, x², ∂L/∂z_i, δ_{i,k}.

    Sums and products carry their index ranges; a sum inside a product or a power is
    parenthesised, so ``(Σ_{i=1..n} x_i)/n`` is never ambiguous."""

    printmethod = "_lossproof_text"  # not the classes' own _sympystr (the code-like forms)

    def parenthesize(self, item, level, strict=False):
        if (isinstance(item, (sympy.Sum, sympy.Product, logsumexp, sympy.Integral))
                and level >= _ADD_PREC):
            return f"({self._print(item)})"
        return super().parenthesize(item, level, strict)

    def _print_Symbol(self, expr):
        name = _printable(expr.name)
        base = name.rstrip("0123456789")
        digits = name[len(base):]
        if digits and base.endswith("_"):  # y_1 -> y₁
            base = base[:-1]
        base = _GREEK_NAMES.get(base, base)
        return base + digits.translate(_SUBSCRIPT)

    _print_Dummy = _print_Symbol

    def _print_Idx(self, expr):
        return self._print(expr.label)

    def _print_IndexedBase(self, expr):
        return self._print(expr.label)

    def _print_Indexed(self, expr):
        base = self._print(expr.base)
        idx = [self._print(i) for i in expr.indices]
        if len(idx) == 1 and len(idx[0]) == 1:
            return f"{base}_{idx[0]}"
        return f"{base}_{{{','.join(idx)}}}"

    def _limits(self, sign, limits):
        return " ".join(f"{sign}_{{{self._print(k)}={self._print(lo)}..{self._print(hi)}}}"
                        for k, lo, hi in reversed(limits))

    def _body(self, f):
        return self.parenthesize(f, _MUL_PREC, strict=True)

    def _print_Sum(self, expr):
        return f"{self._limits('Σ', expr.limits)} {self._body(expr.function)}"

    def _print_Product(self, expr):
        return f"{self._limits('Π', expr.limits)} {self._body(expr.function)}"

    def _print_logsumexp(self, expr):
        return (f"log {self._limits('Σ', expr.limits)} "
                f"exp({self._print(expr.function)})")

    def _print_sigmoid(self, expr):
        return f"σ({self._print(expr.args[0])})"

    def _print_Function(self, expr):
        if isinstance(expr, AppliedUndef):  # ell(μ, σ) -> ℓ(μ, σ)
            name = _printable(_GREEK_NAMES.get(expr.func.__name__, expr.func.__name__))
            return f"{name}({', '.join(self._print(a) for a in expr.args)})"
        return super()._print_Function(expr)

    def _print_expm1mx(self, expr):
        return f"φ({self._print(expr.args[0])})"

    def _print_KroneckerDelta(self, expr):
        return f"δ_{{{self._print(expr.args[0])},{self._print(expr.args[1])}}}"

    def _print_Pi(self, expr):
        return "π"

    def _print_Exp1(self, expr):
        return "e"

    def _print_Infinity(self, expr):
        return "∞"

    def _print_NegativeInfinity(self, expr):
        return "-∞"

    def _print_Pow(self, expr, rational=False):
        b, x = expr.args
        if x == sympy.S.Half:
            return f"√({self._print(b)})"
        if x.is_Integer and x > 1:
            return self.parenthesize(b, _POW_PREC, strict=True) + str(x).translate(_SUPERSCRIPT)
        if x.is_number and x.is_negative:  # 1/b, 1/√b, 1/b²: StrPrinter writes the quotient
            return super()._print_Pow(expr, rational)
        return (f"{self.parenthesize(b, _POW_PREC, strict=True)}"
                f"^{self.parenthesize(x, _POW_PREC, strict=True)}")

    def _print_Derivative(self, expr):
        f = self._print(expr.expr)
        if not isinstance(expr.expr, (sympy.Symbol, sympy.Indexed, sympy.Function)):
            f = f"({f})"
        order = sum(n for _, n in expr.variable_count)
        top = "∂" if order == 1 else f"∂{str(order).translate(_SUPERSCRIPT)}"
        bottom = "".join(
            f"∂{self._print(v)}" + (str(n).translate(_SUPERSCRIPT) if n > 1 else "")
            for v, n in expr.variable_count)
        return f"{top}{f}/{bottom}"

    def _print_Equality(self, expr):
        return f"{self._print(expr.lhs)} = {self._print(expr.rhs)}"

    def _print_And(self, expr):
        return " and ".join(self._print(a) for a in expr.args)

    def _print_Mul(self, expr):
        return super()._print_Mul(expr).replace("*", "·")

    def _print_MatrixBase(self, expr):
        rows = ("[" + ", ".join(self._print(x) for x in expr.row(r)) + "]"
                for r in range(expr.rows))
        return "[" + ", ".join(rows) + "]"

    _print_ImmutableDenseMatrix = _print_MatrixBase
    _print_MutableDenseMatrix = _print_MatrixBase

    def _print_MatMul(self, expr):
        args = list(expr.args)
        sign = ""
        if args[0] == -1:
            sign, args = "-", args[1:]
        return sign + "·".join(self.parenthesize(a, _MUL_PREC, strict=False) for a in args)

    def _print_MatPow(self, expr):
        b, x = expr.args
        base = self.parenthesize(b, _POW_PREC, strict=True)
        if x.is_Integer:
            return base + str(x).translate(_SUPERSCRIPT)
        return f"{base}^({self._print(x)})"

    def _print_Inverse(self, expr):
        return self.parenthesize(expr.arg, _POW_PREC, strict=True) + "⁻¹"

    def _print_MatrixSymbol(self, expr):
        return self._print_Symbol(expr)

    def _print_Transpose(self, expr):
        return self.parenthesize(expr.arg, _POW_PREC, strict=True) + "ᵀ"

    def _print_Determinant(self, expr):
        return f"det({self._print(expr.arg)})"

    def _print_Trace(self, expr):
        return f"tr({self._print(expr.arg)})"

    def _print_Integral(self, expr):
        out = self._print(expr.function)
        if isinstance(expr.function, sympy.Add):
            out = f"({out})"
        for lim in expr.limits:
            x = self._print(lim[0])
            rng = f"_{{{self._print(lim[1])}..{self._print(lim[2])}}}" if len(lim) == 3 else ""
            out = f"∫{rng} {out} d{x}"
        return out


def _text(e: sympy.Basic) -> str:
    if isinstance(e, sympy.core.relational.Relational):
        op = _TEXT_REL[_REL_OF[type(e)]]
        return f"{_text(e.lhs)} {op} {_text(e.rhs)}"
    return _TextPrinter().doprint(e)


def _reliance_md(r: Reliance) -> str:
    if isinstance(r, Assumption):
        return f"assumption *{r.name}*: ${latex(r.statement)}$"
    if isinstance(r, Identity):
        return f"identity *{r.name}*: ${latex(r.statement)}$"
    if isinstance(r, Definition):
        return f"definition ${latex(r.symbol)} := {latex(r.expr)}$"
    if isinstance(r, EarlierResult):
        return f"the result of [`{r.name}`]({r.name}.md)"
    return str(r)


def _reliance_text(r: Reliance) -> str:
    if isinstance(r, Assumption):
        return f"assumption {r.name}: {_text(r.statement)}"
    if isinstance(r, Identity):
        return f"identity {r.name}: {_text(r.statement)}"
    if isinstance(r, Definition):
        return f"definition {_text(r.symbol)} := {_text(r.expr)}"
    if isinstance(r, EarlierResult):
        return f"the result of {r.name}"
    return str(r)


def _reliance_latex(r: Reliance) -> str:
    if isinstance(r, Assumption):
        return rf"assumption \emph{{{_tex_escape(r.name)}}}: ${latex(r.statement)}$"
    if isinstance(r, Identity):
        return rf"identity \emph{{{_tex_escape(r.name)}}}: ${latex(r.statement)}$"
    if isinstance(r, Definition):
        return rf"definition ${latex(r.symbol)} := {latex(r.expr)}$"
    if isinstance(r, EarlierResult):
        return rf"the result of \texttt{{{_tex_escape(r.name)}}}"
    return _tex_escape(str(r))


def _greek() -> dict[str, str]:
    import unicodedata

    out = {}
    for code in range(0x391, 0x3CA):
        name = unicodedata.name(chr(code), "")
        if not name.startswith("GREEK") or "FINAL" in name:
            continue
        word = name.split()[-1].lower()
        word = {"lamda": "lambda", "epsilon": "epsilon", "omicron": "o"}.get(word, word)
        if "CAPITAL" in name:
            word = word.capitalize()
            if word not in ("Gamma", "Delta", "Theta", "Lambda", "Xi", "Pi", "Sigma",
                            "Upsilon", "Phi", "Psi", "Omega"):
                out[chr(code)] = unicodedata.name(chr(code)).split()[-1][0]  # Alpha -> A
                continue
        elif word == "o":
            out[chr(code)] = "o"
            continue
        out[chr(code)] = rf"\ensuremath{{\{word}}}"
    out["φ"] = r"\ensuremath{\varphi}"  # as SymPy prints the lossproof function phi
    return out


#: Unicode that reasons and statements use, as LaTeX that pdflatex compiles (text or math).
_UNICODE_TEX = {
    **_greek(),
    "−": r"\ensuremath{-}", "–": "--", "—": "---", "…": r"\ldots{}", "·": r"\ensuremath{\cdot}",
    "×": r"\ensuremath{\times}", "±": r"\ensuremath{\pm}", "‖": r"\ensuremath{\|}",
    "→": r"\ensuremath{\to}", "←": r"\ensuremath{\leftarrow}",
    "⇒": r"\ensuremath{\Rightarrow}", "↔": r"\ensuremath{\leftrightarrow}",
    "∂": r"\ensuremath{\partial}", "∇": r"\ensuremath{\nabla}",
    "∈": r"\ensuremath{\in}", "√": r"\ensuremath{\surd}", "∞": r"\ensuremath{\infty}",
    "∫": r"\ensuremath{\int}", "∑": r"\ensuremath{\sum}", "∏": r"\ensuremath{\prod}",
    "≈": r"\ensuremath{\approx}", "≠": r"\ensuremath{\neq}", "≤": r"\ensuremath{\le}",
    "≥": r"\ensuremath{\ge}", "≡": r"\ensuremath{\equiv}", "∝": r"\ensuremath{\propto}",
    "⊗": r"\ensuremath{\otimes}", "∘": r"\ensuremath{\circ}", "ℓ": r"\ensuremath{\ell}",
    "½": r"\ensuremath{\tfrac{1}{2}}", "ᵀ": r"\ensuremath{^{T}}", "⁻": r"\ensuremath{^{-}}",
    "⁺": r"\ensuremath{^{+}}", "¹": r"\ensuremath{^{1}}", "²": r"\ensuremath{^{2}}",
    "³": r"\ensuremath{^{3}}",
    **{chr(0x2080 + d): rf"\ensuremath{{_{{{d}}}}}" for d in range(10)},  # subscript digits
    "ŷ": r"\ensuremath{\hat{y}}", "′": r"\ensuremath{'}", "″": r"\ensuremath{''}",
    "’": "'", "‘": "`", "“": "``", "”": "''",
}
_COMBINING_HAT = "\u0302"


def _tex_escape(s: str, *, unicode: bool = True) -> str:
    """``s`` as LaTeX text: special characters escaped and (``unicode=True``) the Unicode
    math symbols of reasons (−, ≥, ‖, σ, ₂, p̂ …) written as LaTeX, so that pdflatex
    compiles the document.  (MathJax shows Unicode as it is: notebook display keeps it.)"""
    out: list[str] = []
    for ch in s:
        if ch in "&%$#_{}":
            out.append("\\" + ch)
        elif ch == "~":
            out.append(r"\textasciitilde{}")
        elif ch == "^":
            out.append(r"\textasciicircum{}")
        elif ch == "\\":
            out.append(r"\textbackslash{}")
        elif not ch.isprintable():  # a newline or other control character: one space
            out.append(" ")
        elif unicode and ch == _COMBINING_HAT and out:
            out[-1] = rf"\ensuremath{{\hat{{{out[-1]}}}}}"
        elif unicode and ch in _UNICODE_TEX:
            out.append(_UNICODE_TEX[ch])
        else:
            out.append(ch)
    return "".join(out)


def _step_parts(step: Step) -> tuple[str | None, str, str]:
    """(lhs or None for a continuation, relation symbol key, rhs) of a step."""
    if step.starts_line:
        return step.expr.lhs, _REL_OF[type(step.expr)], step.expr.rhs
    return None, step.relation, step.expr


def step_reports(d: Derivation) -> dict[int, StepReport]:
    """Claim index -> the report of ``d``'s latest verification; ``{}`` when it has none.

    A derivation that was never verified, or whose steps were changed since (the reports
    no longer number its claims ``1 … len(steps) + 1``), gets no per-step statement: the
    renderers then say nothing about how a step was checked rather than something false."""
    reports = list(d.reports)
    if [r.index for r in reports] != list(range(1, len(d.steps) + 2)):
        return {}
    return {r.index: r for r in reports}


def how_checked(report: StepReport) -> str:
    """How one claim was established, in words: the report's ``how`` ("proved
    symbolically", "proved by interval arithmetic on [0.5, 3.0] (21 boxes)", "not proved:
    no counterexample in … evaluations and a search of … starts"), or "definition"."""
    return "definition" if report.definition else report.how


def _check_line(d: Derivation) -> str | None:
    if not d.reports:
        return None
    sym = sum(1 for r in d.reports if r.symbolic)
    pts = max(r.points for r in d.reports)
    return (
        f"{len(d.reports)} claims checked ({len(d.steps)} steps and the result): "
        f"{sym} symbolically and all numerically with mpmath at {pts} points each."
    )


# ------------------------------------------------------------------------------ text


def to_text(d: Derivation) -> str:
    """One line of Unicode per step, with its reason, what it relies on and (when ``d`` has
    been verified) how it was checked."""
    checked = step_reports(d)
    lines = [d.title, "=" * len(d.title), "", d.statement, ""]
    if d.assumptions():
        lines.append("Assumptions:")
        lines += [f"  - {_reliance_text(a)}" for a in d.assumptions()]
        lines.append("")
    if d.definitions:
        lines.append("Definitions:")
        lines += [f"  - {_text(df.symbol)} := {_text(df.expr)}" for df in d.definitions]
        lines.append("")
    for i, step in enumerate(d.steps, start=1):
        lhs, rel, rhs = _step_parts(step)
        head = f"({i}) "
        if lhs is None:
            lines.append(f"{head}    {_TEXT_REL[rel]} {_text(rhs)}")
        else:
            lines.append(f"{head}{_text(lhs)} {_TEXT_REL[rel]} {_text(rhs)}")
        lines.append(f"      because: {step.reason}")
        for r in step.relies_on:
            lines.append(f"      relies on: {_reliance_text(r)}")
        if i in checked:
            lines.append(f"      checked: {how_checked(checked[i])}")
    lines += ["", f"Result: {_text(d.result)}"]
    if len(d.steps) + 1 in checked:
        lines.append(f"      checked: {how_checked(checked[len(d.steps) + 1])}")
    check = _check_line(d)
    if check:
        lines += ["", check]
    return "\n".join(lines) + "\n"


# -------------------------------------------------------------------------- markdown


def to_markdown(d: Derivation, *, heading_level: int = 1, per_step: bool = True) -> str:
    """GitHub Markdown of ``d``.  When ``d`` has been verified, each step and the result say
    how they were checked (``per_step=False`` leaves that to the caller: the proof documents
    of :mod:`derive.proofs` show it in their own table)."""
    h = "#" * heading_level
    checked = step_reports(d) if per_step else {}
    out = [f"{h} {d.title}", "", f"**Statement.** {d.statement}", ""]
    if d.assumptions():
        out.append("**Assumptions.**")
        out.append("")
        out += [f"- {_reliance_md(a)}" for a in d.assumptions()]
        out.append("")
    if d.definitions:
        out.append("**Definitions.**")
        out.append("")
        out += [f"- ${latex(df.symbol)} := {latex(df.expr)}$" for df in d.definitions]
        out.append("")
    out += [f"{h}# Derivation", ""]
    for i, step in enumerate(d.steps, start=1):
        lhs, rel, rhs = _step_parts(step)
        body = latex(rhs)
        math = f"{_LATEX_REL[rel]} {body}"
        if lhs is not None:
            math = f"{latex(lhs)} {math}"
        out += [f"**Step {i}.** {step.reason}", "", "$$", math, "$$", ""]
        if step.relies_on:
            out.append("Relies on: " + "; ".join(_reliance_md(r) for r in step.relies_on) + ".")
            out.append("")
        if i in checked:
            out += [f"*Checked:* {how_checked(checked[i])}.", ""]
    out += [f"{h}# Result", "", "$$", latex(d.result), "$$", ""]
    if len(d.steps) + 1 in checked:
        out += [f"*Checked:* {how_checked(checked[len(d.steps) + 1])}.", ""]
    if d.notes:
        out += [d.notes, ""]
    check = _check_line(d)
    if check:
        out += [f"*Checked:* {check}", ""]
    return "\n".join(out)


# ----------------------------------------------------------------------------- latex

#: Longest LaTeX source (in characters) of one displayed line before it is broken.
LINE_LIMIT = 80


def _terms(e: sympy.Basic) -> list[tuple[str, str]]:
    """``e`` as signed terms ``[("+", tex), ("-", tex), ...]`` (nested sums flattened)."""
    if not isinstance(e, sympy.Add):
        return [("+", latex(e))]
    printer = SafeLatexPrinter({"ln_notation": False})
    out = []
    for t in printer._as_ordered_terms(e, order=None):
        if isinstance(t, sympy.Add):
            out += _terms(t)
        elif t.could_extract_minus_sign():
            neg = -t
            if isinstance(neg, sympy.Add):  # -(a + b): flip every inner sign
                out += [("-" if s == "+" else "+", tex) for s, tex in _terms(neg)]
            else:
                out.append(("-", latex(neg)))
        else:
            out.append(("+", latex(t)))
    return out


def _broken(left: str, rel_tex: str, rhs: sympy.Basic) -> list[str]:
    """Rows ``left &rel …`` for ``align*``, breaking a long sum after whole terms."""
    whole = latex(rhs)
    if len(whole) <= LINE_LIMIT or not isinstance(rhs, sympy.Add):
        return [f"{left} &{rel_tex} {whole}"]
    rows, current = [], ""
    for sign, tex in _terms(rhs):
        piece = (f"{'-' if sign == '-' else ''}{tex}" if not current and not rows
                 else f" {sign} {tex}")
        if current and len(current) + len(piece) > LINE_LIMIT:
            rows.append(current)
            current = piece.lstrip()
        else:
            current += piece
    rows.append(current)
    first = f"{left} &{rel_tex} {rows[0]}"
    rest = [rf"&\phantom{{{rel_tex}}}\quad {row}" for row in rows[1:]]
    return [first, *rest]


def _latex_checked(report: StepReport | None) -> str:
    """How a claim was checked, for the end of its ``\\intertext``: a compact
    "(proved symbolically)" or, for a step not proved symbolically, a line of its own."""
    if report is None:
        return ""
    how = _tex_escape(how_checked(report))
    if report.checked_by == "symbolic":
        return rf" \textit{{({how})}}"
    return rf"\newline\textit{{(checked: {how})}}"


def to_latex(d: Derivation, *, standalone: bool = False, display: bool = False) -> str:
    """The derivation as an ``align*`` environment (or a whole document).

    ``display=True`` gives an ``aligned`` block for notebook display inside ``$$``.
    """
    checked = step_reports(d)
    rows = []
    for i, step in enumerate(d.steps, start=1):
        lhs, rel, rhs = _step_parts(step)
        left = "" if lhs is None else latex(lhs)
        if display:
            row = f"{left} &{_LATEX_REL[rel]} {latex(rhs)}"
            note = f" ({how_checked(checked[i])})" if i in checked else ""
            why = _tex_escape(step.reason + note, unicode=False)
            rows.append(rf"{row} && \text{{({i}) {why}}}")
        else:
            why = _tex_escape(step.reason)
            if step.relies_on:
                why += "; relies on " + "; ".join(_reliance_latex(r) for r in step.relies_on)
            lines = " \\\\\n".join(_broken(left, _LATEX_REL[rel], rhs))
            why += _latex_checked(checked.get(i))
            rows.append(rf"\intertext{{({i}) {why}:}}" + "\n" + lines)
    if display:
        return "\\begin{aligned}\n" + " \\\\\n".join(rows) + "\n\\end{aligned}"
    body = "\\begin{align*}\n" + " \\\\\n".join(rows) + "\n\\end{align*}\n"
    if not standalone:
        return body
    return (
        "\\documentclass[11pt]{article}\n"
        "\\usepackage[margin=2cm]{geometry}\n"
        "\\usepackage{amsmath,amssymb}\n"
        "\\allowdisplaybreaks\n"
        # reasons with inline formulas (relies on identity ...: $...$) break only at
        # relations and operators; let TeX stretch such a line rather than overflow it
        "\\emergencystretch=3em\n"
        f"\\title{{{_tex_escape(d.title)}}}\n"
        "\\date{}\n"
        "\\begin{document}\n"
        "\\maketitle\n"
        f"\\noindent\\textbf{{Statement.}} {_tex_escape(d.statement)}\n\n"
        + body
        + f"\\noindent\\textbf{{Result.}}{_latex_checked(checked.get(len(d.steps) + 1))}\n"
        f"\\[\n{latex(d.result)}\n\\]\n"
        "\\end{document}\n"
    )
