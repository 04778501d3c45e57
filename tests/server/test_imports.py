"""gunicorn imports the worker class in its master before any gevent patching: the
worker module must bring in nothing of the app, and gunicorn.conf.py only settings."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys

from tests.helpers.paths import ROOT


def modules_after(statement: str) -> set[str]:
    """The modules a fresh interpreter holds after running ``statement``."""
    code = f"import sys; {statement}; import json; print(json.dumps(list(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return set(json.loads(out.stdout))


def test_the_worker_module_brings_in_nothing_of_the_app():
    worker = modules_after("import ollama_gate.server.worker")
    gunicorns_own = modules_after("import gunicorn.workers.ggevent")
    for heavy in ("flask", "sqlalchemy", "requests", "ollama_gate.app"):
        assert heavy not in worker, heavy
    added = worker - gunicorns_own
    assert added <= {
        "ollama_gate",
        "ollama_gate.server",
        "ollama_gate.server.worker",
        "ollama_gate.server.handler",
        "ollama_gate.server.body",
        "ollama_gate.server.limits",
        "ollama_gate.remote",  # IPv4-mapped peers read as IPv4 (the connection cap)
    }, added
    # gevent.pywsgi reads HTTP with http.client, which imports ssl: gunicorn's own
    # gevent worker loads it too, so the worker adds no ssl of its own
    assert ("ssl" in worker) == ("ssl" in gunicorns_own)


def test_the_package_alone_imports_no_framework():
    loaded = modules_after("import ollama_gate")
    assert not {"flask", "ssl", "sqlalchemy", "ollama_gate.app"} & loaded


def test_gunicorn_conf_holds_settings_only():
    # the checkout's gunicorn.conf.py is the package's (what ``ollama-gate serve`` runs)
    assert (
        "ollama_gate.server.gunicorn_conf import *"
        in (ROOT / "gunicorn.conf.py").read_text()
    )
    tree = ast.parse((ROOT / "ollama_gate/server/gunicorn_conf.py").read_text())
    kinds = {type(node).__name__ for node in tree.body}
    assert not kinds & {"ClassDef", "FunctionDef", "AsyncFunctionDef"}, kinds
    names = {t.id for n in tree.body if isinstance(n, ast.Assign) for t in n.targets}
    assert "worker_class" in names


def test_a_live_worker_patches_without_warnings(gateway):
    """The worker class loads in the master, gevent patches in the worker: no
    MonkeyPatchWarning about modules imported too early."""
    log = gateway.log_path.read_text()
    assert "Booting worker" in log and "MonkeyPatchWarning" not in log


def test_the_serving_app_leaves_alembic_out_until_a_migration_needs_it(tmp_path):
    """Alembic, Mako and Pygments (about 11 MB a worker) stay out of the app that
    gunicorn serves; the ``db`` commands and ``init`` bring them in and work."""
    env = f"import os; os.environ['DATABASE_URL'] = 'sqlite:///{tmp_path / 'g.db'}'"
    served = modules_after(f"{env}; from ollama_gate import create_app; create_app()")
    assert not {"alembic", "flask_migrate", "mako", "pygments"} & served
    migrated = modules_after(
        f"{env}; from ollama_gate import create_app; "
        "from ollama_gate.schema import upgrade_database; app = create_app(); "
        "ctx = app.app_context(); ctx.push(); upgrade_database()"
    )
    assert {"alembic", "flask_migrate"} <= migrated
    out = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "ollama_gate", "db", "current"],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'g.db'}"},
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0 and "(head)" in out.stdout, out.stderr[-2000:]


def test_the_serving_app_imports_redis_only_when_configured(tmp_path):
    """redis-py (about 7 MB a worker) is imported only with OLLAMA_GATE_REDIS_URL:
    without it every counter is in memory and nothing uses it."""
    env = (
        "import os; os.environ.pop('OLLAMA_GATE_REDIS_URL', None); "
        f"os.environ['DATABASE_URL'] = 'sqlite:///{tmp_path / 'g.db'}'"
    )
    served = modules_after(f"{env}; from ollama_gate import create_app; create_app()")
    assert "redis" not in served
    shared = modules_after(
        f"{env}; os.environ['OLLAMA_GATE_REDIS_URL'] = 'redis://127.0.0.1:9/0'; "
        "from ollama_gate import create_app; create_app()"
    )
    assert "redis" in shared
