"""Entry point: `python3 -I <this dir> <command> <args...>`.

Exit 2 with a message naming what is wrong for an unknown command or a bad argument;
nothing is run through a shell (argv lists only)."""
import importlib
import os
import sys

MODULES = ("l2", "dhcp", "l3")


def _package() -> str:
    """The package these modules live in: `backend.privileged` when imported from the
    project, else the directory itself (its parent put on sys.path: a root-owned dir
    on hosts)."""
    if __package__:
        return __package__
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, os.path.dirname(here))
    return os.path.basename(here)


def commands() -> dict:
    pkg = _package()
    table = {}
    for name in MODULES:
        mod = importlib.import_module(f"{pkg}.{name}")
        for cmd, fn in mod.COMMANDS.items():
            if cmd in table:
                raise RuntimeError(f"command {cmd!r} defined twice")
            table[cmd] = fn
    return table


def main(argv: list[str]) -> int:
    pkg = _package()
    checks = importlib.import_module(f"{pkg}.checks")
    table = commands()
    if not argv:
        print("usage: privileged <command> <args...>; commands: " + " ".join(sorted(table)),
              file=sys.stderr)
        return 2
    cmd, args = argv[0], argv[1:]
    fn = table.get(cmd)
    if fn is None:
        print(f"unknown command {cmd!r}; commands: " + " ".join(sorted(table)), file=sys.stderr)
        return 2
    try:
        return int(fn(args) or 0)
    except checks.BadArgument as e:
        print(f"{cmd}: {e}", file=sys.stderr)
        return 2
    except checks.CommandFailed as e:
        print(f"{cmd}: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
