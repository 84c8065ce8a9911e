"""The scheduler's decision logic: each filter, the weighers' arithmetic, the explanation."""
from __future__ import annotations

import json
import random

import pytest

from backend.scheduler import (DEFAULT_FILTERS, AvailabilityZoneFilter, ComputeFilter,
                               CoreFilter, DiskFilter, HostState, IgnoreHostsFilter,
                               ImagePropertiesFilter, RamFilter, RequestSpec, SchedulerConfig,
                               ServerGroupAffinityFilter, ServerGroupAntiAffinityFilter,
                               consume, normalize, select_destination, select_destinations)


def host(name, **kw) -> HostState:
    base = dict(availability_zone="nova", up=True, enabled=True, vcpus=4, memory_mb=4096,
                disk_gb=100)
    base.update(kw)
    return HostState(name=name, **base)


def spec(vcpus=1, memory_mb=512, disk_gb=1, **kw) -> RequestSpec:
    return RequestSpec(instance_uuid="inst-1", vcpus=vcpus, memory_mb=memory_mb,
                       disk_gb=disk_gb, **kw)


CONF = SchedulerConfig()


def removed(decision, filter_name) -> dict[str, str]:
    rec = next(f for f in decision.filters if f["name"] == filter_name)
    return {r["host"]: r["reason"] for r in rec["removed"]}


# --- filters one by one -----------------------------------------------------------------

def test_compute_filter_up_down_disabled():
    f = ComputeFilter()
    assert f.host_passes(host("a"), spec(), CONF) is None
    assert f.host_passes(host("a", up=False), spec(), CONF).startswith("service down")
    reason = f.host_passes(host("a", enabled=False, down_reason="maintenance"), spec(), CONF)
    assert reason == "service disabled: maintenance"
    # disabled wins over down: the operator's reason is the one worth showing
    assert f.host_passes(host("a", up=False, enabled=False), spec(), CONF) == "service disabled"


def test_ram_filter_reserved_and_ratio():
    f = RamFilter()
    h = host("a", memory_mb=2048)
    assert f.host_passes(h, spec(memory_mb=1536), CONF) is None
    assert f.host_passes(h, spec(memory_mb=2048), CONF) == (
        "RAM: 1536 MB free of 2048 MB × 1.0 − 512 reserved − 0 used, 2048 MB requested")
    # 2048 × 1.5 − 512 − 1024 = 1536 usable
    conf = SchedulerConfig(ram_allocation_ratio=1.5)
    used = host("a", memory_mb=2048, memory_mb_used=1024)
    assert f.host_passes(used, spec(memory_mb=1536), conf) is None
    assert "1536 MB free of 2048 MB × 1.5" in f.host_passes(used, spec(memory_mb=1537), conf)
    # no reserved memory: the whole host is usable
    assert f.host_passes(h, spec(memory_mb=2048),
                         SchedulerConfig(reserved_host_memory_mb=0)) is None


def test_ram_filter_no_overcommit_against_itself():
    conf = SchedulerConfig(ram_allocation_ratio=4.0, reserved_host_memory_mb=0)
    reason = RamFilter().host_passes(host("a", memory_mb=1024), spec(memory_mb=2048), conf)
    assert reason is not None and "only 1024 MB" in reason


def test_core_filter_ratio_and_physical_limit():
    f = CoreFilter()
    h = host("a", vcpus=2, vcpus_used=7)        # 2 × 4.0 − 7 = 1 free
    assert f.host_passes(h, spec(vcpus=1), CONF) is None
    assert f.host_passes(h, spec(vcpus=2), CONF) == (
        "vCPUs: 1 free of 2 × 4.0 − 7 used, 2 requested")
    assert "only 2" in f.host_passes(host("a", vcpus=2), spec(vcpus=3), CONF)
    assert f.host_passes(h, spec(vcpus=2), SchedulerConfig(cpu_allocation_ratio=1.0)) \
        .startswith("vCPUs: -5 free")


def test_disk_filter_and_boot_from_volume():
    f = DiskFilter()
    h = host("a", disk_gb=20, disk_gb_used=10)
    assert f.host_passes(h, spec(disk_gb=10), CONF) is None
    assert f.host_passes(h, spec(disk_gb=11), CONF) == (
        "Disk: 10 GB free of 20 GB × 1.0 − 0 MB reserved − 10 GB used, 11 GB requested")
    reserved = SchedulerConfig(reserved_host_disk_mb=1024)
    assert f.host_passes(h, spec(disk_gb=10), reserved).startswith("Disk: 9 GB free")
    # boot from volume asks no local disk: a full disk does not matter
    full = host("a", disk_gb=20, disk_gb_used=20)
    d = select_destination(spec(disk_gb=0), [full], CONF)
    assert d.selected == "a" and removed(d, "DiskFilter") == {}


