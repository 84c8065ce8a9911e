"""Over --url: the glossary comes from GET /pocketstack/v1/glossary, and the launch form's
capacity hint reads the same numbers from the REST hypervisor view as in-process."""
from __future__ import annotations

import httpx
from test_remote import start_cloud

from backend.api import create_app
from backend.core import glossary
from tui.remote import RemoteAdapter
from tui.screens.launch import fits_somewhere


async def test_glossary_and_capacity_over_the_rest_api(tmp_path):
    cloud, tok, _ = await start_cloud(tmp_path)
    try:
        transport = httpx.ASGITransport(app=create_app(cloud))
        adapter = RemoteAdapter("http://api.test", transport=transport)
        await adapter.login("admin", "secret")
        await adapter.scope((await adapter.projects())[0]["id"])
        assert await adapter.call("glossary") == glossary.entries()
        local, remote = await cloud.list_hypervisors(tok), await adapter.call("list_hypervisors")
        assert [h["reserved_host_memory_mb"] for h in remote] == [h["reserved_host_memory_mb"] for h in local]
        for flavor in ({"vcpus": 1, "ram": 3584, "disk": 1}, {"vcpus": 1, "ram": 3585, "disk": 1}):
            assert fits_somewhere(flavor, remote) == fits_somewhere(flavor, local)
        assert fits_somewhere({"vcpus": 1, "ram": 3585, "disk": 1}, remote).startswith("fits no host")
        # without a token: 401, as every other route
        r = await httpx.AsyncClient(transport=transport, base_url="http://api.test").get(
            "/pocketstack/v1/glossary")
        assert r.status_code == 401
        await adapter.http.aclose()
    finally:
        await cloud.stop()
