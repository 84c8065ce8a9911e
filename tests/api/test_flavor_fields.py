"""Flavors keep nova's swap, OS-FLV-EXT-DATA:ephemeral and rxtx_factor; bad values 400 naming the field."""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.asyncio(loop_scope="module")
F = "/compute/v2.1/flavors"


async def test_swap_ephemeral_rxtx_kept_and_shown(env):
    r = await env.post(F, {"flavor": {"name": "sw.1", "ram": 64, "vcpus": 1, "disk": 1, "id": 901,
                                      "swap": 1024, "OS-FLV-EXT-DATA:ephemeral": "10", "rxtx_factor": 2}})
    assert r.status_code == 200, r.text
    for f in (r.json()["flavor"], (await env.get(f"{F}/901")).json()["flavor"],
              next(f for f in (await env.get(f"{F}/detail")).json()["flavors"] if f["id"] == "901")):
        assert (f["swap"], f["OS-FLV-EXT-DATA:ephemeral"], f["rxtx_factor"]) == (1024, 10, 2.0)
    # without swap nova 2.1 shows ""
    nano = (await env.get(f"{F}/1")).json()["flavor"]
    assert (nano["swap"], nano["OS-FLV-EXT-DATA:ephemeral"], nano["rxtx_factor"]) == ("", 0, 1.0)
    assert (await env.delete(f"{F}/901")).status_code == 202


@pytest.mark.parametrize("field,value", [("swap", -1), ("swap", "lots"), ("OS-FLV-EXT-DATA:ephemeral", -5),
                                         ("rxtx_factor", 0), ("rxtx_factor", "2")])
async def test_bad_values_name_the_field_and_write_nothing(env, field, value):
    r = await env.post(F, {"flavor": {"name": "bad.1", "ram": 64, "vcpus": 1, "disk": 1, field: value}})
    assert r.status_code == 400 and field in r.json()["badRequest"]["message"], r.text
    assert "bad.1" not in [f["name"] for f in (await env.get(F)).json()["flavors"]]
