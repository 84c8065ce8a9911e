"""Ansible's openstack.cloud collection against a throwaway `pocketstack serve` on fake hosts.

    python -m conformance.ansible.run                  # every playbook, the four passes
    python -m conformance.ansible.run servers volumes  # only these playbooks

Each playbook here manages one kind of resource and is run four times with the variable
`state`: present (everything is made: every task reports changed), present again (nothing
changes), absent (everything goes: changed) and absent again (nothing changes). Ansible runs
from its own venv (.venv-ansible, conformance/ansible/install.sh); it reaches the cloud
through a clouds.yaml (cloud `pocketstack`) written into the run's workspace."""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT))

from conformance import cloud as cloudmod  # noqa: E402

VENV = ROOT / ".venv-ansible"
PLAYBOOKS = ["projects", "users", "role_assignments", "quotas", "images", "networks", "subnets",
             "ports", "routers", "security_groups", "keypairs", "flavors", "server_groups",
             "servers", "volumes"]
LANES = 2  # ansible-playbook processes at once (the machine has 2 cores)
# the passes and whether every task that manages a resource must report changed in each
PASSES = [("present", True), ("present", False), ("absent", True), ("absent", False)]


def looks_only(action: str) -> bool:
    """Assertions and the *_info modules look and never change anything."""
    return action in ("ansible.builtin.assert", "assert") or action.endswith("_info")


def ensure_ansible() -> None:
    stamp, reqs = VENV / ".installed", HERE / "requirements.txt"
    if not stamp.exists() or stamp.stat().st_mtime < reqs.stat().st_mtime:
        subprocess.run(["bash", str(HERE / "install.sh")], check=True)


@dataclass
class Task:
    playbook: str
    name: str
    action: str
    changed: bool
    failed: bool
    skipped: bool
    msg: str


def clouds_yaml(cloud: cloudmod.Cloud) -> str:
    """Cloud `pocketstack`: admin through the token the run logged in with (v3token). Every
    module run authenticates anew: with the password each would cost a bcrypt check (keystone's
    12 rounds, ~0.3 s of the server's CPU), a token costs a look-up."""
    return json.dumps({"clouds": {"pocketstack": {
        "auth_type": "v3token",
        "auth": {"auth_url": cloud.auth_url, "token": cloud.token, "project_name": "admin",
                 "project_domain_name": "Default"},
        "region_name": "RegionOne", "identity_api_version": 3, "interface": "public"}}})


def prepare(work: Path, cloud: cloudmod.Cloud) -> None:
    (work / "clouds.yaml").write_text(clouds_yaml(cloud))
    (work / "image.raw").write_bytes(os.urandom(1 << 20))
    (work / "inventory").write_text(
        f"localhost ansible_connection=local ansible_python_interpreter={VENV}/bin/python\n")


