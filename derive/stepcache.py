"""The on-disk cache of step checks, and the timings that schedule ``lossproof verify``.

Re-checking every step of every derivation (symbolically with SymPy, numerically with
mpmath) is the expensive part of ``lossproof verify``, and its outcome is a deterministic
function of the sources and the settings.  This module remembers that outcome.

What an entry is keyed on
-------------------------
:func:`digest` hashes

* the source of the whole ``derive`` package: every ``.py`` file under it, in sorted
  order, each as its path relative to the package plus its content — so an edit to *any*
  module a check can reach (``derive/gaussian.py`` imported inside a function included)
  invalidates every entry;
* the source files of derivations registered outside the package (``extra_sources``:
  the module that registered them, for derivations loaded from elsewhere);
* the versions of Python, SymPy, mpmath, NumPy and python-flint (if importable);
* the derivation's name and the verification settings (``dps``, ``seed``, the number of
  points per step).

An entry lives at ``<cache>/steps/<name>-<digest[:24]>.json`` and holds exactly the keys
of :data:`ENTRY_KEYS`, among them the name and the *full* digest.  :func:`load` accepts it
only if the keys are exactly those, every value has its type (``steps_passed`` a bool,
counts ints >= 0 that add up to ``steps_total``, ``steps_seconds`` a finite float >= 0,
``steps_error`` a string exactly when the check failed), the name and the full digest match
the ones asked for, and the step count is the derivation's; anything else — a truncated
file, a hand-edited ``"steps_passed": "no"``, an entry copied from another key — is a miss:
the steps are re-checked and the entry is overwritten.

What it protects against, and what not
--------------------------------------
It is a cache, not a signature.  It cannot serve an outcome computed for other sources,
versions or settings, nor a malformed or mislabelled entry.  It does not authenticate
entries: whoever can write to the cache folder can compute the digest (the inputs are
public) and write a well-formed entry claiming that a broken derivation passed, and this
module will accept it.  A keyed MAC would not change that, since its key would have to be
readable from the same folder.  So treat the cache folder like the source tree: writable
only by those whose results you trust.  ``lossproof verify --no-cache`` never reads the
cache; it re-checks every step and stores the fresh outcome, replacing what was there.

Location: ``LOSSPROOF_CACHE_DIR``, else ``$XDG_CACHE_HOME/lossproof``, else
``~/.cache/lossproof``.  An unwritable cache folder only means nothing is cached.

Timings
-------
``<cache>/timings.json`` maps each derivation to the seconds its cross-check and its steps
took in the last run, so that the next run starts the longest first.  A file that is not
exactly ``{name: {"crosscheck": seconds, "steps": seconds}}`` with finite non-negative
numbers — a list, strings, nested junk, NaN — is ignored entry by entry, never an error.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "ENTRY_KEYS",
    "StepRecord",
    "cache_dir",
    "digest",
    "entry_path",
    "extra_sources",
    "load",
    "load_timings",
    "package_files",
    "schedule",
    "store",
    "store_timings",
    "timings_path",
    "validate",
]

#: The keys of a cache entry, exactly.
ENTRY_KEYS = frozenset({"name", "digest", "steps_total", "steps_symbolic", "steps_numeric",
                        "steps_interval", "steps_passed", "steps_error", "steps_seconds"})

_PACKAGE = Path(__file__).resolve().parent
_DEFAULT_COST = {"crosscheck": 1.0, "steps": 2.0}  # seconds, for a name never timed


@dataclass(frozen=True)
class StepRecord:
    """The outcome of checking one derivation's steps.

    ``total`` counts the steps and the result; ``symbolic`` of them were proved by SymPy
    (and checked numerically), ``numeric`` only numerically.  When ``passed`` is false the
    check stopped at the step ``error`` names and ``symbolic + numeric < total``.
    ``interval`` of the ``numeric`` ones were proved by interval arithmetic on the domain
    box (``derive.intervals``); the other ``numeric - interval`` are not proved (sampled and
    searched for a counterexample, ``derive.refute``).
    """

    total: int
    symbolic: int
    numeric: int
    passed: bool
    error: str | None
    seconds: float
    interval: int = 0


def cache_dir() -> Path:
    """The cache folder (``LOSSPROOF_CACHE_DIR``, XDG, or ``~/.cache/lossproof``)."""
    env = os.environ.get("LOSSPROOF_CACHE_DIR")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "lossproof"


def package_files(root: Path = _PACKAGE) -> list[Path]:
    """Every ``.py`` file under ``root`` (the ``derive`` package), sorted by relative path."""
    return sorted(root.rglob("*.py"), key=lambda p: p.relative_to(root).as_posix())


def extra_sources(module_name: str) -> list[Path]:
    """The source file of module ``module_name`` if it lies outside the ``derive`` package.

    A derivation registered by a user's module depends on that module, which the hash of
    the package does not cover; its file must be passed to :func:`digest`.
    """
    mod = sys.modules.get(module_name)
    file = getattr(mod, "__file__", None)
    if not file:
        return []
    path = Path(file).resolve()
    return [] if path.is_relative_to(_PACKAGE) else [path]


def _versions() -> str:
    import mpmath
    import numpy
    import sympy

    try:
        import flint

        flint_version = getattr(flint, "__version__", "unknown")
    except ImportError:
        flint_version = "absent"
    return (f"python {sys.version}; sympy {sympy.__version__}; mpmath {mpmath.__version__}; "
            f"numpy {numpy.__version__}; python-flint {flint_version}")


def _content(path: Path) -> bytes:
    """The bytes of ``path``; a file that cannot be read (an editor's dangling lock link
    such as ``.#core.py``) is marked as such, never an error: it only changes the key."""
    try:
        return b"file " + path.read_bytes()
    except OSError as exc:
        return f"unreadable {type(exc).__name__}".encode()


def _feed(h: Any, label: str, data: bytes) -> None:
    """Length-prefixed, so that no two different inputs hash the same stream."""
    tag = label.encode()
    h.update(len(tag).to_bytes(8, "big") + tag + len(data).to_bytes(8, "big") + data)


def digest(name: str, settings: Mapping[str, int], *,
           extra: Sequence[Path] = (), root: Path = _PACKAGE) -> str:
    """The SHA-256 hex digest that keys the steps of ``name`` checked with ``settings``.

    Parameters
    ----------
    name
        The derivation's registered name.
    settings
        The verification settings that decide the outcome, e.g.
        ``{"dps": 60, "seed": 0, "points": 10}`` (int values; sorted by key).
    extra
        Source files outside the package that the derivation depends on (see
        :func:`extra_sources`).
    root
        The package whose every ``.py`` file is hashed (default: this ``derive``).
    """
    h = hashlib.sha256()
    for f in package_files(root):
        _feed(h, "derive/" + f.relative_to(root).as_posix(), _content(f))
    for f in sorted(Path(p).resolve() for p in extra):
        _feed(h, "extra/" + f.as_posix(), _content(f))
    _feed(h, "versions", _versions().encode())
    _feed(h, "name", name.encode())
    for key in sorted(settings):
        value = settings[key]
        if type(value) is not int:
            raise TypeError(f"settings: {key!r} must be an int, got {type(value).__name__}")
        _feed(h, f"setting {key}", str(value).encode())
    return h.hexdigest()


def entry_path(name: str, key: str) -> Path:
    """Where the entry of ``name`` under digest ``key`` lives."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:64]
    return cache_dir() / "steps" / f"{safe}-{key[:24]}.json"


def _count(value: Any) -> bool:
    return type(value) is int and value >= 0


def validate(data: Any, *, name: str, key: str, total: int) -> StepRecord | None:
    """The record in ``data`` if it is a well-formed entry for ``name`` at ``key``, else None.

    ``total`` is the derivation's current number of steps plus its result.
    """
    if not isinstance(data, dict) or set(data) != ENTRY_KEYS:
        return None
    if data["name"] != name or data["digest"] != key:
        return None
    passed, error, seconds = data["steps_passed"], data["steps_error"], data["steps_seconds"]
    counts = (data["steps_total"], data["steps_symbolic"], data["steps_numeric"])
    if type(passed) is not bool or not all(_count(c) for c in counts):
        return None
    if type(seconds) is not float or not math.isfinite(seconds) or seconds < 0:
        return None
    n, symbolic, numeric = counts
    interval = data["steps_interval"]
    if n != total or not _count(interval) or interval > numeric:
        return None
    if passed:
        if error is not None or symbolic + numeric != n:
            return None
    elif not isinstance(error, str) or symbolic + numeric >= n:
        return None
    return StepRecord(total=n, symbolic=symbolic, numeric=numeric, passed=passed, error=error,
                      seconds=seconds, interval=interval)


def _read_json(path: Path) -> Any:
    """The JSON in ``path``, or None if it cannot be read or parsed."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):  # RecursionError: absurdly nested junk
        return None


def load(name: str, key: str, *, total: int) -> StepRecord | None:
    """The cached record of ``name`` at digest ``key``, or None (a miss)."""
    return validate(_read_json(entry_path(name, key)), name=name, key=key, total=total)


def _write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (workers may race); an unwritable cache is
    no cache, not an error."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        pass


def store(name: str, key: str, record: StepRecord) -> None:
    """Store ``record`` as the entry of ``name`` at digest ``key`` (replacing any)."""
    entry = {"name": name, "digest": key, "steps_total": record.total,
             "steps_symbolic": record.symbolic, "steps_numeric": record.numeric,
             "steps_interval": record.interval,
             "steps_passed": record.passed, "steps_error": record.error,
             "steps_seconds": float(record.seconds)}
    _write_atomic(entry_path(name, key), json.dumps(entry, sort_keys=True))


# ---------------------------------------------------------------------------- timings


def timings_path() -> Path:
    return cache_dir() / "timings.json"


def _seconds(value: Any) -> bool:
    return type(value) in (int, float) and math.isfinite(value) and value >= 0


def load_timings() -> dict[str, dict[str, float]]:
    """``{name: {"crosscheck": s, "steps": s}}`` from the last runs; malformed parts dropped."""
    data = _read_json(timings_path())
    if not isinstance(data, dict):
        return {}
    out = {}
    for name, entry in data.items():
        if (isinstance(entry, dict) and set(entry) == set(_DEFAULT_COST)
                and all(_seconds(v) for v in entry.values())):
            out[name] = {k: float(v) for k, v in entry.items()}
    return out


def store_timings(timings: Mapping[str, tuple[float, float]]) -> None:
    """Merge ``{name: (crosscheck seconds, steps seconds)}`` into the timings file."""
    data = load_timings()
    for name, (crosscheck, steps) in timings.items():
        if _seconds(crosscheck) and _seconds(steps):
            data[name] = {"crosscheck": float(crosscheck), "steps": float(steps)}
    _write_atomic(timings_path(), json.dumps(data, sort_keys=True))


def schedule(names: Iterable[str], *, cached: Callable[[str], bool]) -> list[str]:
    """``names`` longest first, by the last run's timings; a derivation whose steps are
    ``cached(name)`` costs only its cross-check."""
    timings = load_timings()

    def cost(n: str) -> float:
        t = timings.get(n, _DEFAULT_COST)
        return t["crosscheck"] + (0.0 if cached(n) else t["steps"])

    return sorted(names, key=lambda n: -cost(n))
