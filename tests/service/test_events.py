"""WatchEvents: filters, resume without gap or duplicate (also across a server restart), retention."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import grpc
import grpc.aio
import pytest

from dispatcher.api.server import create_server
from dispatcher.backend.cluster import is_cluster_client
from dispatcher.bootstrap import Services
from dispatcher.domain import Location, SubmitTicket, Ticket
from dispatcher.pb import dispatch_pb2 as pb
from dispatcher.runtime.context import AppContext
from dispatcher.runtime.context import redis_client as make_redis_client
from dispatcher.runtime.metrics import DispatchMetrics, new_registry
from dispatcher.store.state import RedisStateStore, keys
from tests.service.conftest import Stubs, technician, ticket

if TYPE_CHECKING:
    import redis.asyncio

    from dispatcher.runtime.settings import Settings

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


async def read_n(call: Any, n: int, timeout_s: float = 10.0) -> list[pb.Event]:
    out: list[pb.Event] = []
    async with asyncio.timeout(timeout_s):
        while len(out) < n:
            out.append((await call.read()).event)
    return out


async def test_watch_live_and_filters(stubs: Stubs) -> None:
    """Live events arrive in order; region, technician and type filters apply."""
    all_call = stubs.events.WatchEvents(pb.WatchEventsRequest())
    south_call = stubs.events.WatchEvents(pb.WatchEventsRequest(regions=["south"]))
    tech_call = stubs.events.WatchEvents(
        pb.WatchEventsRequest(regions=["north"], technician_id="X")
    )
    types_call = stubs.events.WatchEvents(
        pb.WatchEventsRequest(regions=["north"], types=[pb.EVENT_TYPE_TICKET_CANCELLED])
    )
    await asyncio.sleep(0.3)  # let the watches take their starting positions
    await stubs.tickets.SubmitTicket(pb.SubmitTicketRequest(ticket=ticket("N1")))
    await stubs.tickets.SubmitTicket(
        pb.SubmitTicketRequest(ticket=ticket("S1", region="south"))
    )
    await stubs.technicians.UpsertTechnician(
        pb.UpsertTechnicianRequest(technician=technician("X"))
    )
    await stubs.tickets.CancelTicket(
        pb.CancelTicketRequest(ticket_id="N1", reason="dup")
    )
    got = await read_n(all_call, 4)
    assert [(e.type, e.ticket_id or e.technician_id) for e in got][:1] == [
        (pb.EVENT_TYPE_TICKET_SUBMITTED, "N1")
    ]
    assert {e.ticket_id for e in got if e.ticket_id} == {"N1", "S1"}
    assert [e.ticket_id for e in await read_n(south_call, 1)] == ["S1"]
    tech_event = (await read_n(tech_call, 1))[0]
    assert (tech_event.type, tech_event.technician_version) == (
        pb.EVENT_TYPE_TECHNICIAN_UPSERTED,
        1,
    )
    cancelled = (await read_n(types_call, 1))[0]
    assert (cancelled.ticket_id, cancelled.reason, cancelled.ticket_version) == (
        "N1",
        "dup",
        2,
    )
    for call in (all_call, south_call, tech_call, types_call):
        call.cancel()


async def test_resume_from_last_id_has_no_gap_or_duplicate(stubs: Stubs) -> None:
    """Reading part of the stream, then resuming with the last id, yields exactly the rest."""
    reqs = [pb.SubmitTicketRequest(ticket=ticket(f"T{i:02d}")) for i in range(20)]
    await stubs.tickets.BatchSubmitTickets(pb.BatchSubmitTicketsRequest(requests=reqs))
    first = stubs.events.WatchEvents(
        pb.WatchEventsRequest(regions=["north"], start=pb.START_POSITION_EARLIEST)
    )
    head = await read_n(first, 7)
    first.cancel()
    resumed = stubs.events.WatchEvents(
        pb.WatchEventsRequest(after_event_ids={"north": head[-1].event_id})
    )
    tail = await read_n(resumed, 13)
    resumed.cancel()
    assert [e.ticket_id for e in head + tail] == [f"T{i:02d}" for i in range(20)]


async def test_resume_across_server_restart(
    app_settings: Settings, redis_client: redis.asyncio.Redis
) -> None:
    """A client reconnecting to a new server with its last id misses nothing and sees nothing twice."""
    assert app_settings.redis_url is not None
    url = app_settings.redis_url

    async def start() -> tuple[grpc.aio.Server, AppContext, int]:
        registry = new_registry(process_metrics=False)
        ctx = AppContext(
            settings=app_settings,
            redis=make_redis_client(url),
            metrics=DispatchMetrics(registry),
            registry=registry,
        )
        server, port = await create_server(ctx, Services.build(ctx), "127.0.0.1:0")
        await server.start()
        return server, ctx, port

    async def stop(server: grpc.aio.Server, ctx: AppContext) -> None:
        ctx.shutdown_event.set()
        await server.stop(None)
        await ctx.aclose()

    store = RedisStateStore(redis_client, metrics=DispatchMetrics.throwaway())

    def batch(lo: int, hi: int) -> list[SubmitTicket]:
        return [
            SubmitTicket(Ticket(f"T{i:03d}", "north", 2, 60, location=Location(1, 1)))
            for i in range(lo, hi)
        ]

    server, ctx, port = await start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        call = Stubs.on(channel).events.WatchEvents(
            pb.WatchEventsRequest(regions=["north"], start=pb.START_POSITION_EARLIEST)
        )
        await store.submit("default", batch(0, 30))
        seen = await read_n(call, 30)
        await store.submit(
            "default", batch(30, 40)
        )  # written while the client is still connected...
        seen += await read_n(
            call, 4
        )  # ...but it only reads some before the server goes away
    await stop(server, ctx)
    await store.submit("default", batch(40, 60))  # written while no server runs
    server, ctx, port = await start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            call = Stubs.on(channel).events.WatchEvents(
                pb.WatchEventsRequest(after_event_ids={"north": seen[-1].event_id})
            )
            rest = await read_n(call, 26)
            await store.submit("default", batch(60, 61))
            rest += await read_n(call, 1)
            call.cancel()
    finally:
        await stop(server, ctx)
    ids = [e.ticket_id for e in seen + rest]
    assert ids == [f"T{i:03d}" for i in range(61)]
    event_ids = [e.event_id for e in seen + rest]
    assert len(set(event_ids)) == len(event_ids)


async def test_resume_older_than_retention_is_out_of_range(
    stubs: Stubs, redis_client: redis.asyncio.Redis
) -> None:
    """Retention drops the oldest events; resuming before them is OUT_OF_RANGE, never a gap."""
    store = RedisStateStore(
        redis_client, events_maxlen=5, metrics=DispatchMetrics.throwaway()
    )
    await store.submit(
        "default",
        [
            SubmitTicket(Ticket(f"T{i:02d}", "north", 2, 60, location=Location(1, 1)))
            for i in range(12)
        ],
    )
    assert await redis_client.xlen(keys.events_key("default", "north")) == 5
    trimmed = await redis_client.get(keys.events_trimmed_key("default", "north"))
    ms, seq = map(int, trimmed.split("-"))
    before = f"{ms}-{seq - 1}" if seq else f"{ms - 1}-0"
    call = stubs.events.WatchEvents(
        pb.WatchEventsRequest(after_event_ids={"north": before})
    )
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call.read()
    assert err.value.code() == grpc.StatusCode.OUT_OF_RANGE
    ok = stubs.events.WatchEvents(
        pb.WatchEventsRequest(after_event_ids={"north": trimmed})
    )
    assert [e.ticket_id for e in await read_n(ok, 5)] == [
        f"T{i:02d}" for i in range(7, 12)
    ]
    ok.cancel()
    earliest = stubs.events.WatchEvents(
        pb.WatchEventsRequest(start=pb.START_POSITION_EARLIEST)
    )
    assert (await read_n(earliest, 1))[0].ticket_id == "T07"
    earliest.cancel()
    bad = stubs.events.WatchEvents(
        pb.WatchEventsRequest(after_event_ids={"north": "not-an-id"})
    )
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await bad.read()
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_store_retention_is_bounded(redis_client: redis.asyncio.Redis) -> None:
    """With events_maxlen set, a stream never exceeds it by more than the trim step."""
    store = RedisStateStore(
        redis_client, events_maxlen=100, metrics=DispatchMetrics.throwaway()
    )
    for lo in range(0, 1000, 250):
        await store.submit(
            "default",
            [
                SubmitTicket(Ticket(f"T{i}", "north", 2, 60, location=Location(1, 1)))
                for i in range(lo, lo + 250)
            ],
        )
    length = await redis_client.xlen(keys.events_key("default", "north"))
    assert 100 <= length < 110


async def test_resume_includes_regions_not_yet_heard_from(stubs: Stubs) -> None:
    """A resume (after_event_ids set) reads regions missing from the map from their start."""
    await stubs.tickets.SubmitTicket(pb.SubmitTicketRequest(ticket=ticket("N1")))
    first = stubs.events.WatchEvents(
        pb.WatchEventsRequest(regions=["north"], start=pb.START_POSITION_EARLIEST)
    )
    (n1,) = await read_n(first, 1)
    first.cancel()
    await stubs.tickets.SubmitTicket(
        pb.SubmitTicketRequest(ticket=ticket("S1", region="south"))
    )
    await stubs.tickets.SubmitTicket(pb.SubmitTicketRequest(ticket=ticket("N2")))
    resumed = stubs.events.WatchEvents(
        pb.WatchEventsRequest(after_event_ids={"north": n1.event_id})
    )
    got = await read_n(resumed, 2)
    resumed.cancel()
    assert sorted(e.ticket_id for e in got) == ["N2", "S1"]


async def test_many_watchers_do_not_starve_other_calls(stubs: Stubs) -> None:
    """More watchers than the RPC client's Redis pool (100) still leave room for every call."""
    watches = [
        stubs.events.WatchEvents(pb.WatchEventsRequest(regions=["north"]))
        for _ in range(120)
    ]
    await asyncio.sleep(1.5)  # every watch is now blocked in its read
    async with asyncio.timeout(10):
        await stubs.tickets.SubmitTicket(pb.SubmitTicketRequest(ticket=ticket("W1")))
        got = await stubs.tickets.GetTicket(pb.GetTicketRequest(ticket_id="W1"))
    assert got.version == 1
    firsts = await asyncio.gather(*(read_n(w, 1) for w in watches[:5]))
    assert {f[0].ticket_id for f in firsts} == {"W1"}
    for w in watches:
        w.cancel()


