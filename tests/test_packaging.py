"""`pip install .` gives a working `pocketstack`: the wheel holds every file the code reads
(the app's stylesheet, tui/app.tcss, above all). The wheel is built offline
(`pip wheel --no-deps --no-build-isolation`) and installed into a fresh venv, which borrows
only the third-party dependencies from the project's venv; the pocketstack code there must
come from the wheel, not from this checkout, and the app must start headless with its
stylesheet loaded."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Run inside the installed venv, from a directory outside the checkout.
PROBE = textwrap.dedent('''
    import asyncio, json, os, sys
    import backend, tui
    from tui.app import PocketApp
    from tui.fake_adapter import FakeAdapter

    async def main():
        app = PocketApp(FakeAdapter(), console_follow=0)
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.pause()
            sheets = [str(path) for path, _ in app.stylesheet.source]   # (path, class var) keys
            return {"screen": type(app.screen).__name__, "sheets": sheets,
                    "login_box_width": app.screen.query_one("#login-box").styles.width.value}

    out = asyncio.run(main())
    out.update(tui=tui.__file__, backend=backend.__file__, path=[os.path.abspath(p) for p in sys.path])
    print(json.dumps(out))
''')


def run(*argv, **kw) -> subprocess.CompletedProcess:
    p = subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=600, **kw)
    assert p.returncode == 0, f"{argv} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}"
    return p


def test_the_wheel_installs_and_the_app_starts(tmp_path):
    # built from a copy: an in-tree build would leave build/ behind, and reuse a stale one
    src = tmp_path / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "*.egg-info", "__pycache__", ".pytest_cache", ".state"))
    wheels = tmp_path / "wheels"
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
        "-w", wheels, src, cwd=tmp_path)
    (wheel,) = wheels.glob("pocketstack-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "tui/app.tcss" in names, "the stylesheet is not in the wheel"
    assert {"backend/core/migrations/versions/0001_baseline.py", "backend/core/migrations/env.py",
            "backend/core/migrations/script.py.mako"} <= set(names), "the schema's migrations are not in the wheel"

    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv)
    py = venv / "bin" / "python"
    site = Path(run(py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").stdout.strip())
    # the dependencies from the project's venv, as a plain path entry: .pth files there (the
    # editable install of this checkout among them) are not processed
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    run(sys.executable, "-m", "pip", "--python", py, "install", "-q", "--no-deps", "--no-index", wheel,
        cwd=tmp_path)
    assert (venv / "bin" / "pocketstack").exists(), "no pocketstack command in the venv"
    run(venv / "bin" / "pocketstack", "--help", cwd=tmp_path, env=dict(os.environ, PYTHONPATH=""))

    out = json.loads(run(py, "-c", PROBE, cwd=tmp_path, env=dict(os.environ, PYTHONPATH="")).stdout)
    for pkg in ("tui", "backend"):  # the code under test is the wheel's copy
        assert Path(out[pkg]).is_relative_to(site), f"{pkg} came from {out[pkg]}, not the wheel"
    assert not any(Path(p).is_relative_to(ROOT) and not Path(p).is_relative_to(ROOT / ".venv")
                   for p in out["path"]), out["path"]
    assert out["screen"] == "LoginScreen"
    assert any(Path(s) == site / "tui" / "app.tcss" for s in out["sheets"]), out["sheets"]
    assert out["login_box_width"] == 64   # .dialog { width: 64 } from app.tcss
