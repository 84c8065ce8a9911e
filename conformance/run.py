"""`make conformance`: Tempest against a throwaway `pocketstack serve` on fake hosts.

    python -m conformance.run                       # the in-scope groups, figures per group
    python -m conformance.run --load-list FILE      # exactly these tests (CI: expected-pass.txt)
    python -m conformance.run --regex 'tempest.api.compute.keypairs'

Prints `N passed, M failed, K skipped` and the failures; --expect FILE exits 1 when a test
named in FILE did not pass. Tempest runs from its own venv (conformance/install.sh)."""
from __future__ import annotations

import argparse
import csv
import io
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from conformance import cloud as cloudmod  # noqa: E402
from conformance import tempestconf  # noqa: E402

TEMPEST_VENV = ROOT / ".venv-tempest"
# the in-scope groups of the conformance target (issue 9), as test-id regexes
GROUPS = {
    "identity": r"tempest\.api\.identity\.(admin\.)?v3\.",
    "compute": (r"tempest\.api\.compute\.(servers|flavors|keypairs|limits|images|security_groups"
                r"|test_quotas|test_versions|test_extensions"
                r"|admin\.test_(quotas|hypervisor|services|availability_zone|hosts|flavors|servers))"),
    "image": r"tempest\.api\.image\.v2\.",
    "network": (r"tempest\.api\.network\.(test_networks|test_ports|test_extensions|admin\.test_ports"
                r"|(admin\.)?test_routers|(admin\.)?test_floating_ips)"),
    "volume": (r"tempest\.api\.volume\.(test_volumes_get|test_volumes_list|test_volume_metadata"
               r"|test_availability_zone|test_versions|admin\.test_volume_types)"),
}
_ATTRS = re.compile(r"\[.*\]$")


def test_id(name: str) -> str:
    """A test's id without its [attributes]; a class-level error keeps its class in parentheses."""
    return _ATTRS.sub("", name.strip())


def group_of(tid: str) -> str:
    m = re.search(r"\((tempest\.[^)]*)\)", tid)
    tid = m.group(1) if m else tid
    for g, rx in GROUPS.items():
        if re.match(rx, tid):
            return g
    return "other"


def ensure_tempest() -> None:
    if not (TEMPEST_VENV / "bin" / "tempest").exists():
        subprocess.run(["bash", str(ROOT / "conformance" / "install.sh")], check=True)


def init_workspace(work: Path) -> tuple[Path, str, str]:
    ws = work / "tempest"
    tempest = str(TEMPEST_VENV / "bin" / "tempest")
    stestr = str(TEMPEST_VENV / "bin" / "stestr")
    # tempest keeps a registry of workspaces in $HOME/.tempest: this run's HOME is its own
    subprocess.run([tempest, "init", str(ws)], check=True, capture_output=True, env=tempest_env(work))
    return ws, tempest, stestr


