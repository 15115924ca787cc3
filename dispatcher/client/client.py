"""``DispatchClient``: the dispatch.v1 API from Python (asyncio), with the retry rules of
``dispatcher.client.retry`` applied for you.

- Submits get a request id (a UUID) when they have none, and every retry of that call
  reuses it, so a retried submit never creates a second ticket.
- Lifecycle helpers (accept, decline, start, complete, cancel) retry too; when a retry is
  refused because the first attempt did apply (its answer was lost), the ticket is read and
  returned instead of the error.
- ``events()`` iterates over the event stream and, on a disconnect or a server restart,
  reconnects and resumes after the last event it yielded in each region: no gap, no
  duplicate.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import TYPE_CHECKING, Any, TypeVar

import grpc
import grpc.aio

from dispatcher.client.retry import RetryPolicy, call_with_retry, is_retryable
from dispatcher.pb import dispatch_pb2 as pb
from dispatcher.pb import dispatch_pb2_grpc as pb_grpc

if TYPE_CHECKING:
    from collections.abc import (
        AsyncIterator,
        Awaitable,
        Callable,
        Iterable,
        Mapping,
        Sequence,
    )

T = TypeVar("T")

_APPLIED_CODES = frozenset(
    {grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.ABORTED}
)
"""What a lifecycle retry answers when the first attempt had already applied."""


def new_request_id() -> str:
    return uuid.uuid4().hex


class DispatchClient:
    """A client over one gRPC channel. ``async with DispatchClient.connect(...)`` closes
    the channel it opened."""

    def __init__(
        self,
        channel: grpc.aio.Channel,
        *,
        api_key: str | None = None,
        retry: RetryPolicy | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        self.channel = channel
        self.retry = retry or RetryPolicy()
        self.timeout_s = timeout_s
        self.metadata: tuple[tuple[str, str], ...] = (
            (("x-api-key", api_key),) if api_key else ()
        )
        self.tickets = pb_grpc.TicketServiceStub(channel)
        self.technicians = pb_grpc.TechnicianServiceStub(channel)
        self.events_api = pb_grpc.EventServiceStub(channel)
        self.insight = pb_grpc.InsightServiceStub(channel)
        self.policy = pb_grpc.PolicyServiceStub(channel)
        self._owns_channel = False
        self.retries = 0
        """Calls sent again after a retryable failure (for monitoring)."""

    @classmethod
    def connect(
        cls,
        target: str,
        *,
        credentials: grpc.ChannelCredentials | None = None,
        **kwargs: Any,
    ) -> DispatchClient:
        """A client on a new channel to ``target`` (``host:port``); TLS with
        ``credentials``."""
        channel = (
            grpc.aio.secure_channel(target, credentials)
            if credentials is not None
            else grpc.aio.insecure_channel(target)
        )
        client = cls(channel, **kwargs)
        client._owns_channel = True
        return client

    async def close(self) -> None:
        if self._owns_channel:
            await self.channel.close()

    async def __aenter__(self) -> DispatchClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _count_retry(self, _: grpc.aio.AioRpcError) -> None:
        self.retries += 1

    async def _call(self, method: Callable[..., Awaitable[T]], request: Any) -> T:
        return await call_with_retry(
            lambda: method(request, metadata=self.metadata, timeout=self.timeout_s),
            self.retry,
            on_retry=self._count_retry,
        )

    # --- tickets ------------------------------------------------------------------------

    async def submit(
        self,
        ticket: pb.Ticket,
        *,
        request_id: str | None = None,
        allow_duplicate: bool = False,
    ) -> pb.SubmitTicketResponse:
        """Submit one ticket (idempotent: every attempt carries the same request id)."""
        request = pb.SubmitTicketRequest(
            ticket=ticket,
            request_id=request_id or new_request_id(),
            allow_duplicate=allow_duplicate,
        )
        return await self._call(self.tickets.SubmitTicket, request)

    async def submit_batch(
        self, items: Iterable[pb.Ticket | pb.SubmitTicketRequest]
    ) -> pb.BatchSubmitTicketsResponse:
        """Submit up to 1,000 tickets at once; items without a request id get one."""
        requests = []
        for item in items:
            request = pb.SubmitTicketRequest()
            if isinstance(item, pb.SubmitTicketRequest):
                request.CopyFrom(item)
            else:
                request.ticket.CopyFrom(item)
            if not request.request_id:
                request.request_id = new_request_id()
            requests.append(request)
        return await self._call(
            self.tickets.BatchSubmitTickets,
            pb.BatchSubmitTicketsRequest(requests=requests),
        )

    async def get_ticket(self, ticket_id: str) -> pb.Ticket:
        return await self._call(
            self.tickets.GetTicket, pb.GetTicketRequest(ticket_id=ticket_id)
        )

    async def _transition(
        self,
        method: Callable[..., Awaitable[pb.Ticket]],
        request: Any,
        applied: Callable[[pb.Ticket], bool],
    ) -> pb.Ticket:
        """A lifecycle call with retries; a refusal after an ambiguous failure (the first
        attempt may have applied) is answered with the ticket when it shows the change."""
        uncertain = False

        def remember(exc: grpc.aio.AioRpcError) -> None:
            nonlocal uncertain
            uncertain = True
            self._count_retry(exc)

        try:
            return await call_with_retry(
                lambda: method(request, metadata=self.metadata, timeout=self.timeout_s),
                self.retry,
                on_retry=remember,
            )
        except grpc.aio.AioRpcError as exc:
            if not (uncertain and exc.code() in _APPLIED_CODES):
                raise
            ticket = await self.get_ticket(request.ticket_id)
            if applied(ticket):
                return ticket
            raise

    async def accept(
        self, ticket_id: str, technician_id: str = "", *, expected_version: int = 0
    ) -> pb.Ticket:
        return await self._transition(
            self.tickets.AcceptTicket,
            pb.AcceptTicketRequest(
                ticket_id=ticket_id,
                technician_id=technician_id,
                expected_version=expected_version,
            ),
            lambda t: (
                t.status == pb.TICKET_STATUS_ACCEPTED
                and (not technician_id or t.assignment.technician_id == technician_id)
            ),
        )

    async def decline(
        self,
        ticket_id: str,
        technician_id: str,
        reason: str,
        *,
        expected_version: int = 0,
    ) -> pb.Ticket:
        return await self._transition(
            self.tickets.DeclineTicket,
            pb.DeclineTicketRequest(
                ticket_id=ticket_id,
                technician_id=technician_id,
                reason=reason,
                expected_version=expected_version,
            ),
            lambda t: technician_id in t.declined_by_technician_ids,
        )

    async def pend(
        self, ticket_id: str, reason: str = "", *, expected_version: int = 0
    ) -> pb.Ticket:
        """PENDING: out of every queue, SLA clock stopped (staff roles)."""
        return await self._transition(
            self.tickets.PendTicket,
            pb.PendTicketRequest(
                ticket_id=ticket_id, reason=reason, expected_version=expected_version
            ),
            lambda t: t.status == pb.TICKET_STATUS_PENDING,
        )

    async def resume(self, ticket_id: str, *, expected_version: int = 0) -> pb.Ticket:
        """PENDING -> QUEUED, due times moved by the wait (staff roles)."""
        return await self._transition(
            self.tickets.ResumeTicket,
            pb.ResumeTicketRequest(
                ticket_id=ticket_id, expected_version=expected_version
            ),
            lambda t: t.status != pb.TICKET_STATUS_PENDING,
        )

    async def start(
        self, ticket_id: str, technician_id: str = "", *, expected_version: int = 0
    ) -> pb.Ticket:
        return await self._transition(
            self.tickets.StartTicket,
            pb.StartTicketRequest(
                ticket_id=ticket_id,
                technician_id=technician_id,
                expected_version=expected_version,
            ),
            lambda t: t.status == pb.TICKET_STATUS_IN_PROGRESS,
        )

    async def complete(
        self,
        ticket_id: str,
        technician_id: str = "",
        *,
        code: pb.ResolutionCode = pb.RESOLUTION_CODE_FIXED,
        notes: str = "",
        expected_version: int = 0,
    ) -> pb.Ticket:
        return await self._transition(
            self.tickets.CompleteTicket,
            pb.CompleteTicketRequest(
                ticket_id=ticket_id,
                technician_id=technician_id,
                resolution=pb.Resolution(code=code, notes=notes),
                expected_version=expected_version,
            ),
            lambda t: t.status == pb.TICKET_STATUS_RESOLVED,
        )

    async def cancel(
        self, ticket_id: str, reason: str = "", *, expected_version: int = 0
    ) -> pb.Ticket:
        return await self._transition(
            self.tickets.CancelTicket,
            pb.CancelTicketRequest(
                ticket_id=ticket_id, reason=reason, expected_version=expected_version
            ),
            lambda t: t.status == pb.TICKET_STATUS_CANCELLED,
        )

    # --- technicians, insight, policy ---------------------------------------------------

    async def upsert_technician(
        self, technician: pb.Technician, *, expected_version: int = 0
    ) -> pb.Technician:
        return await self._call(
            self.technicians.UpsertTechnician,
            pb.UpsertTechnicianRequest(
                technician=technician, expected_version=expected_version
            ),
        )

    async def report_location(
        self, technician_id: str, latitude_deg: float, longitude_deg: float
    ) -> bool:
        """A location ping (retried: the newest ping wins, a repeat changes nothing)."""
        reply = await self._call(
            self.technicians.ReportLocation,
            pb.ReportLocationRequest(
                technician_id=technician_id,
                location=pb.Location(
                    latitude_deg=latitude_deg, longitude_deg=longitude_deg
                ),
            ),
        )
        return bool(reply.applied)

    async def queue_stats(
        self, regions: Sequence[str] = ()
    ) -> pb.GetQueueStatsResponse:
        return await self._call(
            self.insight.GetQueueStats, pb.GetQueueStatsRequest(regions=list(regions))
        )

    async def update_policy(
        self, policy: pb.Policy, *, paths: Sequence[str] = (), expected_version: int = 0
    ) -> pb.Policy:
        request = pb.UpdatePolicyRequest(
            policy=policy, expected_version=expected_version
        )
        request.update_mask.paths.extend(paths)
        return await self._call(self.policy.UpdatePolicy, request)

    # --- events -------------------------------------------------------------------------

    def events(
        self,
        *,
        regions: Sequence[str] = (),
        types: Sequence[pb.EventType] = (),
        technician_id: str = "",
        after: Mapping[str, str] | None = None,
        start: pb.StartPosition = pb.START_POSITION_EARLIEST,
        max_batch: int = 100,
        max_reconnects: int | None = None,
    ) -> EventStream:
        """The tenant's events, resumable: see ``EventStream``."""
        request = pb.WatchEventsRequest(
            regions=list(regions),
            types=list(types),
            technician_id=technician_id,
            start=start,
            max_batch=max_batch,
        )
        return EventStream(self, request, dict(after or {}), max_reconnects)


