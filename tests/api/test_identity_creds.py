"""Keystone's credentials and application credentials through the REST API: a credential's
blob is encrypted at rest and seen by its user and admins only; an application credential's
secret is shown once, kept as a bcrypt hash, logs in with the application_credential method
to a token on its project carrying its roles, expires, and its deletion revokes its tokens;
nobody else sees or uses another user's."""
from __future__ import annotations

import datetime as dt
import json
import logging

import pytest

from apihelp import AUTH
from backend.core import db as dbm

pytestmark = pytest.mark.asyncio(loop_scope="module")
V3 = "/identity/v3"


def _app_auth(cred_id: str, secret: str) -> dict:
    return {"auth": {"identity": {"methods": ["application_credential"],
                                  "application_credential": {"id": cred_id, "secret": secret}}}}


async def test_a_credentials_blob_is_encrypted_at_rest_and_only_its_user_and_admins_see_it(env, caplog):
    caplog.set_level(logging.DEBUG)
    blob = json.dumps({"access": "AKIA-mia-1", "secret": "very-secret-mia"})
    r = await env.post(f"{V3}/credentials", {"credential": {"user_id": env.ids["user_mia"], "type": "ec2",
                                                            "project_id": env.ids["project_admin"], "blob": blob}},
                       who="mia")
    assert r.status_code == 201, r.text
    cred = r.json()["credential"]
    assert (cred["blob"], cred["user_id"], cred["type"]) == (blob, env.ids["user_mia"], "ec2")
    stored = dbm.row(env.cloud.rt.db, "SELECT blob FROM credentials WHERE id=?", (cred["id"],))["blob"]
    assert "very-secret-mia" not in stored and "AKIA" not in stored
    assert (await env.get(f"{V3}/credentials/{cred['id']}", who="mia")).json()["credential"]["blob"] == blob
    assert (await env.get(f"{V3}/credentials/{cred['id']}")).status_code == 200  # admin
    # bob (another project's member) neither sees, lists, changes nor deletes it
    assert (await env.get(f"{V3}/credentials/{cred['id']}", who="bob")).status_code == 404
    assert (await env.get(f"{V3}/credentials", who="bob")).json()["credentials"] == []
    r = await env.http.patch(f"{V3}/credentials/{cred['id']}", json={"credential": {"blob": "x"}}, headers=env.h("bob"))
    assert r.status_code == 404
    assert (await env.delete(f"{V3}/credentials/{cred['id']}", who="bob")).status_code == 404
    # nor keeps one for mia
    r = await env.post(f"{V3}/credentials", {"credential": {"user_id": env.ids["user_mia"], "type": "cert",
                                                            "blob": "c"}}, who="bob")
    assert r.status_code == 403
    new = json.dumps({"access": "AKIA-mia-1", "secret": "rotated"})
    r = await env.http.patch(f"{V3}/credentials/{cred['id']}", json={"credential": {"blob": new}}, headers=env.h("mia"))
    assert r.status_code == 200 and r.json()["credential"]["blob"] == new
    assert [c["id"] for c in (await env.get(f"{V3}/credentials?user_id={env.ids['user_mia']}")).json()["credentials"]] == [cred["id"]]
    assert (await env.delete(f"{V3}/credentials/{cred['id']}", who="mia")).status_code == 204
    assert (await env.get(f"{V3}/credentials/{cred['id']}", who="mia")).status_code == 404
    assert "very-secret-mia" not in caplog.text and "rotated" not in caplog.text


async def test_bad_credentials_are_400_naming_the_field_and_nothing_written(env):
    before = await env.state()
    uid = env.ids["user_mia"]
    for body, named in (({"user_id": uid, "type": "ec2", "blob": "{}"}, "project_id"),
                        ({"user_id": uid, "type": "ec2", "blob": "not json", "project_id": env.ids["project_admin"]},
                         "blob"),
                        ({"user_id": uid, "type": "cert"}, "blob"),
                        ({"user_id": "nobody", "type": "cert", "blob": "b"}, "user_id"),
                        ({"user_id": uid, "type": "cert", "blob": "b", "colour": 1}, "colour")):
        r = await env.post(f"{V3}/credentials", {"credential": body}, who="mia")
        assert r.status_code == 400 and named in r.json()["error"]["message"], (body, r.text)
    assert await env.state() == before