def tempest_env(work: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env.update({"HOME": str(work), "TEMPEST_CONFIG_DIR": str(work / "tempest" / "etc")})
    return env


def results(ws: Path, stestr: str) -> list[tuple[str, str]]:
    sub = subprocess.run([stestr, "last", "--subunit"], cwd=ws, capture_output=True,
                         env=tempest_env(ws.parent))
    csvout = subprocess.run([str(TEMPEST_VENV / "bin" / "subunit2csv"), "--no-passthrough"],
                            input=sub.stdout, capture_output=True)  # exits 1 on failures
    rows = list(csv.reader(io.StringIO(csvout.stdout.decode())))
    out = {}
    for row in rows[1:]:
        if len(row) < 2:
            continue
        tid, status = test_id(row[0]), row[1]
        # worst wins when a test reports twice (a class error after a pass)
        if out.get(tid) != "failure":
            out[tid] = status
    return sorted(out.items())


def summarise(items: list[tuple[str, str]]) -> dict:
    per: dict[str, dict[str, int]] = {}
    total = {"passed": 0, "failed": 0, "skipped": 0}
    failures = []
    for tid, status in items:
        kind = {"success": "passed", "skip": "skipped", "xfail": "passed"}.get(status, "failed")
        g = per.setdefault(group_of(tid), {"passed": 0, "failed": 0, "skipped": 0})
        g[kind] += 1
        total[kind] += 1
        if kind == "failed":
            failures.append(tid)
    return {"groups": per, "total": total, "failures": failures,
            "passed": [t for t, s in items if s in ("success", "xfail")]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sel = ap.add_mutually_exclusive_group()
    sel.add_argument("--regex", help="run the tests whose id matches (default: the in-scope groups)")
    sel.add_argument("--load-list", type=Path, help="run exactly the test ids in this file")
    ap.add_argument("--expect", type=Path, help="exit 1 unless every test id in this file passed")
    ap.add_argument("--concurrency", type=int, default=max(2, os.cpu_count() or 2))
    ap.add_argument("--results", type=Path, help="write the results as JSON here")
    ap.add_argument("--work", type=Path, help="keep the workspace here (default: a temp dir)")
    args = ap.parse_args(argv)

    ensure_tempest()
    with tempfile.TemporaryDirectory(prefix="conformance-") as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        ws, tempest, stestr = init_workspace(work)
        cloud = cloudmod.start(work)
        try:
            offers = cloudmod.prepare(cloud)
            tempestconf.write(ws / "etc" / "tempest.conf", cloud, offers, args.concurrency)
            cmd = [tempest, "run", "--concurrency", str(args.concurrency)]
            if args.load_list:
                ids = [line.split("#")[0].strip() for line in args.load_list.read_text().splitlines()]
                # the ids are kept without their [id-...,smoke] attributes: match them as regexes
                listed = ws / "include-list.txt"
                listed.write_text("".join(f"^{re.escape(i)}(\\[|$)\n" for i in ids if i))
                cmd += ["--include-list", str(listed)]
            else:
                cmd += ["--regex", args.regex or "|".join(f"({rx})" for rx in GROUPS.values())]
            print(f"pocketstack serve at {cloud.url}; running tempest "
                  f"(concurrency {args.concurrency})...", flush=True)
            out = ws / "tempest-run.out"
            with open(out, "w") as f:
                subprocess.run(cmd, cwd=ws, stdout=f, stderr=subprocess.STDOUT, env=tempest_env(work))
            items = results(ws, stestr)
            if not items:
                # a bad tempest.conf fails at discovery: no test ran, and that is an error
                print(out.read_text(errors="replace")[-4000:])
                print("tempest ran no test")
                return 2
        finally:
            cloud.stop()
        # tempest logs every request as "Request (Test:method): 200 GET url ..."
        log = ws / "logs" / "tempest.log"
        five = sum(1 for line in (log.read_text(errors="replace").splitlines() if log.exists() else [])
                   if re.search(r"\): 5\d\d [A-Z]+ ", line))
        s = summarise(items)
        s["answered_5xx"] = five
        for g, c in sorted(s["groups"].items()):
            print(f"  {g:9} {c['passed']:4} passed, {c['failed']:4} failed, {c['skipped']:4} skipped")
        if s["failures"]:
            print("failures:")
            for f in s["failures"]:
                print(f"  {f}")
        print(f"answered 5xx: {five} request(s)")
        t = s["total"]
        print(f"{t['passed']} passed, {t['failed']} failed, {t['skipped']} skipped")
        if args.results:
            args.results.write_text(json.dumps(s, indent=1))
        if args.expect:
            want = {line.split("#")[0].strip() for line in args.expect.read_text().splitlines()}
            want.discard("")
            missing = sorted(want - set(s["passed"]))
            if missing:
                print(f"{len(missing)} expected to pass did not:")
                for m in missing:
                    print(f"  {m}")
                return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
