"""Keys for tests: a user and a key straight in the database."""

from __future__ import annotations

from ollama_gate.extensions import db
from ollama_gate.keys import create_key
from ollama_gate.models import User


def add_key(app, user: str = "alice", **kwargs) -> str:
    """Create ``user`` if needed and a key for them; return the plain key."""
    with app.app_context():
        owner = db.session.execute(
            db.select(User).where(User.name == user)
        ).scalar_one_or_none()
        if owner is None:
            owner = User(name=user)
            db.session.add(owner)
        own = {k: kwargs.pop(k) for k in ("name", "expires_at", "plain") if k in kwargs}
        key, plain = create_key(owner, **own)
        for column, value in kwargs.items():  # per-key settings, e.g. scopes="manage"
            setattr(key, column, value)
        db.session.commit()
        return plain