def test_availability_zone_filter():
    hosts = [host("a", availability_zone="az1"), host("b", availability_zone="az2")]
    d = select_destination(spec(availability_zone="az2"), hosts, CONF)
    assert d.selected == "b"
    assert removed(d, "AvailabilityZoneFilter") == {"a": "in availability zone 'az1', "
                                                         "'az2' requested"}
    assert select_destination(spec(), hosts, CONF).hosts_considered == 2
    assert removed(select_destination(spec(), hosts, CONF), "AvailabilityZoneFilter") == {}
    assert AvailabilityZoneFilter().host_passes(hosts[0], spec(availability_zone="az2"),
                                                CONF) is not None


@pytest.mark.parametrize("props, passes", [
    ({}, True),
    ({"architecture": "x86_64"}, True),
    ({"architecture": "AMD64"}, True),                     # canonicalised as upstream
    ({"architecture": "aarch64"}, False),
    ({"hw_architecture": "x86_64", "architecture": "aarch64"}, True),  # current name wins
    ({"hw_architecture": "aarch64"}, False),
    ({"hypervisor_type": "qemu"}, True),
    ({"img_hv_type": "xen"}, False),
    ({"hypervisor_type": "QEMU", "hw_vm_mode": "hvm"}, True),
    ({"vm_mode": "xen"}, False),
])
def test_image_properties_filter(props, passes):
    h = host("a", cpu_arch="x86_64", hypervisor_type="qemu")
    reason = ImagePropertiesFilter().host_passes(h, spec(image_properties=props), CONF)
    assert (reason is None) is passes
    d = select_destination(spec(image_properties=props), [h], CONF)
    assert (d.selected == "a") is passes


def test_image_properties_reasons_and_hypervisors():
    f = ImagePropertiesFilter()
    props = {"architecture": "aarch64", "hypervisor_type": "qemu"}
    fake = host("f", hypervisor_type="fake")
    assert f.host_passes(fake, spec(image_properties=props), CONF) == (
        "architecture aarch64 requested by the image, host is x86_64; "
        "hypervisor_type qemu requested by the image, host is fake")
    # libvirt reports qemu domains beside kvm ones
    kvm = host("k", hypervisor_type="kvm")
    assert f.host_passes(kvm, spec(image_properties={"hypervisor_type": "qemu"}), CONF) is None
    d = select_destination(spec(image_properties={"hypervisor_type": "qemu"}),
                           [fake, host("q")], CONF)
    assert d.selected == "q" and set(removed(d, "ImagePropertiesFilter")) == {"f"}


def test_affinity_and_anti_affinity():
    hosts = [host("a"), host("b"), host("c")]
    aff = select_destination(spec(group_policy="affinity", group_hosts={"b"}), hosts, CONF)
    assert aff.selected == "b" and aff.alternates == []
    assert set(removed(aff, "ServerGroupAffinityFilter")) == {"a", "c"}
    assert "members are on b" in removed(aff, "ServerGroupAffinityFilter")["a"]
    # the first member of an affinity group may go anywhere
    assert select_destination(spec(group_policy="affinity"), hosts, CONF).selected == "a"

    anti = select_destination(spec(group_policy="anti-affinity", group_hosts={"a", "b"}),
                              hosts, CONF)
    assert anti.selected == "c"
    assert set(removed(anti, "ServerGroupAntiAffinityFilter")) == {"a", "b"}
    # the policies do not leak into each other
    assert ServerGroupAffinityFilter().applies(spec(group_policy="anti-affinity",
                                                    group_hosts={"a"})) is False
    assert ServerGroupAntiAffinityFilter().host_passes(host("z"), spec(group_hosts={"a"}),
                                                       CONF) is None


def test_ignore_hosts_runs_first_even_when_not_listed():
    hosts = [host("a"), host("b", memory_mb_used=1024)]
    conf = SchedulerConfig(enabled_filters=["RamFilter"])
    d = select_destination(spec(ignore_hosts={"a"}), hosts, conf)
    assert d.selected == "b"
    assert [f["name"] for f in d.filters] == [IgnoreHostsFilter.name, "RamFilter"]
    assert d.filters[0] == {"name": "IgnoreHosts", "remaining": 1, "removed": [
        {"host": "a", "reason": "already tried for this instance (reschedule)"}]}


