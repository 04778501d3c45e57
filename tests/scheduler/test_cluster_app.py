"""The cluster queue through the app (Redis configured): a call that waits is granted
when the held one ends and says how long it waited; /api/ps and the Backends page show
the line Redis keeps, and say it is the whole gateway's."""

from __future__ import annotations

import threading
import uuid

import pytest
import redis

from ollama_gate.routing.status import queue_status
from ollama_gate.scheduler.cluster import ClusterQueue
from tests.helpers.admin import login, make_admin
from tests.helpers.keys import add_key
from tests.scheduler.cluster_parts import TEST_REDIS, wait_for
from tests.scheduler.test_scheduler import one_backend

pytestmark = pytest.mark.needs_redis


def test_a_waiting_call_in_the_cluster_line_through_the_app(tmp_path, pool):
    gpu1 = pool[0]
    prefix = f"app{uuid.uuid4().hex[:8]}"
    app = one_backend(
        tmp_path, pool, parallel=1, REDIS_URL=TEST_REDIS, REDIS_PREFIX=prefix
    )
    queue = app.extensions["ollama_gate"].sched.scheduler.queue
    assert isinstance(queue, ClusterQueue)
    key = add_key(app)
    gpu1.hold_second_chunk = True
    answers = {}

    def call(prompt, stream):
        answers[prompt] = app.test_client().post(
            "/api/generate",
            json={"model": "llama3.2", "prompt": prompt, "stream": stream},
            headers={"Authorization": f"Bearer {key}"},
            buffered=True,  # read to the end: the held call keeps its slot till then
        )

    held = threading.Thread(target=call, args=("held", True))
    held.start()
    assert gpu1.first_chunk_sent.wait(10)
    waits = threading.Thread(target=call, args=("waits", False))
    waits.start()
    r = redis.Redis.from_url(TEST_REDIS)
    try:
        assert wait_for(lambda: r.hlen(f"{prefix}:queue:all") == 1)
        ps = (
            app.test_client()
            .get("/api/ps", headers={"Authorization": f"Bearer {key}"})
            .get_json()
        )
        assert ps["queue"] == {
            "waiting": 1,
            "models": [{"model": "llama3.2:latest", "interactive": 1, "batch": 0}],
        }
        make_admin(app)
        admin = app.test_client()
        login(admin)
        page = admin.get("/admin/backends").get_data(as_text=True)
        assert "one queue for the whole gateway" in page
        gpu1.hold_second_chunk = False
        gpu1.release.set()
        for t in (held, waits):
            t.join(30)
        assert answers["waits"].status_code == 200
        assert int(answers["waits"].headers["X-Ollama-Gate-Queue-Ms"]) >= 0
        # granted on the give's message (a look of its own at 1.5 s may come first,
        # the test's admin pages take that long, but it found nothing)
        assert queue.grants == {"pushed": 1, "safety": 0, "first": 0}
        with app.app_context():
            (row,) = queue_status(app)
        assert (row["model"], row["waits"]) == ("llama3.2:latest", 1)
        assert r.hlen(f"{prefix}:queue:all") == 0
    finally:
        for k in r.scan_iter(f"{prefix}:*"):
            r.delete(k)