class EventStream:
    """An async iterator of events that survives disconnects and server restarts.

    ``positions`` (region -> last event id yielded) is where it resumes; persist it to
    resume in another process (``DispatchClient.events(after=positions)``). A region that
    has yielded nothing yet resumes from its earliest retained event when the stream was
    opened with ``START_POSITION_EARLIEST`` (the default); with ``START_POSITION_LATEST``
    it resumes from the latest, so its events during an outage are not seen. A failure
    that is not retryable (e.g. OUT_OF_RANGE: the position was trimmed by retention) ends
    the iteration with the error, as does ``max_reconnects`` failures in a row.
    """

    def __init__(
        self,
        client: DispatchClient,
        request: pb.WatchEventsRequest,
        positions: dict[str, str],
        max_reconnects: int | None,
    ) -> None:
        self.client = client
        self.request = request
        self.positions = positions
        self.max_reconnects = max_reconnects
        self.reconnects = 0
        """Reconnections so far (for monitoring)."""

    def _next_request(self) -> pb.WatchEventsRequest:
        request = pb.WatchEventsRequest()
        request.CopyFrom(self.request)
        request.after_event_ids.update(self.positions)
        return request

    async def __aiter__(self) -> AsyncIterator[pb.Event]:
        failures = 0
        while True:
            call = self.client.events_api.WatchEvents(
                self._next_request(), metadata=self.client.metadata
            )
            try:
                async for response in call:
                    batch = response.events or [response.event]
                    for event in batch:
                        self.positions[event.region] = event.event_id
                        failures = 0
                        yield event
            except grpc.aio.AioRpcError as exc:
                if not is_retryable(exc):
                    raise
                failures += 1
            finally:
                call.cancel()
            # ended (server shutting down) or failed: resume from the positions
            if self.max_reconnects is not None and failures > self.max_reconnects:
                raise ConnectionError(
                    f"event stream: {failures} reconnections failed in a row"
                )
            self.reconnects += 1
            await asyncio.sleep(self.client.retry.backoff_s(max(1, failures)))
