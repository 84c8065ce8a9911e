"""Fixtures: a real cloud for the module, in both modes (see e2ehelp.py): the module's tests
that take `server` run against `pocketstack serve` ('embedded') and against `pocketstack
cluster up --computes 2` ('cluster'), one cloud per module and mode. A test that makes no sense
against a cluster says why with @pytest.mark.embedded_only("reason")."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

import e2ehelp
from e2ehelp import BIN, HOSTS, MODES, PASSWORD, free_port, Server, start_serve, wait_up  # noqa: F401


def pytest_configure(config):
    config.addinivalue_line("markers", "embedded_only(reason): the e2e test runs against `pocketstack serve` "
                                       "only, for the reason given")


def pytest_generate_tests(metafunc):
    if "server" in metafunc.fixturenames:
        only = metafunc.definition.get_closest_marker("embedded_only")
        if only is not None:
            assert only.args and only.args[0], f"{metafunc.definition.nodeid}: embedded_only needs a reason"
        metafunc.parametrize("server", ["embedded"] if only else list(MODES), indirect=True, scope="module")


def cloud_env(tmp: Path, home: Path, hosts: Path, url: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env.update({"POCKETSTACK_HOME": str(home), "POCKETSTACK_HOSTS": str(hosts),
                "OS_AUTH_URL": f"{url}/identity/v3", "OS_USERNAME": "admin",
                "OS_PASSWORD": PASSWORD, "OS_PROJECT_NAME": "admin",
                "OS_USER_DOMAIN_NAME": "Default", "OS_PROJECT_DOMAIN_NAME": "Default",
                "OS_IDENTITY_API_VERSION": "3", "OS_INTERFACE": "public",
                "OS_REGION_NAME": "RegionOne", "HOME": str(tmp)})
    return env


@pytest.fixture(scope="module")
def server(request, tmp_path_factory):
    mode = request.param
    tmp = tmp_path_factory.mktemp(f"e2e-{mode}")
    home, hosts = tmp / "home", tmp / "hosts.yaml"
    hosts.write_text(HOSTS)
    port = free_port()
    env = cloud_env(tmp, home, hosts, f"http://127.0.0.1:{port}")
    e2ehelp.init(env)
    s = e2ehelp.start(mode, home, hosts, port, env)
    try:
        yield s
    finally:
        e2ehelp.stop(s)


@pytest.fixture(scope="module")
def image_file(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("img") / "tiny.raw"
    p.write_bytes(os.urandom(256 * 1024))
    return p
