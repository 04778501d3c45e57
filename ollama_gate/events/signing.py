"""A delivery's body and headers: the event as JSON, signed Stripe/GitHub style with
an HMAC-SHA256 of ``timestamp.body`` under the webhook's secret."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

from .models import Event

USER_AGENT = "ollama-gate-webhooks"


def payload(event: Event) -> bytes:
    """The JSON body every receiver gets for ``event``."""
    return json.dumps(
        {
            "id": event.id,
            "kind": event.kind,
            "at": event.at.isoformat(timespec="seconds") + "Z",
            "subject": event.subject,
            "message": event.message,
            "data": event.data or {},
        },
        separators=(",", ":"),
    ).encode()


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>``: the HMAC-SHA256 of ``timestamp.body`` under ``secret``."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def headers(event: Event, secret: str, body: bytes, attempt: int) -> dict[str, str]:
    """The headers of one attempt (a fresh timestamp, so a fresh signature)."""
    timestamp = str(int(time.time()))
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Ollama-Gate-Event": event.kind,
        "X-Ollama-Gate-Event-Id": str(event.id),
        "X-Ollama-Gate-Attempt": str(attempt),
        "X-Ollama-Gate-Timestamp": timestamp,
        "X-Ollama-Gate-Signature": signature(secret, timestamp, body),
    }


def verify(secret: str, timestamp: str, body: bytes, sig: str, now=None) -> bool:
    """A receiver's check (the docs show the same): the signature matches and the
    timestamp is within five minutes."""
    try:
        age = abs((now or time.time()) - int(timestamp))
    except ValueError:
        return False
    return age <= 300 and hmac.compare_digest(signature(secret, timestamp, body), sig)
