"""The REST API against a real Cloud (temp state dir, fake hosts), over httpx's ASGI transport
on the same event loop the cloud runs on. One cloud per test module: modules declare
`pytestmark = pytest.mark.asyncio(loop_scope="module")`."""
from __future__ import annotations

import httpx
import pytest_asyncio

from apihelp import AUTH, Env, make_config, password_body
from backend.api import create_app
from backend.facade import Cloud


async def _grant(env: Env, project: str, user: str, role: str) -> None:
    roles = {r["name"]: r["id"] for r in (await env.get("/identity/v3/roles")).json()["roles"]}
    r = await env.http.put(f"/identity/v3/projects/{env.ids['project_' + project]}/users/"
                           f"{env.ids['user_' + user]}/roles/{roles[role]}", headers=env.h())
    assert r.status_code == 204, r.text


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def env(tmp_path_factory):
    """admin (admin of 'admin'), mia (member of 'admin'), rita (reader of 'admin'),
    bob (member of 'other'), plus a public image 'cirros' with data."""
    config = make_config(tmp_path_factory.mktemp("api"))
    Cloud.init(config, "secret")
    cloud = Cloud(config)
    await cloud.start()
    app = create_app(cloud)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://pocketstack.test") as http:
        e = Env(cloud, http)
        e.tokens["admin"] = await e.login("admin", "secret", "admin")
        body = (await http.post(AUTH, json=password_body("admin", "secret", "admin"))).json()
        e.ids["project_admin"] = body["token"]["project"]["id"]
        r = await e.post("/identity/v3/projects", {"project": {"name": "other"}})
        e.ids["project_other"] = r.json()["project"]["id"]
        for user, project, role in (("mia", "admin", "member"), ("rita", "admin", "reader"),
                                    ("bob", "other", "member")):
            r = await e.post("/identity/v3/users", {"user": {"name": user, "password": f"{user}-pw"}})
            assert r.status_code == 201, r.text
            e.ids["user_" + user] = r.json()["user"]["id"]
            await _grant(e, project, user, role)
            e.tokens[user] = await e.login(user, f"{user}-pw", project)
        e.ids["project_bob"] = e.ids["project_other"]
        for who in ("mia", "rita"):
            e.ids["project_" + who] = e.ids["project_admin"]
        r = await e.post("/image/v2/images", {"name": "cirros", "disk_format": "raw",
                                              "container_format": "bare", "visibility": "public"})
        assert r.status_code == 201, r.text
        e.ids["image"] = r.json()["id"]
        r = await http.put(f"/image/v2/images/{e.ids['image']}/file", content=b"\0" * 8192,
                           headers=e.h(**{"Content-Type": "application/octet-stream"}))
        assert r.status_code == 204, r.text
        nets = (await e.get("/network/v2.0/networks?name=private")).json()["networks"]
        e.ids["network"] = nets[0]["id"]
        yield e
    await cloud.stop()
