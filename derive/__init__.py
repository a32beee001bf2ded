"""lossproof.derive — derivations of ML-loss information theory whose every step is checked.

Registry
--------
names()                     the registered derivation names (kebab-case, stable)
get(name) -> Derivation     a derivation: ``steps``, ``result``, ``verify()``, ``to_markdown()``,
                            ``to_latex()``, ``to_text()``, notebook display
meta(name)                  title, statement and topic without building it

Export (see ``derive.export``)
------------------------------
export(name, target="numpy") -> callable      the stable closed form as a function
                            (targets numpy, mpmath, jax, torch; ``dtype=``, ``naive=True``)
export_source(name, target) -> str            self-contained source (``python``, ``c``)
exportable(name) -> bool                      whether ``name``'s result can be exported
derive.rewrite              the stable rewrite rules (``RULES``), applied by ``stabilise``

Cross-checks
------------
derive.oracle               each derivation's *definition* in mpmath (sums, ``quad``, ``diff``,
                            maximisation) at >= 50 digits, never the derived closed form
derive.verify               ``lossproof verify``: steps, export, ``numeric`` and the naive
                            lambdify against the oracle at random and adversarial points
derive.proofs, derive.plot  the committed ``proofs/`` documents and their figures
derive.stepcache            the on-disk cache of step checks (keyed on the whole ``derive``
                            source, versions and settings; entries validated) and timings
derive.parallel             ``verify -j N``'s worker processes, stopped with the run

Checking other people's formulas
--------------------------------
derive.testing.assert_matches_reference(fn, name, grad=...)   a loss (and its gradient)
                            against the mpmath definition at adversarial points
derive.strategies           hypothesis strategies for logits, distributions, Gaussians
derive.audit                ``lossproof audit``: torch, jax/optax, scipy, scikit-learn

Building blocks (``derive.core``)
---------------------------------
Derivation, Step, Assumption, Identity, Definition, EarlierResult, DerivationError,
Interval, LogUniform, IntegerRange, VectorOf

SymPy functions (``derive.functions``)
--------------------------------------
sigmoid, softplus, expm1mx, log1pmx, xlogy, logratio, logsumexp

Text (``derive.parsing``)
-------------------------
parse(text, symbols=None) -> expression     arithmetic text read by a restricted parser
                            (numbers, names, + - * / **, whitelisted functions, y[k]);
                            it never evaluates the text.  Every other entry refuses a
                            ``str`` where SymPy would ``sympify`` (evaluate) it, with a
                            ``TypeError`` naming the argument
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from derive.core import (
        Assumption,
        Definition,
        Derivation,
        DerivationError,
        EarlierResult,
        Identity,
        IntegerRange,
        Interval,
        LogUniform,
        Step,
        VectorOf,
        get,
        meta,
        names,
        register,
    )

# The names of derive.core are loaded on first use (PEP 562), so that importing a light
# submodule — derive.testing, or the pytest plugin that every pytest run in an environment
# with lossproof loads — does not import SymPy.
_CORE = frozenset({
    "Assumption", "Definition", "Derivation", "DerivationError", "EarlierResult", "Identity",
    "IntegerRange", "Interval", "LogUniform", "Step", "VectorOf", "get", "meta", "names",
    "register",
})


def __getattr__(name: str) -> Any:
    if name in _CORE:
        from derive import core

        return getattr(core, name)
    raise AttributeError(f"module 'derive' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _CORE)


def export(name: str, target: str = "numpy", **options: Any) -> Callable[..., Any]:
    """The stable closed-form result of derivation ``name`` as a callable for ``target``."""
    from derive.export import export as _export

    return _export(name, target, **options)


def export_source(name: str, target: str = "python") -> str:
    """Self-contained source code of the stable result of ``name`` for ``target``."""
    from derive.export import export_source as _export_source

    return _export_source(name, target)


def parse(text: str, symbols: Mapping[str, Any] | None = None) -> Any:
    """The SymPy expression written in ``text``, read without evaluating it
    (see :func:`derive.parsing.parse`)."""
    from derive.parsing import parse as _parse

    return _parse(text, symbols)


def exportable(name: str) -> bool:
    """Whether the result of ``name`` is an equation that :func:`export` can turn into code."""
    from derive.export import exportable as _exportable

    return _exportable(name)


__all__ = [
    "Assumption",
    "Definition",
    "Derivation",
    "DerivationError",
    "EarlierResult",
    "Identity",
    "IntegerRange",
    "Interval",
    "LogUniform",
    "Step",
    "VectorOf",
    "export",
    "export_source",
    "exportable",
    "get",
    "meta",
    "names",
    "parse",
    "register",
]
