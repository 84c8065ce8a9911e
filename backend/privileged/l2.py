"""L2 commands (Neutron's linuxbridge agent): per network a bridge brq<net[:11]> with a
VXLAN interface vxlan-<vni> whose unicast flooding list names the other hosts with ports on
the network (l2population), a tap<port[:11]> per port made for the unprivileged user that
runs qemu. `list` reports everything of ours on this host."""
import json

from . import checks

COMMANDS: dict = {}


def _list(args):
    checks.nargs(args, 0, 0, "no arguments")
    print(json.dumps({}))
    return 0


COMMANDS["list"] = _list