async def test_application_credential_lifecycle(env, caplog):
    caplog.set_level(logging.DEBUG)
    uid, pid = env.ids["user_mia"], env.ids["project_admin"]
    base = f"{V3}/users/{uid}/application_credentials"
    expires = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)).replace(tzinfo=None)
    r = await env.post(base, {"application_credential": {"name": "ci", "expires_at": expires.isoformat(),
                                                         "roles": [{"name": "reader"}]}}, who="mia")
    assert r.status_code == 201, r.text
    ac = r.json()["application_credential"]
    secret = ac["secret"]
    assert (ac["project_id"], ac["expires_at"], [x["name"] for x in ac["roles"]]) == (
        pid, expires.isoformat(timespec="microseconds"), ["reader"])
    stored = dbm.row(env.cloud.rt.db, "SELECT * FROM app_credentials WHERE id=?", (ac["id"],))
    assert secret not in json.dumps(stored) and stored["secret_hash"].startswith("$2")
    shown = (await env.get(f"{base}/{ac['id']}", who="mia")).json()["application_credential"]
    assert "secret" not in shown and shown["name"] == "ci"
    assert [x["id"] for x in (await env.get(f"{base}?name=ci", who="mia")).json()["application_credentials"]] == [ac["id"]]
    # it logs in: a token on mia's project with the credential's role only
    r = await env.http.post(AUTH, json=_app_auth(ac["id"], secret))
    assert r.status_code == 201, r.text
    tok = r.json()["token"]
    assert (tok["project"]["id"], [x["name"] for x in tok["roles"]], tok["methods"]) == (
        pid, ["reader"], ["application_credential"])
    assert tok["application_credential"]["id"] == ac["id"]
    assert tok["expires_at"] <= expires.isoformat() + "Z"
    app_token = r.headers["X-Subject-Token"]
    r = await env.http.get(AUTH, headers={**env.h(), "X-Subject-Token": app_token})
    assert r.json()["token"]["application_credential"] == {"id": ac["id"], "name": "ci", "restricted": True}
    # a reader's token: may look, not change
    r = await env.http.post("/network/v2.0/networks", json={"network": {"name": "n"}}, headers={"X-Auth-Token": app_token})
    assert r.status_code == 403
    # wrong secret, name by another user, others' access
    assert (await env.http.post(AUTH, json=_app_auth(ac["id"], secret + "x"))).status_code == 401
    assert (await env.http.post(AUTH, json=_app_auth("nope", secret))).status_code == 401
    assert (await env.get(f"{base}/{ac['id']}", who="bob")).status_code == 404
    assert (await env.get(base, who="bob")).status_code == 404
    assert (await env.delete(f"{base}/{ac['id']}", who="bob")).status_code == 404
    r = await env.post(base, {"application_credential": {"name": "mine"}}, who="bob")
    assert r.status_code == 403
    # a role mia does not hold cannot be delegated; a restricted credential makes no other
    r = await env.post(base, {"application_credential": {"name": "boss", "roles": [{"name": "admin"}]}}, who="mia")
    assert r.status_code == 400 and "admin" in r.json()["error"]["message"]
    r = await env.http.post(base, json={"application_credential": {"name": "child"}},
                            headers={"X-Auth-Token": app_token})
    assert r.status_code == 403
    # deleting it revokes its tokens
    assert (await env.delete(f"{base}/{ac['id']}", who="mia")).status_code == 204
    r = await env.http.get(AUTH, headers={**env.h(), "X-Subject-Token": app_token})
    assert r.status_code == 404
    assert (await env.http.post(AUTH, json=_app_auth(ac["id"], secret))).status_code == 401
    assert secret not in caplog.text


async def test_application_credential_expiry_and_bad_input(env):
    uid = env.ids["user_mia"]
    base = f"{V3}/users/{uid}/application_credentials"
    before = await env.state()
    for body, named in (({"name": "old", "expires_at": "2001-01-01T00:00:00"}, "expires_at"),
                        ({"name": "bad", "expires_at": "tomorrow"}, "expires_at"),
                        ({"name": ""}, "name"), ({"name": "x", "colour": 1}, "colour"),
                        ({"name": "x", "roles": "reader"}, "roles"), ({"name": "x", "unrestricted": "maybe"},
                                                                     "unrestricted")):
        r = await env.post(base, {"application_credential": body}, who="mia")
        assert r.status_code == 400 and named in r.json()["error"]["message"], (body, r.text)
    assert await env.state() == before
    r = await env.post(base, {"application_credential": {"name": "soon", "secret": "s" * 100}}, who="mia")
    ac = r.json()["application_credential"]
    assert ac["secret"] == "s" * 100
    # a secret longer than bcrypt's 72 bytes counts in full
    assert (await env.http.post(AUTH, json=_app_auth(ac["id"], "s" * 99 + "t"))).status_code == 401
    assert (await env.http.post(AUTH, json=_app_auth(ac["id"], "s" * 100))).status_code == 201
    # once expired it no longer logs in
    env.cloud.rt.db.conn.execute("UPDATE app_credentials SET expires_at=1 WHERE id=?", (ac["id"],))
    assert (await env.http.post(AUTH, json=_app_auth(ac["id"], "s" * 100))).status_code == 401
    assert (await env.post(base, {"application_credential": {"name": "soon"}}, who="mia")).status_code == 409


async def test_ec2_credentials_of_a_user(env):
    uid, pid = env.ids["user_bob"], env.ids["project_other"]
    base = f"{V3}/users/{uid}/credentials/OS-EC2"
    r = await env.post(base, {"tenant_id": pid}, who="bob")
    assert r.status_code == 201, r.text
    ec2 = r.json()["credential"]
    assert (ec2["user_id"], ec2["tenant_id"]) == (uid, pid) and ec2["access"] and ec2["secret"]
    stored = dbm.rows(env.cloud.rt.db, "SELECT blob FROM credentials WHERE user_id=?", (uid,))
    assert stored and all(ec2["secret"] not in s["blob"] for s in stored)
    shown = (await env.get(f"{base}/{ec2['access']}", who="bob")).json()["credential"]
    assert {k: shown[k] for k in ("access", "secret", "user_id", "tenant_id")} == {
        k: ec2[k] for k in ("access", "secret", "user_id", "tenant_id")}
    assert [c["access"] for c in (await env.get(base, who="bob")).json()["credentials"]] == [ec2["access"]]
    # mia sees none of bob's, makes none for him, and none for herself on a project she has no role on
    assert (await env.get(f"{base}/{ec2['access']}", who="mia")).status_code == 404
    assert (await env.post(base, {"tenant_id": pid}, who="mia")).status_code == 404
    r = await env.post(f"{V3}/users/{env.ids['user_mia']}/credentials/OS-EC2", {"tenant_id": pid}, who="mia")
    assert r.status_code == 403
    r = await env.post(base, {"tenant_id": pid, "colour": 1}, who="bob")
    assert r.status_code == 400 and "colour" in r.json()["error"]["message"]
    assert (await env.delete(f"{base}/{ec2['access']}", who="bob")).status_code == 204
    assert (await env.get(f"{base}/{ec2['access']}", who="bob")).status_code == 404
