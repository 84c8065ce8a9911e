"""Snapshots of the network screen and the Overview's ports over the scripted cloud with a
router and a floating IP (tui_scenario.wired: fixed clock and ids, animations off, workers
done before the shot). Update with --snapshot-update, then look at each SVG."""
from __future__ import annotations

import tui_scenario as sc
from test_snapshots import shot
from tui_helpers import login, make_app, settle


def test_networks_wired(snap_compare):
    """private: segment, hosts (compute-1 and the network node), a DOWN port of a stopped
    instance, the DHCP port, the router's leg; web-1's port with its floating IP."""
    async def steps(pilot):
        await login(pilot)
        pilot.app.open_list("networks")
    assert shot(snap_compare, make_app(sc.wired()), steps)


def test_networks_external_selected(snap_compare):
    """The external network's ports: the router's gateway and the floating IP's own port."""
    async def steps(pilot):
        await login(pilot)
        pilot.app.open_list("networks")
        await settle(pilot)
        await pilot.press("down")
    assert shot(snap_compare, make_app(sc.wired()), steps)


def test_overview_ports_with_floating_ip(snap_compare):
    async def steps(pilot):
        await login(pilot)
        pilot.app.screen.action_detail()
        await settle(pilot)
        await pilot.press("1")
    assert shot(snap_compare, make_app(sc.wired()), steps)
