"""POST /servers as nova parses it at the request's microversion: the 2.1 body, device tags
on networks and block devices (2.32, again from 2.42), `networks` required with 'auto'/'none'
(2.37), `description` (2.19) and `tags` (2.52). The answer carries `adminPass`: the one given,
else a generated one (nova's enable_instance_password default); it is never stored."""
from __future__ import annotations

import secrets
import string

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from backend.api import microversion
from backend.api.common import (REQUEST_ID_KEY, check_fields, parse_object, read_json, token_of, want_bool,
                                want_int, want_str)
from backend.api.server_views import ServerRenderer, is_uuid
from backend.core.errors import BadRequest
from backend.core.inputs import check_access_ip, check_metadata

PASSWORD_LENGTH = 12  # nova's password_length default
_PASSWORD_CHARS = string.ascii_letters + string.digits


def generate_password() -> str:
    return "".join(secrets.choice(_PASSWORD_CHARS) for _ in range(PASSWORD_LENGTH))


def _device_tags(v: tuple[int, int]) -> tuple[bool, bool]:
    """(networks may carry a tag, block devices may): nova lost them by mistake from 2.37 (networks)
    and 2.33 (block devices) and brought both back in 2.42."""
    return (2, 32) <= v <= (2, 36) or v >= (2, 42), v == (2, 32) or v >= (2, 42)


_CREATE_FIELDS = ("name", "imageRef", "flavorRef", "networks", "min_count", "max_count",
                  "availability_zone", "block_device_mapping_v2", "metadata", "security_groups",
                  "config_drive", "OS-DCF:diskConfig", "return_reservation_id", "key_name",
                  "user_data", "adminPass", "personality", "accessIPv4", "accessIPv6")
# (field, first microversion that has it)
_LATER_FIELDS = (("description", (2, 19)), ("tags", (2, 52)))
_UNSUPPORTED = {"personality": "personality files were removed from the compute API"}


def _ref(v, field: str) -> str | None:
    """imageRef/flavorRef: an id, or a link whose last segment is the id."""
    if v is None or v == "":
        return None
    if isinstance(v, int) and not isinstance(v, bool):
        v = str(v)
    if not isinstance(v, str):
        raise BadRequest(f"'server.{field}' must be a string id")
    return v.rstrip("/").rsplit("/", 1)[-1]


def access_ips(body: dict) -> dict:
    """{4: ip or None, 6: ...} for the accessIPv4/accessIPv6 the body names."""
    return {v: check_access_ip(body[f"accessIPv{v}"], f"accessIPv{v}", v)
            for v in (4, 6) if f"accessIPv{v}" in body}


def _networks(v, version: tuple[int, int] = (2, 1)):
    if v is None and version >= (2, 37):
        raise BadRequest("'server.networks' is required from microversion 2.37: a list, 'auto' or 'none'")
    # 'auto' and 'none' are 2.37's, taken at every version (the app's adapter sends 'auto')
    if v is None or v in ("auto", "none"):
        return v
    if v == []:
        # an empty list (what the clients send by default) means "the usual"
        return None
    if not isinstance(v, list):
        raise BadRequest("'server.networks' must be a list, 'auto' or 'none'")
    out = []
    tagged, _ = _device_tags(version)
    for i, n in enumerate(v):
        if not isinstance(n, dict):
            raise BadRequest(f"'server.networks[{i}]' must be an object")
        check_fields(n, ("uuid", "port", "fixed_ip") + ("tag",) * tagged, f"server.networks[{i}]")
        if "tag" in n:
            _check_device_tag(n["tag"], f"server.networks[{i}].tag")
        item = {}
        for k in ("uuid", "port", "fixed_ip"):
            if n.get(k) is not None:
                item[k] = want_str(n, k, f"server.networks[{i}]", empty=False)
        if "uuid" in item and not is_uuid(item["uuid"]):
            raise BadRequest(f"'server.networks[{i}].uuid' {item['uuid']!r} is not a network id")
        if not item.get("uuid") and not item.get("port"):
            raise BadRequest(f"'server.networks[{i}]' needs a 'uuid' or a 'port'")
        out.append(item)
    return out


def _check_device_tag(tag, where: str) -> None:
    # nova's device tag: 1-60 characters, no '/' or ','; it names the device for the guest
    if not isinstance(tag, str) or not 1 <= len(tag) <= 60 or "/" in tag or "," in tag:
        raise BadRequest(f"'{where}' must be a string of 1 to 60 characters without '/' or ','")


def _boot_volume(bdms, image, version: tuple[int, int] = (2, 1)):
    """block_device_mapping_v2: pocketstack boots from a new volume made from an image."""
    if bdms is None:
        return image, None
    if not isinstance(bdms, list) or len(bdms) != 1 or not isinstance(bdms[0], dict):
        raise BadRequest("'server.block_device_mapping_v2' must hold exactly one boot device")
    b = bdms[0]
    where = "server.block_device_mapping_v2[0]"
    check_fields(b, ("boot_index", "uuid", "source_type", "destination_type", "volume_size",
                     "delete_on_termination", "device_name", "device_type", "disk_bus",
                     "volume_type", "guest_format") + ("tag",) * _device_tags(version)[1], where)
    if "tag" in b:
        _check_device_tag(b["tag"], f"{where}.tag")
    if str(b.get("boot_index", 0)) != "0":
        raise BadRequest(f"'{where}.boot_index' must be 0")
    src, dst = b.get("source_type"), b.get("destination_type", "volume" if b.get("volume_size") else "local")
    if src != "image":
        raise BadRequest(f"'{where}.source_type' must be 'image' (boot from a new volume made from an image)")
    img = _ref(b.get("uuid"), "block_device_mapping_v2[0].uuid") or image
    if not img:
        raise BadRequest(f"'{where}.uuid' (the image) is required")
    if dst == "local":
        return img, None
    if dst != "volume":
        raise BadRequest(f"'{where}.destination_type' must be 'volume' or 'local'")
    if "volume_size" not in b:
        raise BadRequest(f"'{where}.volume_size' is required to boot from a new volume")
    return img, want_int(b["volume_size"], f"{where}.volume_size", minimum=1, maximum=16384)


