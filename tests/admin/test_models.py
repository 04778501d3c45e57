"""Account passwords: a slow hash, computed off the gevent loop so streams flow on."""

from __future__ import annotations

import subprocess
import sys

from ollama_gate.accounts.sessions import user_from_session_id
from ollama_gate.extensions import db
from ollama_gate.models import User
from ollama_gate.offload import off_loop
from tests.helpers.paths import ROOT

GEVENT_CHECK = """
from gevent import monkey
monkey.patch_all()
import gevent
from gevent.monkey import get_original
from ollama_gate.models import User
from ollama_gate.offload import off_loop

real_ident = get_original("threading", "get_ident")
admin = User(name="x")
admin.set_password("a password long enough")
ticks = []
ticker = gevent.spawn(lambda: [ticks.append(gevent.sleep(0)) for _ in range(10_000)])
where = off_loop(lambda: (real_ident(), len(ticks)))
assert where[0] != real_ident(), "ran on the loop's own thread"
assert admin.check_password("a password long enough")
assert not admin.check_password("another password")
ticker.kill()
print("ok", len(ticks))
"""


def test_password_hash_is_slow_salted_and_checked():
    one, two = User(name="a"), User(name="b")
    one.set_password("same password 1")
    two.set_password("same password 1")
    assert one.password_hash.startswith("scrypt:")
    assert one.password_hash != two.password_hash  # salted
    assert one.check_password("same password 1")
    assert not one.check_password("same password 2")


def test_off_loop_runs_inline_without_gevent():
    assert off_loop(lambda a, b: a + b, 2, 3) == 5


def test_under_gevent_hashing_runs_in_a_real_thread():
    result = subprocess.run(
        [sys.executable, "-c", GEVENT_CHECK],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok")


def test_session_id_tied_to_password(app):
    with app.app_context():
        admin = User(name="c")
        admin.set_password("first password")
        db.session.add(admin)
        db.session.commit()
        sid = admin.get_id()
        assert user_from_session_id(sid) is admin
        for bad in (
            "",
            "x",
            f"{admin.id}",
            f"{admin.id}:",
            f"{admin.id}:wrong",
            "9:abc",
        ):
            assert user_from_session_id(bad) is None
        admin.set_password("second password")
        db.session.commit()
        assert user_from_session_id(sid) is None
        assert user_from_session_id(admin.get_id()) is admin
