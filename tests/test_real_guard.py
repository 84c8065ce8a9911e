"""The guard of the real suite (tests/realguard.py), run on a throwaway test file."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

CASES = '''
import pytest

@pytest.mark.real
def test_skips():
    pytest.skip("no lab here")

@pytest.mark.real
def test_runs():
    pass

def test_plain_skip():
    pytest.skip("not a real test")
'''


def run(tmp_path, require: bool) -> subprocess.CompletedProcess:
    (tmp_path / "test_cases.py").write_text(CASES)
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers =\n  real: real\n")
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).parent))
    env.pop("POCKETSTACK_REQUIRE_REAL", None)
    if require:
        env["POCKETSTACK_REQUIRE_REAL"] = "1"
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "realguard", "-p", "no:cacheprovider",
                           "-rA", str(tmp_path)], cwd=tmp_path, env=env, capture_output=True, text=True)


def test_a_skipped_real_test_fails_when_real_is_required(tmp_path):
    p = run(tmp_path, require=True)
    assert p.returncode == 1, p.stdout
    assert "1 failed, 1 passed, 1 skipped" in p.stdout
    assert "real test skipped while POCKETSTACK_REQUIRE_REAL=1: " in p.stdout and "no lab here" in p.stdout
    assert "real tests run: 1\n" in p.stdout


def test_without_the_requirement_it_skips_and_says_so(tmp_path):
    p = run(tmp_path, require=False)
    assert p.returncode == 0, p.stdout
    assert "1 passed, 2 skipped" in p.stdout
    assert "real tests run: 1 (POCKETSTACK_REQUIRE_REAL unset" in p.stdout
