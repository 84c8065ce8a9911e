"""How fast the instances table follows the cloud (prints a table; not a test).

1. 20,000 instances loaded; ticks of 500 changed rows: time to apply (keyed rows, changed
   cells only, one batch) and to render the screen after it. Target <= 100 ms.
2. A stream of 1,000 state events a second, pushed from another thread as the backend loop
   does: does the app keep up (last event on screen how long after it was sent), and does a
   key press still reach the screen within 100 ms meanwhile?
3. The same stream over --url: a `pocketstack serve` of its own (another process: a real
   Cloud behind the REST API and the HTTP server of `serve`) publishes 1,000 events a second
   into its event hub; the app reads them from GET /pocketstack/v1/events with the remote
   adapter's stream client. Each event carries the time of its state change: event on
   screen (painted) how long after it. Target <= 150 ms. Key presses as in 2.

Parts 1-2 run the real app headless over the scripted adapter (tui.fake_adapter), so the
figures are the app's own; in part 3 the lists still come from it (20,000 rows), the events
from the server.  Usage: .venv/bin/python bench/tui_tick.py
"""
from __future__ import annotations

import asyncio
import gc
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tui.app import PocketApp  # noqa: E402
from tui.fake_adapter import FakeAdapter, fixed_clock, server  # noqa: E402

N = 20_000
TICK_ROWS = 500
TICKS = 30
STREAM = 1000          # events a second
REMOTE_SECONDS = 3     # how long the stream over --url runs
SIZE = (160, 50)
STATES = [("ACTIVE", None), ("BUILD", "spawning"), ("SHUTOFF", None), ("ACTIVE", "rebooting")]


def changed(s: dict, n: int) -> dict:
    status, task = STATES[n % len(STATES)]
    vm = {"ACTIVE": "active", "BUILD": "building", "SHUTOFF": "stopped"}[status]
    c = dict(s)
    c.update(status="REBOOT" if task == "rebooting" else status, vm_state=vm, task_state=task,
             power_state_name="Running" if status == "ACTIVE" else "Shutdown",
             host=f"compute-{n % 7 + 1}")
    return c


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


class FullCollections:
    """Full garbage collections (generation 2) and how long each held the process (every
    thread: the collector holds the GIL), from `start()`: they were the long pauses."""

    def __init__(self) -> None:
        self.ms: list[float] = []
        self._t = 0.0
        self._on = False
        gc.callbacks.append(self._cb)

    def _cb(self, phase: str, info: dict) -> None:
        if info["generation"] == 2 and self._on:
            if phase == "start":
                self._t = time.perf_counter()
            else:
                self.ms.append((time.perf_counter() - self._t) * 1000)

    def start(self) -> None:
        self.ms, self._on = [], True

    def row(self, what: str) -> tuple[str, str, str]:
        self._on = False
        return (f"full collections during {what}", f"{len(self.ms)}",
                f"max {max(self.ms, default=0):.0f} ms, total {sum(self.ms):.0f} ms")


