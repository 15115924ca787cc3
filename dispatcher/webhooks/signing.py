"""Standard Webhooks signatures (https://www.standardwebhooks.com/): the three headers.

``webhook-signature`` is ``v1,`` + base64(HMAC-SHA256(key, "<id>.<timestamp>.<body>")),
the key being the base64-decoded part of the ``whsec_`` secret; ``webhook-timestamp`` is
integer Unix seconds of the attempt (receivers refuse stale ones, so each retry signs
anew); ``webhook-id`` stays the same across retries and replays (the receiver's
idempotency key).
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from dispatcher.webhooks.model import secret_key


def signature(key: bytes, webhook_id: str, timestamp_s: int, body: bytes) -> str:
    signed = f"{webhook_id}.{timestamp_s}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signed_headers(
    secret: str, webhook_id: str, timestamp_s: int, body: bytes
) -> dict[str, str]:
    """The headers of one delivery attempt."""
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp_s),
        "webhook-signature": signature(
            secret_key(secret), webhook_id, timestamp_s, body
        ),
        "content-type": "application/json",
    }
