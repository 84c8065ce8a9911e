"""Settings of one cloud. Defaults follow upstream nova/keystone where they exist."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


def default_home() -> Path:
    return Path(os.environ.get("POCKETSTACK_HOME") or Path.home() / ".local/share/pocketstack")


@dataclass
class Config:
    home: Path = field(default_factory=default_home)
    hosts_path: Path | None = None
    token_ttl: int = 3600                      # keystone [token] expiration
    password_hash_rounds: int = 12             # keystone's bcrypt default; tests lower it
    cpu_allocation_ratio: float = 4.0          # nova defaults today
    ram_allocation_ratio: float = 1.0
    disk_allocation_ratio: float = 1.0
    reserved_host_memory_mb: int = 512
    reserved_host_disk_mb: int = 0
    ram_weight_multiplier: float = 1.0
    cpu_weight_multiplier: float = 1.0
    disk_weight_multiplier: float = 1.0
    num_instances_weight_multiplier: float = 0.0
    build_failure_weight_multiplier: float = 1000000.0
    max_attempts: int = 3                      # scheduler max_attempts: host + alternates
    build_timeout: float = 600.0               # nova instance_build_timeout (0 = off upstream; on here)
    # nova's vif_plugging_timeout: how long a build waits for network-vif-plugged (fatal after)
    vif_plugging_timeout: float = 300.0
    heartbeat_interval: float = 5.0
    service_down_time: float = 30.0
    power_sync_interval: float = 5.0
    quota_instances: int = 10
    quota_cores: int = 20
    quota_ram: int = 51200
    # the largest virtual size an uploaded image may have (glance's image_size_cap default)
    image_max_virtual_size: int = 1 << 40
    # other quota defaults over backend.core.quota.DEFAULTS, e.g. {"image_size_total": 10240}
    quota_defaults: dict = field(default_factory=dict)
    # events kept for event-stream clients that reconnect (Last-Event-ID); older: a reset
    event_replay: int = 10_000
    # a test mode: every message on the in-process bus goes through JSON as over a broker
    bus_serialize: bool = field(default_factory=lambda: os.environ.get("POCKETSTACK_BUS_SERIALIZE") == "1")
    # the bus: empty = in process (the embedded default); rabbit://user:pass@host:port/vhost =
    # over RabbitMQ (nova.conf's transport_url)
    transport_url: str = field(default_factory=lambda: os.environ.get("POCKETSTACK_TRANSPORT_URL", ""))
    # [database] connection: empty = <home>/pocketstack.db; sqlite:///PATH; postgresql://...
    database_connection: str = field(default_factory=lambda: os.environ.get("POCKETSTACK_DATABASE_CONNECTION", ""))
    # this process's service name (nova.conf's [DEFAULT] host): a compute process's record
    service_host: str = field(default_factory=lambda: os.environ.get("POCKETSTACK_SERVICE_HOST", ""))
    # what this process serves: all (embedded) | api | conductor | scheduler | compute
    role: str = "all"
    api_listen: str = "127.0.0.1"
    api_port: int = 8774
    api_public_url: str = ""
    conf_file: Path | None = None  # the pocketstack.conf this was read from, if any

    @classmethod
    def load(cls, conf_file: Path | str | None = None, **overrides) -> "Config":
        """Defaults, then pocketstack.conf (conf_file, else $POCKETSTACK_CONFIG_FILE, else
        none), then the environment, then overrides (command-line options). A bad file is
        refused naming the file, section and key (backend.core.conffile.ConfFileError)."""
        from backend.core import conffile
        conf_file = conf_file or os.environ.get("POCKETSTACK_CONFIG_FILE") or None
        values = {}
        if conf_file:
            values = conffile.overridden_by_environment(conffile.read(Path(conf_file)))
            values["conf_file"] = Path(conf_file)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    @property
    def db_path(self) -> Path:
        if self.database_connection.startswith("sqlite:///"):
            return Path(self.database_connection[len("sqlite:///"):])
        return self.home / "pocketstack.db"

    @property
    def images_dir(self) -> Path:
        return self.home / "images"
