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


def lint_copy(tmp_path, extra: dict[str, str]):
    """lint-imports over a copy of the tree with the extra modules written into it."""
    import shutil
    for name in ("backend", "tui"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__", ".*"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    for rel, text in extra.items():
        (tmp_path / rel).write_text(text)
    exe = pathlib.Path(sys.executable).with_name("lint-imports")
    return subprocess.run([str(exe), "--no-cache"], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"})


def test_a_direct_database_import_from_the_app_breaks_a_contract(tmp_path):
    """The contract really bites: a copy of the tree where tui imports backend.core.db fails."""
    r = lint_copy(tmp_path, {"tui/sneaky.py": "from backend.core import db\n"})
    assert r.returncode != 0
    assert "tui.sneaky -> backend.core.db" in r.stdout


def test_a_new_core_module_importing_a_service_breaks_the_layers(tmp_path):
    """The layers cover a module the day it is added: nothing in core may reach up to a service."""
    r = lint_copy(tmp_path, {"backend/core/sneaky.py": "from backend.compute import manager\n"})
    assert r.returncode != 0
    assert "backend.core.sneaky -> backend.compute.manager" in r.stdout
    assert "Layers:" in r.stdout and "BROKEN" in r.stdout


def test_one_service_reaching_into_another_breaks_the_layers(tmp_path):
    """Services side by side are independent: network may not import the volume service's code."""
    r = lint_copy(tmp_path, {"backend/network/sneaky.py": "from backend.volume import api\n"})
    assert r.returncode != 0
    assert "backend.network.sneaky -> backend.volume.api" in r.stdout


def test_no_test_imports_from_conftest():
    """Every test folder has a conftest.py: `from conftest import` picks whichever was loaded
    first and fails depending on the order. Shared helpers live in uniquely named modules."""
    bad = [f"{p.relative_to(ROOT)}:{i}" for p in (ROOT / "tests").rglob("*.py")
           for i, line in enumerate(p.read_text().splitlines(), 1)
           if line.strip().startswith(("from conftest import", "import conftest"))]
    assert bad == []