async def main() -> list[tuple[str, str, str]]:
    adapter = FakeAdapter()
    for i in range(N):
        s = server(i, "ACTIVE", host=f"compute-{i % 7 + 1}", age_s=60 + i)
        adapter.servers[s["id"]] = s
    app = PocketApp(adapter, clock=fixed_clock, highlight_seconds=1.0, console_follow=0,
                    auto_login=("admin", "secret"))
    app.animation_level = "none"
    rows: list[tuple[str, str, str]] = []
    collections = FullCollections()
    async with app.run_test(size=SIZE) as pilot:
        t0 = time.perf_counter()
        while app.screen.__class__.__name__ != "ProjectScreen":
            await pilot.pause(0.01)
        app.screen.query_one("OptionList").highlighted = 0
        await pilot.press("enter")
        while not (hasattr(app.screen, "table") and app.screen.table.row_count == N):
            await pilot.pause(0.01)
        await pilot.pause()
        rows.append((f"initial load of {N:,} rows", f"{(time.perf_counter() - t0) * 1000:.0f} ms", "(once, at log in)"))
        table = app.screen.table
        ids = list(adapter.servers)

        # ---- 1. ticks of 100 changed rows -----------------------------------------------
        rnd = random.Random(1)
        apply_ms, total_ms = [], []
        cells0 = table.cells_written
        collections.start()
        for k in range(TICKS):
            batch = {sid: changed(adapter.servers[sid], k + j) for j, sid in enumerate(rnd.sample(ids, TICK_ROWS))}
            before = table.cells_written
            t = time.perf_counter()
            with app.batch_update():
                app.pump.run_in_app(table.apply, batch)
            t1 = time.perf_counter()
            await pilot.pause()       # let the screen render the change
            t2 = time.perf_counter()
            apply_ms.append((t1 - t) * 1000)
            total_ms.append((t2 - t) * 1000)
            assert table.cells_written > before
        cells = table.cells_written - cells0
        rows.append((f"tick of {TICK_ROWS} changed rows: apply", f"median {statistics.median(apply_ms):.1f} ms",
                     f"p95 {pct(apply_ms, 95):.1f} ms, max {max(apply_ms):.1f} ms"))
        rows.append((f"tick of {TICK_ROWS} changed rows: apply + render", f"median {statistics.median(total_ms):.1f} ms",
                     f"p95 {pct(total_ms, 95):.1f} ms, max {max(total_ms):.1f} ms; target <= 100 ms: "
                     f"{'PASS' if pct(total_ms, 95) <= 100 else 'FAIL'}"))
        await pilot.pause(1.2)
        app.pump.run_in_app(table.cool)

        # ---- 2. 1,000 events in one second, with key presses ----------------------------
        flush_ms: list[float] = []
        handler = app.pump.handler

        def timed(batch):
            t = time.perf_counter()
            handler(batch)
            flush_ms.append((time.perf_counter() - t) * 1000)
            paint_timer(app, batch, local_ms)
        local_ms: list[float] = []
        app.pump.handler = timed
        final: dict[str, dict] = {}
        sent_done = threading.Event()
        last_sent = [0.0]

        def producer():
            r = random.Random(2)
            start = time.perf_counter()
            for n in range(STREAM):
                sid = ids[r.randrange(N)]
                s = changed(adapter.servers[sid], n)
                s["bench_ts"] = time.time()  # the state change, as part 3's server stamps it
                final[sid] = s
                adapter.emit({"type": "instance", "server": s})
                # one event per millisecond, on schedule
                delay = start + (n + 1) / STREAM - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
            last_sent[0] = time.perf_counter()
            sent_done.set()

        th = threading.Thread(target=producer)
        key_ms: list[float] = []
        th.start()
        from textual import events
        while not sent_done.is_set():
            # a key as the terminal sends it; timed until the table paints the moved cursor
            row = table.cursor_row
            want = row + 1 if row < 30 else row - 1
            t = time.perf_counter()
            key = events.Key("down" if want > row else "up", None)
            key.set_sender(app)
            app._driver.send_message(key)
            while not (table.cursor_painted[0] == want and table.cursor_painted[1] > t):
                await asyncio.sleep(0.001)
            key_ms.append((table.cursor_painted[1] - t) * 1000)
            await asyncio.sleep(0.03)
        th.join()

        def caught_up():
            return all(table.servers[k]["status"] == v["status"] and table.servers[k]["host"] == v["host"]
                       for k, v in final.items())
        while not caught_up():
            await pilot.pause(0.005)
        await pilot.pause()
        lag = (time.perf_counter() - last_sent[0]) * 1000
        rows.append((f"{STREAM} events in 1 s: flushes (~50 ms ticks)", f"{len(flush_ms)}",
                     f"{STREAM / max(1, len(flush_ms)):.0f} events per flush, flush median "
                     f"{statistics.median(flush_ms):.1f} ms, max {max(flush_ms):.1f} ms"))
        rows.append((f"{STREAM} events in 1 s: last event on screen after", f"{lag:.0f} ms",
                     f"kept up: {'yes' if lag <= 150 else 'NO'} (every final state shown)"))
        rows.append((f"in-process: {STREAM} events/s, event on screen after", f"median {statistics.median(local_ms):.0f} ms",
                     f"p95 {pct(local_ms, 95):.0f} ms, p99 {pct(local_ms, 99):.0f} ms, max {max(local_ms):.0f} ms "
                     f"over {len(local_ms)} events (the baseline of part 3)"))
        rows.append(("key press to screen during the stream", f"median {statistics.median(key_ms):.1f} ms",
                     f"p95 {pct(key_ms, 95):.1f} ms, max {max(key_ms):.1f} ms over {len(key_ms)} presses; "
                     f"target <= 100 ms: {'PASS' if max(key_ms) <= 100 else 'p95 ' + ('PASS' if pct(key_ms, 95) <= 100 else 'FAIL')}"))
        rows.append(collections.row("parts 1-2 (ticks, stream)"))
        rows.append(("cells written", f"{cells}", f"in the {TICKS} ticks of {TICK_ROWS} rows ({TICKS * TICK_ROWS * 10} cells in those rows; "
                     f"a row's strip is rebuilt once per tick)"))

        # ---- 3. the same stream over --url -------------------------------------------------
        app.pump.handler = handler
        collections.start()
        rows += await over_url(app, adapter, table, pilot)
        rows.append(collections.row("part 3 (in the app's process)"))
        rows.append(wire_cost())

    return rows


