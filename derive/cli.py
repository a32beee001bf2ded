"""The ``lossproof`` command line.

``lossproof list | show NAME [--format text|markdown|latex] [--standalone] | verify [NAME…]
| export NAME --target T | plot NAME | proofs [--check] [--html DIR] | audit``.

Exit status: 0 success; 1 a verification failed (``verify``) or documents are stale
(``proofs --check``); 2 a user mistake — an unknown name, an option out of range, an output
path that cannot be written (checked before any work starts; a write that still fails at
the end, e.g. a full disk, is reported the same way), a missing optional dependency —
printed as one line ``lossproof: error: …`` on stderr, never a traceback; 130 interrupted
(Ctrl-C), 143 terminated (SIGTERM), after stopping every worker process.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

__all__ = ["MAX_AUDIT_POINTS", "MAX_DPS", "MAX_POINTS", "Terminated", "main"]

#: Upper bound of ``verify --dps``.  Measured (CPU time): 1000 digits cost 3× the default 60
#: for bce-gradient, softmax-ce-gradient and kl-nonnegative; a quadrature oracle
#: (gaussian-entropy) costs 4× already at 200 digits, and grows with the digits.
MAX_DPS = 1000
#: Upper bound of ``verify --points`` (random points per derivation; the cost grows
#: linearly): a long run, never an unbounded one.
MAX_POINTS = 100_000
#: Upper bound of ``audit --points`` (random points per quantity; every point is an mpmath
#: reference of each implementation's inputs, so the audit is the slower per point).
MAX_AUDIT_POINTS = 10_000
_PLOT_SUFFIXES = (".svg", ".png")


class UserError(Exception):
    """A mistake in what the user asked for: printed as one line, exit status 2.

    Only these (and a missing optional dependency) become one-line errors: any other
    exception is lossproof's own bug and keeps its traceback."""


class Terminated(BaseException):
    """Raised in the main thread by SIGTERM, so that ``finally`` blocks (which stop the
    worker processes) run.  A BaseException, like KeyboardInterrupt: no ``except
    Exception`` swallows it."""


class _Parser(argparse.ArgumentParser):
    """argparse, with its usage errors as one line (exit status 2, as argparse's)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"lossproof: error: {message} (see `{self.prog} --help`)\n")


def _silence_stdout() -> None:
    """Point file descriptor 1 at /dev/null, so that the interpreter's final flush of what
    could not be written does not fail again (with a traceback) at exit."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # no real descriptor (captured output): nothing to do
        pass


def _out(text: str) -> None:
    """Write ``text`` to standard output now; a full disk there is a one-line error."""
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:  # the reader is gone (``| head``): stop quietly
        _silence_stdout()
        raise
    except OSError as exc:
        _silence_stdout()
        raise UserError(f"cannot write to standard output: {exc.strerror or exc}") from None


def _known(*names: str) -> None:
    """UserError (with the registry's suggestions) for a name that is not registered."""
    from derive.core import meta

    for n in names:
        try:
            meta(n)
        except KeyError as exc:
            raise UserError(exc.args[0]) from None


def _in_range(option: str, value: int, lo: int, hi: int | None = None) -> None:
    if value < lo or (hi is not None and value > hi):
        bound = f">= {lo}" if hi is None else f"between {lo} and {hi}"
        raise UserError(f"{option}: must be {bound}, got {value}")


def _cannot(option: str, path: object, exc: OSError) -> UserError:
    return UserError(f"{option}: cannot write {path}: {exc.strerror or exc}")


def _output_file(option: str, path: str, suffixes: Sequence[str] = ()) -> Path:
    """``path`` as a file the run can write, checked before the run; UserError if not.

    An existing file is opened for appending (not changed); a new one is created and
    removed again."""
    p = Path(path)
    if suffixes and p.suffix.lower() not in suffixes:
        raise UserError(f"{option}: {path!r} must end in {' or '.join(suffixes)}")
    if p.is_dir():
        raise UserError(f"{option}: {path} is a folder; give a file name")
    folder = p.parent
    if not folder.exists():
        raise UserError(f"{option}: folder {folder} does not exist")
    if not folder.is_dir():
        raise UserError(f"{option}: {folder} is not a folder")
    try:
        if p.exists():
            with open(p, "a", encoding="utf-8"):
                pass
        else:
            with open(p, "x", encoding="utf-8"):
                pass
            p.unlink()
    except OSError as exc:
        raise _cannot(option, path, exc) from None
    return p


