"""The CLI's HTTP client: authenticate against Keystone, then call services through the
catalog. Every failure becomes one CliError line; tokens and passwords are never printed."""
from __future__ import annotations

import os
import time

import httpx

DEFAULT_AUTH_URL = "http://127.0.0.1:8774/identity/v3"


class CliError(Exception):
    """One clear line for stderr; the process exits non-zero."""


def _message(resp: httpx.Response) -> str:
    """The message of any upstream error shape (keystone, nova/cinder, neutron, glance)."""
    try:
        body = resp.json()
    except ValueError:
        text = resp.text.strip().splitlines()
        return text[0] if text else resp.reason_phrase
    if isinstance(body, dict):
        if isinstance(body.get("message"), str):
            return body["message"]
        for v in body.values():
            if isinstance(v, dict) and v.get("message"):
                return str(v["message"])
    return resp.reason_phrase


class Client:
    def __init__(self, auth_url: str | None = None, username: str | None = None,
                 password: str | None = None, project: str | None = None,
                 timeout: float = 60.0):
        env = os.environ
        self.auth_url = (auth_url or env.get("OS_AUTH_URL") or DEFAULT_AUTH_URL).rstrip("/")
        if not self.auth_url.endswith("/v3"):
            self.auth_url += "/v3"
        self.username = username or env.get("OS_USERNAME") or "admin"
        self.password = password if password is not None else env.get("OS_PASSWORD")
        self.project = project or env.get("OS_PROJECT_NAME") or "admin"
        self.http = httpx.Client(timeout=timeout)
        self.token: str | None = None
        self.token_body: dict = {}
        self.endpoints: dict[str, str] = {}

    # ---- transport ------------------------------------------------------------------
    def _send(self, method: str, url: str, **kw) -> httpx.Response:
        try:
            return self.http.request(method, url, **kw)
        except httpx.ConnectError:
            root = self.auth_url.rsplit("/identity", 1)[0]
            raise CliError(f"no pocketstack server answers at {root} — start one with "
                           "`pocketstack serve` (or `make run`)") from None
        except httpx.TimeoutException:
            raise CliError(f"the server at {url} did not answer in time") from None
        except httpx.HTTPError as e:
            raise CliError(f"cannot reach {url}: {e}") from None

    def authenticate(self) -> dict:
        if not self.password:
            raise CliError("no password: set OS_PASSWORD (user "
                           f"{self.username!r}, project {self.project!r})")
        body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": self.username, "domain": {"name": "Default"}, "password": self.password}}},
            "scope": {"project": {"name": self.project, "domain": {"name": "Default"}}}}}
        resp = self._send("POST", f"{self.auth_url}/auth/tokens", json=body)
        if resp.status_code != 201:
            raise CliError(f"login as {self.username!r} to project {self.project!r} failed: "
                           f"{_message(resp)} (HTTP {resp.status_code})")
        self.token = resp.headers["X-Subject-Token"]
        self.token_body = resp.json()["token"]
        for svc in self.token_body.get("catalog", []):
            for ep in svc.get("endpoints", []):
                if ep.get("interface") == "public":
                    self.endpoints[svc["type"]] = ep["url"].rstrip("/")
        return self.token_body

    def endpoint(self, service: str) -> str:
        if self.token is None:
            self.authenticate()
        paths = {"image": "/v2", "network": "/v2.0"}
        try:
            return self.endpoints[service] + paths.get(service, "")
        except KeyError:
            raise CliError(f"the catalog has no {service!r} endpoint") from None

    def request(self, service: str, method: str, path: str, *, ok=(200, 201, 202, 204),
                **kw) -> httpx.Response:
        url = self.endpoint(service) + path
        headers = {"X-Auth-Token": self.token, **kw.pop("headers", {})}
        resp = self._send(method, url, headers=headers, **kw)
        if resp.status_code not in ok:
            raise ApiError(resp.status_code, f"{_message(resp)} (HTTP {resp.status_code})")
        return resp

    def get(self, service: str, path: str, **kw) -> dict:
        return self.request(service, "GET", path, **kw).json()

    def post(self, service: str, path: str, body, **kw) -> dict:
        resp = self.request(service, "POST", path, json=body, **kw)
        return resp.json() if resp.content else {}

    def delete(self, service: str, path: str) -> None:
        self.request(service, "DELETE", path)

    # ---- name or id -----------------------------------------------------------------
    def find(self, service: str, collection: str, key: str, ref: str, *,
             list_path: str | None = None, wrapped: bool = True, kind: str | None = None) -> dict:
        """GET collection/ref; on 404 search collection?name=ref (as the openstack CLI does)."""
        kind = kind or key
        try:
            got = self.get(service, f"{collection}/{ref}")
            return got[key] if wrapped else got
        except ApiError as e:
            if e.status != 404:
                raise
        listing = self.get(service, list_path or collection, params={"name": ref})
        items = listing[next(k for k in listing if isinstance(listing[k], list))]
        exact = [i for i in items if i.get("name") == ref]
        if not exact:
            raise CliError(f"no {kind} named or with id {ref!r}")
        if len(exact) > 1:
            raise CliError(f"more than one {kind} is named {ref!r}: use its id")
        return exact[0]

    def wait(self, what: str, fetch, done, failed=None, timeout: float = 600.0,
             interval: float = 0.5):
        """Poll fetch() until done(obj); failed(obj) returns a reason to stop early."""
        deadline = time.monotonic() + timeout
        while True:
            obj = fetch()
            if done(obj):
                return obj
            reason = failed(obj) if failed else None
            if reason:
                raise CliError(f"{what}: {reason}")
            if time.monotonic() > deadline:
                raise CliError(f"{what}: still not done after {timeout:.0f} s")
            time.sleep(interval)


class ApiError(CliError):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