def _security_groups(v) -> list[str] | None:
    """server.security_groups: [{"name": group name or id}, ...]; none given: the default group."""
    if v is None or v == []:
        return None
    if not isinstance(v, list) or not all(isinstance(g, dict) for g in v):
        raise BadRequest("'server.security_groups' must be a list of {\"name\": ...}")
    out = []
    for i, g in enumerate(v):
        check_fields(g, ("name",), f"server.security_groups[{i}]")
        out.append(want_str(g, "name", f"server.security_groups[{i}]", empty=False))
        if out[-1] is None:
            raise BadRequest(f"'server.security_groups[{i}].name' is required")
    return out


async def server_create(request: Request) -> Response:
    cloud, token = request.app.state.cloud, token_of(request)
    body = await read_json(request)
    hints = body.get("os:scheduler_hints", body.get("OS-SCH-HNT:scheduler_hints")) if isinstance(body, dict) else None
    version = microversion.of(request)
    fields = _CREATE_FIELDS + tuple(f for f, since in _LATER_FIELDS if version >= since)
    s = parse_object(body, "server", fields, required=("name",))
    for f, why in _UNSUPPORTED.items():
        if s.get(f) not in (None, "", [], {}):
            raise BadRequest(f"'server.{f}': {why}")
    name = want_str(s, "name", "server", empty=False)
    password = s.get("adminPass")
    if password is not None and not isinstance(password, str):
        raise BadRequest("'server.adminPass' must be a string")
    image, bvs = _boot_volume(s.get("block_device_mapping_v2"), _ref(s.get("imageRef"), "imageRef"), version)
    flavor = _ref(s.get("flavorRef"), "flavorRef")
    if not flavor:
        raise BadRequest("'server.flavorRef' is required")
    if not image:
        raise BadRequest("'server.imageRef' is required (or boot from volume with block_device_mapping_v2)")
    min_c = want_int(s.get("min_count", 1), "server.min_count", minimum=1, maximum=1000)
    max_c = want_int(s.get("max_count", min_c), "server.max_count", minimum=1, maximum=1000)
    if min_c > max_c:
        raise BadRequest(f"'server.min_count' ({min_c}) must not exceed 'server.max_count' ({max_c})")
    az = want_str(s, "availability_zone", "server", empty=False)
    # how many keys is the metadata_items quota's to say (403), as nova
    meta = check_metadata(s.get("metadata") or {}, "server.metadata")
    sgs = _security_groups(s.get("security_groups"))
    if s.get("OS-DCF:diskConfig") not in (None, "AUTO", "MANUAL"):
        raise BadRequest("'server.OS-DCF:diskConfig' must be AUTO or MANUAL")
    if hints is not None and not isinstance(hints, dict):
        raise BadRequest("'os:scheduler_hints' must be an object")
    if hints and "group" in hints and not (isinstance(hints["group"], str) and is_uuid(hints["group"])):
        raise BadRequest("'os:scheduler_hints.group' must be a server group id")
    created = await cloud.create_server(token, name, image, flavor, networks=_networks(s.get("networks"), version),
                                        boot_volume_size=bvs, availability_zone=az,
                                        min_count=min_c, max_count=max_c,
                                        scheduler_hints=hints or None, metadata=meta,
                                        key_name=want_str(s, "key_name", "server", empty=False),
                                        access_ips=access_ips(s), user_data=s.get("user_data"),
                                        tags=s.get("tags"), description=s.get("description"),
                                        security_groups=sgs, request_id=request.scope.get(REQUEST_ID_KEY))
    first = created[0]
    # the action is recorded under this request's own id, which the app answers: no look-up
    rid_header = ({} if REQUEST_ID_KEY in request.scope
                  else await _action_request_id(cloud, token, first["id"], "create"))
    if s.get("return_reservation_id") and want_bool(s["return_reservation_id"], "return_reservation_id"):
        return JSONResponse({"reservation_id": first.get("reservation_id")}, status_code=202,
                            headers=rid_header)
    r = ServerRenderer(request, False)
    return JSONResponse({"server": {"id": first["id"], "links": r.links(first["id"]),
                                    "OS-DCF:diskConfig": "MANUAL",
                                    "security_groups": [{"name": n} for n in sgs or ["default"]],
                                    # returned once, kept nowhere: there is no guest agent to set it
                                    "adminPass": password or generate_password()}},
                        status_code=202, headers={"Location": r.self_prefix + first["id"], **rid_header})


_ACTION_NAMES = {"create": "create", "os-stop": "stop", "os-start": "start", "reboot": "reboot",
                 "delete": "delete", "attach_volume": "attach_volume", "detach_volume": "detach_volume"}


async def _action_request_id(cloud, token: str, sid: str, action: str) -> dict:
    """X-OpenStack-Request-Id as nova answers it: the request id of the instance action this
    call recorded, so `openstack server event list` and --debug output match."""
    want = _ACTION_NAMES.get(action)
    try:
        acts = await cloud.list_instance_actions(token, sid)
    except Exception:  # best effort: the generic request id stays
        return {}
    mine = [a for a in acts if a["action"] == want]
    if not mine:
        return {}
    latest = max(mine, key=lambda a: str(a.get("start_time") or ""))
    return {"X-OpenStack-Request-Id": latest["request_id"]}

