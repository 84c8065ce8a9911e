"""Launch (`c`): a form validated as you type; on submit the instances come back in BUILD
and go straight into the table."""
from __future__ import annotations

import re

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static

from tui.format import plain

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,62}$")


def free_capacity(hosts: list[dict]) -> list[tuple[dict, float, float, float]]:
    """(host, free vCPUs, free RAM MB, free disk GB) of each host that is up and enabled, by the
    scheduler's arithmetic (RamFilter, CoreFilter, DiskFilter): total × allocation ratio −
    reserved − used, from the hypervisor views."""
    out = []
    for h in hosts:
        if h.get("state") != "up" or h.get("status") != "enabled":
            continue
        out.append((h, h["vcpus"] * (h.get("cpu_allocation_ratio") or 1) - h["vcpus_used"],
                    h["memory_mb"] * (h.get("ram_allocation_ratio") or 1)
                    - (h.get("reserved_host_memory_mb") or 0) - h["memory_mb_used"],
                    h["disk_gb"] * (h.get("disk_allocation_ratio") or 1) - h["disk_gb_used"]))
    return out


def fits_somewhere(flavor: dict, hosts: list[dict] | None, local_disk: bool = True) -> str | None:
    """None if the flavor fits a host now (or nothing is known of the hosts), else why not.
    A host never takes more than it has, whatever the ratio (no overcommit against itself)."""
    if hosts is None:
        return None
    free = free_capacity(hosts)
    disk = flavor["disk"] if local_disk else 0
    for h, v, m, d in free:
        if (v >= flavor["vcpus"] and m >= flavor["ram"] and d >= disk and h["vcpus"] >= flavor["vcpus"]
                and h["memory_mb"] >= flavor["ram"] and h["disk_gb"] >= disk):
            return None
    if not free:
        return "fits no host: no compute host is up"
    num = lambda x: str(int(x)) if float(x).is_integer() else f"{x:.1f}"  # noqa: E731
    v, m, d = (max(max(0, f[i]) for f in free) for i in (1, 2, 3))
    return f"fits no host: largest free is {num(v)} vCPU / {num(m)} MB" + (f" / {num(d)} GB" if disk else "")


def validate(values: dict, flavors: dict[str, dict], images: dict[str, dict],
             zones: set[str] | None = None, hosts: list[dict] | None = None) -> dict[str, str]:
    """field -> message for every invalid field (empty dict: good to go). Pure, for tests."""
    errors: dict[str, str] = {}
    name = values.get("name", "").strip()
    if not name:
        errors["name"] = "a name is needed"
    elif not NAME_RE.match(name):
        errors["name"] = "letters, digits, space . _ - only; at most 63; starts alphanumeric"
    if not values.get("image"):
        errors["image"] = "choose an image"
    flavor = flavors.get(values.get("flavor") or "")
    if not flavor:
        errors["flavor"] = "choose a flavor"
    image = images.get(values.get("image") or "")
    size = values.get("volume_size", "").strip()
    if image and flavor and image.get("min_ram") and flavor["ram"] < image["min_ram"]:
        errors["flavor"] = f"image needs {image['min_ram']} MB RAM; flavor has {flavor['ram']}"
    elif flavor and (why := fits_somewhere(flavor, hosts, local_disk=not size)):
        errors["flavor"] = why
    if size:
        if not size.isdigit() or int(size) < 1:
            errors["volume_size"] = "a whole number of GB, or empty for a local disk"
        elif image and image.get("min_disk") and int(size) < image["min_disk"]:
            errors["volume_size"] = f"image needs at least {image['min_disk']} GB"
    count = values.get("count", "").strip() or "1"
    if not count.isdigit() or not 1 <= int(count) <= 50:
        errors["count"] = "between 1 and 50"
    az = values.get("az", "").strip()
    if az and not re.match(r"^[A-Za-z0-9_.:-]+$", az):
        errors["az"] = "letters, digits and . _ : - only"
    elif az and zones and az.split(":")[0] not in zones:  # "zone" or admin's "zone:host"
        errors["az"] = f"no such zone; there is {', '.join(sorted(zones))}"
    return errors


