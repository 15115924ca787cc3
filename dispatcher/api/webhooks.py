"""gRPC servicer of dispatch.v1.WebhookService: convert -> ``WebhookAdmin`` -> convert back."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dispatcher.api import convert
from dispatcher.api.base import ServicerBase
from dispatcher.pb import dispatch_pb2 as pb
from dispatcher.pb import dispatch_pb2_grpc as pb_grpc

if TYPE_CHECKING:
    import grpc.aio

    from dispatcher.bootstrap import Services
    from dispatcher.runtime.context import AppContext


class WebhookService(ServicerBase, pb_grpc.WebhookServiceServicer):
    def __init__(self, ctx: AppContext, services: Services) -> None:
        super().__init__(ctx, services)
        self.admin = services.webhooks

    async def CreateWebhookSubscription(
        self,
        request: pb.CreateWebhookSubscriptionRequest,
        context: grpc.aio.ServicerContext,
    ) -> pb.WebhookSubscription:
        async with self.call(context, request) as principal:
            sub = convert.subscription_from_pb(request.subscription)
            created = await self.admin.create(principal, sub)
            return convert.subscription_to_pb(created, with_secret=True)

    async def GetWebhookSubscription(
        self,
        request: pb.GetWebhookSubscriptionRequest,
        context: grpc.aio.ServicerContext,
    ) -> pb.WebhookSubscription:
        async with self.call(context, request) as principal:
            sub = await self.admin.get(principal, request.subscription_id)
            return convert.subscription_to_pb(sub)

    async def ListWebhookSubscriptions(
        self,
        request: pb.ListWebhookSubscriptionsRequest,
        context: grpc.aio.ServicerContext,
    ) -> pb.ListWebhookSubscriptionsResponse:
        async with self.call(context, request) as principal:
            subs = await self.admin.subscriptions(principal)
            return pb.ListWebhookSubscriptionsResponse(
                subscriptions=[convert.subscription_to_pb(s) for s in subs]
            )

    async def DeleteWebhookSubscription(
        self,
        request: pb.DeleteWebhookSubscriptionRequest,
        context: grpc.aio.ServicerContext,
    ) -> pb.DeleteWebhookSubscriptionResponse:
        async with self.call(context, request) as principal:
            await self.admin.delete(principal, request.subscription_id)
            return pb.DeleteWebhookSubscriptionResponse()

    async def ListWebhookDeadLetters(
        self,
        request: pb.ListWebhookDeadLettersRequest,
        context: grpc.aio.ServicerContext,
    ) -> pb.ListWebhookDeadLettersResponse:
        async with self.call(context, request) as principal:
            page, token = await self.admin.dead_letters(
                principal,
                request.subscription_id,
                request.page_size,
                request.page_token,
            )
            return pb.ListWebhookDeadLettersResponse(
                dead_letters=[convert.dead_letter_to_pb(d) for d in page],
                next_page_token=token,
            )

    async def ReplayWebhookDeadLetters(
        self,
        request: pb.ReplayWebhookDeadLettersRequest,
        context: grpc.aio.ServicerContext,
    ) -> pb.ReplayWebhookDeadLettersResponse:
        async with self.call(context, request) as principal:
            replayed = await self.admin.replay(
                principal, request.subscription_id, list(request.dead_letter_ids)
            )
            return pb.ReplayWebhookDeadLettersResponse(replayed=replayed)
