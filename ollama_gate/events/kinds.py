"""The event kinds, and a webhook's filter of them (``backend.down,budget.*``)."""

from __future__ import annotations

# kind -> what it means (the admin page's filter and the docs); a producer that adds
# a kind adds it here, so a webhook's filter can name it
KINDS: dict[str, str] = {
    "budget.threshold": "A budget crossed one of its thresholds",
    "budget.exhausted": "A budget is used up",
    "budget.shadow": "A budget in shadow mode would have refused a call",
    "key.expiring": "A key expires soon",
    "backend.down": "A backend stopped answering",
    "backend.up": "A backend answers again",
    "queue.wait": "A call waited long in the queue",
    "test": "A test sent from `hooks test` or the admin page",
}
# the kinds of one subject's state: a change records one event, not one per worker
BACKEND_STATES = ("backend.down", "backend.up")


def parse_filter(text: str) -> str:
    """A filter as stored (``kind,family.*``), or ValueError naming an unknown kind."""
    items = [k.strip().lower() for k in text.replace(" ", ",").split(",")]
    items = [k for k in items if k]
    families = {k.split(".")[0] for k in KINDS}
    for item in items:
        family = item[:-2] if item.endswith(".*") else None
        if item not in KINDS and family not in families:
            known = ", ".join(sorted(KINDS))
            raise ValueError(f"unknown event kind {item!r} (known: {known})")
    return ",".join(dict.fromkeys(items))


def matches(kinds: str, kind: str) -> bool:
    """True when a hook with filter ``kinds`` gets events of ``kind`` (a test event
    goes only to the hook it tests)."""
    if kind == "test":
        return False
    if not kinds:
        return True
    for item in kinds.split(","):
        if item == kind or (item.endswith(".*") and kind.startswith(item[:-1])):
            return True
    return False
