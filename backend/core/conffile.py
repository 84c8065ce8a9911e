"""pocketstack.conf: an ini file laid out as nova.conf is (configparser), read into Config.

Every option is in OPTIONS: (section, key) -> (Config field, type, environment variable). A
section or key not listed, or a value of the wrong type, is refused naming the file, section
and key; the environment overrides the file (the variables of OPTIONS). docs/cluster.md
lists every option."""
from __future__ import annotations

import configparser
import math
import os
from pathlib import Path
from urllib.parse import urlsplit


class ConfFileError(Exception):
    pass


def _str(v: str) -> str:
    return v.strip()


def _path(v: str) -> Path:
    if not v.strip():
        raise ValueError("an empty path")
    return Path(v.strip()).expanduser()


def _int(v: str) -> int:
    n = int(v.strip())
    if n < 0:
        raise ValueError(f"{n} is negative")
    return n


def _port(v: str) -> int:
    n = int(v.strip())
    if not 0 < n < 65536:
        raise ValueError(f"{n} is not a TCP port (1-65535)")
    return n


def _float(v: str) -> float:
    f = float(v.strip())
    if not math.isfinite(f) or f < 0:
        raise ValueError(f"{v.strip()} is not a finite number >= 0")
    return f


def _positive(v: str) -> float:
    f = _float(v)
    if f == 0:
        raise ValueError("it must be more than 0")
    return f


def _transport_url(v: str) -> str:
    v = v.strip()
    if v:
        u = urlsplit(v)
        if u.scheme not in ("rabbit", "amqp") or not u.hostname:
            raise ValueError(f"{v!r} is not rabbit://user:password@host:port/vhost")
        u.port  # noqa: B018 (raises on a bad port)
    return v


def _db_url(v: str) -> str:
    v = v.strip()
    if v:
        scheme = urlsplit(v).scheme
        if scheme not in ("sqlite", "postgresql", "postgresql+psycopg"):
            raise ValueError(f"{v!r} is neither sqlite:///PATH nor postgresql://...")
        if scheme == "sqlite" and not v.startswith("sqlite:///"):
            raise ValueError(f"{v!r}: an SQLite URL is sqlite:///PATH (three slashes, then the path)")
    return v


# (section, key) -> (Config field, parse, environment variable or None)
OPTIONS: dict[tuple[str, str], tuple[str, object, str | None]] = {
    ("DEFAULT", "state_path"): ("home", _path, "POCKETSTACK_HOME"),
    ("DEFAULT", "transport_url"): ("transport_url", _transport_url, "POCKETSTACK_TRANSPORT_URL"),
    ("DEFAULT", "host"): ("service_host", _str, "POCKETSTACK_SERVICE_HOST"),
    ("DEFAULT", "report_interval"): ("heartbeat_interval", _positive, None),
    ("DEFAULT", "service_down_time"): ("service_down_time", _positive, None),
    ("DEFAULT", "instance_build_timeout"): ("build_timeout", _positive, None),
    ("DEFAULT", "cpu_allocation_ratio"): ("cpu_allocation_ratio", _positive, None),
    ("DEFAULT", "ram_allocation_ratio"): ("ram_allocation_ratio", _positive, None),
    ("DEFAULT", "disk_allocation_ratio"): ("disk_allocation_ratio", _positive, None),
    ("DEFAULT", "reserved_host_memory_mb"): ("reserved_host_memory_mb", _int, None),
    ("DEFAULT", "reserved_host_disk_mb"): ("reserved_host_disk_mb", _int, None),
    ("DEFAULT", "sync_power_state_interval"): ("power_sync_interval", _positive, None),
    ("database", "connection"): ("database_connection", _db_url, "POCKETSTACK_DATABASE_CONNECTION"),
    ("api", "listen"): ("api_listen", _str, None),
    ("api", "port"): ("api_port", _port, None),
    ("api", "public_url"): ("api_public_url", _str, None),
    ("compute", "hosts_file"): ("hosts_path", _path, "POCKETSTACK_HOSTS"),
    ("scheduler", "max_attempts"): ("max_attempts", _int, None),
    ("token", "expiration"): ("token_ttl", _int, None),
    ("quota", "instances"): ("quota_instances", _int, None),
    ("quota", "cores"): ("quota_cores", _int, None),
    ("quota", "ram"): ("quota_ram", _int, None),
}
SECTIONS = sorted({s for s, _ in OPTIONS} - {"DEFAULT"})


def read(path: Path) -> dict:
    """The Config fields the file sets ({field: value}), environment overrides applied by
    the caller. Refuses an unreadable or malformed file, an unknown section or key, or a bad
    value, naming the file, section and key."""
    path = Path(path)
    # no interpolation: a password with a % in a URL is kept as written
    cp = configparser.ConfigParser(interpolation=None, default_section="DEFAULT")
    cp.optionxform = str  # keys as written: `Transport_URL` is not transport_url
    try:
        with open(path, encoding="utf-8") as f:
            cp.read_file(f, source=str(path))
    except OSError as e:
        raise ConfFileError(f"{path}: cannot read the configuration file: {e.strerror}") from None
    except (configparser.Error, UnicodeDecodeError) as e:
        raise ConfFileError(f"{path}: not an ini file: {str(e).splitlines()[0]}") from None
    for section in cp.sections():
        if section not in SECTIONS:
            raise ConfFileError(f"{path}: unknown section [{section}] (known: DEFAULT, {', '.join(SECTIONS)})")
    out: dict = {}
    for section in ["DEFAULT", *cp.sections()]:
        keys = cp.defaults() if section == "DEFAULT" else \
            {k: v for k, v in cp.items(section, raw=True) if k not in cp.defaults()}
        for key, raw in keys.items():
            opt = OPTIONS.get((section, key))
            if opt is None:
                known = sorted(k for s, k in OPTIONS if s == section)
                raise ConfFileError(f"{path}: [{section}] {key}: unknown option (known in [{section}]: "
                                    f"{', '.join(known)})")
            name, parse, _env = opt
            try:
                out[name] = parse(raw)
            except ValueError as e:
                raise ConfFileError(f"{path}: [{section}] {key} = {raw.strip()!r}: {e}") from None
    return out


def overridden_by_environment(values: dict) -> dict:
    """values without the fields whose environment variable is set (the environment wins)."""
    env_of = {name: env for name, _p, env in OPTIONS.values() if env}
    return {k: v for k, v in values.items() if not (env_of.get(k) and os.environ.get(env_of[k]))}
