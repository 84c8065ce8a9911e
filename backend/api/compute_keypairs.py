"""Nova v2.1 os-keypairs: create (generated, the private key answered once) or import, list,
show, delete (202 at 2.1), per user; an admin may name another user with ?user_id=."""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from backend.api.common import iso, parse_object, read_json, token_of


def _user(request: Request) -> str | None:
    return request.query_params.get("user_id") or None


async def keypair_create(request: Request) -> Response:
    cloud, token = request.app.state.cloud, token_of(request)
    kp = parse_object(await read_json(request), "keypair", ("name", "public_key", "user_id"), required=("name",))
    made = await cloud.create_keypair(token, kp["name"], kp.get("public_key"), kp.get("user_id"))
    return JSONResponse({"keypair": made})


async def keypairs_list(request: Request) -> Response:
    cloud, token = request.app.state.cloud, token_of(request)
    items = await cloud.list_keypairs(token, _user(request))
    return JSONResponse({"keypairs": [{"keypair": {"name": k["name"], "public_key": k["public_key"],
                                                   "fingerprint": k["fingerprint"]}} for k in items]})


async def keypair_show(request: Request) -> Response:
    cloud, token = request.app.state.cloud, token_of(request)
    k = await cloud.get_keypair(token, request.path_params["name"], _user(request))
    return JSONResponse({"keypair": {"id": k["id"], "name": k["name"], "public_key": k["public_key"],
                                     "fingerprint": k["fingerprint"], "user_id": k["user_id"],
                                     "created_at": iso(k["created_at"]), "updated_at": None,
                                     "deleted_at": None, "deleted": False}})


async def keypair_delete(request: Request) -> Response:
    cloud, token = request.app.state.cloud, token_of(request)
    await cloud.delete_keypair(token, request.path_params["name"], _user(request))
    return Response(status_code=202)


def routes() -> list[Route]:
    p = "/compute/v2.1/os-keypairs"
    return [
        Route(p, keypairs_list, methods=["GET"]),
        Route(p, keypair_create, methods=["POST"]),
        Route(p + "/{name}", keypair_show, methods=["GET"]),
        Route(p + "/{name}", keypair_delete, methods=["DELETE"]),
    ]