def test_filter_records_in_run_order_with_counts():
    hosts = [host("a", up=False), host("b", memory_mb=1024), host("c")]
    d = select_destination(spec(memory_mb=1024), hosts, CONF)
    assert [f["name"] for f in d.filters] == ["IgnoreHosts"] + DEFAULT_FILTERS
    assert [f["remaining"] for f in d.filters][:4] == [3, 2, 2, 1]
    assert d.hosts_considered == 3 and d.selected == "c"


@pytest.mark.parametrize("flt", [RamFilter(), CoreFilter(), DiskFilter(), ComputeFilter(),
                                 ImagePropertiesFilter()])
def test_batch_path_agrees_with_host_passes(flt):
    # capacity filters inline their test in filter_all for speed: it must match host_passes
    rnd = random.Random(7)
    conf = SchedulerConfig(ram_allocation_ratio=1.5, reserved_host_disk_mb=512)
    hosts = [host(f"h{i}", vcpus=rnd.choice([1, 2, 4]), vcpus_used=rnd.randint(0, 16),
                  memory_mb=rnd.choice([1024, 2048, 4096]), memory_mb_used=rnd.randint(0, 4096),
                  disk_gb=rnd.choice([5, 10, 20]), disk_gb_used=rnd.randint(0, 20),
                  up=rnd.random() > 0.2, cpu_arch=rnd.choice(["x86_64", "aarch64"]))
             for i in range(300)]
    s = spec(vcpus=2, memory_mb=1024, disk_gb=8, image_properties={"architecture": "amd64"})
    kept, rem = flt.filter_all(hosts, s, conf)
    assert [h.name for h in kept] == [h.name for h in hosts
                                      if flt.host_passes(h, s, conf) is None]
    assert rem == [{"host": h.name, "reason": flt.host_passes(h, s, conf)} for h in hosts
                   if flt.host_passes(h, s, conf) is not None]
    assert kept and rem     # the sample exercises both sides


def test_unknown_plugin_is_refused():
    with pytest.raises(ValueError, match="NoSuchFilter"):
        select_destination(spec(), [host("a")], SchedulerConfig(enabled_filters=["NoSuchFilter"]))
    with pytest.raises(ValueError, match="NoSuchWeigher"):
        select_destination(spec(), [host("a"), host("b")],
                           SchedulerConfig(weighers=["NoSuchWeigher"]))


# --- weighers ---------------------------------------------------------------------------

def test_normalize_as_upstream():
    assert list(normalize([1, 2, 3])) == [0.0, 0.5, 1.0]
    assert list(normalize([5, 5])) == [0.0, 0.0]
    assert list(normalize([1, 2, 4], minval=0)) == [0.25, 0.5, 1.0]
    assert list(normalize([])) == []


def three_hosts():
    # free RAM (−512 reserved): 3584 / 2048 / 1536; free vCPUs (× 4.0): 16 / 8 / 8;
    # free disk: 100 / 50 / 25 GB; instances 0 / 3 / 1; build failures 0 / 0 / 1
    return [host("A", memory_mb=4096),
            host("B", memory_mb=4096, memory_mb_used=1536, vcpus_used=8, disk_gb_used=50,
                 num_instances=3),
            host("C", memory_mb=2048, vcpus=2, disk_gb_used=75, num_instances=1,
                 failed_builds=1)]


def test_weights_hand_computed_defaults():
    d = select_destination(spec(), three_hosts(), CONF)
    w = {r["host"]: r for r in d.weights}
    # RAM/CPU/Disk weighers have minval 0 upstream: value / max, not (v − min) / (max − min)
    assert w["A"]["by_weigher"] == pytest.approx({"RAMWeigher": 1.0, "CPUWeigher": 1.0,
        "DiskWeigher": 1.0, "NumInstancesWeigher": 0.0, "BuildFailureWeigher": 0.0})
    assert w["B"]["by_weigher"]["RAMWeigher"] == pytest.approx(2048 / 3584)
    assert w["B"]["total"] == pytest.approx(2048 / 3584 + 0.5 + 0.5)
    assert w["C"]["by_weigher"]["BuildFailureWeigher"] == pytest.approx(-1000000.0)
    assert w["C"]["total"] == pytest.approx(1536 / 3584 + 0.5 + 0.25 - 1000000.0)
    assert [r["host"] for r in d.weights] == ["A", "B", "C"]
    assert (d.selected, d.alternates) == ("A", ["B", "C"])


