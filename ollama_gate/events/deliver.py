"""Sending due deliveries: each attempt claimed with one atomic ``UPDATE ... WHERE``
(so one worker of any host sends it), POSTed with short timeouts, and recorded with
its outcome; a failure adds the next attempt after an exponential backoff."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

import requests
from flask import Flask
from sqlalchemy import or_, update
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..models import utcnow
from . import signing
from .models import Delivery, Event, Hook

log = logging.getLogger("ollama_gate.events")

BATCH = 20  # attempts one worker claims per round


def lease(settings: dict) -> timedelta:
    """How long a claim holds: past any attempt's timeouts (a worker that died
    mid-attempt leaves its claim to another after this)."""
    return timedelta(seconds=4 * settings["WEBHOOK_TIMEOUT_SECONDS"] + 30)


def claim(delivery_id: int, settings: dict) -> str | None:
    """Claim a due attempt for this worker; its token, or None when another has it."""
    now, token = utcnow(), uuid.uuid4().hex
    done = db.session.execute(
        update(Delivery)
        .where(
            Delivery.id == delivery_id,
            Delivery.done.is_(False),
            Delivery.next_at <= now,
            or_(Delivery.claimed_until.is_(None), Delivery.claimed_until < now),
        )
        .values(claimed_by=token, claimed_until=now + lease(settings))
    )
    db.session.commit()
    return token if done.rowcount == 1 else None


def deliver_due(app: Flask) -> int:
    """Claim and send the attempts due now; how many were sent. In an app context."""
    settings, now = app.config["GATE"], utcnow()
    due = db.session.execute(
        db.select(Delivery.id)
        .where(
            Delivery.done.is_(False),
            Delivery.next_at <= now,
            or_(Delivery.claimed_until.is_(None), Delivery.claimed_until < now),
        )
        .order_by(Delivery.next_at, Delivery.id)
        .limit(BATCH)
    ).scalars()
    sent = 0
    for delivery_id in list(due):
        token = claim(delivery_id, settings)
        if token is not None:
            attempt(delivery_id, token, settings)
            sent += 1
    return sent


def attempt(delivery_id: int, token: str, settings: dict) -> Delivery:
    """Send one claimed attempt and record it (and the next one if it failed)."""
    d = db.session.get(Delivery, delivery_id)
    hook = db.session.get(Hook, d.hook_id) if d.hook_id is not None else None
    event = db.session.get(Event, d.event_id)
    live = hook is not None and hook.enabled
    if not live:
        status, error = None, "webhook disabled" if hook else "webhook deleted"
    else:
        body = signing.payload(event)
        sign = signing.headers(event, hook.secret, body, d.attempt)
        url, hook_id, number = hook.url, hook.id, d.attempt
        db.session.commit()  # no transaction stays open while the receiver thinks
        status, error = post(url, body, sign, settings["WEBHOOK_TIMEOUT_SECONDS"])
        if error or not 200 <= status < 300:
            log.warning(
                "webhook %s: event %s attempt %s failed: %s",
                hook_id,
                event.id,
                number,
                error or status,
            )
    return record(delivery_id, token, status, error, live, settings)


def record(
    delivery_id: int, token: str, status, error, retry: bool, settings: dict
) -> Delivery:
    """Keep an attempt's outcome, if the claim is still this worker's; a failure
    with tries left adds the next attempt after the backoff."""
    now = utcnow()
    mine = db.session.execute(
        update(Delivery)
        .where(Delivery.id == delivery_id, Delivery.claimed_by == token)
        .values(at=now, status=status, error=error, done=True, claimed_until=None)
    )
    d = db.session.execute(
        db.select(Delivery)
        .where(Delivery.id == delivery_id)
        .execution_options(populate_existing=True)
    ).scalar_one()
    failed = error is not None or not 200 <= (status or 0) < 300
    if mine.rowcount == 1 and failed and retry:
        if d.attempt < settings["WEBHOOK_ATTEMPTS"]:
            wait = settings["WEBHOOK_BACKOFF_SECONDS"] * 2 ** (d.attempt - 1)
            db.session.add(
                Delivery(
                    event_id=d.event_id,
                    hook_id=d.hook_id,
                    url=d.url,
                    attempt=d.attempt + 1,
                    next_at=now + timedelta(seconds=wait),
                )
            )
    try:
        db.session.commit()
    except IntegrityError:  # the next attempt is there already (a lapsed claim)
        db.session.rollback()
    return d


def post(url: str, body: bytes, headers: dict, timeout: float):
    """(status, None) or (None, a short reason): never the URL, which may hold a
    token (chat services put one in the path)."""
    try:
        resp = requests.post(
            url, data=body, headers=headers, timeout=timeout, allow_redirects=False
        )
        resp.close()
        return resp.status_code, None
    except requests.Timeout:
        return None, f"no answer within {timeout:g} s"
    except requests.ConnectionError:
        return None, "could not connect"
    except requests.RequestException as exc:
        return None, type(exc).__name__
