"""The glossary: what each state, fault, scheduler filter and weigher and each main term
means, in one or two plain sentences, as upstream nova and the OpenStack docs mean it.

One place for the words the app explains on `?` and lists in its glossary screen
(facade: `Cloud.glossary`). tests/test_glossary.py checks that the state sets are exactly
the backend's, that every filter and weigher the scheduler can load has an entry, and that
every fault the backend records is of a kind listed here."""
from __future__ import annotations

import re

# kind -> {term: text}. The kinds are the columns the app explains.
VM_STATES = {
    "active": "The guest is running, or was running when last checked: the normal state after a "
              "successful build.",
    "building": "The instance is being created: scheduled, given its network and disks, then booted. "
                "The task_state says which step it is on.",
    "paused": "The guest's virtual CPUs are frozen but it stays in the host's memory; unpause resumes it "
              "at once.",
    "suspended": "The guest's memory was saved to the host's disk and the guest stopped; resume restores "
                 "it where it was.",
    "stopped": "The guest is powered off; its disks and ports are kept, so start boots it again "
               "(API status SHUTOFF).",
    "rescued": "The instance booted from a rescue image with its own disk attached, to repair it.",
    "resized": "A resize or cold migration finished and waits for the user to confirm or revert it "
               "(API status VERIFY_RESIZE).",
    "soft-delete": "Deleted, but kept for reclaim_instance_interval so that restore can bring it back.",
    "deleted": "The instance is gone: its guest destroyed and its resources released. Only its record "
               "stays, for the history.",
    "error": "Something failed that needs a person: the instance's fault says what. Delete it, or "
             "(for some errors) reset its state.",
    "shelved": "Powered off and snapshotted, still on its host; unshelve starts it again.",
    "shelved_offloaded": "Shelved and removed from its host: it uses no host resources until "
                         "unshelve schedules it anew.",
}

TASK_STATES = {
    "scheduling": "nova-api recorded the request; the conductor asks the scheduler for a host.",
    "networking": "On its compute host: asking the network service (Neutron) for a port, with a MAC "
                  "and a fixed IP.",
    "block_device_mapping": "On its compute host: preparing the disks, a volume from the volume "
                            "service (Cinder) or a local disk.",
    "spawning": "On its compute host: fetching the image (Glance) into the host's cache and booting "
                "the guest with the hypervisor.",
    "powering-off": "A stop was accepted; the compute host is shutting the guest down.",
    "powering-on": "A start was accepted; the compute host is booting the guest again.",
    "rebooting": "A soft reboot was accepted: the guest is asked to restart itself.",
    "reboot_pending": "A soft reboot is queued on the compute host.",
    "reboot_started": "The compute host has started the soft reboot.",
    "rebooting_hard": "A hard reboot was accepted: the guest is powered off and on, like a reset "
                      "button.",
    "reboot_pending_hard": "A hard reboot is queued on the compute host.",
    "reboot_started_hard": "The compute host has started the hard reboot.",
    "deleting": "A delete was accepted; the guest is being destroyed and its port, disks and claim "
                "released.",
    "pausing": "A pause was accepted; the compute host is freezing the guest's virtual CPUs.",
    "unpausing": "An unpause was accepted; the compute host is letting the guest's virtual CPUs run "
                 "again.",
    "suspending": "A suspend was accepted; the compute host is saving the guest's state and stopping "
                  "it.",
    "resuming": "A resume was accepted; the compute host is bringing the suspended guest back.",
    "rebuilding": "A rebuild was accepted: the guest is destroyed to boot again from the new image, "
                  "keeping its ports, volumes and flavor.",
    "rebuild_block_device_mapping": "Rebuild on its compute host: the old guest is gone, its disks "
                                    "are being prepared from the new image.",
    "rebuild_spawning": "Rebuild on its compute host: booting the guest from the new image.",
}

# named by nova's power_state constants; the code is what the API shows (OS-EXT-STS:power_state)
POWER_STATES = {
    "NOSTATE": (0, "No power state is known: the guest does not exist on a host yet, or was "
                   "destroyed."),
    "Running": (1, "The hypervisor reports the guest running."),
    "Paused": (3, "The hypervisor reports the guest's CPUs paused."),
    "Shutdown": (4, "The hypervisor reports the guest powered off."),
    "Crashed": (6, "The hypervisor reports that the guest crashed."),
    "Suspended": (7, "The hypervisor reports the guest suspended to disk."),
}

