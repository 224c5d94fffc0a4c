"""The import layers of pyproject.toml's [tool.importlinter] (issue 16): kept by app/ as it is,
and broken by an arrow that runs back up — the circle audit → security that app/accounts.py
removed, put back into a copy of app/."""

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT = "from importlinter.cli import lint_imports_command; lint_imports_command()"


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    """``lint-imports`` over ``root``'s app/ with the repository's contracts."""
    return subprocess.run(
        [sys.executable, "-c", LINT, "--config", str(ROOT / "pyproject.toml")]
        + ["--no-cache", "--no-logo"],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_layers_hold():
    run = lint_imports(ROOT)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "2 kept, 0 broken" in run.stdout


@pytest.mark.parametrize(
    "module, line, summary",
    [
        # The circle of issue 16, item 3: the audit log naming its actor through security.
        ("audit.py", "from app import security  # noqa", "0 kept, 2 broken"),
        # A service reaching up into the screens (exports once took their maskers from views):
        # no circle, but an arrow against the layers.
        ("exporter.py", "from app import views  # noqa", "1 kept, 1 broken"),
        # An arrow back up hidden inside a function is an import all the same.
        ("accounts.py", "def _later():\n    from app import audit  # noqa", "0 kept, 2 broken"),
    ],
)
def test_an_arrow_back_up_breaks_the_lint(tmp_path, module, line, summary):
    shutil.copytree(ROOT / "app", tmp_path / "app", ignore=shutil.ignore_patterns("__pycache__"))
    target = tmp_path / "app" / module
    target.write_text(target.read_text(encoding="utf-8") + f"\n\n{line}\n", encoding="utf-8")
    run = lint_imports(tmp_path)
    assert run.returncode == 1, run.stdout + run.stderr
    assert f"Contracts: {summary}." in run.stdout, run.stdout


def _imported_modules(tree: ast.Module):
    """Every module an ``import`` or ``from … import`` names, at any depth of the file."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module


def test_no_test_module_imports_another_or_the_conftest():
    """Shared factories live in tests/ helper modules (issue 16, item 5): a test module that
    imports from another would run that module's tests' imports and fixtures with its own."""
    offences = []
    for path in sorted((ROOT / "tests").glob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for name in _imported_modules(tree):
            last = name.rsplit(".", 1)[-1]
            if last.startswith("test_") or last == "conftest":
                offences.append(f"{path.name} imports {name}")
    assert offences == []