async def test_batched_delivery_keeps_order_and_bounds(stubs: Stubs) -> None:
    """max_batch > 1: events come several per response (never more than asked), in the
    same order and with the same ids as one per response; above the limit, INVALID_ARGUMENT."""
    start = {"start": pb.START_POSITION_EARLIEST, "regions": ["north"]}
    items = [
        pb.SubmitTicketRequest(request_id=f"b{i}", ticket=ticket(f"B{i}"))
        for i in range(120)
    ]
    await stubs.tickets.BatchSubmitTickets(pb.BatchSubmitTicketsRequest(requests=items))

    single = stubs.events.WatchEvents(pb.WatchEventsRequest(**start))
    one_by_one = await read_n(single, 120)
    single.cancel()

    batched = stubs.events.WatchEvents(pb.WatchEventsRequest(max_batch=50, **start))
    got: list[pb.Event] = []
    sizes: list[int] = []
    async with asyncio.timeout(10):
        while len(got) < 120:
            response = await batched.read()
            assert not response.HasField("event")
            sizes.append(len(response.events))
            got.extend(response.events)
    batched.cancel()
    assert [e.event_id for e in got] == [e.event_id for e in one_by_one]
    assert [e.ticket_id for e in got] == [f"B{i}" for i in range(120)]
    assert max(sizes) <= 50  # within the bound
    assert len(sizes) < 120  # batched

    too_many = stubs.events.WatchEvents(pb.WatchEventsRequest(max_batch=1001))
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await too_many.read()
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "max_batch" in (err.value.details() or "")