def wire_cost() -> tuple[str, str, str]:
    """CPU per event of the remote path's own steps, apart from the app: the server's frame
    (JSON + SSE), the client's SSE parse and JSON decode (httpx-sse, orjson)."""
    import orjson
    from httpx_sse._decoders import SSEDecoder, SSELineDecoder

    from backend.api.events import frame
    views = [server(i) for i in range(5000)]
    t = time.process_time()
    data = b"".join(frame(f"0123abcd-{i}", {"type": "instance", "server": v}) for i, v in enumerate(views))
    t1 = time.process_time()
    text, lines, sse, n = data.decode(), SSELineDecoder(), SSEDecoder(), 0
    for k in range(0, len(text), 4096):
        for line in lines.decode(text[k:k + 4096]):
            e = sse.decode(line.rstrip("\n"))
            if e is not None and e.data:
                orjson.loads(e.data)
                n += 1
    t2 = time.process_time()
    assert n == len(views)
    per = lambda a, b: (b - a) / len(views) * 1e6  # noqa: E731
    return ("over --url: CPU per event of the wire", f"{per(t, t1) + per(t1, t2):.0f} us",
            f"server frame {per(t, t1):.1f} us, client parse + decode {per(t1, t2):.1f} us; "
            f"{len(data) / len(views):.0f} bytes an event")


def paint_timer(app, batch, sink: list[float]) -> None:
    """After the screen is painted with batch: how long after its state change each event
    of it was (the events carry the time of the change, `bench_ts`)."""
    sent = [s["bench_ts"] for s in batch.servers.values() if "bench_ts" in s]
    if sent:
        app.call_after_refresh(lambda: sink.extend((time.time() - ts) * 1000 for ts in sent))


async def over_url(app, adapter, table, pilot) -> list[tuple[str, str, str]]:
    import httpx
    from textual import events

    from tui.remote_stream import EventStream
    with tempfile.TemporaryDirectory() as tmp:
        with socket_port() as port:
            proc = subprocess.Popen([sys.executable, __file__, "--serve", tmp, str(port)])
        url = f"http://127.0.0.1:{port}"
        try:
            async with httpx.AsyncClient(base_url=url, timeout=30) as http:
                token = await login(http, proc)
                painted_ms: list[float] = []
                handler = app.pump.handler

                def timed(batch):
                    handler(batch)
                    paint_timer(app, batch, painted_ms)
                app.pump.handler = timed
                done = threading.Event()  # set on the stream's thread

                received_ms: list[float] = []

                def deliver(event):
                    if event.get("type") == "host" and event["host"].get("name") == "bench-done":
                        done.set()
                    else:
                        received_ms.append((time.time() - event["server"]["bench_ts"]) * 1000)
                        adapter.emit(event)

                async def no_reload():
                    raise AssertionError("the stream was reset")
                stream = EventStream(http, deliver, no_reload)
                stream.set_token(token, resume=False)
                stream.start()
                key_ms: list[float] = []
                while not done.is_set():
                    if proc.poll() is not None:
                        raise SystemExit(f"the bench server exited {proc.returncode}")
                    row = table.cursor_row
                    want = row + 1 if row < 30 else row - 1
                    t = time.perf_counter()
                    key = events.Key("down" if want > row else "up", None)
                    key.set_sender(app)
                    app._driver.send_message(key)
                    while not (table.cursor_painted[0] == want and table.cursor_painted[1] > t):
                        await asyncio.sleep(0.001)
                    if painted_ms:  # only while the stream runs
                        key_ms.append((table.cursor_painted[1] - t) * 1000)
                    await asyncio.sleep(0.03)
                await pilot.pause(0.2)
                await stream.close()
        finally:
            proc.wait(30)
    n = len(painted_ms)
    return [
        (f"over --url: {STREAM} events/s for {REMOTE_SECONDS} s, event on screen after",
         f"median {statistics.median(painted_ms):.0f} ms",
         f"p95 {pct(painted_ms, 95):.0f} ms, p99 {pct(painted_ms, 99):.0f} ms, max {max(painted_ms):.0f} ms "
         f"over {n} events; target <= 150 ms: {'PASS' if pct(painted_ms, 95) <= 150 else 'FAIL'} (p95)"),
        ("over --url: event received (parsed) after", f"median {statistics.median(received_ms):.0f} ms",
         f"p95 {pct(received_ms, 95):.0f} ms, p99 {pct(received_ms, 99):.0f} ms, max {max(received_ms):.0f} ms: "
         "the wire's part (server publish to the client's parse)"),
        ("over --url: key press to screen during the stream", f"median {statistics.median(key_ms):.1f} ms",
         f"p95 {pct(key_ms, 95):.1f} ms, p99 {pct(key_ms, 99):.1f} ms, max {max(key_ms):.1f} ms over "
         f"{len(key_ms)} presses; target <= 100 ms: {'PASS' if pct(key_ms, 95) <= 100 else 'FAIL'} (p95)"),
    ]


