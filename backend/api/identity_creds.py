"""Keystone v3's credentials (/v3/credentials) and application credentials
(/v3/users/{user}/application_credentials): the secrets a user keeps or delegates. A secret
is in a response only where keystone puts it (a credential's blob to those who may see it,
an application credential's secret once, at creation)."""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from backend.api.common import (check_fields, no_content, read_json, read_object, this_url, token_of, url_for,
                                want_bool, want_str)
from backend.api.identity_admin import _collection
from backend.core.errors import BadRequest

V3 = "/identity/v3"


def credential_view(request: Request, c: dict) -> dict:
    return {**c, "links": {"self": url_for(request, "identity", "v3", "credentials", c["id"])}}


async def credentials(request: Request) -> Response:
    cloud, token = request.app.state.cloud, token_of(request)
    if request.method == "POST":
        b = await read_object(request, "credential", ("blob", "type", "user_id", "project_id"),
                              required=("blob", "type", "user_id"))
        c = await cloud.create_credential(token, want_str(b, "user_id", "credential", empty=False),
                                          want_str(b, "type", "credential", empty=False),
                                          want_str(b, "blob", "credential", empty=False, max_len=65535),
                                          want_str(b, "project_id", "credential", empty=False))
        return JSONResponse({"credential": credential_view(request, c)}, status_code=201)
    q = request.query_params
    items = [credential_view(request, c)
             for c in await cloud.list_credentials(token, q.get("user_id"), q.get("type"))]
    return JSONResponse({"credentials": items, "links": {"self": this_url(request), "previous": None,
                                                         "next": None}})


async def credential_one(request: Request) -> Response:
    cloud, token, cid = request.app.state.cloud, token_of(request), request.path_params["id"]
    if request.method == "DELETE":
        await cloud.delete_credential(token, cid)
        return no_content()
    if request.method == "PATCH":
        b = await read_object(request, "credential", ("blob", "type", "user_id", "project_id"))
        c = await cloud.update_credential(
            token, cid, blob=want_str(b, "blob", "credential", empty=False, max_len=65535),
            type_=want_str(b, "type", "credential", empty=False),
            project=want_str(b, "project_id", "credential", empty=False),
            user=want_str(b, "user_id", "credential", empty=False))
    else:
        c = await cloud.get_credential(token, cid)
    return JSONResponse({"credential": credential_view(request, c)})


def app_cred_view(request: Request, c: dict) -> dict:
    return {**c, "links": {"self": url_for(request, "identity", "v3", "users", c["user_id"],
                                           "application_credentials", c["id"])}}


async def app_credentials(request: Request) -> Response:
    cloud, token, uid = request.app.state.cloud, token_of(request), request.path_params["user"]
    if request.method == "POST":
        where = "application_credential"
        b = await read_object(request, where, ("name", "description", "secret", "expires_at", "roles",
                                               "unrestricted", "access_rules"), required=("name",))
        if b.get("access_rules"):
            raise BadRequest("'application_credential.access_rules' are not supported")
        c = await cloud.create_app_credential(
            token, uid, want_str(b, "name", where, empty=False), want_str(b, "secret", where, max_len=4096),
            want_str(b, "description", where, max_len=1024), want_str(b, "expires_at", where),
            b.get("roles"), want_bool(b.get("unrestricted", False), f"{where}.unrestricted"))
        return JSONResponse({where: app_cred_view(request, c)}, status_code=201)
    items = [app_cred_view(request, c)
             for c in await cloud.list_app_credentials(token, uid, request.query_params.get("name"))]
    return _collection(request, "application_credentials", items)


async def app_credential_one(request: Request) -> Response:
    cloud, token = request.app.state.cloud, token_of(request)
    uid, cid = request.path_params["user"], request.path_params["id"]
    if request.method == "DELETE":
        await cloud.delete_app_credential(token, uid, cid)
        return no_content()
    return JSONResponse({"application_credential": app_cred_view(request, await cloud.get_app_credential(
        token, uid, cid))})


def ec2_view(request: Request, c: dict) -> dict:
    return {**c, "links": {"self": url_for(request, "identity", "v3", "users", c["user_id"], "credentials",
                                           "OS-EC2", c["access"])}}


async def ec2_credentials(request: Request) -> Response:
    cloud, token, uid = request.app.state.cloud, token_of(request), request.path_params["user"]
    if request.method == "POST":
        body = await read_json(request)
        if not isinstance(body, dict):
            raise BadRequest("request body must be a JSON object with 'tenant_id'")
        check_fields(body, ("tenant_id",), "body")
        c = await cloud.create_ec2_credential(token, uid, want_str(body, "tenant_id", "body", empty=False)
                                              or _missing("tenant_id"))
        return JSONResponse({"credential": ec2_view(request, c)}, status_code=201)
    items = [ec2_view(request, c) for c in await cloud.list_ec2_credentials(token, uid)]
    return JSONResponse({"credentials": items, "links": {"self": this_url(request), "previous": None,
                                                         "next": None}})


def _missing(what: str):
    raise BadRequest(f"'{what}' is required")


async def ec2_credential_one(request: Request) -> Response:
    cloud, token = request.app.state.cloud, token_of(request)
    uid, access = request.path_params["user"], request.path_params["access"]
    if request.method == "DELETE":
        await cloud.delete_ec2_credential(token, uid, access)
        return no_content()
    return JSONResponse({"credential": ec2_view(request, await cloud.get_ec2_credential(token, uid, access))})


def routes() -> list[Route]:
    return [Route(f"{V3}/credentials", credentials, methods=["GET", "POST"]),
            Route(f"{V3}/credentials/{{id}}", credential_one, methods=["GET", "PATCH", "DELETE"]),
            Route(f"{V3}/users/{{user}}/application_credentials", app_credentials, methods=["GET", "POST"]),
            Route(f"{V3}/users/{{user}}/application_credentials/{{id}}", app_credential_one,
                  methods=["GET", "DELETE"]),
            Route(f"{V3}/users/{{user}}/credentials/OS-EC2", ec2_credentials, methods=["GET", "POST"]),
            Route(f"{V3}/users/{{user}}/credentials/OS-EC2/{{access}}", ec2_credential_one,
                  methods=["GET", "DELETE"])]
