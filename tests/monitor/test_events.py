"""The event bus: history, live subscribers, filters, slow-consumer cut-off, Docker's JSON."""

from __future__ import annotations

import asyncio

import pytest

from berth.errors import InvalidArgument
from berth.services.events import Event, EventBus, EventFilter


def test_json_shape_of_container_and_network_events() -> None:
    ev = Event.make("container", "die", "a" * 64, {"name": "web", "image": "busybox", "exitCode": "3"},
                    time_ns=1_700_000_000_123_456_789)
    assert ev.to_json() == {
        "status": "die", "id": "a" * 64, "from": "busybox", "Type": "container", "Action": "die",
        "Actor": {"ID": "a" * 64, "Attributes": {"exitCode": "3", "image": "busybox", "name": "web"}},
        "scope": "local", "time": 1_700_000_000, "timeNano": 1_700_000_000_123_456_789}
    net = Event.make("network", "create", "n1", {"name": "front", "type": "bridge"}).to_json()
    assert "status" not in net and net["Type"] == "network"


def test_filters() -> None:
    c = Event.make("container", "start", "abc123", {"name": "web", "image": "busybox", "tier": "x"})
    i = Event.make("image", "tag", "sha256:ff", {"name": "busybox:latest"})
    e = Event.make("container", "exec_start: sh -c x", "abc123", {"name": "web", "image": "busybox"})
    f = EventFilter.parse({"type": ["container"]})
    assert f.matches(c) and not f.matches(i)
    assert EventFilter.parse({"container": ["web"]}).matches(c)
    assert EventFilter.parse({"container": ["abc"]}).matches(c)
    assert not EventFilter.parse({"container": ["other"]}).matches(c)
    assert EventFilter.parse({"event": ["start", "die"]}).matches(c)
    assert EventFilter.parse({"event": ["exec_start"]}).matches(e)
    assert EventFilter.parse({"image": ["busybox:latest"]}).matches(c)
    assert EventFilter.parse({"image": ["busybox"]}).matches(i)
    assert EventFilter.parse({"label": ["tier=x"]}).matches(c)
    assert not EventFilter.parse({"label": ["tier=y"]}).matches(c)
    assert not EventFilter.parse({"type": ["container"], "event": ["die"]}).matches(c)
    with pytest.raises(InvalidArgument, match="Invalid filter 'bogus'"):
        EventFilter.parse({"bogus": ["1"]})
    with pytest.raises(InvalidArgument):
        EventFilter.parse({"type": ["spaceship"]})


def test_history_and_live_subscribers() -> None:
    async def main() -> None:
        bus = EventBus(capacity=3)
        for n in range(5):
            bus.publish(Event.make("volume", "create", f"v{n}", time_ns=n))
        assert [e.actor_id for e in bus.history()] == ["v2", "v3", "v4"]
        assert [e.actor_id for e in bus.history(since_ns=3, until_ns=3)] == ["v3"]
        seen: list[str] = []
        bus.add_listener(lambda ev: seen.append(ev.actor_id))
        async with bus.subscribe() as sub:
            bus.emit("network", "create", "n1")
            got = await asyncio.wait_for(sub.get(), 1)
            assert got is not None and got.actor_id == "n1"
        bus.emit("network", "destroy", "n1")  # no subscriber any more: must not fail
        assert seen == ["n1", "n1"]

    asyncio.run(main())


def test_slow_subscriber_is_cut_off_not_buffered_forever() -> None:
    async def main() -> None:
        bus = EventBus(queue_size=2)
        async with bus.subscribe() as sub:
            for n in range(5):
                bus.emit("container", "start", str(n))
            got = [await sub.get() for _ in range(3)]
            assert [g.actor_id if g else None for g in got] == ["0", "1", None]
            assert sub.overflowed

    asyncio.run(main())
