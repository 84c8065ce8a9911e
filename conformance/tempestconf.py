"""tempest.conf from what the cloud offers. A feature is turned off only when pocketstack does not
have it; every one is in FEATURES_OFF with the reason (docs/conformance.md lists them)."""
from __future__ import annotations

import configparser
from pathlib import Path

# (section, option) -> why pocketstack does not have it
FEATURES_OFF = {
    ("compute-feature-enabled", "resize"): "no resize/migrate: a server stays on the host it was built on",
    ("compute-feature-enabled", "cold_migration"): "no migration",
    ("compute-feature-enabled", "live_migration"): "no migration",
    ("compute-feature-enabled", "shelve"): "no shelve/unshelve action",
    ("compute-feature-enabled", "rescue"): "no rescue action",
    ("compute-feature-enabled", "snapshot"): "no createImage (server snapshot) action",
    ("compute-feature-enabled", "change_password"): "no changePassword action (no guest agent)",
    ("compute-feature-enabled", "interface_attach"): "no os-interface (ports attach at create only)",
    ("compute-feature-enabled", "metadata_service"): "metadata reaches guests on the config drive only",
    ("compute-feature-enabled", "attach_encrypted_volume"): "no volume encryption",
    ("compute-feature-enabled", "disk_config"): "no OS-DCF:diskConfig (no partition resizing)",
    ("network-feature-enabled", "port_admin_state_change"): "admin_state_up is kept and shown, but a down port still carries traffic",
    ("validation", "run_validation"): "fake hosts: guests are not reachable over SSH",
    ("volume-feature-enabled", "backup"): "no volume backups",
    ("volume-feature-enabled", "snapshot"): "no volume snapshots",
    ("volume-feature-enabled", "clone"): "no volume clones",
    ("image-feature-enabled", "import_image"): "no interoperable image import (upload via PUT file only)",
    ("image-feature-enabled", "os_glance_reserved"): "no os_glance_* import properties",
    ("identity-feature-enabled", "trust"): "no OS-TRUST",
    ("identity-feature-enabled", "access_rules"): "no application credentials access rules",
}

# tempest makes each test project its own network, subnet and router (gateway on `public`),
# as on a real cloud: create_isolated_networks is on

SERVICES_OFF = {"swift": "no object storage", "horizon": "no dashboard"}


def write(path: Path, cloud, offers: dict, concurrency: int) -> None:
    c = configparser.ConfigParser(interpolation=None)
    c.optionxform = str
    c["DEFAULT"] = {"log_dir": str(path.parent.parent / "logs"), "log_file": "tempest.log",
                 "use_stderr": "false"}
    c["auth"] = {"admin_username": "admin", "admin_password": cloud_password(),
                 "admin_project_name": "admin", "admin_domain_name": "Default",
                 "use_dynamic_credentials": "true", "create_isolated_networks": "true",
                 "tempest_roles": "member"}
    c["identity"] = {"uri_v3": cloud.auth_url, "auth_version": "v3", "region": "RegionOne",
                     "v3_endpoint_type": "public", "default_domain_id": "default",
                     "disable_ssl_certificate_validation": "true"}
    c["identity-feature-enabled"] = {"api_v2": "false", "api_v3": "true",
                                     "api_extensions": "all"}
    flavors = offers["flavors"]
    c["compute"] = {"image_ref": offers["images"][0], "image_ref_alt": offers["images"][1],
                    "flavor_ref": flavors[0], "flavor_ref_alt": flavors[min(1, len(flavors) - 1)],
                    "min_microversion": offers["compute_min"],
                    "max_microversion": offers["compute_max"],
                    "build_timeout": "120", "build_interval": "1",
                    "endpoint_type": "publicURL", "region": "RegionOne",
                    "compute_volume_common_az": offers["zone"],
                    # the cloud's compute hosts (tempest skips its multi-node tests below 2)
                    "min_compute_nodes": str(cloud_hosts())}
    if offers["networks"]:
        c["compute"]["fixed_network_name"] = offers["networks"][0]
    c["compute-feature-enabled"] = {"console_output": "true", "config_drive": "true",
                                    "scheduler_enabled_filters": "all"}
    c["image"] = {"endpoint_type": "publicURL", "region": "RegionOne",
                  "build_timeout": "60", "build_interval": "1",
                  "container_formats": "bare", "disk_formats": "raw,qcow2"}
    c["image-feature-enabled"] = {"api_v2": "true"}
    c["network"] = {"endpoint_type": "publicURL", "region": "RegionOne",
                    "project_network_cidr": "10.100.0.0/16", "project_network_mask_bits": "28",
                    "build_timeout": "60", "build_interval": "1"}
    if offers["public_networks"]:
        c["network"]["public_network_id"] = offers["public_networks"][0]
    c["network-feature-enabled"] = {"api_extensions": ",".join(offers["network_extensions"]) or "none",
                                    "ipv6": "true", "ipv6_subnet_attributes": "true"}
    c["volume"] = {"endpoint_type": "publicURL", "region": "RegionOne", "catalog_type": "block-storage",
                   "min_microversion": offers["volume_min"], "max_microversion": offers["volume_max"],
                   "build_timeout": "60", "build_interval": "1",
                   "availability_zone": offers["zone"]}
    c["volume-feature-enabled"] = {}
    c["validation"] = {}
    for (section, option) in FEATURES_OFF:
        c.setdefault(section, {})
        c[section][option] = "false"
    c["service_available"] = {"nova": "true", "glance": "true", "neutron": "true", "cinder": "true",
                              "swift": "false", "horizon": "false"}
    c["oslo_concurrency"] = {"lock_path": str(path.parent.parent / "tempest_lock")}
    with open(path, "w") as f:
        c.write(f)


def cloud_hosts() -> int:
    from conformance.cloud import HOSTS
    return HOSTS.count("- {name:")


def cloud_password() -> str:
    from conformance.cloud import PASSWORD
    return PASSWORD
