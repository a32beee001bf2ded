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
    """A mistake in what the user asked for: printed as one line, exit status 2."""


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


def _cmd_plot(args: argparse.Namespace) -> int:
    from pathlib import Path

    from derive import plot
    from derive.core import meta

    meta(args.name)  # unknown names fail with suggestions
    if not plot.has_plot(args.name):
        raise UserError(
            f"{args.name!r} has no plot; plots exist for {', '.join(sorted(plot.PLOTS))}"
        )
    out = Path(args.output or f"{args.name}.svg")
    print(plot.save(args.name, out))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="lossproof",
        description="Checked derivations of ML-loss information theory, and stable exports.",
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)

    s = sub.add_parser("list", help="list the derivations (name, title, statement)")
    s.set_defaults(func=_cmd_list)

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

    s = sub.add_parser("plot", help="draw the picture of a derivation ([plot] extra)")
    s.add_argument("name")
    s.add_argument("-o", "--output", metavar="FILE", help="FILE.svg or FILE.png (default NAME.svg)")
    s.set_defaults(func=_cmd_plot)

    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyError as exc:  # unknown derivation name (message carries suggestions)
        print(f"lossproof: error: {exc.args[0]}", file=sys.stderr)
        return 2
    except (UserError, ValueError, TypeError, ImportError) as exc:
        print(f"lossproof: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
