"""Filters shared by the history pages, the export, the CLI and the key holder's API."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import UTC, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import Select, and_, func, or_

from .models import Request

MAX_QUERY = 200  # characters of a search text


def parse_time(value: str, end: bool = False) -> datetime:
    """A UTC date (``2026-11-01``; with ``end`` the day after it) or an ISO datetime."""
    value = value.strip()
    if len(value) == 10:
        day = datetime.fromisoformat(value).date()
        return datetime.combine(day, time.min) + (
            timedelta(days=1) if end else timedelta()
        )
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed


@dataclass
class Filters:
    """What a list of records is narrowed by; every field optional."""

    user: str = ""  # user name, exact
    team: str = ""  # team name (at the time of the call), exact
    key: str = ""  # key prefix, or its start
    model: str = ""
    endpoint: str = ""
    backend: str = ""  # the upstream that served the call, exact
    status: str = ""  # ok, error, refused (401/403/429), failed, or a status
    since: str = ""  # date or datetime, inclusive
    until: str = ""  # date (inclusive day) or datetime (exclusive)
    q: str = ""  # text searched in prompts and answers
    end_user: str = ""  # the person behind an app key: gateway id, else name exact
    calls: str = ""  # chats (no background task) or background (an app's tasks)

    @classmethod
    def from_args(cls, args: Any) -> Filters:
        """Filters from a mapping (query string, CLI options); ValueError if bad."""
        made = cls.unchecked(args)
        made.check()
        return made

    @classmethod
    def unchecked(cls, args: Any) -> Filters:
        """Filters from a mapping as given, to show a form again with its error."""
        return cls(**{f.name: str(args.get(f.name) or "").strip() for f in fields(cls)})

    def check(self) -> None:
        """Raise ValueError with a clear message for a value that cannot be used."""
        if any("\x00" in getattr(self, f.name) for f in fields(self)):
            raise ValueError("filters must not contain NUL characters")
        if self.status not in ("", "ok", "error", "refused", "failed") and not (
            self.status.isascii() and self.status.isdigit() and len(self.status) == 3
        ):
            raise ValueError(
                "status must be ok, error, refused, failed or an HTTP status code"
            )
        for name in ("since", "until"):
            value = getattr(self, name)
            if value:
                try:
                    parse_time(value, end=name == "until")
                except (ValueError, OverflowError):
                    raise ValueError(
                        f"{name}: not a date (YYYY-MM-DD or ISO time)"
                    ) from None
        if self.calls not in ("", "chats", "background"):
            raise ValueError("calls must be chats or background")
        if len(self.end_user) > MAX_QUERY:
            raise ValueError(f"end user longer than {MAX_QUERY} characters")
        if len(self.q) > MAX_QUERY:
            raise ValueError(f"search text longer than {MAX_QUERY} characters")

    def as_args(self) -> dict[str, str]:
        """The non-empty filters, for links and export URLs."""
        return {
            f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name)
        }

    def query_string(self, **extra: Any) -> str:
        """``?`` and these filters (plus ``extra``) for a link, or "" when none."""
        # not url_for(..., **as_args()): the "endpoint" filter is url_for's own argument
        args = {**self.as_args(), **{k: v for k, v in extra.items() if v is not None}}
        return "?" + urlencode(args) if args else ""

    def apply(self, query: Select) -> Select:
        """Narrow ``query`` (a select over ``Request``) by these filters."""
        conds = self.conditions()
        return query.where(*conds) if conds else query

    def conditions(self) -> list:
        """These filters as a list of SQL conditions on ``Request``."""
        conds = []
        if self.user:
            conds.append(Request.user_name == self.user)
        if self.team:
            conds.append(Request.team_name == self.team)
        if self.key:
            conds.append(Request.key_prefix.startswith(self.key, autoescape=True))
        if self.model:
            conds.append(Request.model == self.model)
        if self.endpoint:
            conds.append(Request.endpoint == self.endpoint)
        if self.backend:
            conds.append(Request.backend == self.backend)
        if self.status == "ok":
            conds.append(
                and_(
                    Request.error.is_(None),
                    or_(Request.status.is_(None), Request.status < 400),
                )
            )
        elif self.status == "error":
            conds.append(error_condition())
        elif self.status == "refused":
            conds.append(refused_condition())
        elif self.status == "failed":  # errors other than refusals
            conds.append(and_(error_condition(), ~refused_condition()))
        elif self.status:
            conds.append(Request.status == int(self.status))
        if self.since:
            conds.append(Request.started_at >= parse_time(self.since))
        if self.until:
            conds.append(Request.started_at < parse_time(self.until, end=True))
        if self.q:
            conds.append(search_condition(self.q))
        if self.end_user:
            person = self.end_user
            if person.isascii() and person.isdigit() and len(person) < 10:
                conds.append(Request.end_user_id == int(person))
            else:
                conds.append(Request.end_user_name == person)
        if self.calls == "chats":
            conds.append(Request.task.is_(None))
        elif self.calls == "background":
            conds.append(Request.task.is_not(None))
        return conds


def error_condition():
    """SQL condition for a failed call (error status or error message)."""
    return or_(Request.error.is_not(None), Request.status >= 400)


# calls clients make to look around (model lists, show, version, ps), not to chat:
# the list hides them unless asked (one `llm` session makes dozens)
HOUSEKEEPING = (
    "/",
    "/api/tags",
    "/api/show",
    "/api/version",
    "/api/ps",
    "/v1/models",
    "/v1/models/{id}",
)


def housekeeping_condition():
    """SQL condition for a housekeeping call (a model list, show, version, ps)."""
    return Request.endpoint.in_(HOUSEKEEPING)


REFUSED = (401, 403, 429)  # the gateway's own refusals: keys, allowlists, limits


def refused_condition():
    """SQL condition for a call the gateway itself refused."""
    return Request.status.in_(REFUSED)


def search_condition(text: str):
    """Case-insensitive substring match in prompt or answer text (portable LIKE)."""
    pattern = (
        "%"
        + text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        + "%"
    )
    return or_(
        func.lower(Request.prompt_text).like(pattern, escape="\\"),
        func.lower(Request.answer_text).like(pattern, escape="\\"),
    )


def newest_first(query: Select) -> Select:
    """Order records newest first, with the id as a tie breaker."""
    return query.order_by(Request.started_at.desc(), Request.id.desc())
