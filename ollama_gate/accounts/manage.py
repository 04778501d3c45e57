"""Changes to accounts shared by the CLI and the pages: roles, admins, first admin."""

from __future__ import annotations

from ..audit import FleetError, record
from ..extensions import db
from ..models import User
from .roles import ADMIN, MEMBER, ROLE_LABELS, ROLES

FIRST_ADMIN = "admin"


def find_user(name: str) -> User | None:
    """The account called ``name``, if any."""
    return db.session.execute(
        db.select(User).where(User.name == name)
    ).scalar_one_or_none()


def set_role(user: User, role: str) -> bool:
    """Give ``user`` ``role`` (audited; their sessions end when they lose one);
    False if it was theirs already. The caller commits."""
    if role not in ROLES:
        raise FleetError(f"the role must be one of {', '.join(ROLES)}")
    if user.role == role:
        return False
    before = user.role
    user.role = role
    if ROLES.index(role) > ROLES.index(before):
        user.end_sessions()  # fewer rights: a session opened with more ends
    record(
        "role_changed",
        user.name,
        f"{ROLE_LABELS.get(before, before)} -> {ROLE_LABELS[role]}",
    )
    return True


def remove_admin(admin: User) -> None:
    """Take an admin away: an account with no keys is deleted, as admins were; one
    with keys stays a member without a password (its keys keep working)."""
    record("admin_deleted", admin.name)
    if not admin.keys:
        db.session.delete(admin)
        return
    admin.role = MEMBER
    admin.clear_password()


def first_admin_name() -> str:
    """``admin``, or ``admin-2``... when a user (one with keys, say) has that name."""
    name, n = FIRST_ADMIN, 1
    while find_user(name) is not None:
        n += 1
        name = f"{FIRST_ADMIN}-{n}"
    return name


def has_admin() -> bool:
    """True once any account has the admin role."""
    return (
        db.session.execute(
            db.select(User.id).where(User.role == ADMIN).limit(1)
        ).first()
        is not None
    )
