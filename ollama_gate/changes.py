"""What changed on a key, as the audit log states it: ``column: before → after``.

Shared by the admin pages and the CLI, so a change reads the same from either. The
per-subject settings come from ``subject_settings.TABLE``; a key adds its name and
expiry.
"""

from __future__ import annotations

from typing import Any

from .models import ApiKey
from .subject_settings import rows_for, shown

# a key's settings given as counts (INTEGER columns; none: no limit, or the default)
COUNTS = tuple(
    row.name
    for row in rows_for("key")
    if row.type.__name__ == "Integer"  # type: ignore[attr-defined]
)
# every setting of a key an admin may change: the one list the audit diff, the
# form's and the CLI's change detection and a rotation's copy read (the audit log
# names them so). A setting missing here was saved unaudited, or not saved at all.
SETTINGS = ("name", "expires_at", "app", *(row.name for row in rows_for("key")))

__all__ = ["COUNTS", "SETTINGS", "diff", "shown", "snapshot"]


def snapshot(key: ApiKey) -> dict[str, Any]:
    """The key's settings now."""
    return {column: getattr(key, column) for column in SETTINGS}


def diff(before: dict[str, Any], key: ApiKey) -> list[str]:
    """``column: before → after`` for each setting of ``key`` that changed."""
    return fields_changed(before, snapshot(key))


def fields_changed(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """``field: before → after`` for each field whose value differs (a field
    missing on one side shows as ``none``): any audited record's change."""
    fields = [*before, *(f for f in after if f not in before)]
    return [
        f"{f}: {shown(before.get(f))} → {shown(after.get(f))}"
        for f in fields
        if before.get(f) != after.get(f)
    ]


def change_detail(before: dict[str, Any], after: dict[str, Any]) -> str:
    """The audit detail of a change: its changed fields, or ``nothing changed``."""
    return ", ".join(fields_changed(before, after)) or "nothing changed"
