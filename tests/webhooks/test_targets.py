"""The SSRF guard: refused URLs at subscription time, refused addresses at delivery time,
and no redirect followed."""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING

import grpc
import pytest

from dispatcher.webhooks.model import Subscription, new_secret
from dispatcher.webhooks.sender import Sender
from dispatcher.webhooks.targets import AddressPolicy, refusal

if TYPE_CHECKING:
    from tests.webhooks.conftest import Api, Receiver

STRICT = AddressPolicy()


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("169.254.169.254", "a cloud metadata address"),
        ("169.254.10.1", "a link-local address"),
        ("fe80::1", "a link-local address"),
        ("fd00:ec2::254", "a cloud metadata address"),
        ("100.100.100.200", "a cloud metadata address"),
        ("::ffff:169.254.169.254", "a cloud metadata address"),
        ("10.1.2.3", "a private network address"),
        ("172.16.0.9", "a private network address"),
        ("192.168.1.1", "a private network address"),
        ("100.64.0.1", "a private network address"),
        ("fc00::1", "a private network address"),
        ("127.0.0.1", "a loopback address"),
        ("::1", "a loopback address"),
        ("0.0.0.0", "not a unicast address"),
        ("224.0.0.1", "not a unicast address"),
        ("8.8.8.8", None),
        ("2606:4700::1111", None),
    ],
)
def test_address_rule(address: str, why: str | None) -> None:
    """Link-local and metadata always refused; loopback and private by default."""
    assert refusal(ipaddress.ip_address(address), STRICT) == why


def test_settings_open_loopback_and_private_but_never_link_local() -> None:
    """The two settings allow what they name and nothing more."""
    open_ = AddressPolicy(allow_loopback=True, allow_private=True)
    assert refusal(ipaddress.ip_address("127.0.0.1"), open_) is None
    assert refusal(ipaddress.ip_address("10.0.0.1"), open_) is None
    assert refusal(ipaddress.ip_address("169.254.169.254"), open_) is not None
    assert refusal(ipaddress.ip_address("fe80::2"), open_) is not None


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("https://169.254.169.254/latest/meta-data/", "cloud metadata"),
        ("https://[fe80::1]/hook", "link-local"),
        ("https://[::ffff:169.254.169.254]/hook", "cloud metadata"),
        ("https://10.0.0.7/hook", "private network"),
        ("http://8.8.8.8/hook", "use https://"),
        ("ftp://127.0.0.1/hook", "not an https:// URL"),
        ("https://user:pw@127.0.0.1/hook", "credentials"),
        ("https:///hook", "no host"),
        ("https://name.invalid/hook", "does not resolve"),
    ],
)
async def test_refused_subscription_urls(api: Api, url: str, message: str) -> None:
    """A URL the guard refuses is INVALID_ARGUMENT naming subscription.url."""
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await api.subscribe(url)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    details = info.value.details() or ""
    assert details.startswith("subscription.url")
    assert message in details


async def test_sender_refuses_loopback_unless_allowed(receiver: Receiver) -> None:
    """A server that does not allow loopback never connects to it, by IP or by name."""
    sender = Sender(STRICT, timeout_s=2.0)
    try:
        for host in ("127.0.0.1", "localhost"):
            url = receiver.url.replace("127.0.0.1", host).replace("http:", "https:")
            sub = Subscription("wh_x", url, new_secret())
            outcome = await sender.send(sub, "evt_1", b"{}")
            assert outcome.outcome == "refused", outcome
            assert "loopback" in outcome.error
    finally:
        await sender.aclose()
    assert receiver.received == []


async def test_redirects_are_not_followed(receiver: Receiver) -> None:
    """A 3xx is a failed attempt; the Location is never requested."""
    receiver.status = 307
    sender = Sender(AddressPolicy(allow_loopback=True), timeout_s=2.0)
    try:
        outcome = await sender.send(
            Subscription("wh_x", receiver.url, new_secret()), "evt_1", b"{}"
        )
    finally:
        await sender.aclose()
    assert (outcome.outcome, outcome.error) == ("http_error", "HTTP 307")
    assert len(receiver.received) == 1  # /hook only, never /hook2


async def test_a_slow_receiver_times_out(receiver: Receiver) -> None:
    """Each attempt is bounded by the timeout."""
    receiver.delay_s = 3.0
    sender = Sender(AddressPolicy(allow_loopback=True), timeout_s=0.3)
    try:
        outcome = await sender.send(
            Subscription("wh_x", receiver.url, new_secret()), "evt_1", b"{}"
        )
    finally:
        await sender.aclose()
    assert outcome.outcome == "timeout"
