"""Changing model policies, shared by the CLI and the admin UI (checked, audited)."""

from __future__ import annotations

import re

from ..audit import FleetError, atomic, record
from ..changes import change_detail
from ..extensions import db
from ..model_names import canonical
from ..models import utcnow
from .models import ModelPolicy

# Ollama's keep_alive: a Go duration ("30m", "1h30m", "-1s") or a number of seconds
DURATION = re.compile(r"^-?(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$|^-?\d+$")


def describe(p: ModelPolicy | None) -> str:
    """A policy in words."""
    if p is None:
        return "-"
    return (
        f"num_ctx={p.num_ctx or '-'}{' (enforced)' if p.num_ctx_enforced else ''} "
        f"keep_alive={p.keep_alive or '-'}"
        f"{' (enforced)' if p.keep_alive_enforced else ''} warm={p.warm}"
    )


def policy_fields(p: ModelPolicy | None) -> dict:
    """A policy's fields for the audit log's changes ({} when there is none)."""
    if p is None:
        return {}
    return {
        "num_ctx": p.num_ctx,
        "num_ctx_enforced": "yes" if p.num_ctx_enforced else None,
        "keep_alive": p.keep_alive,
        "keep_alive_enforced": "yes" if p.keep_alive_enforced else None,
        "warm": p.warm or None,
    }


@atomic
def set_policy(model: str, **fields) -> ModelPolicy | None:
    """Change ``model``'s policy (fields left None stay); a policy left with nothing
    in it is removed. Returns the row, or None when removed."""
    name = canonical(model)
    if not model.strip() or len(name) > 200:
        raise FleetError("name a model, e.g. llama3.2 or qwen2.5:7b")
    fields = {k: checked(k, v) for k, v in fields.items() if v is not None}
    row = db.session.execute(
        db.select(ModelPolicy).filter_by(model=name)
    ).scalar_one_or_none()
    before = policy_fields(row)
    if row is None:
        row = ModelPolicy(
            model=name, num_ctx_enforced=False, keep_alive_enforced=False, warm=0
        )
        db.session.add(row)
    for key, value in fields.items():
        setattr(row, key, value)
    row.updated_at = utcnow()
    empty = not row.num_ctx and not row.keep_alive and not row.warm
    if empty:
        db.session.delete(row)
    after = policy_fields(None if empty else row)
    record("model_policy_set", name, change_detail(before, after))
    db.session.commit()
    return None if empty else row


def checked(key: str, value):
    """A policy field's value as stored, or FleetError saying what is wrong."""
    if key.endswith("_enforced"):
        return bool(value)
    if key == "num_ctx":
        if value < 0:
            raise FleetError("num_ctx is a number of tokens (0 removes it)")
        return value or None
    if key == "warm":
        if not 0 <= value <= 100:
            raise FleetError("warm is a number of copies, 0 to 100")
        return value
    value = value.strip()  # keep_alive
    if value and not DURATION.match(value):
        raise FleetError(
            f"keep_alive is a duration (30m, 1h) or seconds, not {value!r}"
        )
    return value or None


def policies() -> list[ModelPolicy]:
    """Every model policy, by model name."""
    return list(
        db.session.execute(db.select(ModelPolicy).order_by(ModelPolicy.model)).scalars()
    )
