"""Calendar periods of quotas and budgets: days, ISO weeks (Monday first) and months
in the time zone of ``OLLAMA_GATE_TIMEZONE``.

A period is named by its calendar date in that zone: ``d:2026-12-07``,
``w:2026-W50``, ``m:2026-12``; outside UTC the zone follows, as in
``w:2026-W50@Europe/Paris``. So UTC names are those of the usage rows written before
time zones, and a change of zone starts new periods (the old zone's counters are
not mixed with the new one's). Times given and returned are naive UTC (``utcnow``)
unless said otherwise.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

KINDS = ("d", "w", "m")  # day, week, month
ADJECTIVE = {"d": "daily", "w": "weekly", "m": "monthly"}


def parse_timezone(value: str) -> str:
    """An IANA time zone name (``Europe/Paris``, ``UTC``); ValueError otherwise."""
    name = value.strip() or "UTC"
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(
            f"unknown time zone {value!r}: an IANA name, e.g. Europe/Paris, "
            "America/New_York or UTC"
        ) from None
    return name


def local(when: datetime, zone: str) -> datetime:
    """A naive UTC time as an aware time in ``zone``."""
    return when.replace(tzinfo=UTC).astimezone(ZoneInfo(zone))


def _suffix(zone: str) -> str:
    return "" if zone == "UTC" else f"@{zone}"


def period_of(kind: str, when: datetime, zone: str = "UTC") -> str:
    """The name of the day, week or month (``kind``) holding ``when`` in ``zone``."""
    day = local(when, zone).date()
    if kind == "d":
        stamp = f"{day:%Y-%m-%d}"
    elif kind == "w":
        year, week, _ = day.isocalendar()
        stamp = f"{year}-W{week:02d}"
    else:
        stamp = f"{day:%Y-%m}"
    return f"{kind}:{stamp}{_suffix(zone)}"


def periods_at(when: datetime, zone: str = "UTC") -> dict[str, str]:
    """The day, week and month periods holding ``when``, by kind."""
    return {kind: period_of(kind, when, zone) for kind in KINDS}


def zone_of(period: str) -> str:
    """The time zone a period is counted in."""
    return period.partition("@")[2] or "UTC"


def period_start_date(period: str) -> date:
    """The first calendar day of a period."""
    kind, _, stamp = period.partition("@")[0].partition(":")
    if kind == "d":
        return datetime.strptime(stamp, "%Y-%m-%d").date()
    if kind == "w":
        year, week = stamp.split("-W")
        return date.fromisocalendar(int(year), int(week), 1)
    return datetime.strptime(stamp, "%Y-%m").date()


def local_reset(period: str) -> datetime:
    """When a period ends: the next one's first midnight, aware, in its zone."""
    start = period_start_date(period)
    kind = period[0]
    if kind == "d":
        end = start + timedelta(days=1)
    elif kind == "w":
        end = start + timedelta(days=7)
    else:
        end = (start + timedelta(days=32)).replace(day=1)
    return datetime(end.year, end.month, end.day, tzinfo=ZoneInfo(zone_of(period)))


def period_reset(period: str) -> datetime:
    """When a period ends, as naive UTC."""
    return local_reset(period).astimezone(UTC).replace(tzinfo=None)


def reset_text(period: str) -> str:
    """A period's end as people read it: ``2026-12-14 00:00 Europe/Paris``."""
    return f"{local_reset(period):%Y-%m-%d %H:%M} {zone_of(period)}"


def app_zone() -> str:
    """The configured time zone of the current app (``OLLAMA_GATE_TIMEZONE``)."""
    from flask import current_app

    return current_app.config.get("GATE", {}).get("TIMEZONE") or "UTC"
