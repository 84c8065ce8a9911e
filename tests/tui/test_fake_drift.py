"""The scripted adapter behind the snapshots answers as the real facade does: for every facade
call the app makes, the scripted answer has the same keys and value types as a real Cloud's
(on the fake driver), and names only trace steps, instance-action events, filters and
weighers the backend really emits. A field added, renamed or retyped in the backend fails
here until the scripted cloud follows."""
from __future__ import annotations

import time

import flow_scenario
import tui_scenario

# maps whose keys are data (network names, weigher names, metadata keys), not a schema
FREE_FORM = {"metadata", "properties", "addresses", "by_weigher"}


def kind(v) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"
    return type(v).__name__


def compare(fake, reals: list, path: str, problems: list[str]) -> None:
    """Problems of `fake` against the values the facade gave for the same place."""
    reals = [r for r in reals if r is not None]
    if fake is None or not reals:  # nullable, or never seen filled in: nothing to compare
        return
    kinds = {kind(r) for r in reals}
    if kind(fake) not in kinds:
        problems.append(f"{path}: scripted {kind(fake)} ({fake!r:.60}), facade {'/'.join(sorted(kinds))}")
        return
    if isinstance(fake, dict):
        dicts = [r for r in reals if isinstance(r, dict)]
        if path.rsplit(".", 1)[-1] not in FREE_FORM:
            keys = set().union(*(r.keys() for r in dicts))
            for k in sorted(keys - fake.keys()):
                problems.append(f"{path}: scripted view lacks '{k}'")
            for k in sorted(fake.keys() - keys):
                problems.append(f"{path}: scripted view has '{k}', the facade does not")
        for k, v in fake.items():
            compare(v, [r[k] for r in dicts if k in r], f"{path}.{k}", problems)
    elif isinstance(fake, list):
        items = [i for r in reals if isinstance(r, list) for i in r]
        for v in fake:
            compare(v, items, f"{path}[]", problems)


def steps(trace: list[dict]) -> set[tuple]:
    """What a trace record names; a host's own queue topic (compute.<host>) as compute.*."""
    topic = lambda t: "compute.*" if t and t.startswith("compute.") else t  # noqa: E731
    return {(r["service"], r["kind"], r["step"], topic(r["topic"]), r["method"]) for r in trace}


def real_views(real) -> dict:
    """A real cloud with one ACTIVE instance, one with no valid host, one whose build failed
    on every host in turn, a volume."""
    from backend.virt.fake import FakeBehaviour, FakeDriver
    img = real.ids["image"]
    big = real.call("create_flavor", "huge", 2, 8192, 1)  # more than a host has
    ok = real.call("create_server", "ok", img, "1")[0]
    bad = real.call("create_server", "bad", img, big["id"])[0]
    real.call("create_volume", 1, name="data")

    def wait(cond, what: str) -> None:
        deadline = time.monotonic() + 20
        while not cond():
            assert time.monotonic() < deadline, f"the real cloud did not get {what}"
            time.sleep(0.05)

    def status(sid: str) -> str:
        return real.call("get_server", sid)["status"]
    # ended, and the build's last trace record written
    wait(lambda: status(ok["id"]) == "ACTIVE" and status(bad["id"]) == "ERROR" and any(
        r["step"] == "build" and r["phase"] == "end" for r in real.call("get_trace", ok["id"])), "ACTIVE, ERROR")
    for h in ("fake-1", "fake-2"):  # a build failing on each host in turn: build_attempts filled in
        FakeDriver.behaviours[h] = FakeBehaviour(fail_spawns=1)
    retried = real.call("create_server", "retried", img, "1")[0]
    wait(lambda: status(retried["id"]) == "ERROR", "a retried build")
    unscoped = real.bt.call(real.cloud.login, "admin", "secret")
    v: dict = {"login": [unscoped], "scope": [real.bt.call(real.cloud.scope, unscoped["token"], "admin")],
               "auth_projects": real.bt.call(real.cloud.auth_projects, unscoped["token"])}
    v["list_servers"] = real.call("list_servers")
    ids = [ok["id"], bad["id"], retried["id"]]
    v["get_server"] = [real.call("get_server", i) for i in ids]
    v["get_trace"] = [r for i in ids for r in real.call("get_trace", i)]
    v["get_flow"] = [real.call("get_flow", i) for i in ids]
    v["explain_server"] = [d for i in ids for d in real.call("explain_server", i)]
    acts = [a for i in ids for a in real.call("list_instance_actions", i)]
    v["list_instance_actions"] = acts
    v["get_instance_action"] = [real.call("get_instance_action", a["instance_uuid"], a["request_id"])
                                for a in acts]
    v["get_console_output"] = [real.call("get_console_output", ok["id"])]
    # a router on 'private' with a gateway, and a floating IP on the ACTIVE instance's port
    ext = real.call("create_network", "public", external=True)
    real.call("create_subnet", ext["id"], "172.24.4.0/24")
    router = real.call("create_router", "r1", gateway={"network_id": ext["id"]})
    private = real.call("list_networks", filters={"name": "private"})[0]
    real.call("add_router_interface", router["id"], subnet_id=private["subnets"][0])
    port = real.call("list_ports", filters={"device_id": ok["id"]})[0]
    real.call("create_floatingip", ext["id"], port_id=port["id"])
    v["list_network_wiring"] = real.call("list_network_wiring")
    for m in ("list_flavors", "list_images", "list_networks", "list_subnets", "list_ports",
              "list_volumes", "list_hypervisors"):
        v[m] = real.call(m)
    return v


