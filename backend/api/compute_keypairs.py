"""Nova v2.1 os-keypairs: create (generated, the private key answered once) or import, list,
show, delete (202 at 2.1), per user; an admin may name another user with ?user_id=."""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from backend.api import microversion
from backend.api.common import iso, limit_marker, next_href, page, parse_object, read_json, token_of


def _user(request: Request) -> str | None:
    return request.query_params.get("user_id") or None


async def keypair_create(request: Request) -> Response:
    cloud, token = request.app.state.cloud, token_of(request)
    v22 = microversion.at_least(request, "2.2")
    kp = parse_object(await read_json(request), "keypair", ("name", "public_key", "user_id") + ("type",) * v22,
                      required=("name",))
    made = await cloud.create_keypair(token, kp["name"], kp.get("public_key"), kp.get("user_id"),
                                      kp.get("type", "ssh"))
    if v22:  # 2.2: the type shown, and 201 Created
        return JSONResponse({"keypair": made}, status_code=201)
    return JSONResponse({"keypair": {k: v for k, v in made.items() if k != "type"}})


async def keypairs_list(request: Request) -> Response:
    cloud, token = request.app.state.cloud, token_of(request)
    items = await cloud.list_keypairs(token, _user(request))
    body = {}
    if microversion.at_least(request, "2.35"):  # 2.35: limit and marker (a key pair's name)
        limit, marker = limit_marker(request)
        items, more = page(items, limit, marker, key="name")
        if more and items:
            body["keypairs_links"] = [{"rel": "next", "href": next_href(request, items[-1]["name"], limit)}]
    typed = microversion.at_least(request, "2.2")
    return JSONResponse({"keypairs": [{"keypair": {"name": k["name"], "public_key": k["public_key"],
                                                   "fingerprint": k["fingerprint"],
                                                   **({"type": k.get("type") or "ssh"} if typed else {})}}
                                      for k in items], **body})


async def keypair_show(request: Request) -> Response:
    cloud, token = request.app.state.cloud, token_of(request)
    k = await cloud.get_keypair(token, request.path_params["name"], _user(request))
    return JSONResponse({"keypair": {"id": k["id"], "name": k["name"], "public_key": k["public_key"],
                                     "fingerprint": k["fingerprint"], "user_id": k["user_id"],
                                     "created_at": iso(k["created_at"]), "updated_at": None,
                                     "deleted_at": None, "deleted": False,
                                     **({"type": k.get("type") or "ssh"} if microversion.at_least(request, "2.2")
                                        else {})}})


async def keypair_delete(request: Request) -> Response:
    cloud, token = request.app.state.cloud, token_of(request)
    await cloud.delete_keypair(token, request.path_params["name"], _user(request))
    return Response(status_code=204 if microversion.at_least(request, "2.2") else 202)  # 2.2: 204


def routes() -> list[Route]:
    p = "/compute/v2.1/os-keypairs"
    return [
        Route(p, keypairs_list, methods=["GET"]),
        Route(p, keypair_create, methods=["POST"]),
        Route(p + "/{name}", keypair_show, methods=["GET"]),
        Route(p + "/{name}", keypair_delete, methods=["DELETE"]),
    ]
