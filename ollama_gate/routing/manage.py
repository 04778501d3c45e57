"""Changing the fleet's rows, shared by the CLI and the admin UI: every change is
checked here, audited with its before and after, and committed once."""

from __future__ import annotations

from ..audit import FleetError, atomic, record
from ..changes import change_detail, fields_changed
from ..extensions import db
from ..model_names import canonical
from ..models import utcnow
from .backends import BackendConfig, check_url, parse_backends
from .models import Alias, Backend, ModelRoute

NAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789-_.:")


def settings_of(b: BackendConfig | Backend) -> dict[str, str]:
    """A backend's settings as words (the token only as set or not)."""
    return {
        "url": b.url,
        "enabled": "yes" if b.enabled else "no",
        "weight": str(b.weight),
        "parallel": str(b.parallel or "-"),
        "max_loaded": str(b.max_loaded or "-"),
        "token": "set" if b.token else "none",
    }


def describe(b: BackendConfig | Backend) -> str:
    """A backend's settings for the audit log (the token only as set or not)."""
    return " ".join(f"{k}={v}" for k, v in settings_of(b).items())


def changed(before: dict[str, str], after: dict[str, str], new_token: bool) -> str:
    """What a change did, field by field (``weight: 1 → 3``), for the audit log."""
    out = fields_changed(before, after)
    if new_token and before["token"] == after["token"] == "set":
        out.append("token: replaced")
    return ", ".join(out) or "nothing changed"


def check_name(name: str) -> str:
    """A backend name: short, lower case letters, digits and ``-_.:``."""
    n = name.strip()
    if not n or len(n) > 64 or not set(n.lower()) <= NAME_CHARS:
        raise FleetError(
            f"a backend name is 1-64 letters, digits or -_.: (not {name!r})"
        )
    return n


def env_config(settings: dict, name: str) -> BackendConfig | None:
    """The ``OLLAMA_GATE_BACKENDS`` entry called ``name``, if any."""
    return next(
        (b for b in parse_backends(settings["BACKENDS"]) if b.name == name), None
    )


def row_of(name: str) -> Backend | None:
    """The row of backend ``name``, if it has one."""
    return db.session.execute(
        db.select(Backend).filter_by(name=name)
    ).scalar_one_or_none()


@atomic
def add_backend(settings: dict, name: str, url: str, **fields) -> Backend:
    """A new backend row (a name from the environment is changed with ``set``)."""
    name = check_name(name)
    if row_of(name) is not None or env_config(settings, name) is not None:
        raise FleetError(f"a backend named {name!r} exists; change it with set")
    row = Backend(name=name, url=_url(url))
    _apply(row, fields)
    db.session.add(row)
    db.session.flush()  # the column defaults (enabled, weight) in the audit entry
    record("backend_added", name, describe(row))
    db.session.commit()
    return row


@atomic
def set_backend(settings: dict, name: str, **fields) -> Backend:
    """Change a backend; one from the environment gets a row that overrides it."""
    row = row_of(name)
    if row is None:
        env = env_config(settings, name)
        if env is None:
            raise FleetError(f"no backend is named {name!r}")
        row = Backend(name=name, url=env.url, enabled=True, weight=1)
        db.session.add(row)
        before, token = settings_of(env), env.token
    else:
        before, token = settings_of(row), row.token
    if "url" in fields and fields["url"] is not None:
        fields["url"] = _url(fields["url"])
    _apply(row, fields)
    row.updated_at = utcnow()
    new_token = bool(row.token) and row.token != token
    record("backend_changed", name, changed(before, settings_of(row), new_token))
    db.session.commit()
    return row


@atomic
def remove_backend(settings: dict, name: str) -> str:
    """Remove a backend row and its routes; what became of it, in words."""
    row, env = row_of(name), env_config(settings, name)
    if row is None:
        if env is not None:
            raise FleetError(
                f"{name!r} comes from OLLAMA_GATE_BACKENDS: remove it there, or "
                f"disable it here"
            )
        raise FleetError(f"no backend is named {name!r}")
    db.session.delete(row)
    if env is None:
        db.session.execute(db.delete(ModelRoute).filter_by(backend=name))
    record("backend_removed", name, describe(row))
    db.session.commit()
    return "back to its OLLAMA_GATE_BACKENDS settings" if env is not None else "removed"


@atomic
def set_route(model: str, backends: list[str]) -> None:
    """Pin ``model`` to ``backends`` (replacing its route); none: unpin it."""
    name = canonical(model)
    old = db.session.execute(
        db.select(ModelRoute.backend).filter_by(model=name).order_by(ModelRoute.id)
    ).scalars()
    before = {"backends": " ".join(old)}
    db.session.execute(db.delete(ModelRoute).filter_by(model=name))
    for b in backends:
        db.session.add(ModelRoute(model=name, backend=check_name(b)))
    record("route_set", name, change_detail(before, {"backends": " ".join(backends)}))
    db.session.commit()


def alias_row(alias: str) -> Alias | None:
    """The alias row Ollama would take ``alias`` for (case, default tag)."""
    rows = db.session.execute(db.select(Alias)).scalars()
    return next((r for r in rows if canonical(r.name) == canonical(alias)), None)


@atomic
def add_alias(alias: str, model: str) -> Alias:
    """Make ``alias`` another name of ``model`` (replacing an alias of that name)."""
    name, model = alias.strip(), model.strip()
    if not name or len(name) > 200 or not model or canonical(name) == canonical(model):
        raise FleetError("an alias is a name (up to 200 characters) for another model")
    row = alias_row(name)
    before = row.model if row else None
    if row is None:
        row = Alias(name=name, model=model)
        db.session.add(row)
    row.name, row.model = name, model
    record("alias_set", name, change_detail({"model": before}, {"model": model}))
    db.session.commit()
    return row


@atomic
def remove_alias(alias: str) -> None:
    """Remove an alias made here (those of OLLAMA_GATE_ALIASES stay)."""
    row = alias_row(alias)
    if row is None:
        raise FleetError(f"no alias {alias!r} was made here")
    name = row.name
    db.session.delete(row)
    record("alias_removed", name, change_detail({"model": row.model}, {}))
    db.session.commit()


def _url(url: str) -> str:
    try:
        return check_url(url.strip())
    except ValueError as exc:
        raise FleetError(str(exc)) from None


def _apply(row: Backend, fields: dict) -> None:
    """Copy the given (not None) fields onto ``row``, checked."""
    for key, value in fields.items():
        if value is None:
            continue
        least = 1 if key == "weight" else 0
        if key in ("weight", "parallel", "max_loaded") and int(value) < least:
            raise FleetError(f"{key} must be at least {least}")
        if key in ("parallel", "max_loaded"):
            value = int(value) or None  # 0: no cap
        if key == "token":
            value = value.strip() or None  # empty: no token
        setattr(row, key, value)