def fake_views() -> dict:
    a = tui_scenario.build()
    a.f_create_volume(None, 2, name="data-1")
    tok = a.f_scope(None, "p-admin")["token"]
    servers = a.f_list_servers(tok)
    acts = [x for s in servers for x in a.f_list_instance_actions(tok, s["id"])]
    # the Flow tab's own scenario: a whole create and a failed schedule, record by record
    flows = [flow_scenario.adapter("done"), flow_scenario.adapter("done", failed=True)]
    wiring = a.f_list_network_wiring(tok) + tui_scenario.wired().f_list_network_wiring(tok)
    return {
        "get_flow": [a.f_get_flow(tok, s["id"]) for s in servers] +
                    [f.f_get_flow(tok, sid) for f in flows for sid in f.servers],
        "login": [a.f_login("admin", a.password)], "scope": [a.f_scope(None, "p-admin")],
        "auth_projects": a.f_auth_projects(tok), "list_servers": servers,
        "get_server": [a.f_get_server(tok, s["id"]) for s in servers],
        "get_trace": [r for s in servers for r in a.f_get_trace(tok, s["id"])] +
                     [r for f in flows for t in f.traces.values() for r in t],
        "explain_server": [d for s in servers for d in a.f_explain_server(tok, s["id"])],
        "list_instance_actions": acts,
        "get_instance_action": [a.f_get_instance_action(tok, x["instance_uuid"], x["request_id"]) for x in acts] +
                               [x for f in flows for acts in f.actions.values() for x in acts],
        "get_console_output": [a.f_get_console_output(tok, s["id"]) for s in servers],
        "list_flavors": a.f_list_flavors(tok), "list_images": a.f_list_images(tok),
        "list_networks": a.f_list_networks(tok), "list_subnets": a.f_list_subnets(tok),
        "list_ports": a.f_list_ports(tok), "list_volumes": a.f_list_volumes(tok),
        "list_hypervisors": a.f_list_hypervisors(tok),
        "list_network_wiring": wiring,
    }


def test_scripted_cloud_answers_as_the_facade_does(real):
    reals, fakes = real_views(real), fake_views()
    problems: list[str] = []
    for method, fake in fakes.items():
        assert fake, f"the scenario gives nothing for {method}: nothing would be checked"
        compare(fake, [reals[method]], method, problems)
    # the names drawn in the trace, events and scheduler tabs exist in the backend
    unknown = steps(fakes["get_trace"]) - steps(reals["get_trace"])
    problems += [f"get_trace: step {s} is never emitted" for s in sorted(unknown, key=str)]
    events = {e["event"] for a in reals["get_instance_action"] for e in a["events"]}
    problems += [f"get_instance_action: event {e['event']!r} is never recorded"
                 for a in fakes["get_instance_action"] for e in a["events"] if e["event"] not in events]
    filters = {f["name"] for d in reals["explain_server"] for f in d["filters"]}
    weighers = {n for d in reals["explain_server"] for w in d["weights"] for n in w["by_weigher"]}
    for d in fakes["explain_server"]:
        problems += [f"explain_server: no filter {f['name']!r}" for f in d["filters"] if f["name"] not in filters]
        problems += [f"explain_server: no weigher {n!r}" for w in d["weights"] for n in w["by_weigher"]
                     if n not in weighers]
    problems = list(dict.fromkeys(problems))
    assert not problems, "the scripted cloud drifted from the facade:\n" + "\n".join(problems)


def test_the_drift_check_can_fail():
    """A count where the facade gives a count, and a list where it gives a list, pass; swapped,
    they are reported; so is a key on one side only."""
    problems: list[str] = []
    compare({"hosts_considered": 3, "alternates": ["a"]}, [{"hosts_considered": 2, "alternates": []}], "d", problems)
    assert problems == []
    compare({"hosts_considered": ["a", "b"], "extra": 1}, [{"hosts_considered": 2, "gone": None}], "d", problems)
    assert problems == ["d: scripted view lacks 'gone'", "d: scripted view has 'extra', the facade does not",
                        "d.hosts_considered: scripted list (['a', 'b']), facade number"]
