"""The admin UI's events page (``/admin/events``): the event log, newest first, with
each event's deliveries, and the webhooks (add, test, delete)."""

from __future__ import annotations

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import login_required
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField, SubmitField
from wtforms.validators import DataRequired, Length, Optional

from ..admin.audit import page_arg
from ..admin.forms import ConfirmForm
from ..admin.security import refuse_nul_characters
from ..extensions import db
from ..web import add_security_headers
from .hooks import (
    HookError,
    add_hook,
    delete_hook,
    get_hook,
    send_test,
    set_enabled,
    where,
)
from .kinds import KINDS
from .models import Delivery, Event, Hook

bp = Blueprint("events", __name__, url_prefix="/admin/events")
bp.before_request(refuse_nul_characters)
PAGE_SIZE = 50


class HookForm(FlaskForm):
    """A new webhook: its URL, the kinds it gets, and a secret (or one is made)."""

    url = StringField("URL", validators=[DataRequired(), Length(max=500)])
    kinds = StringField("Events", validators=[Optional(), Length(max=500)])
    secret = PasswordField("Secret", validators=[Optional(), Length(max=500)])
    submit = SubmitField("Add webhook")


@bp.after_request
def _security_headers(response: Response) -> Response:
    """The admin pages' headers (CSP, no framing, no caching)."""
    return add_security_headers(response)


def _page(form: HookForm | None = None, status: int = 200):
    kind = request.args.get("kind", "")
    kind = kind if kind in KINDS else ""
    query = db.select(Event).order_by(Event.id.desc())
    if kind:
        query = query.where(Event.kind == kind)
    page = db.paginate(query, page=page_arg(), per_page=PAGE_SIZE, error_out=False)
    ids = [e.id for e in page.items]
    tries: dict[int, list[Delivery]] = {i: [] for i in ids}
    if ids:
        rows = db.session.execute(
            db.select(Delivery)
            .where(Delivery.event_id.in_(ids))
            .order_by(Delivery.hook_id, Delivery.attempt)
        ).scalars()
        for d in rows:
            tries[d.event_id].append(d)
    hooks = db.session.execute(db.select(Hook).order_by(Hook.id)).scalars().all()
    page_html = render_template(
        "events/index.html",
        page=page,
        kind=kind,
        kinds=KINDS,
        tries=tries,
        hooks=hooks,
        form=form or HookForm(),
        confirm=ConfirmForm(),
        settings=current_app.config["GATE"],
    )
    return page_html, status


@bp.get("/")
@login_required
def index():
    """The event log (by kind, paged) and the webhooks."""
    return _page()


@bp.post("/hooks")
@login_required
def hooks_add():
    """Add a webhook; its secret is shown on the answer, once."""
    form = HookForm()
    if not form.validate_on_submit():
        return _page(form, 400)
    try:
        hook, secret = add_hook(form.url.data, form.secret.data, form.kinds.data)
    except HookError as exc:
        form.url.errors = [*form.url.errors, str(exc)]
        return _page(form, 400)
    shown = None if form.secret.data else secret
    return render_template("events/hook_created.html", hook=hook, secret=shown)


@bp.post("/hooks/<int:hook_id>/test")
@login_required
def hooks_test(hook_id: int):
    """Send a test event to one webhook now (the form carries a CSRF token)."""
    if not ConfirmForm().validate_on_submit():
        flash("The form expired: try again.", "error")
        return redirect(url_for("events.index"))
    try:
        d = send_test(current_app._get_current_object(), hook_id)
    except HookError as exc:
        flash(str(exc), "error")
        return redirect(url_for("events.index"))
    if d.ok:
        flash(f"Test event {d.event_id} delivered ({d.status}).", "success")
    else:
        flash(f"Test event {d.event_id} not delivered: {d.outcome}.", "error")
    return redirect(url_for("events.index"))


@bp.post("/hooks/<int:hook_id>/<any(enable, disable):action>")
@login_required
def hooks_switch(hook_id: int, action: str):
    """Pause a webhook or send to it again (the form carries a CSRF token)."""
    if not ConfirmForm().validate_on_submit():
        flash("The form expired: try again.", "error")
    else:
        try:
            set_enabled(hook_id, action == "enable")
            flash(f"Webhook {hook_id} {action}d.", "success")
        except HookError as exc:
            flash(str(exc), "error")
    return redirect(url_for("events.index") + "#hooks")


@bp.route("/hooks/<int:hook_id>/delete", methods=["GET", "POST"])
@login_required
def hooks_delete(hook_id: int):
    """Ask, then delete a webhook (its deliveries stay on record)."""
    try:
        hook = get_hook(hook_id)
    except HookError:
        return redirect(url_for("events.index"))
    form = ConfirmForm()
    if form.validate_on_submit():
        delete_hook(hook_id)
        flash(f"Webhook {hook_id} deleted.", "success")
        return redirect(url_for("events.index"))
    return render_template(
        "admin/confirm.html",
        title=f"Delete webhook {hook_id}?",
        message=f"Events are no longer sent to {where(hook.url)} "
        f"(webhook {hook_id}). Its past deliveries stay on record.",
        button="Delete webhook",
        form=form,
        cancel=url_for("events.index"),
    )
