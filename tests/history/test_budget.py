"""The key holder's history search cannot stall the worker: it is rate limited like
any API call, runs off the event loop, and is stopped past its time budget (issue
16)."""

from __future__ import annotations

import ollama_gate.history.budget as budget
from tests.helpers.keys import add_key
from tests.history.test_api import auth, chat


def test_history_reads_count_against_the_keys_rate_limit(app, client, fake):
    key = add_key(app, rate_limit="2/minute")
    codes = [
        client.get("/gate/api/history", headers=auth(key)).status_code for _ in range(3)
    ]
    assert codes == [200, 200, 429]


def test_a_search_past_its_budget_is_stopped_with_a_clear_503(
    app, client, fake, monkeypatch
):
    key = add_key(app)
    for i in range(3):
        chat(client, key, f"story number {i} " * 2000)
    app.extensions["ollama_gate"].recorder.flush()
    found = client.get("/gate/api/history?q=number", headers=auth(key))
    assert found.status_code == 200 and len(found.get_json()["data"]) == 3
    monkeypatch.setattr(budget, "BUDGET_SECONDS", 0.0)  # no time at all
    monkeypatch.setattr(budget, "CHECK_EVERY", 1)  # look at the clock every step
    resp = client.get("/gate/api/history?q=number", headers=auth(key))
    assert resp.status_code == 503
    assert "narrow it" in resp.get_json()["error"] and resp.headers["Retry-After"]
    monkeypatch.setattr(budget, "BUDGET_SECONDS", 2.0)
    again = client.get("/gate/api/history?q=number", headers=auth(key))
    assert again.status_code == 200  # the connection was left clean


def test_the_search_runs_in_a_thread_under_gevent(app, monkeypatch):
    """Under gevent the query goes to the thread pool (here: recorded, not run)."""
    import ollama_gate.history.budget as module

    ran = []
    monkeypatch.setattr(module, "off_loop", lambda fn: ran.append(fn) or [])
    with app.app_context():
        assert module.within_budget(app, lambda: ["rows"]) == []
    assert len(ran) == 1 and ran[0].__name__ == "run"