STATUSES = {
    "ACTIVE": "API status of vm_state active: the instance runs.",
    "BUILD": "API status of vm_state building: the instance is being created.",
    "SHUTOFF": "API status of vm_state stopped: the guest is powered off.",
    "REBOOT": "API status of an active instance during a soft reboot.",
    "HARD_REBOOT": "API status of an active instance during a hard reboot.",
    "REBUILD": "API status of an instance being rebuilt from a new image (any rebuild task_state).",
    "ERROR": "API status of vm_state error: see the instance's fault.",
    "PAUSED": "API status of vm_state paused.",
    "SUSPENDED": "API status of vm_state suspended.",
    "RESCUE": "API status of vm_state rescued.",
    "VERIFY_RESIZE": "API status of vm_state resized: confirm or revert the resize.",
    "DELETED": "API status of vm_state deleted.",
    "SOFT_DELETED": "API status of vm_state soft-delete: it can still be restored.",
    "SHELVED": "API status of vm_state shelved.",
    "SHELVED_OFFLOADED": "API status of vm_state shelved_offloaded.",
    "UNKNOWN": "The API cannot map the instance's vm_state to a status.",
}

FILTERS = {
    "IgnoreHosts": "Removes the hosts this instance already failed to build on, so a reschedule "
                   "tries a new one (upstream strips them before filtering).",
    "ComputeFilter": "Keeps hosts whose compute service is enabled and has reported recently "
                     "(service_down_time).",
    "AvailabilityZoneFilter": "Keeps hosts in the availability zone the request asked for.",
    "RamFilter": "Keeps hosts with enough free RAM: total × ram_allocation_ratio − reserved − used "
                 "(placement does this upstream today).",
    "CoreFilter": "Keeps hosts with enough free vCPUs: total × cpu_allocation_ratio − used "
                  "(placement does this upstream today).",
    "DiskFilter": "Keeps hosts with enough free local disk for the flavor's root disk; booting from a "
                  "volume asks for none.",
    "ImagePropertiesFilter": "Keeps hosts whose architecture, hypervisor type and VM mode match what "
                             "the image's properties ask for.",
    "ServerGroupAntiAffinityFilter": "Keeps hosts that hold no other member of the instance's "
                                     "anti-affinity server group.",
    "ServerGroupAffinityFilter": "Keeps only the hosts that already hold members of the instance's "
                                 "affinity server group.",
    "SameHostFilter": "With the same_host hint: keeps only the hosts of the instances it names.",
    "DifferentHostFilter": "With the different_host hint: removes the hosts of the instances it "
                           "names.",
}

WEIGHERS = {
    "RAMWeigher": "Prefers hosts with more free RAM (spreads instances); ram_weight_multiplier "
                  "sets how much it counts.",
    "CPUWeigher": "Prefers hosts with more free vCPUs; cpu_weight_multiplier sets how much it counts.",
    "DiskWeigher": "Prefers hosts with more free disk; disk_weight_multiplier sets how much it counts.",
    "NumInstancesWeigher": "Weighs hosts by how many instances they run: a positive multiplier packs, "
                           "a negative one spreads; 0 (the default) leaves it out.",
    "BuildFailureWeigher": "Weighs down hosts where builds failed recently, so a broken host stops "
                           "attracting every new instance.",
}

# fault kind -> (what the message starts with, as a pattern; what it means)
FAULTS = {
    "No valid host": (r"No valid host was found|another instance of the same request could not be placed",
                      "The scheduler found no host that passes every filter; the fault's details "
                      "say which filter removed which host and why."),
    "Scheduler failed": (r"scheduler failed",
                         "The conductor's call to the scheduler itself failed, so no host was chosen."),
    "Retries exhausted": (r"Exceeded maximum number of retries",
                          "The build failed on the chosen host and on each alternate (max_attempts); "
                          "the details list every attempt."),
    "Build aborted": (r"Build of instance \S+ aborted",
                      "The build failed on its host in a way another host would not fix (a bad image, "
                      "a bad request), so it was not rescheduled."),
    "Build timed out": (r"Build of instance \S+ timed out",
                        "The instance stayed in building longer than build_timeout, so it was put in "
                        "ERROR and its resources released."),
    "Power action failed": (r"compute_\w+ failed",
                            "A stop, start or reboot failed on the host; the vm_state is kept and the "
                            "task cleared, as upstream."),
    "Delete failed": (r"delete failed on",
                      "The hypervisor could not destroy the guest; deleting again retries."),
}

