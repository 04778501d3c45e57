"""Token quotas under concurrency: each call holds an estimate of its tokens from
admission until its record, so parallel calls cannot all run against one quota."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis
import requests

from ollama_gate.extensions import db
from ollama_gate.limits.counters import MemoryCounters
from ollama_gate.limits.redis_counters import RedisCounters
from ollama_gate.limits.usage import Usage
from ollama_gate.models import ApiKey
from ollama_gate.proxy.parsing import max_output
from tests.helpers.live import LiveGateway, gateway_fixture
from tests.helpers.services import REDIS_URL

TEST_REDIS = REDIS_URL.rsplit("/", 1)[0] + "/13"  # as test_limits_redis's
BODY = {
    "model": "llama3.2",
    "messages": [{"role": "user", "content": "Tell me a story about a fox"}],
    "stream": False,
}
holds_gw = gateway_fixture("holds_gw")


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def tokens_of_one_call(gw: LiveGateway) -> int:
    """What one call of ``BODY`` costs (the fake's counts), on a key without quotas."""
    answer = requests.post(
        gw.url + "/api/chat", json=BODY, headers=auth(gw.key("probe")), timeout=30
    ).json()
    return answer["prompt_eval_count"] + answer["eval_count"]


def charged(gw: LiveGateway, key: str, calls: int) -> int:
    """The tokens the database holds for ``key`` today, once its ``calls`` are in."""
    deadline = time.monotonic() + 20
    while True:  # the recorder writes after the last byte, in batches
        with gw.app.app_context():
            row = db.session.execute(
                db.select(Usage.calls, Usage.tokens)
                .join(ApiKey, ApiKey.id == Usage.key_id)
                .where(ApiKey.prefix == key[:11], Usage.period.startswith("d:"))
            ).first()
            db.session.remove()
        if row is not None and row.calls == calls or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert row is not None and row.calls == calls, f"usage never recorded: {row}"
    return row.tokens


def parallel_against_a_quota(gw: LiveGateway, quota: int) -> None:
    """30 calls at once against a ``quota``-token key: the tokens charged stay within
    the quota plus one call's own (the documented bound), the rest get 429."""
    per_call = tokens_of_one_call(gw)
    key = gw.key("holder", tokens_per_day=quota)

    def one(_):
        return requests.post(
            gw.url + "/api/chat", json=BODY, headers=auth(key), timeout=60
        )

    with ThreadPoolExecutor(30) as pool:
        answers = list(pool.map(one, range(30)))
    codes = [a.status_code for a in answers]
    ran = codes.count(200)
    assert ran + codes.count(429) == 30
    total = charged(gw, key, ran)
    # each call holds more than the quota, so one runs at a time, and only while
    # the quota is not spent: the last one may cross it by its own tokens
    assert total < quota + per_call
    assert ran <= quota // per_call + 1
    refused = [a for a in answers if a.status_code == 429]
    assert all(int(a.headers["Retry-After"]) >= 1 for a in refused)
    assert all("token budget" in a.json()["error"] for a in refused)


def test_parallel_calls_hold_their_tokens_in_memory(holds_gw):
    parallel_against_a_quota(holds_gw, 100)


@pytest.mark.needs_redis
def test_parallel_calls_hold_their_tokens_in_redis(tmp_path, fake_server):
    redis.Redis.from_url(TEST_REDIS).flushdb()
    gw = LiveGateway(
        tmp_path, fake_server.url, workers=2, env={"OLLAMA_GATE_REDIS_URL": TEST_REDIS}
    ).start()
    try:
        parallel_against_a_quota(gw, 100)
    finally:
        gw.stop()


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.needs_redis)])
def counters(request):
    """Quota counters of each kind, seeded with nothing used."""
    if request.param == "memory":
        return MemoryCounters(lambda limits_id, period: (0, 0))
    client = redis.Redis.from_url(TEST_REDIS)
    client.flushdb()
    return RedisCounters(client, "holds-test", lambda limits_id, period: (0, 0))


def test_holds_are_judged_and_settled(counters):
    day = [("d:2026-12-07", None, 100)]
    keep = {"d:2026-12-07"}
    refused, first = counters.admit(7, day, 60)
    assert refused is None and first
    assert counters.admit(7, day, 60) == ((0, "held", 60), None)  # 60 + 60 > 100
    refused, second = counters.admit(7, day, 30)  # 60 + 30 fits
    assert refused is None and second
    assert counters.admit(8, day, 60)[0] is None  # another key's quota: its own
    # the first settles: its hold goes and its real 50 tokens come, at once
    counters.add([(7, "d:2026-12-07", 0, 50)], keep, holds=[(7, first)])
    assert counters.current(7, "d:2026-12-07") == (2, 50)
    assert counters.admit(7, day, 30) == ((0, "held", 80), None)  # 50 + 30 + 30
    counters.add([(7, "d:2026-12-07", 0, 10)], keep, holds=[(7, second)])
    # nothing held: a call is let through whatever its estimate, while any is left
    refused, alone = counters.admit(7, day, 500)
    assert refused is None and alone
    assert counters.admit(7, day, 1) == ((0, "held", 560), None)
    counters.add([(7, "d:2026-12-07", 0, 45)], keep, holds=[(7, alone)])
    assert counters.admit(7, day, 1) == ((0, "tokens", 105), None)  # spent
    assert counters.current(7, "d:2026-12-07") == (3, 105)  # refused calls count not


def test_a_key_without_a_token_quota_holds_nothing(counters):
    assert counters.admit(9, [("d:2026-12-07", 5, None)], 0) == (None, None)


@pytest.mark.parametrize(
    ("endpoint", "payload", "expected"),
    [
        ("/api/chat", {"options": {"num_predict": 50}}, 50),
        ("/api/generate", {"options": {"num_predict": 50.0}}, 50),
        ("/api/generate/", {"Options": {"num_predict": 9}}, 9),  # Go: any case
        ("/api/chat", {"options": {"NUM_PREDICT": 50}}, None),  # a map: exact
        ("/api/chat", {"options": {"num_predict": -1}}, None),  # unbounded
        ("/api/chat", {"options": {"num_predict": 0}}, None),  # unbounded too
        ("/api/chat", {"options": {"num_predict": True}}, None),
        ("/api/chat", {}, None),
        ("/v1/chat/completions", {"max_tokens": 7}, 7),
        ("/v1/chat/completions", {"MAX_TOKENS": 7}, 7),
        ("/v1/chat/completions", {"max_completion_tokens": 7}, None),  # ignored
        ("/v1/chat/completions", {"max_tokens": "7"}, None),
        ("/v1/completions", {"max_tokens": 3}, 3),
        ("/v1/responses", {"max_output_tokens": 11}, 11),
        ("/v1/messages", {"max_tokens": 64}, 64),
        ("/api/embed", {"input": "x"}, 0),
        ("/v1/embeddings", {"input": "x"}, 0),
    ],
)
def test_the_answer_bound_a_request_sets(endpoint, payload, expected):
    assert max_output(endpoint, payload) == expected
