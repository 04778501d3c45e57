"""Events from a live gateway (gunicorn, two gevent workers, each with its own health
loop and event sender): a backend that stops and comes back makes one
``backend.down`` and one ``backend.up``, each delivered once to a webhook."""

from __future__ import annotations

import time

import pytest
import redis

from ollama_gate.events.models import Event
from ollama_gate.extensions import db
from tests.events.test_events import check_signed
from tests.helpers.live import LiveGateway, wait_for
from tests.helpers.services import REDIS_URL
from tests.helpers.webhook_receiver import Receiver

TEST_REDIS = REDIS_URL.rsplit("/", 1)[0] + "/11"


def backend_events(gw: LiveGateway) -> list[str]:
    with gw.app.app_context():
        query = db.select(Event.kind).where(Event.subject == "backend:gpu1")
        return list(db.session.execute(query.order_by(Event.id)).scalars())


@pytest.mark.needs_redis
def test_a_backend_down_and_back_is_one_event_each_from_two_workers(
    tmp_path, fake_pool
):
    redis.Redis.from_url(TEST_REDIS).flushdb()
    gpu1, gpu2, _ = fake_pool
    receiver = Receiver()
    gw = LiveGateway(
        tmp_path,
        f"gpu1={gpu1.url},gpu2={gpu2.url}",
        workers=2,
        env={
            "OLLAMA_GATE_HEALTH_INTERVAL": "0.2",
            "OLLAMA_GATE_REDIS_URL": TEST_REDIS,
            "OLLAMA_GATE_WEBHOOK_POLL_SECONDS": "0.2",
        },
    )
    try:
        gw.start()
        out = gw.cli("hooks", "add", receiver.url, "--events", "backend.*").stdout
        secret = out.split("secret: ", 1)[1].split()[0]
        time.sleep(1.0)  # both workers' first looks: nothing to tell
        assert backend_events(gw) == []
        gpu1.stop()
        assert wait_for(lambda: backend_events(gw) == ["backend.down"])
        gpu1.start()
        assert wait_for(lambda: backend_events(gw) == ["backend.down", "backend.up"])
        assert wait_for(lambda: len(receiver.received) >= 2)
        time.sleep(1.5)  # every worker's health loop has had its look by now
        assert backend_events(gw) == ["backend.down", "backend.up"]
        assert len(receiver.received) == 2
        assert [r["json"]["kind"] for r in receiver.received] == [
            "backend.down",
            "backend.up",
        ]
        for request in receiver.received:
            check_signed(request, secret)
        listed = gw.cli("events", "list").stdout
        assert "backend.down  backend:gpu1" in listed
        assert "webhook 1 attempt 1: 200" in listed
        log = gw.log_path.read_text()
        assert "Traceback" not in log and "events: a round failed" not in log
    finally:
        gw.stop()
        receiver.close()
