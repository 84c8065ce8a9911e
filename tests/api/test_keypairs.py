"""nova's os-keypairs: generated and imported keys, per user, 409 on a duplicate, 400 naming the
field, key_name at server create kept on the server (and in the config drive's public_keys)."""
from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from backend.virt.driver import GuestSpec
from backend.virt.qemu.configdrive import meta_data

pytestmark = pytest.mark.asyncio(loop_scope="module")
V = "/compute/v2.1"
K = f"{V}/os-keypairs"


def a_public_key() -> str:
    return ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode() + " me@here"


async def test_generate_show_list_delete(env):
    r = await env.post(K, {"keypair": {"name": "gen-1"}}, who="mia")
    assert r.status_code == 200, r.text
    kp = r.json()["keypair"]
    assert kp["private_key"].startswith("-----BEGIN RSA PRIVATE KEY-----")
    assert kp["public_key"].startswith("ssh-rsa ") and kp["user_id"] == env.ids["user_mia"]
    assert len(kp["fingerprint"].split(":")) == 16
    shown = (await env.get(f"{K}/gen-1", who="mia")).json()["keypair"]
    assert set(shown) == {"id", "name", "public_key", "fingerprint", "user_id", "created_at", "updated_at",
                          "deleted_at", "deleted"}
    assert "private_key" not in shown and shown["fingerprint"] == kp["fingerprint"]
    listed = (await env.get(K, who="mia")).json()["keypairs"]
    assert [k["keypair"]["name"] for k in listed] == ["gen-1"]
    # per user: another user of the same project sees none of them
    assert (await env.get(K, who="rita")).json()["keypairs"] == []
    assert (await env.get(f"{K}/gen-1", who="bob")).status_code == 404
    assert (await env.delete(f"{K}/gen-1", who="bob")).status_code == 404
    assert (await env.delete(f"{K}/gen-1", who="mia")).status_code == 202
    assert (await env.get(f"{K}/gen-1", who="mia")).status_code == 404


async def test_import_and_duplicate(env):
    pub = a_public_key()
    r = await env.post(K, {"keypair": {"name": "imp 1", "public_key": pub}}, who="mia")
    assert r.status_code == 200 and "private_key" not in r.json()["keypair"]
    assert r.json()["keypair"]["public_key"] == pub
    r = await env.post(K, {"keypair": {"name": "imp 1"}}, who="mia")
    assert r.status_code == 409 and "imp 1" in r.json()["conflictingRequest"]["message"]
    # the same name for another user is theirs
    assert (await env.post(K, {"keypair": {"name": "imp 1", "public_key": pub}}, who="bob")).status_code == 200


@pytest.mark.parametrize("body,word", [
    ({"keypair": {"name": ""}}, "keypair.name"),
    ({"keypair": {"name": "k" * 256}}, "keypair.name"),
    ({"keypair": {"name": "key_/.\\@:"}}, "keypair.name"),
    ({"keypair": {"name": "k1", "public_key": "ssh-rsa JUNK nova@ubuntu"}}, "keypair.public_key"),
    ({"keypair": {"name": "k1", "public_key": " "}}, "keypair.public_key"),
    ({"keypair": {"name": "k1", "public_key": "ssh-rsa " + "A" * 2048 + " x@y"}}, "keypair.public_key"),
    ({"keypair": {"name": "k1", "bogus": 1}}, "bogus"),
])
async def test_bad_input_is_400_and_writes_nothing(env, body, word):
    r = await env.post(K, body, who="mia")
    assert r.status_code == 400, r.text
    assert word in r.json()["badRequest"]["message"]
    names = [k["keypair"]["name"] for k in (await env.get(K, who="mia")).json()["keypairs"]]
    assert "k1" not in names


async def test_reader_cannot_create(env):
    assert (await env.post(K, {"keypair": {"name": "r1"}}, who="rita")).status_code == 403


async def test_server_keeps_its_key_name(env):
    pub = a_public_key()
    assert (await env.post(K, {"keypair": {"name": "srv-key", "public_key": pub}}, who="mia")).status_code == 200
    body = {"server": {"name": "keyed", "imageRef": env.ids["image"], "flavorRef": "1",
                       "networks": [{"uuid": env.ids["network"]}], "key_name": "srv-key"}}
    r = await env.post(f"{V}/servers", body, who="mia")
    assert r.status_code == 202, r.text
    sid = r.json()["server"]["id"]
    s = (await env.get(f"{V}/servers/{sid}", who="mia")).json()["server"]
    assert s["key_name"] == "srv-key"
    row = env.cloud.rt.store.get(sid)
    assert row["key_data"] == pub
    # someone else's key, or none: 400 naming key_name, no server made
    before = len((await env.get(f"{V}/servers", who="bob")).json()["servers"])
    body["server"]["key_name"] = "srv-key"
    r = await env.post(f"{V}/servers", body, who="bob")
    assert r.status_code == 400 and "key_name" in r.json()["badRequest"]["message"]
    assert len((await env.get(f"{V}/servers", who="bob")).json()["servers"]) == before


async def test_config_drive_carries_public_keys_and_metadata():
    g = GuestSpec(uuid="u", name="n", hostname="h", project_id="p", availability_zone="nova", vcpus=1,
                  memory_mb=64, root_gb=1, public_keys={"k": "ssh-ed25519 AAAA"}, metadata={"hostname": "x"})
    md = meta_data(g)
    assert md["public_keys"] == {"k": "ssh-ed25519 AAAA"} and md["meta"] == {"hostname": "x"}
    # the guest reads the first "hostname" line: the server's own comes before any metadata key
    assert list(md).index("hostname") < list(md).index("meta")
