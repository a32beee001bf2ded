"""``lossproof list`` and ``lossproof show``, run in-process: output, formats, and one clear
line (no traceback) with the closest names for an unknown derivation."""

from __future__ import annotations

import pytest

import derive
from derive.cli import main

NAME = "ce-equals-entropy-plus-kl"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


class TestList:
    def test_lists_every_name_with_title_and_statement(self, capsys):
        code, out, err = run(capsys, "list")
        assert code == 0 and err == ""
        lines = out.splitlines()
        for name in derive.names():
            meta = derive.meta(name)
            (row,) = [i for i, line in enumerate(lines) if line.split()[0] == name]
            assert meta["title"] in lines[row]
            assert lines[row + 1].strip() == meta["statement"]

    def test_lists_the_information_derivations(self, capsys):
        _, out, _ = run(capsys, "list")
        for name in ("self-information-additivity", "ce-equals-entropy-plus-kl",
                     "cross-entropy-one-hot", "entropy-chain-rule",
                     "mutual-information-identities", "kl-nonnegative",
                     "entropy-maximum-uniform", "perplexity-base-invariance"):
            assert f"\n{name} " in f"\n{out}"


class TestShow:
    def test_text_is_the_default(self, capsys):
        code, out, err = run(capsys, "show", NAME)
        assert code == 0 and err == ""
        assert out == derive.get(NAME).to_text()
        assert "(1) H(p, q) = " in out

    @pytest.mark.parametrize(
        ("fmt", "method", "marker"),
        [("text", "to_text", "because:"), ("markdown", "to_markdown", "$$"),
         ("latex", "to_latex", "\\begin{align*}")],
    )
    def test_formats(self, capsys, fmt, method, marker):
        code, out, err = run(capsys, "show", NAME, "--format", fmt)
        assert code == 0 and err == ""
        assert out == getattr(derive.get(NAME), method)()
        assert marker in out

    def test_standalone_latex(self, capsys):
        code, out, _ = run(capsys, "show", "kl-nonnegative", "--format", "latex", "--standalone")
        assert code == 0
        assert out.startswith("\\documentclass") and out.rstrip().endswith("\\end{document}")

    def test_standalone_needs_latex(self, capsys):
        code, out, err = run(capsys, "show", NAME, "--standalone")
        assert code != 0 and out == ""
        assert err.count("\n") == 1 and "--standalone" in err

    def test_every_derivation_renders_in_every_format(self, capsys):
        for name in derive.names():
            for fmt in ("text", "markdown", "latex"):
                code, out, _ = run(capsys, "show", name, "--format", fmt)
                assert code == 0 and out.strip(), (name, fmt)


class TestUnknownName:
    def test_one_line_with_close_names_and_non_zero_exit(self, capsys):
        code, out, err = run(capsys, "show", "kl-nonnegativ")
        assert code != 0
        assert out == ""
        assert err.count("\n") == 1, err
        assert err.startswith("lossproof: error: unknown derivation 'kl-nonnegativ'")
        assert "kl-nonnegative" in err
        assert "Traceback" not in err

    def test_far_names_point_to_list(self, capsys):
        code, _, err = run(capsys, "show", "qqqqqqqqqqqq")
        assert code != 0
        assert err.count("\n") == 1 and "lossproof list" in err
