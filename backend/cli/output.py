"""Printing: a plain table (the default) or JSON (-f json), as the openstack CLI offers."""
from __future__ import annotations

import json
import sys


def _cell(v) -> str:
    if v is None:
        return ""
    if isinstance(v, (dict, list)):
        return json.dumps(v, sort_keys=True)
    return str(v)


def table(headers: list[str], rows: list[list]) -> str:
    cells = [[_cell(c) for c in r] for r in rows]
    widths = [max([len(h)] + [max((len(x) for x in r[i].splitlines()), default=0) for r in cells])
              for i, h in enumerate(headers)]
    line = "+" + "+".join("-" * (w + 2) for w in widths) + "+"
    out = [line, "| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths)) + " |", line]
    for r in cells:
        parts = [c.splitlines() or [""] for c in r]
        for n in range(max(len(p) for p in parts)):
            out.append("| " + " | ".join((p[n] if n < len(p) else "").ljust(w)
                                         for p, w in zip(parts, widths)) + " |")
    out.append(line)
    return "\n".join(out)


def show_list(fmt: str, columns: list[tuple[str, str]], items: list[dict]) -> None:
    """columns: (header, key) pairs; JSON output uses the headers as keys, as osc does."""
    if fmt == "json":
        print(json.dumps([{h: i.get(k) for h, k in columns} for i in items], indent=2))
    else:
        print(table([h for h, _ in columns], [[i.get(k) for _, k in columns] for i in items]))


def show_one(fmt: str, obj: dict) -> None:
    if fmt == "json":
        print(json.dumps(obj, indent=2, sort_keys=True))
    else:
        print(table(["Field", "Value"], [[k, obj[k]] for k in sorted(obj)]))


def err(msg: str) -> None:
    print(f"pocketstack: error: {msg}", file=sys.stderr)