async def test_watch_survives_dropped_connections(
    stubs: Stubs, redis_client: redis.asyncio.Redis
) -> None:
    """Redis drops every client connection mid-watch (CLIENT KILL): the open stream reads
    again from where it was and delivers the next event, with no gap and no duplicate."""
    if is_cluster_client(redis_client):
        pytest.skip(
            "CLIENT KILL acts on one node; drops on a cluster: test_burst there"
        )
    call = stubs.events.WatchEvents(
        pb.WatchEventsRequest(regions=["north"], start=pb.START_POSITION_LATEST)
    )
    await asyncio.sleep(0.3)  # the watch holds its position
    await stubs.tickets.SubmitTicket(pb.SubmitTicketRequest(ticket=ticket("K1")))
    first = await read_n(call, 1)
    killed = await redis_client.execute_command(
        "CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"
    )
    assert int(killed) >= 1  # at least the watch's blocked read
    # a write on a pooled connection that was dropped answers UNAVAILABLE (never applied
    # twice behind the client's back); the platform retries with the same request id. Each
    # try may meet another of the pool's dropped connections: retry up to the pool's size.
    codes = []
    for _ in range(20):
        try:
            await stubs.tickets.SubmitTicket(
                pb.SubmitTicketRequest(ticket=ticket("K2"), request_id="k2")
            )
            break
        except grpc.aio.AioRpcError as exc:
            codes.append(exc.code())
    assert set(codes) <= {grpc.StatusCode.UNAVAILABLE}
    assert len(codes) < 20
    second = await read_n(call, 1)
    call.cancel()
    assert [e.ticket_id for e in first + second] == ["K1", "K2"]
    assert second[0].event_id > first[0].event_id
