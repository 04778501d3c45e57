"""The admin UI's backends page: each backend's state, models, loaded models, calls
in flight and last error; adding, changing, disabling and removing backends; the
aliases and routes. Every change goes through ``manage`` (checked and audited)."""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, url_for
from flask_login import login_required

from ..admin.blueprint import bp
from ..admin.forms import ConfirmForm
from ..audit import FleetError
from ..scheduler.manage import describe, policies, set_policy
from . import edits  # noqa: F401  (the edit and remove pages, on the same blueprint)
from .forms import AliasForm, BackendForm, PolicyForm, RouteForm
from .manage import (
    add_alias,
    add_backend,
    remove_alias,
    set_backend,
    set_route,
)
from .status import fleet_status, queue_status


def _gate():
    return current_app.extensions["ollama_gate"]


def _changed(message: str):
    """After a change: this worker sees it now (others within HEALTH_INTERVAL)."""
    gate = _gate()
    gate.checker.check_due(force=True)
    flash(message, "success")
    return redirect(url_for("admin.backends"))


def _page(
    form=None, alias_form=None, route_form=None, policy_form=None, status: int = 200
):
    fleet = _gate().fleet
    fleet.reload()
    return (
        render_template(
            "admin/backends.html",
            rows=fleet_status(current_app),
            aliases=sorted(
                (fleet.aliases.written[a], m) for a, m in fleet.aliases.items()
            ),
            routes=sorted(fleet.routes.items()),
            form=form or BackendForm(prefix="add"),
            alias_form=alias_form or AliasForm(prefix="alias"),
            route_form=route_form or RouteForm(prefix="route"),
            policy_form=policy_form or PolicyForm(prefix="policy"),
            policies=[(p.model, describe(p)) for p in policies()],
            queue=queue_status(current_app),
            confirm=ConfirmForm(),
            settings=current_app.config["GATE"],
        ),
        status,
    )


@bp.get("/backends")
@login_required
def backends():
    """Every backend and its state, with the forms that change them."""
    return _page()


@bp.post("/backends")
@login_required
def backends_add():
    """Add a backend."""
    form = BackendForm(prefix="add")
    if not form.validate_on_submit():
        return _page(form=form, status=400)
    try:
        add_backend(
            current_app.config["GATE"],
            form.name.data,
            form.url.data,
            token=form.token.data or None,
            weight=form.weight.data,
            parallel=form.parallel.data,
            max_loaded=form.max_loaded.data,
        )
    except FleetError as exc:
        form.name.errors.append(str(exc))
        return _page(form=form, status=400)
    return _changed(f"Added backend {form.name.data}.")


@bp.post("/backends/<name>/<action>")
@login_required
def backends_change(name: str, action: str):
    """Disable or enable a backend (buttons with a CSRF token; removing has its own
    page, ``edits.backend_remove``, to ask first)."""
    if action not in ("disable", "enable") or not ConfirmForm().validate():
        return _page(status=400)
    settings = current_app.config["GATE"]
    try:
        set_backend(settings, name, enabled=action == "enable")
    except FleetError as exc:
        flash(str(exc), "error")
        return redirect(url_for("admin.backends"))
    return _changed(f"Backend {name} {action}d.")


@bp.post("/backends/aliases")
@login_required
def aliases_add():
    """Add (or replace) an alias."""
    form = AliasForm(prefix="alias")
    if not form.validate_on_submit():
        return _page(alias_form=form, status=400)
    try:
        add_alias(form.alias.data, form.model.data)
    except FleetError as exc:
        form.alias.errors.append(str(exc))
        return _page(alias_form=form, status=400)
    return _changed(f"{form.alias.data} now runs {form.model.data}.")


@bp.post("/backends/aliases/<path:alias>/remove")
@login_required
def aliases_remove(alias: str):
    """Remove an alias made here."""
    if not ConfirmForm().validate():
        return _page(status=400)
    try:
        remove_alias(alias)
    except FleetError as exc:
        flash(str(exc), "error")
        return redirect(url_for("admin.backends"))
    return _changed(f"Removed alias {alias}.")


@bp.post("/backends/routes")
@login_required
def routes_set():
    """Pin a model to backends, or unpin it."""
    form = RouteForm(prefix="route")
    if not form.validate_on_submit():
        return _page(route_form=form, status=400)
    names = (form.backends.data or "").split()
    known = {b.name for b in _gate().fleet.backends()}
    unknown = [n for n in names if n not in known]
    if unknown:
        form.backends.errors.append(f"No backend is named {', '.join(unknown)}.")
        return _page(route_form=form, status=400)
    set_route(form.model.data, names)
    return _changed(f"Route for {form.model.data} set.")


@bp.post("/backends/policies")
@login_required
def policies_set():
    """Set a model's num_ctx, keep_alive and warm copies (all empty: no policy)."""
    form = PolicyForm(prefix="policy")
    if not form.validate_on_submit():
        return _page(policy_form=form, status=400)
    try:
        set_policy(
            form.model.data,
            num_ctx=form.num_ctx.data or 0,
            num_ctx_enforced=form.num_ctx_enforced.data,
            keep_alive=form.keep_alive.data or "",
            keep_alive_enforced=form.keep_alive_enforced.data,
            warm=form.warm.data or 0,
        )
    except FleetError as exc:
        form.model.errors.append(str(exc))
        return _page(policy_form=form, status=400)
    return _changed(f"Policy for {form.model.data} set.")
