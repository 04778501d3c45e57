"""CLI for per-key limits: ``keys create`` options, ``keys set`` and ``keys usage``."""

from __future__ import annotations

import pytest

from ollama_gate.extensions import db
from ollama_gate.models import ApiKey


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def only_key(app) -> ApiKey:
    with app.app_context():
        key = db.session.execute(db.select(ApiKey)).scalar_one()
        db.session.expunge(key)
        return key


@pytest.fixture()
def alice(runner):
    assert runner.invoke(args=["users", "create", "alice"]).exit_code == 0


def test_create_with_every_limit(app, runner, client, alice):
    result = runner.invoke(
        args=[
            "keys",
            "create",
            "alice",
            "--name",
            "bot",
            "--rate-limit",
            "5/second;100/hour",
            "--calls-per-day",
            "10",
            "--tokens-per-day",
            "5000",
            "--calls-per-month",
            "200",
            "--tokens-per-month",
            "90000",
            "--models",
            "llama3*, qwen2.5:7b",
            "--scopes",
            "manage",
            "--max-concurrency",
            "2",
        ]
    )
    assert result.exit_code == 0, result.output
    plain = result.output.strip().splitlines()[-1]
    key = only_key(app)
    assert (
        key.rate_limit,
        key.calls_per_day,
        key.tokens_per_day,
        key.calls_per_month,
        key.tokens_per_month,
        key.model_allowlist,
        key.scopes,
        key.max_concurrency,
    ) == ("5/second;100/hour", 10, 5000, 200, 90000, "llama3*,qwen2.5:7b", "manage", 2)
    resp = client.post(
        "/api/chat",
        headers=auth(plain),
        json={
            "model": "qwen2.5:7b",
            "messages": [{"role": "user", "content": "x"}],
            "stream": False,
        },
    )
    assert resp.status_code == 200


def test_create_without_options_follows_the_defaults(app, runner, alice):
    assert runner.invoke(args=["keys", "create", "alice"]).exit_code == 0
    key = only_key(app)
    assert key.rate_limit is None and key.model_allowlist is None
    assert (
        key.scopes == "" and key.calls_per_day is None and key.max_concurrency is None
    )


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--rate-limit", "lots", "not a rate limit"),
        ("--calls-per-day", "ten", "not a whole number"),
        ("--tokens-per-month", "-5", "0 or more"),
        ("--scopes", "admin", "unknown scope 'admin'"),
        ("--max-concurrency", "1.5", "not a whole number"),
        ("--calls-per-day", "99999999999999999999999", "at most 2147483647"),
        ("--tokens-per-day", "2147483648", "at most 2147483647"),
    ],
)
def test_bad_values_are_refused_and_no_key_made(
    app, runner, alice, option, value, message
):
    result = runner.invoke(args=["keys", "create", "alice", option, value])
    assert result.exit_code != 0
    assert message in result.output
    with app.app_context():
        assert db.session.execute(db.select(ApiKey)).first() is None


def test_set_changes_and_clears(app, runner, client, alice):
    runner.invoke(
        args=[
            "keys",
            "create",
            "alice",
            "--models",
            "llama3*",
            "--calls-per-day",
            "1",
            "--rate-limit",
            "1/hour",
        ]
    )
    prefix = only_key(app).prefix
    result = runner.invoke(
        args=[
            "keys",
            "set",
            prefix,
            "--calls-per-day",
            "none",
            "--models",
            "none",
            "--rate-limit",
            "default",
            "--tokens-per-day",
            "700",
            "--scopes",
            "manage",
        ]
    )
    assert result.exit_code == 0, result.output
    assert "rate limit: 600/minute (global default)" in result.output
    assert "models: all" in result.output and "scopes: manage" in result.output
    key = only_key(app)
    assert (
        key.calls_per_day,
        key.model_allowlist,
        key.rate_limit,
        key.tokens_per_day,
        key.scopes,
    ) == (None, None, None, 700, "manage")
    result = runner.invoke(
        args=["keys", "set", prefix, "--rate-limit", "unlimited", "--scopes", "none"]
    )
    assert result.exit_code == 0
    key = only_key(app)
    assert key.rate_limit == "unlimited" and key.scopes == ""


def test_set_needs_an_option_and_a_known_key(app, runner, alice):
    runner.invoke(args=["keys", "create", "alice"])
    prefix = only_key(app).prefix
    assert "at least one option" in runner.invoke(args=["keys", "set", prefix]).output
    result = runner.invoke(args=["keys", "set", "og_nope", "--calls-per-day", "1"])
    assert result.exit_code != 0 and "no key with prefix" in result.output


def test_usage_shows_use_against_quotas(app, runner, client, alice, fake):
    result = runner.invoke(
        args=[
            "keys",
            "create",
            "alice",
            "--calls-per-day",
            "5",
            "--tokens-per-month",
            "1000",
        ]
    )
    plain = result.output.strip().splitlines()[-1]
    for _ in range(2):
        client.post(
            "/api/generate",
            headers=auth(plain),
            json={"model": "llama3.2", "prompt": "one two", "stream": False},
        )
    app.extensions["ollama_gate"].recorder.flush()
    out = runner.invoke(args=["keys", "usage", plain[:11]]).output
    lines = out.splitlines()
    today = next(line for line in lines if line.startswith("today"))
    month = next(line for line in lines if line.startswith("this month"))
    assert "calls 2 / 5" in today and "tokens 20 / no budget" in today
    assert "calls 2 / no quota" in month and "/ 1000" in month
    tokens = int(month.split("tokens ")[1].split(" /")[0])
    assert tokens == 2 * (2 + 8)  # prompt "one two" and 8 generated tokens, twice


def test_init_key_may_manage_models(app, runner, client, fake):
    result = runner.invoke(args=["init"])
    plain = result.output.strip().splitlines()[-1]
    resp = client.post(
        "/api/pull", headers=auth(plain), json={"model": "llama3.2", "stream": False}
    )
    assert resp.status_code == 200
