"""The producers wired here: keys expiring soon (a periodic job), backends going
down and coming back (the health loop), calls waiting long in the queue (the
scheduler)."""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from flask import Flask, current_app

from ..extensions import db
from ..models import ApiKey, User, utcnow
from .emit import EXTENSION, Fact, emit, emit_change
from .kinds import BACKEND_STATES
from .store import write

log = logging.getLogger("ollama_gate.events")

KEY_SCAN_SECONDS = 300.0  # how often each worker looks for keys expiring soon


def expiring_keys(app: Flask) -> int:
    """Record ``key.expiring`` once per key and expiry date; how many were new. In
    the events thread (an app context), so it writes directly."""
    days = app.config["GATE"]["EVENT_KEY_EXPIRING_DAYS"]
    if days <= 0:
        return 0
    now = utcnow()
    rows = db.session.execute(
        db.select(ApiKey, User.name)
        .join(User, ApiKey.user_id == User.id)
        .where(
            ApiKey.expires_at > now,
            ApiKey.expires_at <= now + timedelta(days=days),
            ApiKey.revoked_at.is_(None),
            ApiKey.revoke_at.is_(None),  # rotated: it ends with its grace period
            ApiKey.disabled.is_(False),
        )
    ).all()
    made = 0
    for key, user in rows:
        at = key.expires_at
        left = at - now
        fact = Fact(
            "key.expiring",
            f"key:{key.id}",
            f"Key {key.prefix}… of {user} expires on {at:%Y-%m-%d %H:%M} UTC "
            f"(in {left.days} days {left.seconds // 3600} hours).",
            {
                "key_id": key.id,
                "prefix": key.prefix,
                "name": key.name,
                "user": user,
                "expires_at": at.isoformat(timespec="seconds") + "Z",
            },
            dedupe=f"key.expiring|key:{key.id}|{at.isoformat(timespec='seconds')}",
        )
        made += write(fact) is not None
    return made


class BackendWatch:
    """A hook of the health loop: each backend's change of state, as this worker
    sees it, recorded once across workers (``emit_change``)."""

    def __init__(self, app: Flask, fleet):
        self.app = app
        self.fleet = fleet
        self.seen: dict[str, bool] = {}  # backend -> healthy at the last round

    def __call__(self) -> None:
        for b in self.fleet.backends():
            if not b.config.enabled or b.healthy is None:
                continue  # disabled by an admin, or not checked yet
            if self.seen.get(b.name) == b.healthy:
                continue
            self.seen[b.name] = b.healthy
            subject, data = f"backend:{b.name}", {"backend": b.name}
            if b.healthy:
                message = f"Backend {b.name} answers again."
                emit_change(
                    "backend.up",
                    subject,
                    message,
                    data,
                    BACKEND_STATES,
                    first=False,
                    app=self.app,
                )
            else:
                data["error"] = b.last_error
                message = f"Backend {b.name} is down: {b.last_error}"
                emit_change(
                    "backend.down", subject, message, data, BACKEND_STATES, app=self.app
                )


def queue_waited(model: str | None, seconds: float) -> None:
    """A call waited ``seconds`` in the queue (the scheduler, in the request): a
    ``queue.wait`` event past the bound, at most one per model a minute."""
    try:
        bound = current_app.config["GATE"]["EVENT_QUEUE_WAIT_SECONDS"]
        if not bound or seconds < bound:
            return
        model = model or "-"
        minute = int(time.time() // 60)
        told = current_app.extensions[EXTENSION].told  # model -> its last minute
        if told.get(model) == minute:
            return  # this worker told it already; other workers' go by ``dedupe``
        if len(told) > 1000:
            told.clear()
        told[model] = minute
        emit(
            "queue.wait",
            f"model:{model}",
            f"A call of {model} waited {seconds:.1f} s in the queue "
            f"(more than {bound:g} s).",
            {"model": model, "seconds": round(seconds, 3), "bound": bound},
            dedupe=f"queue.wait|model:{model}|{minute}",
        )
    except Exception:  # never into the call
        log.debug("queue.wait not recorded", exc_info=True)
