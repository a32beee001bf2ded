"""The ``lossproof`` command line.

``lossproof list | show NAME [--format text|markdown|latex] [--standalone] | verify [NAME…]
| export NAME --target T | proofs [--check]``.  User mistakes print one line on stderr and
exit non-zero; no tracebacks.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

__all__ = ["main"]


class UserError(Exception):
    """A mistake in what the user asked for: printed as one line, exit status 2.

    Only these (and a missing optional dependency) become one-line errors: any other
    exception is lossproof's own bug and keeps its traceback."""


def _known(*names: str) -> None:
    """UserError (with the registry's suggestions) for a name that is not registered."""
    from derive.core import meta

    for n in names:
        try:
            meta(n)
        except KeyError as exc:
            raise UserError(exc.args[0]) from None


def _cmd_audit(args: argparse.Namespace) -> int:
    from derive import audit

    if args.points < 0:
        raise UserError(f"--points: must be >= 0, got {args.points}")
    libs = [s.strip() for s in args.only.split(",") if s.strip()] if args.only else None
    unknown = [lib for lib in libs or () if lib not in audit.LIBRARIES]
    if unknown:
        raise UserError(f"--only: unknown {unknown}; choose from {list(audit.LIBRARIES)}")

    def progress(line: str) -> None:
        print(f"audit {line}", file=sys.stderr, flush=True)

    report = audit.run(libraries=libs, points=args.points, seed=args.seed, progress=progress)
    sys.stdout.write(audit.to_text(report))
    markdown = None if args.no_markdown else args.markdown
    for path in audit.write(report, markdown=markdown, json_path=args.json):
        print(f"wrote {path}", file=sys.stderr)
    return 0  # a report: peers failing is the finding, not an error


def _cmd_list(args: argparse.Namespace) -> int:
    from derive.core import meta, names

    rows = [(n, meta(n)) for n in names()]
    width = max(len(n) for n, _ in rows)
    for n, m in rows:
        print(f"{n:<{width}}  {m['title']}")
        print(f"{'':<{width}}  {m['statement']}")
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
    sys.stdout.write(out)
    return 0


def _cmd_proofs(args: argparse.Namespace) -> int:
    from pathlib import Path

    from derive import proofs

    if args.latex is not None:
        for p in proofs.write_latex(Path(args.latex)):
            print(p)
        return 0
    out = Path(args.out)
    if args.check:
        stale = proofs.check(out)
        for p in stale:
            print(f"stale: {p}", file=sys.stderr)
        if stale:
            print(f"lossproof: {len(stale)} stale file(s); run `lossproof proofs`", file=sys.stderr)
            return 1
        print(f"{out}: up to date")
        return 0
    for p in proofs.write(out):
        print(p)
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from derive.export import export_source

    _known(args.name)
    try:
        source = export_source(args.name, args.target)
    except (ValueError, NotImplementedError) as exc:  # the result has no exportable form
        raise UserError(str(exc)) from None
    sys.stdout.write(source)
    return 0


def _cmd_plot(args: argparse.Namespace) -> int:
    from pathlib import Path

    from derive import plot

    _known(args.name)
    if not plot.has_plot(args.name):
        raise UserError(
            f"{args.name!r} has no plot; plots exist for {', '.join(sorted(plot.PLOTS))}"
        )
    out = Path(args.output or f"{args.name}.svg")
    print(plot.save(args.name, out))
    return 0


def _cmd_verify(args: argparse.Namespace) -> int:
    from pathlib import Path

    from derive import verify

    if args.points < 0:
        raise UserError(f"--points: must be >= 0, got {args.points}")
    if args.jobs is not None and args.jobs < 1:
        raise UserError(f"-j/--jobs: must be >= 1, got {args.jobs}")
    if args.dps < 50:
        raise UserError(f"--dps: at least 50 digits are needed, got {args.dps}")
    _known(*args.names)
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
    sys.stdout.write(verify.format_table(report))
    if args.json:
        Path(args.json).write_text(report.to_json(), encoding="utf-8")
    return 0 if report.passed else 1


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="lossproof",
        description="Checked derivations of ML-loss information theory, and stable exports.",
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)

    s = sub.add_parser("list", help="list the derivations (name, title, statement)")
    s.set_defaults(func=_cmd_list)

    s = sub.add_parser(
        "audit", help="check the loss functions of torch, jax/optax, scipy, scikit-learn",
        description="Evaluate the installed libraries' loss functions (and their autodiff "
        "gradients) at lossproof's adversarial and random inputs against the mpmath "
        "definition, print the conformance table and write it as Markdown. Exit 0 whether "
        "or not the libraries pass; non-zero only on lossproof's own errors.")
    s.add_argument("--json", metavar="PATH", help="also write the versioned JSON report")
    s.add_argument("--markdown", metavar="PATH", default="proofs/audit.md",
                   help="where to write the Markdown table (default proofs/audit.md)")
    s.add_argument("--no-markdown", action="store_true", help="do not write the Markdown")
    s.add_argument("--points", type=int, default=60, metavar="N",
                   help="random points per quantity, on top of the adversarial ones "
                   "(default 60)")
    s.add_argument("--seed", type=int, default=0, metavar="S", help="random seed (default 0)")
    s.add_argument("--only", metavar="LIB[,LIB]",
                   help="torch, jax, optax, scipy, sklearn, lossproof (default: all installed)")
    s.set_defaults(func=_cmd_audit)

    s = sub.add_parser("show", help="render one derivation")
    s.add_argument("name")
    s.add_argument("--format", choices=("text", "markdown", "latex"), default="text")
    s.add_argument("--standalone", action="store_true", help="a complete LaTeX document")
    s.set_defaults(func=_cmd_show)

    s = sub.add_parser("proofs", help="write (or --check) the proofs/ documents")
    s.add_argument("--out", default="proofs", help="output folder (default: proofs)")
    s.add_argument("--check", action="store_true", help="exit 1 and name stale files")
    s.add_argument("--latex", metavar="DIR", help="write standalone LaTeX documents to DIR")
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
        "points. Exit 0 only if everything passes.",
    )
    s.add_argument("names", nargs="*", metavar="NAME", help="derivations (default: all)")
    s.add_argument("--points", type=int, default=2000, metavar="N",
                   help="points per derivation: random, plus the adversarial ones "
                   "(default 2000, derive.verify.DEFAULT_POINTS)")
    s.add_argument("--seed", type=int, default=0, metavar="S", help="random seed (default 0)")
    s.add_argument("--dps", type=int, default=60, metavar="D",
                   help="digits of the mpmath oracle, >= 50 (default 60)")
    s.add_argument("--json", metavar="PATH", help="also write the versioned JSON report")
    s.add_argument("-j", "--jobs", type=int, default=None, metavar="JOBS",
                   help="worker processes (default: the number of CPUs)")
    s.add_argument("--no-cache", action="store_true",
                   help="re-check the steps even if the sources are unchanged since the "
                   "last check")
    s.set_defaults(func=_cmd_verify)

    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (UserError, ImportError) as exc:  # ImportError: an optional extra not installed
        print(f"lossproof: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
