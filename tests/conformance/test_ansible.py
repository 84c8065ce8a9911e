"""Ansible's openstack.cloud collection against `pocketstack serve` on fake hosts: every playbook
in conformance/ansible/ makes its resources (every task changed), is re-run with nothing
changed, tears them down (changed) and is re-run with nothing changed again."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from conformance.ansible import run as ansible_run  # noqa: E402
from conformance.ansible.run import PASSES, PLAYBOOKS, Task, wrong  # noqa: E402

pytestmark = pytest.mark.conformance


def test_there_is_a_playbook_per_resource_kind():
    on_disk = {p.stem for p in (ROOT / "conformance" / "ansible").glob("*.yml")}
    assert on_disk == set(PLAYBOOKS)
    for kind in ("projects", "users", "role_assignments", "images", "networks", "subnets", "ports",
                 "routers", "security_groups", "keypairs", "flavors", "server_groups", "servers",
                 "volumes"):
        assert kind in PLAYBOOKS


def test_the_check_names_a_rerun_that_changes_something_and_a_failure():
    tasks = [Task("servers", "a server", "openstack.cloud.server", True, False, False, ""),
             Task("servers", "it is active", "ansible.builtin.assert", False, False, False, ""),
             Task("servers", "the server goes", "openstack.cloud.server", False, False, True, ""),
             Task("volumes", "a volume", "openstack.cloud.volume", False, True, False, "400: no")]
    assert wrong(tasks, "present", True) == ["volumes / a volume (present): failed: 400: no"]
    assert wrong(tasks, "present", False) == [
        "servers / a server (present): changed, expected nothing changed",
        "volumes / a volume (present): failed: 400: no"]


@pytest.mark.timeout(900)
def test_every_playbook_creates_reruns_unchanged_and_tears_down(tmp_path):
    res = ansible_run.run(tmp_path, PLAYBOOKS)
    problems = [w for p in res["passes"] for w in p["wrong"]]
    assert not problems, "\n".join(problems)
    assert [(p["state"], p["must_change"]) for p in res["passes"]] == PASSES
    for p in res["passes"]:
        ran = {t.playbook for t in p["tasks"] if not t.skipped and not ansible_run.looks_only(t.action)}
        # every playbook did something in every pass (a play name per playbook, "_" as " ")
        assert ran == {name.replace("_", " ") for name in PLAYBOOKS}, (p["state"], ran)
    assert res["tracebacks"] == 0, (tmp_path / "serve.log").read_text()[-4000:]
