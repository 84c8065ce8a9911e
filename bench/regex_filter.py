"""The server name filter against catastrophic regular expressions (not a test).

Target: the five patterns below, each over a 40-character name that makes them backtrack
for hours, end (with [] or a "too long" 400) in <= 2 s together: the filter's time budget
holds. tests/test_edge_cases.py checks what they answer; this measures how fast.

    .venv/bin/python bench/regex_filter.py
"""
from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from backend.core.config import Config  # noqa: E402
from backend.core.errors import BadRequest  # noqa: E402
from backend.facade import Cloud  # noqa: E402

EVIL = (r"(x+x+)+y", r"(x|x)*y", r"(x*)*y", r"x*x*x*x*x*x*x*x*y", r"(x|xx)+(?=z)")
TARGET_S = 2.0


async def main() -> int:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        (tmp / "hosts.yaml").write_text("hosts:\n  - {name: h1, address: 127.0.0.1, driver: fake}\n")
        cfg = Config(home=tmp / "home", hosts_path=tmp / "hosts.yaml", password_hash_rounds=4)
        Cloud.init(cfg, "secret")
        c = Cloud(cfg)
        await c.start()
        try:
            tok = (await c.login("admin", "secret", "admin"))["token"]
            img = await c.create_image(tok, "i", visibility="public")
            await c.upload_image(tok, img["id"], b"x")
            for n in ("web-1", "web-2", "db-1", "x" * 40):
                await c.create_server(tok, n, img["id"], "m1.nano", networks="none")
            total = 0.0
            print(f"{'pattern':<24} {'seconds':>8}  answer")
            for evil in EVIL:
                t0 = time.perf_counter()
                try:
                    answer = f"{len(await c.list_servers(tok, filters={'name': evil}))} servers"
                except BadRequest as e:
                    answer = e.message
                dt = time.perf_counter() - t0
                total += dt
                print(f"{evil:<24} {dt:8.3f}  {answer[:60]}")
            ok = total <= TARGET_S
            print(f"{'all five':<24} {total:8.3f}  target <= {TARGET_S:g} s: {'met' if ok else 'MISSED'}")
            return 0 if ok else 1
        finally:
            await c.stop()


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
