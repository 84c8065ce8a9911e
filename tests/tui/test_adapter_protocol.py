"""One adapter interface: the in-process, remote and scripted adapters all implement the
CloudAdapter Protocol, member for member, with the same parameters and the same async-ness."""
from __future__ import annotations

import inspect

import pytest

from tui.adapter import CloudAdapter, LocalAdapter
from tui.fake_adapter import FakeAdapter
from tui.remote import RemoteAdapter


def protocol_members() -> tuple[list[str], list[str]]:
    """(methods and properties, data attributes) the Protocol declares."""
    calls = [n for n, v in vars(CloudAdapter).items()
             if not n.startswith("_") and (callable(v) or isinstance(v, property))]
    return calls, [n for n in CloudAdapter.__annotations__ if not n.startswith("_")]


def mismatches(obj) -> list[str]:
    """How obj differs from the Protocol (empty: it implements it)."""
    calls, data = protocol_members()
    out = [f"no attribute {n}" for n in data if not hasattr(obj, n)]
    for n in calls:
        want = getattr(CloudAdapter, n)
        have = inspect.getattr_static(obj, n, None)
        if have is None:
            out.append(f"no {n}")
        elif isinstance(want, property):
            if not isinstance(have, property):
                out.append(f"{n} is not a property")
        else:
            have = getattr(obj, n)
            if inspect.iscoroutinefunction(want) != inspect.iscoroutinefunction(have):
                out.append(f"{n}: async is {inspect.iscoroutinefunction(have)}, the Protocol says "
                           f"{inspect.iscoroutinefunction(want)}")
            wp = [(p.name, p.kind) for p in inspect.signature(want).parameters.values()][1:]  # no self
            hp = [(p.name, p.kind) for p in inspect.signature(have).parameters.values()]
            if wp != hp:
                out.append(f"{n}{inspect.signature(have)} differs from the Protocol's {inspect.signature(want)}")
    return out


@pytest.fixture
async def adapters():
    remote = RemoteAdapter("http://127.0.0.1:9")
    yield [LocalAdapter(backend=None), remote, FakeAdapter()]
    await remote.close()


async def test_every_adapter_implements_the_protocol(adapters):
    calls, data = protocol_members()
    assert {"login", "call", "subscribe", "project_id"} <= set(calls) and {"token", "where"} <= set(data)
    for a in adapters:
        assert isinstance(a, CloudAdapter), type(a).__name__
        assert mismatches(a) == [], type(a).__name__


def test_the_protocol_check_can_fail():
    class Drifted(FakeAdapter):
        def login(self, username, password):          # no longer a coroutine
            return {}

        async def scope(self, project, domain):       # a parameter more
            return {}
    got = mismatches(Drifted())
    assert any(m.startswith("login: async is False") for m in got), got
    assert any(m.startswith("scope(project, domain) differs") for m in got), got
