"""``lossproof export NAME --target T``: prints self-contained source; mistakes are one line."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys

import pytest

import derive
from derive.cli import main
from derive.export import exportable

CC = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")


def _exportable_name(*, vector: bool) -> str:
    for name in derive.names():
        if exportable(name):
            has_vector = any(not getattr(p, "is_Symbol", False)
                             for p in derive.get(name).parameters)
            if has_vector == vector:
                return name
    pytest.skip("no such derivation is registered")


class TestExportCommand:
    def test_python_is_the_default_and_runs_with_numpy_only(self, capsys):
        name = _exportable_name(vector=False)
        assert main(["export", name]) == 0
        src = capsys.readouterr().out
        tree = ast.parse(src)
        imports = {a.name for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))
                   for a in n.names}
        assert imports == {"numpy"}
        namespace: dict = {}
        exec(compile(src, name, "exec"), namespace)
        fn = namespace[name.replace("-", "_")]
        nargs = len(derive.get(name).parameters)
        assert callable(fn) and fn.__code__.co_argcount == nargs

    def test_python_source_of_a_vector_result(self, capsys):
        name = _exportable_name(vector=True)
        assert main(["export", name, "--target", "python"]) == 0
        ast.parse(capsys.readouterr().out)

    @pytest.mark.skipif(CC is None, reason="no C compiler")
    @pytest.mark.parametrize("vector", [False, True])
    def test_c_target_compiles(self, vector, capsys, tmp_path):
        name = _exportable_name(vector=vector)
        assert main(["export", name, "--target", "c"]) == 0
        c_file = tmp_path / "out.c"
        c_file.write_text(capsys.readouterr().out)
        subprocess.run([CC, "-std=c99", "-pedantic", "-Wall", "-Wextra", "-Werror", "-c",
                        str(c_file), "-o", str(tmp_path / "out.o")], check=True)

    def test_unknown_name_is_one_line_and_exit_2(self, capsys):
        assert main(["export", "bce-gradiant"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "unknown derivation" in err and "Traceback" not in err

    def test_unknown_target_is_rejected_by_the_parser_in_one_line(self, capsys):
        assert main(["export", _exportable_name(vector=False), "--target", "fortran"]) == 2
        err = capsys.readouterr().err
        assert err.startswith("lossproof: error: ") and err.count("\n") == 1
        assert "invalid choice" in err

    def test_a_result_that_cannot_be_exported_is_a_clear_error(self, capsys, monkeypatch):
        import derive.export as ex

        def refuse(name, target):
            raise ValueError(f"{name}: the result is not an equation; nothing to export")

        monkeypatch.setattr(ex, "export_source", refuse)
        assert main(["export", derive.names()[0]]) == 2
        err = capsys.readouterr().err
        assert err.startswith("lossproof: error:") and err.count("\n") == 1

    def test_as_a_command(self):
        name = _exportable_name(vector=False)
        out = subprocess.run([sys.executable, "-m", "derive", "export", name, "--target", "c"],
                             capture_output=True, text=True, check=True).stdout
        assert "#include <math.h>" in out
