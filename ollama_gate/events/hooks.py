"""Changing the webhooks, shared by the CLI and the admin page: each change checked
here, audited (never with the secret, nor the URL's path, which may hold a token)
and committed once; and the test delivery."""

from __future__ import annotations

import secrets
import uuid
from urllib.parse import urlsplit

from flask import Flask

from ..audit import record
from ..extensions import db
from .deliver import attempt, claim
from .kinds import parse_filter
from .models import Delivery, Event, Hook

MIN_SECRET = 16  # characters of a secret given by hand


class HookError(ValueError):
    """A change that cannot be made; its message says why."""


def check_url(text: str) -> str:
    """An http(s) URL with a host, as given (stripped), or HookError."""
    url = text.strip()
    if not url or len(url) > 500 or any(c.isspace() or ord(c) < 32 for c in url):
        raise HookError("a webhook URL is one line of at most 500 characters")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (a bad port raises here)
    except ValueError:
        raise HookError(f"not a URL: {url!r}") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise HookError("a webhook URL starts with http:// or https:// and a host")
    return url


def where(url: str) -> str:
    """The URL's scheme and host only (its path may hold a token)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}" + (
        f":{parts.port}" if parts.port else ""
    )


def new_secret() -> str:
    """A random signing secret (256 bits)."""
    return "whsec_" + secrets.token_urlsafe(32)


def add_hook(url: str, secret: str | None = None, kinds: str = "") -> tuple[Hook, str]:
    """A new webhook and its secret (made when none is given), audited."""
    url = check_url(url)
    try:
        kinds = parse_filter(kinds or "")
    except ValueError as exc:
        raise HookError(str(exc)) from None
    secret = (secret or "").strip() or new_secret()
    if len(secret) < MIN_SECRET:
        raise HookError(f"a secret has at least {MIN_SECRET} characters")
    hook = Hook(url=url, secret=secret, kinds=kinds)
    db.session.add(hook)
    db.session.flush()
    record("hook_added", f"webhook {hook.id}", f"{where(url)} events={kinds or 'all'}")
    db.session.commit()
    return hook, secret


def get_hook(hook_id: int) -> Hook:
    """The webhook ``hook_id``, or HookError."""
    hook = db.session.get(Hook, hook_id)
    if hook is None:
        raise HookError(f"no webhook has id {hook_id}")
    return hook


def delete_hook(hook_id: int) -> Hook:
    """Delete a webhook (its deliveries stay on record), audited."""
    hook = get_hook(hook_id)
    record("hook_deleted", f"webhook {hook.id}", where(hook.url))
    db.session.delete(hook)
    db.session.commit()
    return hook


def set_enabled(hook_id: int, enabled: bool) -> Hook:
    """Pause or resume a webhook, audited. A paused one is sent nothing, and what
    was due for it is given up (``deliver``): events are not saved up for later."""
    hook = get_hook(hook_id)
    if hook.enabled != enabled:
        hook.enabled = enabled
        kind = "hook_enabled" if enabled else "hook_disabled"
        record(kind, f"webhook {hook.id}", where(hook.url))
        db.session.commit()
    return hook


def send_test(app: Flask, hook_id: int) -> Delivery:
    """Send a ``test`` event to one webhook now; its first attempt (later ones, if
    it fails, go as any delivery's)."""
    hook = get_hook(hook_id)
    event = Event(
        kind="test",
        subject=f"hook:{hook.id}",
        message=f"A test of webhook {hook.id} from ollama-gate.",
        data={"hook_id": hook.id},
        dedupe=f"test|{uuid.uuid4().hex}",
    )
    db.session.add(event)
    db.session.flush()
    delivery = Delivery(event_id=event.id, hook_id=hook.id, url=hook.url)
    db.session.add(delivery)
    record("hook_tested", f"webhook {hook.id}", where(hook.url))
    db.session.commit()
    settings = app.config["GATE"]
    token = claim(delivery.id, settings)
    if token is None:  # a worker's sender took it first: it is on its way
        return db.session.get(Delivery, delivery.id)
    return attempt(delivery.id, token, settings)