TERMS = {
    "status": "The instance's API status (ACTIVE, BUILD, SHUTOFF, ERROR, ...), derived from its vm_state "
              "and task_state as nova's API derives it.",
    "vm_state": "What the instance is, as nova records it (active, building, stopped, error, ...): the "
                "state it rests in between actions.",
    "task_state": "What nova is doing to the instance right now (scheduling, spawning, powering-off, "
                  "...); empty (None) when nothing is in progress, and only then do most actions "
                  "start.",
    "power_state": "What the hypervisor last reported about the guest (Running, Shutdown, ...); nova's "
                   "power sync compares it with the vm_state.",
    "instance": "A virtual machine that nova runs for a project (openstack server).",
    "flavor": "A size for instances: vCPUs, RAM and root disk. Chosen at launch; the scheduler "
              "places the instance where the flavor fits.",
    "image": "A disk image in the image service (Glance) that instances boot from, with its format, "
             "checksum and properties.",
    "port": "A virtual network interface in Neutron: a MAC address and a fixed IP on one network, "
            "bound to an instance and its host.",
    "network": "A Neutron layer-2 network; its subnets hand out fixed IPs from their allocation pools.",
    "security group": "A named set of Neutron firewall rules a port (and so an instance) is in; each "
                      "project has a 'default' group. pocketstack stores and shows the rules but does "
                      "not yet enforce them: guest traffic is not filtered.",
    "volume": "A block device from the volume service (Cinder), attachable to an instance or used as "
              "its boot disk.",
    "project": "Keystone's unit of ownership (tenant): instances, networks and quotas belong to one.",
    "role": "What a user may do in a project: reader looks, member changes, admin does everything.",
    "token": "Keystone's proof of who you are; scoped to a project it carries your roles there and "
             "every API call sends it.",
    "instance action": "One request on an instance (create, stop, delete, ...) with its request id, "
                       "user and the events it went through (openstack server event list).",
    "fault": "The record of why an instance went to ERROR: a code, a message, details and the host.",
    "alternate host": "Another host the scheduler found fit, kept so the conductor can retry a failed "
                      "build there without asking again.",
    "claim": "The resources (vCPUs, RAM, disk) reserved for an instance on its host, so two builds "
             "cannot take the same last slot.",
    "conductor": "nova-conductor: runs the build (asks the scheduler, casts to the host, reschedules) "
                 "and is compute's only way to the database.",
    "scheduler": "nova-scheduler: picks a host for each instance by running the filters, then the "
                 "weighers, over every host's state.",
    "filter": "A scheduler check that removes hosts which cannot take the instance.",
    "weigher": "A scheduler score over the hosts that passed the filters; the highest total wins.",
    "allocation ratio": "How far a host's resources may be overcommitted: vCPUs × 4.0, RAM × 1.0 and "
                        "disk × 1.0 by default, as upstream.",
    "availability zone": "A group of hosts a user may ask for by name when launching.",
    "hypervisor": "The compute host's virtualisation (qemu here, or the fake driver); it runs the guests.",
    "request id": "The id (req-...) of one API request, carried by every message it causes; it ties an "
                  "instance action to its log.",
    "queue": "The message bus between services: a cast is fire-and-forget, a call waits for the reply.",
    "server group": "A policy for a set of instances: affinity (one host) or anti-affinity (different hosts).",
    "quota": "The most of each resource (instances, cores, RAM, ports, ...) a project may use.",
}

KINDS = ("vm_state", "task_state", "power_state", "status", "fault", "filter", "weigher", "term")


def entries() -> list[dict]:
    """Every entry: {kind, term, text}; power states also carry their code, fault kinds the
    pattern their messages start with."""
    out = [{"kind": "vm_state", "term": k, "text": v} for k, v in VM_STATES.items()]
    out += [{"kind": "task_state", "term": k, "text": v} for k, v in TASK_STATES.items()]
    out += [{"kind": "power_state", "term": k, "text": v, "code": c} for k, (c, v) in POWER_STATES.items()]
    out += [{"kind": "status", "term": k, "text": v} for k, v in STATUSES.items()]
    # the pattern lets a client tell a fault's kind from its message, as fault_kind() does
    out += [{"kind": "fault", "term": k, "text": v, "pattern": p} for k, (p, v) in FAULTS.items()]
    out += [{"kind": "filter", "term": k, "text": v} for k, v in FILTERS.items()]
    out += [{"kind": "weigher", "term": k, "text": v} for k, v in WEIGHERS.items()]
    out += [{"kind": "term", "term": k, "text": v} for k, v in TERMS.items()]
    return out


_FAULT_RES = [(k, re.compile(p)) for k, (p, _) in FAULTS.items()]


def fault_kind(message: str | None) -> str | None:
    """The fault kind of a fault message (None if it is of no known kind)."""
    for kind, rx in _FAULT_RES:
        if message and rx.match(message):
            return kind
    return None
