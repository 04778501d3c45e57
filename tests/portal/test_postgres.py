"""The portal on PostgreSQL: two requests at once cannot both count one key too few
(the person's row is held until the commit)."""

from __future__ import annotations

import threading
import time

import pytest

from ollama_gate import create_app
from ollama_gate.accounts import policy
from ollama_gate.extensions import db
from tests.helpers.admin import PASSWORD, login
from tests.portal.helpers import create, keys_of, make_team, sign_in


@pytest.mark.needs_postgres
def test_two_creates_at_once_stay_within_the_most_keys(
    postgres_url, fake_server, monkeypatch
):
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "s",
            "BACKENDS": [fake_server.url],
            "SQLALCHEMY_DATABASE_URI": postgres_url,
            "KEY_CACHE_SECONDS": 0.0,
        }
    )
    with app.app_context():
        db.create_all()
    try:
        make_team(app, "ml", portal_max_keys=1)
        first, second = app.test_client(), app.test_client()
        sign_in(app, first, "alice", "ml")
        assert login(second, "alice", PASSWORD).status_code == 302
        counted = policy.active_keys

        def slow_count(person, now):  # widen the window between count and insert
            found = counted(person, now)
            time.sleep(0.5)
            return found

        monkeypatch.setattr(policy, "active_keys", slow_count)
        answers = []
        threads = [
            threading.Thread(target=lambda c=c: answers.append(create(c, name="k")))
            for c in (first, second)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert sorted(r.status_code for r in answers) == [303, 403]
        assert len(keys_of(app, "alice")) == 1
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
