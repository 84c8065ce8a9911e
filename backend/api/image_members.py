"""Glance v2's image members: /v2/images/{id}/members (POST by the owner, GET) and
/members/{member_id} (GET; PUT by the member: accepted|rejected|pending; DELETE by the
owner), and their schemas."""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from backend.api.common import check_fields, iso, read_json, token_of
from backend.core.errors import BadRequest


def member_view(m: dict) -> dict:
    return {"image_id": m["image_id"], "member_id": m["member_id"], "status": m["status"],
            "created_at": iso(m["created_at"]), "updated_at": iso(m["updated_at"]),
            "schema": "/v2/schemas/member"}


async def _body(request: Request, key: str) -> str:
    body = await read_json(request)
    if not isinstance(body, dict):
        raise BadRequest(f"request body must be a JSON object with the key '{key}'")
    check_fields(body, (key,), "body")
    if not isinstance(body.get(key), str) or not body[key]:
        raise BadRequest(f"'{key}' must be a non-empty string")
    return body[key]


async def members(request: Request) -> Response:
    from backend.api.image import _image_id
    cloud, token, iid = request.app.state.cloud, token_of(request), _image_id(request)
    if request.method == "POST":
        m = await cloud.add_image_member(token, iid, await _body(request, "member"))
        return JSONResponse(member_view(m))
    got = await cloud.list_image_members(token, iid)
    return JSONResponse({"members": [member_view(m) for m in got], "schema": "/v2/schemas/members"})


async def member_one(request: Request) -> Response:
    from backend.api.image import _image_id
    cloud, token, iid = request.app.state.cloud, token_of(request), _image_id(request)
    mid = request.path_params["member"]
    if request.method == "DELETE":
        await cloud.delete_image_member(token, iid, mid)
        return Response(status_code=204)
    if request.method == "PUT":
        m = await cloud.update_image_member(token, iid, mid, await _body(request, "status"))
        return JSONResponse(member_view(m))
    return JSONResponse(member_view(await cloud.get_image_member(token, iid, mid)))


_MEMBER_PROPS = {"image_id": {"type": "string"}, "member_id": {"type": "string"},
                 "status": {"type": "string", "enum": ["pending", "accepted", "rejected"]},
                 "created_at": {"type": "string"}, "updated_at": {"type": "string"},
                 "schema": {"type": "string", "readOnly": True}}


async def schema_member(request: Request) -> Response:
    return JSONResponse({"name": "member", "properties": _MEMBER_PROPS})


async def schema_members(request: Request) -> Response:
    return JSONResponse({"name": "members", "properties": {
        "members": {"type": "array", "items": {"name": "member", "properties": _MEMBER_PROPS}},
        "schema": {"type": "string"}}, "links": [{"rel": "describedby", "href": "{schema}"}]})


def routes(v: str) -> list[Route]:
    return [Route(f"{v}/images/{{id}}/members", members, methods=["GET", "POST"]),
            Route(f"{v}/images/{{id}}/members/{{member}}", member_one, methods=["GET", "PUT", "DELETE"]),
            Route(f"{v}/schemas/member", schema_member, methods=["GET"]),
            Route(f"{v}/schemas/members", schema_members, methods=["GET"])]