def test_weights_hand_computed_custom_multipliers():
    conf = SchedulerConfig(ram_weight_multiplier=2.0, cpu_weight_multiplier=0.0,
                           num_instances_weight_multiplier=-1.0,
                           build_failure_weight_multiplier=0.0)
    d = select_destination(spec(), three_hosts(), conf)
    totals = {r["host"]: r["total"] for r in d.weights}
    assert totals["A"] == pytest.approx(2.0 + 1.0 - 0.0)
    assert totals["B"] == pytest.approx(2 * 2048 / 3584 + 0.5 - 1.0)
    assert totals["C"] == pytest.approx(2 * 1536 / 3584 + 0.25 - 1 / 3)
    assert [r["host"] for r in d.weights] == ["A", "C", "B"]
    assert d.weights[1]["by_weigher"]["NumInstancesWeigher"] == pytest.approx(-1 / 3)


def test_build_failures_weigh_a_host_down_and_stacking_with_negative_multiplier():
    hosts = [host("a", failed_builds=2), host("b", memory_mb_used=2048)]
    assert select_destination(spec(), hosts, CONF).selected == "b"
    stack = SchedulerConfig(ram_weight_multiplier=-1.0, build_failure_weight_multiplier=0.0)
    assert select_destination(spec(), hosts, stack).selected == "b"
    spread = SchedulerConfig(build_failure_weight_multiplier=0.0)
    assert select_destination(spec(), hosts, spread).selected == "a"


def test_single_host_is_not_weighed_and_ties_keep_order():
    one = select_destination(spec(), [host("a")], CONF)
    assert one.weights == [{"host": "a", "total": 0.0, "by_weigher": {
        "RAMWeigher": 0.0, "CPUWeigher": 0.0, "DiskWeigher": 0.0,
        "NumInstancesWeigher": 0.0, "BuildFailureWeigher": 0.0}}]
    same = select_destination(spec(), [host("x"), host("y"), host("z")], CONF)
    assert [r["host"] for r in same.weights] == ["x", "y", "z"]
    assert all(r["total"] == pytest.approx(3.0) for r in same.weights)


def test_cpu_weigher_counts_allocation_ratio():
    # free vCPUs are counted after the ratio: 2 × 16.0 = 32 against 8 × 16.0 − 28 = 100
    hosts = [host("small", vcpus=2), host("big", vcpus=8, vcpus_used=28)]
    conf = SchedulerConfig(ram_weight_multiplier=0, disk_weight_multiplier=0,
                           cpu_allocation_ratio=16.0)
    d = select_destination(spec(), hosts, conf)
    assert d.selected == "big"
    assert d.weights[1]["by_weigher"]["CPUWeigher"] == pytest.approx(32 / 100)


# --- selection, alternates, failure -----------------------------------------------------

def test_alternates_best_first_limited_and_same_zone():
    hosts = [host(f"h{i}", memory_mb_used=i * 256, availability_zone="az2" if i == 1 else "az1")
             for i in range(5)]
    d = select_destination(spec(), hosts, CONF)
    assert d.selected == "h0" and d.alternates == ["h2", "h3"]   # h1 is in another zone
    assert select_destination(spec(), hosts, SchedulerConfig(max_attempts=1)).alternates == []
    any_az = SchedulerConfig(max_attempts=4, alternates_same_az=False)
    assert select_destination(spec(), hosts, any_az).alternates == ["h1", "h2", "h3"]


def test_no_host_fits_message_names_each_filter_and_host():
    hosts = [host("lab-1", memory_mb=896), host("lab-2", memory_mb=1024, memory_mb_used=256),
             host("lab-3", up=False)]
    d = select_destination(spec(memory_mb=512), hosts, CONF)
    assert d.selected is None and d.alternates == [] and d.weights == [] and not d.ok
    assert d.message.startswith("No valid host was found: 3 hosts considered; ")
    assert "ComputeFilter removed 1 (lab-3: service down" in d.message
    assert ("RamFilter removed 2 (lab-1: RAM: 384 MB free of 896 MB × 1.0 − 512 reserved − "
            "0 used, 512 MB requested; lab-2: RAM: 256 MB free") in d.message
    assert "CoreFilter" not in d.message     # it removed nothing


def test_failure_message_is_bounded_and_empty_cloud():
    hosts = [host(f"h{i}", up=False) for i in range(8)]
    msg = select_destination(spec(), hosts, CONF).message
    assert "ComputeFilter removed 8 (" in msg and "; and 3 more)" in msg and "h4" in msg
    assert "h5" not in msg
    assert select_destination(spec(), [], CONF).message == (
        "No valid host was found: no compute hosts are known")


