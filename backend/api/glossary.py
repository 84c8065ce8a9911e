"""pocketstack's own routes outside the upstream APIs: GET /pocketstack/v1/glossary, the
words the app explains (facade `glossary`). Any valid token may read it."""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from backend.api.common import token_of

V = "/pocketstack/v1"


async def glossary(request: Request) -> JSONResponse:
    entries = await request.app.state.cloud.glossary(token_of(request))
    return JSONResponse({"glossary": entries})


def routes() -> list[Route]:
    return [Route(f"{V}/glossary", glossary, methods=["GET"])]
