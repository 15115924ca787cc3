"""A typed Python client of the dispatch.v1 API (asyncio): automatic request ids, the
documented retry rules, lifecycle helpers and a resumable event iterator.

    async with DispatchClient.connect("127.0.0.1:50051", api_key="...") as client:
        await client.submit(pb.Ticket(ticket_id="T-1", region="north", ...))
        async for event in client.events(regions=["north"]):
            ...
"""

from dispatcher.client.client import DispatchClient, EventStream, new_request_id
from dispatcher.client.retry import RETRYABLE_CODES, RetryPolicy, is_retryable

__all__ = [
    "RETRYABLE_CODES",
    "DispatchClient",
    "EventStream",
    "RetryPolicy",
    "is_retryable",
    "new_request_id",
]