# --- several instances (min/max count) --------------------------------------------------

def test_two_instances_that_fit_once_per_host_land_apart():
    hosts = [host("a", memory_mb=2560), host("b", memory_mb=2560)]   # 2048 usable each
    ds = select_destinations(spec(memory_mb=2048), hosts, CONF, num_instances=2,
                             instance_uuids=["i1", "i2"])
    assert [d.selected for d in ds] == ["a", "b"]
    assert [d.instance_uuid for d in ds] == ["i1", "i2"]
    assert "a" in removed(ds[1], "RamFilter")            # a was consumed by i1
    assert ds[0].alternates == [] and ds[1].alternates == []  # no one else's host
    assert hosts[0].memory_mb_used == 0 and hosts[0].num_instances == 0   # inputs untouched


def test_more_instances_than_room_fails_the_rest_with_reason():
    hosts = [host("a", memory_mb=2560), host("b", memory_mb=2560)]
    ds = select_destinations(spec(memory_mb=2048), hosts, CONF, num_instances=3)
    assert [d.selected for d in ds] == ["a", "b", None]
    assert ds[2].message.startswith(
        "No valid host was found for instance 3 of 3 (after placing 2): 2 hosts considered")
    assert "RamFilter removed 2" in ds[2].message


def test_multi_create_spreads_by_weight_and_keeps_group_policies():
    hosts = [host("a"), host("b"), host("c")]
    spread = select_destinations(spec(memory_mb=1024), hosts, CONF, num_instances=3)
    assert sorted(d.selected for d in spread) == ["a", "b", "c"]
    anti = select_destinations(spec(memory_mb=64, group_policy="anti-affinity"), hosts,
                               SchedulerConfig(ram_weight_multiplier=-1.0), num_instances=3)
    assert sorted(d.selected for d in anti) == ["a", "b", "c"]     # stacking loses to policy
    aff = select_destinations(spec(memory_mb=64, group_policy="affinity"), hosts, CONF,
                              num_instances=3)
    assert {d.selected for d in aff} == {"a"}


def test_consume_copies():
    h = host("a", instance_uuids={"x"})
    c = consume(h, spec(vcpus=2, memory_mb=256, disk_gb=5))
    assert (c.vcpus_used, c.memory_mb_used, c.disk_gb_used, c.num_instances) == (2, 256, 5, 1)
    assert c.instance_uuids == {"x", "inst-1"} and h.instance_uuids == {"x"}


# --- the record -------------------------------------------------------------------------

def test_to_dict_shape_is_json():
    d = select_destination(spec(), three_hosts(), CONF).to_dict()
    assert set(d) == {"instance_uuid", "hosts_considered", "filters", "weights", "selected",
                      "alternates", "message"}
    assert json.loads(json.dumps(d)) == d
    assert set(d["filters"][0]) == {"name", "removed", "remaining"}
    assert set(d["weights"][0]) == {"host", "total", "by_weigher"}
    short = select_destination(spec(), three_hosts(), CONF).to_dict(max_weights=1)
    assert [w["host"] for w in short["weights"]] == ["A"] and short["weights_omitted"] == 2


def test_config_from_project_settings():
    from backend.core.config import Config
    conf = SchedulerConfig.from_config(Config(cpu_allocation_ratio=2.0, max_attempts=5))
    assert conf.cpu_allocation_ratio == 2.0 and conf.max_attempts == 5
    assert conf.enabled_filters == DEFAULT_FILTERS


def test_weight_records_are_built_when_read_and_the_record_keeps_the_best_n():
    """A decision's weight rows are built on reading (over thousands of hosts the record keeps
    20): the best-first rows, slices and to_dict(max_weights) agree with the whole list."""
    hosts = [host(f"h{i}", memory_mb=1024 * (i + 1)) for i in range(30)]
    d = select_destination(spec(), hosts, CONF)
    rows = list(d.weights)
    assert len(d.weights) == 30 and [r["host"] for r in rows] == [f"h{i}" for i in range(29, -1, -1)]
    assert d.weights == rows and d.weights[:3] == rows[:3] and d.weights[-1] == rows[-1]
    assert [r["total"] for r in rows] == sorted((r["total"] for r in rows), reverse=True)
    rec = d.to_dict(max_weights=20)
    assert rec["weights"] == rows[:20] and rec["weights_omitted"] == 10
    full = json.loads(json.dumps(d.to_dict()))
    assert full["weights"] == rows and "weights_omitted" not in full