def _output_folder(option: str, path: str, *, must_exist: bool = False) -> Path:
    """``path`` as a folder the run can write into (created later if missing)."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise UserError(f"{option}: {path} is a file, not a folder")
    if must_exist:
        if not p.exists():
            raise UserError(f"{option}: folder {path} does not exist")
        return p
    existing = p
    while not existing.exists():  # the nearest existing ancestor is where mkdir starts
        existing = existing.parent
    if not existing.is_dir():
        raise UserError(f"{option}: {existing} is not a folder")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as exc:
        raise _cannot(option, existing, exc) from None
    return p


def _require(module: str, extra: str, why: str) -> None:
    """UserError naming the extra to install when the optional ``module`` cannot be
    imported: checked before a long run, not after it."""
    try:
        importlib.import_module(module)
    except ImportError:
        raise UserError(f"{why} need {module}, which is not installed: "
                        f"pip install 'lossproof[{extra}]'") from None


def _cmd_audit(args: argparse.Namespace) -> int:
    from derive import audit

    _in_range("--points", args.points, 0, MAX_AUDIT_POINTS)
    _in_range("--seed", args.seed, 0)
    libs = [s.strip() for s in args.only.split(",") if s.strip()] if args.only else None
    unknown = [lib for lib in libs or () if lib not in audit.LIBRARIES]
    if unknown:
        raise UserError(f"--only: unknown {unknown}; choose from {list(audit.LIBRARIES)}")
    markdown = _output_file("--markdown", args.markdown) if args.markdown else None
    json_path = _output_file("--json", args.json) if args.json else None

    def progress(line: str) -> None:
        print(f"audit {line}", file=sys.stderr, flush=True)

    report = audit.run(libraries=libs, points=args.points, seed=args.seed, progress=progress)
    _out(audit.to_text(report))
    try:
        written = audit.write(report, markdown=markdown, json_path=json_path)
    except OSError as exc:  # e.g. a full disk
        raise _cannot("--markdown" if exc.filename == str(markdown) else "--json",
                      exc.filename, exc) from None
    for path in written:
        print(f"wrote {path}", file=sys.stderr)
    return 0  # a report: peers failing is the finding, not an error


def _cmd_list(args: argparse.Namespace) -> int:
    from derive.core import meta, names

    rows = [(n, meta(n)) for n in names()]
    width = max(len(n) for n, _ in rows)
    for n, m in rows:
        _out(f"{n:<{width}}  {m['title']}\n{'':<{width}}  {m['statement']}\n")
    return 0


def _cmd_show(args: argparse.Namespace) -> int:
    from derive.core import get

    _known(args.name)
    d = get(args.name)
    if args.standalone and args.format != "latex":
        raise UserError("--standalone goes with --format latex")
    if args.format == "text":
        out = d.to_text()
    elif args.format == "markdown":
        out = d.to_markdown()
    else:
        out = d.to_latex(standalone=args.standalone)
    _out(out)
    return 0


def _cmd_proofs(args: argparse.Namespace) -> int:
    from derive import proofs

    if args.html is not None:
        if args.check or args.latex is not None:
            raise UserError("--html writes the site alone; not with --check or --latex")
        from derive import site

        folder = _output_folder("--html", args.html)
        try:
            written = site.write_site(folder)
        except OSError as exc:
            raise _cannot("--html", exc.filename, exc) from None
        _out(f"{folder / 'index.html'}: {len(written)} files\n")
        return 0
    if args.latex is not None:
        if args.check:
            raise UserError("--check compares the Markdown documents (--out); not with --latex")
        folder = _output_folder("--latex", args.latex)
        try:
            written = proofs.write_latex(folder)
        except OSError as exc:
            raise _cannot("--latex", exc.filename, exc) from None
        for p in written:
            _out(f"{p}\n")
        return 0
    out = _output_folder("--out", args.out, must_exist=args.check)
    # the documents include the pictures: without matplotlib the run would fail at its end
    _require("matplotlib", "plot", "the proofs/ documents (their pictures)")
    if args.check:
        stale = proofs.check(out)
        for p in stale:
            print(f"stale: {p}", file=sys.stderr)
        if stale:
            print(f"lossproof: {len(stale)} stale file(s); run `lossproof proofs`", file=sys.stderr)
            return 1
        _out(f"{out}: up to date\n")
        return 0
    try:
        written = proofs.write(out)
    except OSError as exc:
        raise _cannot("--out", exc.filename, exc) from None
    for p in written:
        _out(f"{p}\n")
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from derive.export import export_source

    _known(args.name)
    try:
        source = export_source(args.name, args.target)
    except (ValueError, NotImplementedError) as exc:  # the result has no exportable form
        raise UserError(str(exc)) from None
    _out(source)
    return 0


def _cmd_plot(args: argparse.Namespace) -> int:
    from derive import plot

    out = _output_file("-o/--output", args.output or f"{args.name}.svg", _PLOT_SUFFIXES)
    _known(args.name)
    _require("matplotlib", "plot", "plots")
    if not plot.has_plot(args.name):
        raise UserError(
            f"{args.name!r} has no plot; plots exist for {', '.join(sorted(plot.PLOTS))}"
        )
    try:
        plot.save(args.name, out)
    except OSError as exc:
        raise _cannot("-o/--output", out, exc) from None
    _out(f"{out}\n")
    return 0


def _cmd_verify(args: argparse.Namespace) -> int:
    from derive import verify

    _in_range("--points", args.points, 0, MAX_POINTS)
    _in_range("--dps", args.dps, 50, MAX_DPS)
    _in_range("--seed", args.seed, 0)
    if args.jobs is not None:
        _in_range("-j/--jobs", args.jobs, 1)
    _known(*args.names)
    json_path = _output_file("--json", args.json) if args.json else None
    tty = sys.stderr.isatty()
    width = 24

    def progress(result: verify.DerivationResult, done: int, total: int) -> None:
        status = "pass" if result.passed else "FAIL"
        if tty:  # one redrawn line: a bar, the count, the latest derivation
            bar = "#" * (width * done // total)
            line = f"[{bar:<{width}}] {done}/{total} {result.name} {status}"
            sys.stderr.write("\r\033[K" + line)
            if done == total:
                sys.stderr.write("\r\033[K")
        else:
            print(f"verify [{done}/{total}] {result.name}: {status} ({result.seconds:.1f} s)",
                  file=sys.stderr)
        sys.stderr.flush()

    if tty:
        sys.stderr.write(f"[{'':<{width}}] verifying…")
        sys.stderr.flush()
    report = verify.run(args.names or None, points=args.points, seed=args.seed, dps=args.dps,
                        jobs=args.jobs, cache=not args.no_cache, progress=progress)
    _out(verify.format_table(report))
    if json_path is not None:
        try:
            json_path.write_text(report.to_json(), encoding="utf-8")
        except OSError as exc:  # e.g. /dev/full: the disk filled during the run
            raise _cannot("--json", json_path, exc) from None
    return 0 if report.passed else 1


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="lossproof",
        description="Checked derivations of ML-loss information theory, and stable exports.",
    )
    p.add_argument("--version", action="version", version=f"lossproof {_version()}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)

    s = sub.add_parser("list", help="list the derivations (name, title, statement)")
    s.set_defaults(func=_cmd_list)

    s = sub.add_parser(
        "audit", help="check the loss functions of torch, jax/optax, scipy, scikit-learn",
        description="Evaluate the installed libraries' loss functions (and their autodiff "
        "gradients) at lossproof's adversarial and random inputs against the mpmath "
        "definition and print the conformance table; write files only where told "
        "(--markdown, --json). Exit 0 whether or not the libraries pass; non-zero only on "
        "lossproof's own errors. `lossproof audit --markdown proofs/audit.md` regenerates "
        "the published table.")
    s.add_argument("--json", metavar="PATH", help="also write the versioned JSON report")
    md = s.add_mutually_exclusive_group()
    md.add_argument("--markdown", metavar="PATH",
                    help="also write the Markdown table and failing inputs to PATH")
    md.add_argument("--no-markdown", action="store_true",
                    help="write no Markdown (the default; kept for existing scripts)")
    s.add_argument("--points", type=int, default=60, metavar="N",
                   help="random points per quantity, on top of the adversarial ones, "
                   f"0 to {MAX_AUDIT_POINTS} (default 60)")
    s.add_argument("--seed", type=int, default=0, metavar="S",
                   help="random seed, >= 0 (default 0)")
    s.add_argument("--only", metavar="LIB[,LIB]",
                   help="torch, jax, optax, scipy, sklearn, lossproof (default: all installed)")
    s.set_defaults(func=_cmd_audit)

    s = sub.add_parser("show", help="render one derivation")
    s.add_argument("name")
    s.add_argument("--format", choices=("text", "markdown", "latex"), default="text")
    s.add_argument("--standalone", action="store_true", help="a complete LaTeX document")
    s.set_defaults(func=_cmd_show)

    s = sub.add_parser("proofs", help="write (or --check) the proofs/ documents")
    s.add_argument("--out", default="proofs", metavar="DIR",
                   help="output folder (default: proofs)")
    s.add_argument("--check", action="store_true", help="exit 1 and name stale files")
    s.add_argument("--latex", metavar="DIR", help="write standalone LaTeX documents to DIR")
    s.add_argument("--html", metavar="DIR",
                   help="write the proofs as a static site (MathML, no JavaScript) to DIR")
    s.set_defaults(func=_cmd_proofs)

    s = sub.add_parser(
        "export", help="print the stable result as self-contained source code",
        description="Print the derivation's result, made stable by the rewrite rules, as a "
        "self-contained Python (NumPy only) module or C99 source (log1p/expm1).")
    s.add_argument("name")
    s.add_argument("--target", choices=("python", "c"), default="python",
                   help="python (default) or c")
    s.set_defaults(func=_cmd_export)

    s = sub.add_parser("plot", help="draw the picture of a derivation ([plot] extra)")
    s.add_argument("name")
    s.add_argument("-o", "--output", metavar="FILE", help="FILE.svg or FILE.png (default NAME.svg)")
    s.set_defaults(func=_cmd_plot)

    s = sub.add_parser(
        "verify",
        help="check every step and cross-check export, numeric and the mpmath oracle",
        description="Re-verify each derivation's steps, then compare the exported float64 "
        "function, the numeric/ implementation and the naive lambdify with the "
        "definition-level oracle (ball arithmetic, or mpmath) at random and adversarial "
        "points. Exit status 0 if everything passes, 1 if anything fails, 2 for a mistake "
        "on the command line (checked before the run), 130/143 when stopped by "
        "Ctrl-C/SIGTERM.",
    )
    s.add_argument("names", nargs="*", metavar="NAME", help="derivations (default: all)")
    s.add_argument("--points", type=int, default=2000, metavar="N",
                   help="points per derivation: random, plus the adversarial ones, "
                   f"0 to {MAX_POINTS} (default 2000, derive.verify.DEFAULT_POINTS)")
    s.add_argument("--seed", type=int, default=0, metavar="S",
                   help="random seed, >= 0 (default 0)")
    s.add_argument("--dps", type=int, default=60, metavar="D",
                   help=f"digits of the mpmath oracle, 50 to {MAX_DPS} (default 60)")
    s.add_argument("--json", metavar="PATH", help="also write the versioned JSON report")
    s.add_argument("-j", "--jobs", type=int, default=None, metavar="JOBS",
                   help="worker processes (default: the number of CPUs)")
    s.add_argument("--no-cache", action="store_true",
                   help="re-check the steps even if the sources are unchanged since the "
                   "last check (and store the fresh outcome in the cache)")
    s.set_defaults(func=_cmd_verify)

    return p


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("lossproof")
    except PackageNotFoundError:  # a source tree that was never installed
        return "(not installed: no package metadata)"


@contextmanager
def _sigterm_raises() -> Iterator[None]:
    """While the command runs, SIGTERM raises :class:`Terminated` in the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: object) -> NoReturn:
        raise Terminated(signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        if previous is not None:  # None: installed from C; nothing of ours to restore
            signal.signal(signal.SIGTERM, previous)


def _stopped(word: str, status: int) -> int:
    newline = "\n" if sys.stderr.isatty() else ""  # past a progress line or ^C
    print(f"{newline}lossproof: {word}", file=sys.stderr)
    return status


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status (see the module docstring)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version (0) and usage errors (2)
        return exc.code if isinstance(exc.code, int) else 2
    try:
        with _sigterm_raises():
            return int(args.func(args) or 0)
    except (UserError, ImportError) as exc:  # ImportError: an optional extra not installed
        print(f"lossproof: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0
    except KeyboardInterrupt:
        return _stopped("interrupted", 128 + signal.SIGINT)
    except Terminated:
        return _stopped("terminated", 128 + signal.SIGTERM)


if __name__ == "__main__":
    sys.exit(main())
