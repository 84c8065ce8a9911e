"""pocketstack.conf: read into Config, the environment over the file, a bad file refused by
file, section and key; `serve --role` refuses a bad file and a role without a broker."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from backend.core.conffile import OPTIONS, ConfFileError
from backend.core.config import Config

GOOD = """
[DEFAULT]
transport_url = rabbit://guest:guest@127.0.0.1:5699/
state_path = {home}
host = compute-7
report_interval = 2.5
service_down_time = 20
[database]
connection = sqlite:///{home}/other.db
[api]
listen = 127.0.0.2
port = 9876
[compute]
hosts_file = {home}/hosts.yaml
[quota]
instances = 33
"""


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for _s, _k, env in [(s, k, e) for (s, k), (_f, _p, e) in OPTIONS.items()]:
        if env:
            monkeypatch.delenv(env, raising=False)
    monkeypatch.delenv("POCKETSTACK_CONFIG_FILE", raising=False)


def test_every_option_lands_in_config(tmp_path):
    f = tmp_path / "pocketstack.conf"
    f.write_text(GOOD.format(home=tmp_path))
    c = Config.load(f)
    assert (c.transport_url, c.home, c.service_host) == ("rabbit://guest:guest@127.0.0.1:5699/", tmp_path,
                                                         "compute-7")
    assert (c.heartbeat_interval, c.service_down_time, c.quota_instances) == (2.5, 20.0, 33)
    assert c.db_path == tmp_path / "other.db"
    assert (c.api_listen, c.api_port, c.hosts_path) == ("127.0.0.2", 9876, tmp_path / "hosts.yaml")


def test_the_environment_overrides_the_file_and_options_override_both(tmp_path, monkeypatch):
    f = tmp_path / "pocketstack.conf"
    f.write_text(GOOD.format(home=tmp_path))
    monkeypatch.setenv("POCKETSTACK_TRANSPORT_URL", "rabbit://u:p@127.0.0.1:1/")
    monkeypatch.setenv("POCKETSTACK_CONFIG_FILE", str(f))
    c = Config.load(None, api_port=1234)
    assert (c.transport_url, c.api_port, c.service_host) == ("rabbit://u:p@127.0.0.1:1/", 1234, "compute-7")


@pytest.mark.parametrize("text, named", [
    ("[api]\nport = 99999\n", "[api] port = '99999': 99999 is not a TCP port"),
    ("[api]\nprot = 1\n", "[api] prot: unknown option (known in [api]: listen, port, public_url)"),
    ("[nova]\nx = 1\n", "unknown section [nova]"),
    ("[DEFAULT]\ntransport_url = http://x/\n", "[DEFAULT] transport_url = 'http://x/': 'http://x/' is not "
                                               "rabbit://"),
    ("[database]\nconnection = sqlite://rel.db\n", "[database] connection = 'sqlite://rel.db'"),
    ("[DEFAULT]\nservice_down_time = -1\n", "[DEFAULT] service_down_time = '-1'"),
    ("port = 1\n", "not an ini file"),
])
def test_a_bad_file_is_refused_naming_file_section_and_key(tmp_path, text, named):
    f = tmp_path / "bad.conf"
    f.write_text(text)
    with pytest.raises(ConfFileError) as e:
        Config.load(f)
    assert str(e.value).startswith(f"{f}: ") and named in str(e.value)


def test_a_missing_file_is_refused_by_name(tmp_path):
    with pytest.raises(ConfFileError, match=r"nope.conf: cannot read the configuration file: No such file"):
        Config.load(tmp_path / "nope.conf")


def run_serve(tmp_path, *args, conf: str):
    f = tmp_path / "p.conf"
    f.write_text(conf)
    env = {k: v for k, v in os.environ.items() if not k.startswith("POCKETSTACK_")}
    env["POCKETSTACK_HOME"] = str(tmp_path / "home")
    return subprocess.run([sys.executable, "-m", "backend.cli.main", "serve", "--config-file", str(f), *args],
                          capture_output=True, text=True, timeout=60, env=env,
                          cwd=str(Path(__file__).resolve().parents[2]))


def test_serve_refuses_a_bad_file_and_starts_nothing(tmp_path):
    r = run_serve(tmp_path, "--role", "conductor", conf="[api]\nport = x\n")
    assert r.returncode == 2 and "p.conf: [api] port = 'x'" in r.stderr, r.stderr
    assert not (tmp_path / "home").exists()


def test_a_cluster_role_needs_a_broker(tmp_path):
    from backend.facade import Cloud
    Cloud.init(Config(home=tmp_path / "home", password_hash_rounds=4), "pw")
    r = run_serve(tmp_path, "--role", "scheduler", conf="[DEFAULT]\nservice_down_time = 5\n")
    assert r.returncode == 1
    assert "role scheduler is one process of a cluster: it needs the message broker" in r.stderr, r.stderr