class socket_port:
    """A free 127.0.0.1 port."""

    def __enter__(self) -> int:
        import socket
        self.s = socket.socket()
        self.s.bind(("127.0.0.1", 0))
        return self.s.getsockname()[1]

    def __exit__(self, *exc) -> None:
        self.s.close()


PASSWORD = "bench-secret"


async def login(http, proc) -> str:
    import httpx
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"name": "Default"}, "password": PASSWORD}}},
        "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}}}}
    for _ in range(600):
        if proc.poll() is not None:
            raise SystemExit(f"the bench server exited {proc.returncode}")
        try:
            r = await http.post("/identity/v3/auth/tokens", json=body)
            return r.headers["X-Subject-Token"]
        except httpx.HTTPError:
            await asyncio.sleep(0.05)
    raise SystemExit("the bench server did not answer")


def serve(tmp: str, port: int) -> None:
    """The server side of part 3: a Cloud on one fake host behind the REST API, on the HTTP
    server of `serve`. Once a stream client is there it publishes STREAM instance events a
    second (the app's own 20,000 ids, each stamped with the time of its change)."""
    import socket

    from backend.api import create_app
    from backend.api.httpserver import server as http_server
    from backend.core.config import Config
    from backend.facade import Cloud
    hosts = Path(tmp) / "hosts.yaml"
    hosts.write_text("hosts:\n  - {name: fake-1, address: 127.0.0.1, driver: fake}\n")
    cfg = Config(home=Path(tmp) / "home", hosts_path=hosts, password_hash_rounds=4,
                 heartbeat_interval=60, power_sync_interval=600, service_down_time=600)
    Cloud.init(cfg, PASSWORD)

    async def run():
        cloud = Cloud(cfg)
        await cloud.start()
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen(64)
        sock.setblocking(False)
        srv = http_server(create_app(cloud), log_level="critical")
        task = asyncio.get_running_loop().create_task(srv.serve(sockets=[sock]))
        hub = cloud.rt.events
        while not hub.active or not hub._id_subs:  # the app's stream is there
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.5)
        views = [server(i, "ACTIVE", host=f"compute-{i % 7 + 1}", age_s=60 + i) for i in range(N)]
        rnd = random.Random(3)
        loop = asyncio.get_running_loop()
        start = loop.time()
        for n in range(STREAM * REMOTE_SECONDS):
            v = changed(views[rnd.randrange(N)], n)
            v["bench_ts"] = time.time()
            hub.publish({"type": "instance", "server": v})
            # on schedule; behind it, still let the loop run (the stream writes between events)
            await asyncio.sleep(max(0.0, start + (n + 1) / STREAM - loop.time()))
        hub.publish({"type": "host", "host": {"name": "bench-done"}})
        await asyncio.sleep(1)
        srv.should_exit = True
        await task
        await cloud.stop()
    asyncio.run(run())


def show(rows):
    w = [max(len(r[i]) for r in rows + [("measure", "result", "detail")]) for i in range(3)]
    line = lambda r: "  ".join(c.ljust(w[i]) for i, c in enumerate(r))  # noqa: E731
    print(line(("measure", "result", "detail")))
    print("  ".join("-" * x for x in w))
    for r in rows:
        print(line(r))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve"]:
        serve(sys.argv[2], int(sys.argv[3]))
    else:
        show(asyncio.run(main()))
