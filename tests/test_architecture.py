"""The house rules as import contracts (pyproject.toml [tool.importlinter])."""
from __future__ import annotations

import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]


def lint(cwd):
    exe = pathlib.Path(sys.executable).with_name("lint-imports")
    return subprocess.run([str(exe), "--no-cache"], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_import_contracts_are_kept():
    r = lint(ROOT)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert "broken" in r.stdout and ", 0 broken" in r.stdout


def test_a_direct_database_import_from_the_app_breaks_a_contract(tmp_path):
    """The contract really bites: a copy of the tree where tui imports backend.core.db fails."""
    import shutil
    for name in ("backend", "tui"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / "tui" / "sneaky.py").write_text("from backend.core import db\n")
    env_py = str(tmp_path)
    exe = pathlib.Path(sys.executable).with_name("lint-imports")
    r = subprocess.run([str(exe), "--no-cache"], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                       env={"PYTHONPATH": env_py, "PATH": "/usr/bin:/bin"})
    assert r.returncode != 0
    assert "tui.sneaky -> backend.core.db" in r.stdout


def test_no_test_imports_from_conftest():
    """Every test folder has a conftest.py: `from conftest import` picks whichever was loaded
    first and fails depending on the order. Shared helpers live in uniquely named modules."""
    bad = [f"{p.relative_to(ROOT)}:{i}" for p in (ROOT / "tests").rglob("*.py")
           for i, line in enumerate(p.read_text().splitlines(), 1)
           if line.strip().startswith(("from conftest import", "import conftest"))]
    assert bad == []