class LaunchScreen(ModalScreen[list]):
    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("ctrl+s", "submit", "Launch")]
    FIELDS = ["name", "image", "flavor", "network", "volume_size", "az", "count"]

    def __init__(self) -> None:
        super().__init__()
        self.flavors: dict[str, dict] = {}
        self.images: dict[str, dict] = {}
        self.touched: set[str] = set()
        self.zones: set[str] | None = None     # known only to admins (hypervisor list)
        self.hosts: list[dict] | None = None   # the same: what each host has free

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog modal launch"):
            yield Static("Launch instance", classes="dialog-title")
            yield Label("Name")
            yield Input(placeholder="web-1", id="name", compact=True)
            yield Static("", id="name-err", classes="error")
            yield Label("Image")
            yield Select([], id="image", prompt="loading images…", compact=True)
            yield Static("", id="image-err", classes="error")
            yield Label("Flavor")
            yield Select([], id="flavor", prompt="loading flavors…", compact=True)
            yield Static("", id="flavor-err", classes="error")
            yield Label("Network")
            yield Select([("auto (the project's or the shared network)", "auto"),
                          ("none", "none")], id="network", value="auto", allow_blank=False,
                         compact=True)
            yield Label("Boot from volume: size in GB (empty: local disk)")
            yield Input(placeholder="", id="volume_size", compact=True)
            yield Static("", id="volume_size-err", classes="error")
            yield Label("Availability zone (empty: any)")
            yield Input(placeholder="nova", id="az", compact=True)
            yield Static("", id="az-err", classes="error")
            yield Label("Count")
            yield Input(value="1", id="count", compact=True)
            yield Static("", id="count-err", classes="error")
            with Horizontal(classes="buttons"):
                yield Button("Launch (ctrl+s)", variant="primary", id="launch", disabled=True)
                yield Button("Cancel (esc)", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#name", Input).focus()
        self.load_choices()

    @work(exclusive=True, group="launch-load", exit_on_error=False)
    async def load_choices(self) -> None:
        from tui.app import FAILED
        app, a = self.app, self.app.adapter
        images = await app.guard(a.call("list_images"), "list images")
        flavors = await app.guard(a.call("list_flavors"), "list flavors")
        nets = await app.guard(a.call("list_networks"), "list networks")
        if images is not FAILED:
            # kernels and ramdisks (aki/ari) are parts of an image, not bootable disks
            usable = [i for i in images if i.get("status") == "active"
                      and i.get("disk_format") not in ("aki", "ari")]
            self.images = {i["id"]: i for i in usable}
            sel = self.query_one("#image", Select)
            sel.set_options([(plain(i["name"]), i["id"]) for i in sorted(usable, key=lambda i: i["name"])])
            sel.prompt = "choose an image"
        if flavors is not FAILED:
            self.flavors = {f["id"]: f for f in flavors}
            sel = self.query_one("#flavor", Select)
            sel.set_options([(plain(f"{f['name']}  ({f['vcpus']} vCPU, {f['ram']} MB, {f['disk']} GB)"), f["id"])
                             for f in sorted(flavors, key=lambda f: (f["vcpus"], f["ram"], f["name"]))])
            sel.prompt = "choose a flavor"
        try:  # only admins may list hypervisors; others get the zone checked on submit
            self.hosts = await a.call("list_hypervisors")
            self.zones = {h.get("availability_zone") or "nova" for h in self.hosts}
        except Exception:
            self.zones = self.hosts = None
        if nets is not FAILED:
            self.query_one("#network", Select).set_options(
                [("auto (the project's or the shared network)", "auto"), ("none", "none")]
                + [(plain(f"{n['name']}{' (shared)' if n.get('shared') else ''}"), n["id"]) for n in nets])
        self.preselect()
        self.revalidate()

    def preselect(self) -> None:
        """The only image, and the smallest flavor that fits it and a host, chosen already."""
        img = self.query_one("#image", Select)
        if len(self.images) == 1 and img.value is Select.NULL:
            img.value = next(iter(self.images))
        fl = self.query_one("#flavor", Select)
        if fl.value is Select.NULL:
            values = self.values()
            for f in sorted(self.flavors.values(), key=lambda f: (f["vcpus"], f["ram"], f["disk"], f["name"])):
                if "flavor" not in validate(dict(values, flavor=f["id"]), self.flavors, self.images, self.zones,
                                            self.hosts):
                    fl.value = f["id"]
                    break

    def values(self) -> dict:
        out = {}
        for f in self.FIELDS:
            w = self.query_one(f"#{f}")
            v = w.value
            out[f] = "" if v is Select.NULL or v is None else str(v)
        return out

    @on(Input.Changed)
    @on(Select.Changed)
    def _changed(self, ev) -> None:
        if ev.control.id:
            self.touched.add(ev.control.id)
        self.revalidate()

    def revalidate(self) -> dict[str, str]:
        """Messages show for the fields already touched; the button needs all valid."""
        errors = validate(self.values(), self.flavors, self.images, self.zones, self.hosts)
        for f in ("name", "image", "flavor", "volume_size", "az", "count"):
            msg = errors.get(f, "") if f in self.touched else ""
            if f == "flavor" and errors.get(f, "").startswith("fits no host"):
                msg = errors[f]  # a fact about the cloud, not a typing slip: shown at once
            w = self.query_one(f"#{f}-err", Static)
            w.update(plain(msg))  # messages quote zone names from the API
            w.display = bool(msg)
        self.query_one("#launch", Button).disabled = bool(errors)
        return errors

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#launch")
    def action_submit(self) -> None:
        self.touched.update(self.FIELDS)
        if self.revalidate():
            return
        self.launch(self.values())

    @work(exclusive=True, group="launch", exit_on_error=False)
    async def launch(self, v: dict) -> None:
        from tui.app import FAILED
        self.query_one("#launch", Button).disabled = True
        count = int(v["count"] or 1)
        net = v["network"] or "auto"
        got = await self.app.guard(self.app.adapter.call(
            "create_server", v["name"].strip(), v["image"], v["flavor"],
            networks=net if net in ("auto", "none") else [{"uuid": net}],
            boot_volume_size=int(v["volume_size"]) if v["volume_size"].strip() else None,
            availability_zone=v["az"].strip() or None, min_count=count, max_count=count),
            "launch")
        if got is FAILED:
            self.query_one("#launch", Button).disabled = False
            return
        self.app.notify(f"launching {', '.join(s['name'] for s in got)}\n"
                        "w: the openstack command and REST calls", title="launch", timeout=3)
        self.dismiss(got)
