"""hosts.yaml: the compute hosts, validated by a schema. A bad file is refused with the
file, the host entry, the field and the line named."""
from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator


class HostsFileError(ValueError):
    pass


class FakeOptions(BaseModel):
    """How a `driver: fake` host behaves (for tests and benchmarks of a separate process)."""
    model_config = ConfigDict(extra="forbid")
    spawn_latency: float = Field(default=0.0, ge=0, le=3600)
    # a wait at the end of a build stage, its work done (to stop a build in a chosen stage)
    stage_latency: dict[Literal["scheduling", "networking", "block_device_mapping"],
                        Annotated[float, Field(ge=0, le=3600)]] = Field(default_factory=dict)
    fail_spawns: int = Field(default=0, ge=0)
    fail_always: bool = False
    hang: bool = False


class HostConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=63, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    address: str = Field(min_length=1)
    port: int = Field(default=22, ge=1, le=65535)
    user: str = Field(default="root", min_length=1, pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
    key: str | None = None
    known_hosts: str | None = None
    availability_zone: str = Field(default="nova", min_length=1, max_length=255)
    driver: Literal["qemu", "fake"] = "qemu"
    vcpus: int | None = Field(default=None, ge=1)
    memory_mb: int | None = Field(default=None, ge=64)
    disk_gb: int | None = Field(default=None, ge=1)
    # where the host keeps images, overlays and volumes
    state_dir: str | None = None
    # a network namespace to enter for the lab's own hosts (none for real hosts)
    netns: str | None = None
    fake: FakeOptions | None = None
    # how guests are wired: `bridge` = a tap on the network's bridge (VXLAN between hosts,
    # through the privileged helper); `user` = qemu's user-mode NIC (hosts without the helper)
    vif: Literal["user", "bridge"] = "user"
    # the VXLAN endpoint address (Neutron's local_ip); default: address when it is an IPv4 address
    local_ip: str | None = None

    @field_validator("key", "known_hosts", "state_dir")
    @classmethod
    def _no_empty(cls, v):
        if v is not None and not v.strip():
            raise ValueError("must not be empty")
        return v

    @field_validator("local_ip")
    @classmethod
    def _ipv4(cls, v):
        return _ipv4(v) if v is not None else v

    @property
    def vtep(self) -> str | None:
        if self.local_ip:
            return self.local_ip
        try:
            return str(ipaddress.IPv4Address(self.address))
        except ValueError:
            return None


def _ipv4(v: str) -> str:
    try:
        return str(ipaddress.IPv4Address(v))
    except ValueError:
        raise ValueError(f"{v!r} is not an IPv4 address") from None


class NetworkNode(BaseModel):
    """The control machine as the network node (devstack's): a VXLAN endpoint of every tenant
    network that has DHCP or a router there."""
    model_config = ConfigDict(extra="forbid")
    local_ip: str
    # the external bridge of routers' gateways and floating IPs (devstack's br-ex); default
    # psx<id of the state directory>. The privileged helper takes psx-names only.
    external_bridge: str | None = Field(default=None, pattern=r"^psx[a-z0-9]{1,12}$")

    @field_validator("local_ip")
    @classmethod
    def _ipv4(cls, v):
        return _ipv4(v)


class HostsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    hosts: list[HostConfig]
    network_node: NetworkNode | None = None


def default_hosts_path(explicit: str | None = None) -> Path:
    return Path(explicit or os.environ.get("POCKETSTACK_HOSTS") or "hosts.yaml")


def _line_of(node, loc) -> int | None:
    """Walk the YAML node tree along a pydantic error location to find its line."""
    cur = node
    line = cur.start_mark.line + 1 if cur is not None else None
    for part in loc:
        if isinstance(cur, yaml.MappingNode):
            nxt = None
            for k, v in cur.value:
                if k.value == part:
                    nxt, line = v, k.start_mark.line + 1
                    break
            if nxt is None:
                return line
            cur = nxt
        elif isinstance(cur, yaml.SequenceNode) and isinstance(part, int) and part < len(cur.value):
            cur = cur.value[part]
            line = cur.start_mark.line + 1
        else:
            return line
    return line


def parse_hosts(text: str, source: str = "hosts.yaml") -> list[HostConfig]:
    return parse_hosts_file(text, source).hosts


def parse_hosts_file(text: str, source: str = "hosts.yaml") -> HostsFile:
    try:
        data = yaml.safe_load(text)
        node = yaml.compose(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f", line {mark.line + 1}" if mark else ""
        raise HostsFileError(f"{source}{where}: not valid YAML: {getattr(e, 'problem', e)}") from None
    if not isinstance(data, dict):
        raise HostsFileError(f"{source}: expected a mapping with a 'hosts' list at the top")
    try:
        parsed = HostsFile.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        loc = err["loc"]
        line = _line_of(node, loc)
        entry = ""
        if len(loc) >= 2 and loc[0] == "hosts" and isinstance(loc[1], int):
            raw = data["hosts"][loc[1]] if isinstance(data.get("hosts"), list) else None
            name = raw.get("name") if isinstance(raw, dict) else None
            entry = f", host #{loc[1] + 1}" + (f" ({name!r})" if name else "")
            field = ".".join(str(p) for p in loc[2:]) or "entry"
        else:
            field = ".".join(str(p) for p in loc)
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown field"
        raise HostsFileError(f"{source}{entry}, field '{field}'" + (f" (line {line})" if line else "") +
                             f": {msg}") from None
    names = set()
    for i, h in enumerate(parsed.hosts):
        if h.name in names:
            raise HostsFileError(f"{source}, host #{i + 1} ({h.name!r}), field 'name': duplicate host name")
        names.add(h.name)
    if not parsed.hosts:
        raise HostsFileError(f"{source}, field 'hosts': at least one host is needed")
    return parsed


def load_hosts(path: str | os.PathLike | None = None) -> list[HostConfig]:
    p = default_hosts_path(str(path) if path else None)
    try:
        text = p.read_text()
    except OSError as e:
        raise HostsFileError(f"{p}: cannot read hosts file: {e.strerror}") from None
    hosts = parse_hosts(text, str(p))
    base = p.resolve().parent
    for h in hosts:  # relative key paths are relative to the hosts file
        for attr in ("key", "known_hosts"):
            v = getattr(h, attr)
            if v:
                v = os.path.expanduser(os.path.expandvars(v))
                if not os.path.isabs(v):
                    v = str(base / v)
                setattr(h, attr, v)
    return hosts


def load_network_node(path: str | os.PathLike | None = None) -> NetworkNode | None:
    """hosts.yaml's network_node section; None when the file or the section is missing."""
    p = default_hosts_path(str(path) if path else None)
    try:
        text = p.read_text()
    except OSError:
        return None
    return parse_hosts_file(text, str(p)).network_node
