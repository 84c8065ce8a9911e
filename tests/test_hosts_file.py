"""hosts.yaml: a bad file is refused with the file, host entry, field and line named."""
from __future__ import annotations

import pytest

from backend.core.hosts import HostsFileError, load_hosts, parse_hosts

GOOD = """hosts:
  - name: lab-1
    address: 127.0.0.1
    port: 2201
    user: pocket
    key: keys/id_ed25519
    known_hosts: keys/known_hosts
  - {name: f, address: x, driver: fake, vcpus: 8}
"""


def test_good_file_with_defaults_and_relative_paths(tmp_path):
    p = tmp_path / "hosts.yaml"
    p.write_text(GOOD)
    a, b = load_hosts(p)
    assert (a.name, a.port, a.driver, a.availability_zone) == ("lab-1", 2201, "qemu", "nova")
    assert a.key == str(tmp_path / "keys/id_ed25519")
    assert (b.driver, b.vcpus, b.port, b.memory_mb) == ("fake", 8, 22, None)


@pytest.mark.parametrize("text, expect", [
    ("hosts:\n  - name: a\n    address: x\n    port: 70000\n", "host #1 ('a'), field 'port' (line 4)"),
    ("hosts:\n  - name: a\n    address: x\n    driver: kvm\n", "field 'driver' (line 4)"),
    ("hosts:\n  - name: a\n    address: x\n    colour: red\n", "field 'colour' (line 4): unknown field"),
    ("hosts:\n  - name: a\n", "field 'address'"),
    ("hosts:\n  - name: 'bad name'\n    address: x\n", "field 'name'"),
    ("hosts:\n  - name: a\n    address: x\n  - name: a\n    address: y\n", "host #2 ('a'), field 'name': duplicate"),
    ("hosts: []\n", "at least one host"),
    ("- just a list\n", "expected a mapping"),
    ("hosts:\n  - name: a\n    address: x\n    vcpus: 0\n", "field 'vcpus'"),
    ("hosts:\n  - name: a\n    address: x\n    memory_mb: lots\n", "field 'memory_mb'"),
    ("hosts:\n  - name: a\n    address: x\n    user: 'r;m'\n", "field 'user'"),
    ("hosts: [\n", "not valid YAML"),
    ("hosts:\n  - name: a\n    address: x\n    driver: fake\n    fake: {stage_latency: {booting: 1}}\n",
     "field 'fake.stage_latency.booting.[key]' (line 5): Input should be 'scheduling', 'networking'"),
    ("hosts:\n  - name: a\n    address: x\n    driver: fake\n    fake: {stage_latency: {networking: -1}}\n",
     "field 'fake.stage_latency.networking' (line 5)"),
])
def test_bad_files_name_what_is_wrong(text, expect):
    with pytest.raises(HostsFileError) as e:
        parse_hosts(text, "my-hosts.yaml")
    assert str(e.value).startswith("my-hosts.yaml")
    assert expect in str(e.value)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(HostsFileError, match="nope.yaml: cannot read"):
        load_hosts(tmp_path / "nope.yaml")


async def test_backend_refuses_a_bad_hosts_file(tmp_path):
    from backend.core.errors import CloudError
    from backend.facade import Cloud
    from cloudhelp import make_config
    cfg = make_config(tmp_path, "hosts:\n  - name: a\n    address: x\n    port: -1\n")
    Cloud.init(cfg, "secret")
    with pytest.raises(CloudError, match="field 'port'"):
        await Cloud(cfg).start()
    c = Cloud(make_config(tmp_path))  # and the lock was released: a good start works
    await c.start()
    await c.stop()
