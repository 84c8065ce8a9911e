"""The same hardening through the facade (what the app and the CLI reach), on the fake driver:
token validation rights, bcrypt's 72 bytes, a project's leftovers, names with control or
bidi characters, the integer parser, the console for readers, ?host= for non-admins and
networks 'auto' without a usable network."""
from __future__ import annotations

import pytest

from backend.core.errors import BadRequest, Conflict, Forbidden, NotFound, Unauthorized
from backend.identity import check_name
from backend.core.inputs import parse_int
from cloudhelp import wait_for


async def _member(cloud, admin, name, project="admin", role="member", password=None):
    await cloud.create_user(admin, name, password or f"{name}-pw")
    await cloud.grant_role(admin, project, name, role)
    return (await cloud.login(name, password or f"{name}-pw", project))["token"]


async def test_validating_another_users_token_needs_admin(cloud, admin):
    ann = await _member(cloud, admin, "ann")
    ben = await _member(cloud, admin, "ben")
    with pytest.raises(Forbidden):
        await cloud.validate_token(ben, ann)
    assert (await cloud.validate_token(admin, ann))["user"]["name"] == "ann"
    ann2 = (await cloud.login("ann", "ann-pw"))["token"]
    assert (await cloud.validate_token(ann2, ann))["user"]["name"] == "ann"
    with pytest.raises(Forbidden):
        await cloud.revoke_token(ben, ann)
    await cloud.revoke_token(ann, ann)
    for who in (admin, ben, ann2):
        with pytest.raises(NotFound):
            await cloud.validate_token(who, ann)
    with pytest.raises(NotFound):
        await cloud.revoke_token(admin, ann)
    with pytest.raises(Unauthorized):  # the caller's own revoked token
        await cloud.validate_token(ann, ben)


async def test_passwords_are_compared_whole_and_capped_at_72_bytes(cloud, admin):
    pw = "ü" * 36  # 72 bytes
    await _member(cloud, admin, "cap", password=pw)
    for extra in ("x", "ü", pw):
        with pytest.raises(Unauthorized):
            await cloud.login("cap", pw + extra, "admin")
    assert await cloud.login("cap", pw, "admin")
    with pytest.raises(BadRequest, match="72 bytes"):
        await cloud.create_user(admin, "over", "ü" * 36 + "x")
    with pytest.raises(BadRequest, match="72 bytes"):
        await cloud.update_user(admin, "cap", password="y" * 73)
    for bad in ("\ud800", "a\udfffb"):  # not text: a 400, not a UnicodeEncodeError
        with pytest.raises(BadRequest, match="password"):
            await cloud.create_user(admin, "surrogate", bad)
        with pytest.raises((BadRequest, Unauthorized)):
            await cloud.login("cap", bad, "admin")


async def test_a_project_with_resources_is_not_deleted(cloud, admin, image):
    p = await cloud.create_project(admin, "leftovers")
    tok = await _member(cloud, admin, "lefty", "leftovers")
    net = await cloud.create_network(tok, "lnet")
    vol = await cloud.create_volume(tok, 1, "lvol")
    img = await cloud.create_image(tok, "limg")
    grp = await cloud.create_server_group(tok, "lgrp", "affinity")
    with pytest.raises(Conflict) as e:
        await cloud.delete_project(admin, p["id"])
    for word in ("1 network(s)", "1 volume(s)", "1 image(s)", "1 server group(s)"):
        assert word in e.value.message, e.value.message
    assert (await cloud.get_project(admin, p["id"]))["name"] == "leftovers"
    await cloud.delete_network(tok, net["id"])
    await cloud.delete_volume(tok, vol["id"])
    await cloud.delete_image(tok, img["id"])
    await cloud.delete_server_group(tok, grp["id"])
    await cloud.delete_project(admin, p["id"])
    with pytest.raises(NotFound):
        await cloud.get_project(admin, p["id"])


@pytest.mark.parametrize("name", ["a\x00b", "a\tb", "a\nb", "\x1b[2J", "del\x7f", "c1\x85", "csi\x9b",
                                  "\u202aembed", "rlo\u202e", "\u2066iso", "pdi\u2069", "ls\u2028", "ps\u2029",
                                  "\ud83d"])
def test_names_refuse_controls_and_bidi(name):
    with pytest.raises(BadRequest, match=r"server name contains the character U\+[0-9A-F]{4}"):
        check_name("server", name)


@pytest.mark.parametrize("name", ["web-1", "café", "日本語", "emoji 🚀", "a.b_c", "x" * 255, "\u200dzwj"])
def test_ordinary_names_pass(name):
    assert check_name("server", name) == name


@pytest.mark.parametrize("value,expect", [
    (5, 5), ("5", 5), (" 7 ", 7), ("-3", -3), ("+4", 4), ("0" * 18, 0), (10 ** 30, 10 ** 30)])
def test_parse_int_accepts(value, expect):
    assert parse_int(value, "n") == expect


@pytest.mark.parametrize("value", ["²", "٣", "１", "१", "1" * 19, "1" * 5000, "", " ", "1.0", "1e3", "0x1",
                                   "1_0", True, 1.0, None, [1], {"a": 1}])
def test_parse_int_refuses_with_the_field_name(value):
    with pytest.raises(BadRequest, match="'count'"):
        parse_int(value, "count")


async def test_compute_refuses_odd_integers_with_400(cloud, admin, image):
    for v in ("²", "٣", "1" * 5000):
        with pytest.raises(BadRequest, match="min_count"):
            await cloud.create_server(admin, "odd", image, "1", min_count=v)
    assert await cloud.list_servers(admin, all_projects=True) == []


async def test_reader_cannot_read_the_console_and_host_filter_is_admin_only(cloud, admin, image):
    s = (await cloud.create_server(admin, "c", image, "1"))[0]
    await wait_for(cloud, admin, s["id"], "ACTIVE")
    reader = await _member(cloud, admin, "rdr", role="reader")
    with pytest.raises(Forbidden, match="console"):
        await cloud.get_console_output(reader, s["id"])
    assert isinstance(await cloud.get_console_output(admin, s["id"]), str)
    mem = await _member(cloud, admin, "mem")
    mine = [x["id"] for x in await cloud.list_servers(mem)]
    for host in ("fake-1", "fake-2", "fake-3", "nowhere"):
        assert [x["id"] for x in await cloud.list_servers(mem, filters={"host": host})] == mine
    assert await cloud.list_servers(admin, filters={"host": "nowhere"}) == []


async def test_networks_auto_without_a_network_with_subnet_is_400_before_accepting(cloud, admin, image):
    for n in await cloud.list_networks(admin):
        await cloud.delete_network(admin, n["id"])
    await cloud.create_network(admin, "bare")  # no subnet
    for nets in ("auto", None):
        with pytest.raises(BadRequest, match="subnet"):
            await cloud.create_server(admin, "auto", image, "1", networks=nets)
    assert await cloud.list_servers(admin, all_projects=True) == []
    net = await cloud.create_network(admin, "good")
    await cloud.create_subnet(admin, net["id"], "192.168.7.0/24")
    s = (await cloud.create_server(admin, "auto", image, "1", networks="auto"))[0]
    s = await wait_for(cloud, admin, s["id"], "ACTIVE")
    assert list(s["addresses"]) == ["good"]