def play(work: Path, playbooks: list[str], state: str, lanes: int = LANES) -> list[Task]:
    """Run the playbooks with `state`, split over `lanes` ansible-playbook processes at once
    (the playbooks share nothing they change); every task's outcome, in playbook order."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "ANSIBLE_"))}
    env.update({"OS_CLIENT_CONFIG_FILE": str(work / "clouds.yaml"), "HOME": str(work),
                "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json", "ANSIBLE_HOME": str(work / "ah"),
                "ANSIBLE_LOCAL_TEMP": str(work / "ah" / "tmp"), "ANSIBLE_NOCOLOR": "1",
                "ANSIBLE_RETRY_FILES_ENABLED": "0", "ANSIBLE_PIPELINING": "1"})
    procs = []
    for lane in range(lanes):
        books = playbooks[lane::lanes]
        if not books:
            continue
        out = open(work / f"ansible-{state}-{lane}.out", "w+")
        procs.append((out, subprocess.Popen(
            [str(VENV / "bin" / "ansible-playbook"), "-i", str(work / "inventory"),
             "-e", f"state={state}", "-e", f"work={work}", *[str(HERE / f"{b}.yml") for b in books]],
            env=env, stdout=out, stderr=subprocess.STDOUT, text=True)))
    tasks = []
    try:
        for out, p in procs:
            p.wait(900)
            out.seek(0)
            tasks += _outcomes(out.read(), p.returncode)
    finally:
        for out, p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
            out.close()
    order = {name.replace("_", " "): i for i, name in enumerate(playbooks)}
    return sorted(tasks, key=lambda t: order.get(t.playbook, len(order)))  # stable: task order kept


def _outcomes(text: str, returncode: int) -> list[Task]:
    # the json callback prints a document at the end of each playbook, each holding every play
    # so far: the last one is the whole run (warnings may come before the first)
    starts = [m.start() for m in re.finditer(r"^\{$", text, re.M)]
    if not starts:
        raise SystemExit(f"ansible-playbook gave no JSON (exit {returncode}):\n{text[-6000:]}")
    out, _ = json.JSONDecoder().raw_decode(text, starts[-1])
    return [Task(pl["play"]["name"], t["task"]["name"], r.get("action", ""), bool(r.get("changed")),
                 bool(r.get("failed")), bool(r.get("skipped")), str(r.get("msg", ""))[:2000])
            for pl in out["plays"] for t in pl["tasks"] for r in t["hosts"].values()]


def wrong(tasks: list[Task], state: str, must_change: bool) -> list[str]:
    """What is not as the pass expects: failures, and tasks changed or not as they should."""
    bad = []
    for t in tasks:
        if t.skipped:
            continue
        if t.failed:
            bad.append(f"{t.playbook} / {t.name} ({state}): failed: {t.msg}")
        elif not looks_only(t.action) and t.changed != must_change:
            bad.append(f"{t.playbook} / {t.name} ({state}): "
                       f"{'unchanged' if must_change else 'changed'}, expected "
                       f"{'changed' if must_change else 'nothing changed'}")
    return bad


def run(work: Path, playbooks: list[str]) -> dict:
    """Start the cloud, run the four passes; per pass the tasks and what was wrong."""
    ensure_ansible()
    cloud = cloudmod.start(work)
    try:
        cloudmod.prepare(cloud)
        prepare(work, cloud)
        passes = []
        for state, must_change in PASSES:
            tasks = play(work, playbooks, state)
            passes.append({"state": state, "must_change": must_change, "tasks": tasks,
                           "wrong": wrong(tasks, state, must_change)})
            if any(t.failed for t in tasks):
                break  # what comes after a failure would only repeat it
    finally:
        cloud.stop()
    # an exception the API did not turn into an OpenStack error is logged with its traceback
    return {"passes": passes, "tracebacks": cloud.log.read_text(errors="replace").count("Traceback")}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("playbooks", nargs="*", help=f"of: {' '.join(PLAYBOOKS)} (default: all)")
    ap.add_argument("--work", type=Path, help="keep the workspace here (clouds.yaml, serve.log)")
    args = ap.parse_args(argv)
    if unknown := set(args.playbooks) - set(PLAYBOOKS):
        ap.error(f"no such playbook: {', '.join(sorted(unknown))}")
    with tempfile.TemporaryDirectory(prefix="ansible-conformance-") as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        res = run(work, args.playbooks or PLAYBOOKS)
    bad = [w for p in res["passes"] for w in p["wrong"]]
    for p in res["passes"]:
        ran = [t for t in p["tasks"] if not t.skipped]
        print(f"{p['state']:8} {'changed' if p['must_change'] else 'unchanged':9} "
              f"{len(ran)} tasks, {len(p['wrong'])} not as expected")
    for line in bad:
        print("  " + line)
    print(f"tracebacks in serve.log: {res['tracebacks']}")
    ok = not bad and len(res["passes"]) == len(PASSES) and not res["tracebacks"]
    print(f"{len(args.playbooks or PLAYBOOKS)} playbooks: {'as expected' if ok else 'NOT as expected'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
