"""OpenStack's Tempest suite against `pocketstack serve` on fake hosts: every test named in
conformance/expected-pass.txt must pass (the list only grows). `make conformance` runs the
whole in-scope groups and prints the figures; this runs exactly the list, as CI does."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXPECTED = ROOT / "conformance" / "expected-pass.txt"
pytestmark = pytest.mark.conformance


def _ids(path: Path) -> list[str]:
    return [line.split("#")[0].strip() for line in path.read_text().splitlines()
            if line.split("#")[0].strip()]


def _ensure_tempest() -> None:
    # from the project's own files, so a fresh machine gets the same pinned Tempest
    stamp = ROOT / ".venv-tempest" / ".installed"
    reqs = ROOT / "conformance" / "requirements.txt"
    if not stamp.exists() or stamp.stat().st_mtime < reqs.stat().st_mtime:
        subprocess.run(["bash", str(ROOT / "conformance" / "install.sh")], check=True)


def _run(tmp_path: Path, listed: Path) -> tuple[subprocess.CompletedProcess, dict]:
    _ensure_tempest()
    results = tmp_path / "results.json"
    p = subprocess.run([sys.executable, "-m", "conformance.run", "--load-list", str(listed),
                        "--expect", str(listed), "--results", str(results),
                        "--work", str(tmp_path / "work")],
                       cwd=ROOT, capture_output=True, text=True, timeout=1700)
    return p, (json.loads(results.read_text()) if results.exists() else {})


def test_expected_pass_list_is_sorted_unique_and_in_scope():
    sys.path.insert(0, str(ROOT))
    from conformance.run import group_of
    ids = _ids(EXPECTED)
    assert ids, "conformance/expected-pass.txt is empty"
    assert ids == sorted(set(ids)), "expected-pass.txt must be sorted and without duplicates"
    for tid in ids:
        assert re.fullmatch(r"tempest\.api\.[\w.]+", tid), f"not a tempest test id: {tid!r}"
        assert group_of(tid) != "other", f"{tid} is outside the in-scope groups"


@pytest.mark.timeout(1800)
def test_every_listed_tempest_test_passes(tmp_path):
    p, res = _run(tmp_path, EXPECTED)
    assert p.returncode == 0, f"tempest conformance failed:\n{p.stdout[-6000:]}\n{p.stderr[-3000:]}"
    assert set(_ids(EXPECTED)) <= set(res["passed"])
    assert res["answered_5xx"] == 0, "pocketstack answered 5xx during the run"


@pytest.mark.timeout(600)
def test_the_guard_fails_when_a_listed_test_does_not_pass(tmp_path):
    # a listed test that does not pass (here: one that does not exist) must fail the run
    first = _ids(EXPECTED)[0]
    listed = tmp_path / "list.txt"
    listed.write_text(f"{first}\ntempest.api.compute.test_nothing.NoSuchTest.test_missing\n")
    p, res = _run(tmp_path, listed)
    assert p.returncode == 1, p.stdout
    assert "tempest.api.compute.test_nothing.NoSuchTest.test_missing" in p.stdout
    assert first in res["passed"]
