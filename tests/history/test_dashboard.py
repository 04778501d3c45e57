"""The dashboard: any date range, bars that lead to their calls, the gateway's own
refusals apart from errors, latency and speed over time, failed key attempts."""

from __future__ import annotations

import re
from datetime import timedelta

from ollama_gate.models import utcnow
from tests.history.test_views import admin, seed  # noqa: F401  (admin is a fixture)


def stat(html: str, name: str) -> int:
    """The number of a dashboard total by its id."""
    block = html[html.index(f'id="{name}"') :]
    return int(re.search(r"<strong>([\d,]+)</strong>", block)[1].replace(",", ""))


def test_refusals_apart_from_errors_and_bars_lead_to_calls(app, admin):  # noqa: F811
    seed(app, 3, streamed=True, ttfb_ms=20.0, total_ms=1020.0, completion_tokens=50)
    seed(app, 2, status=429, error="rate limit")
    seed(app, 1, status=502, error="upstream down")
    html = admin.get("/history/dashboard?user=alice").text
    assert stat(html, "refused") == 2 and stat(html, "errors") == 1
    links = re.findall(r'<a href="(/history/\?[^"]+)">\s*<rect class="(\w+)"', html)
    kinds = {cls for _, cls in links}
    assert {"ok", "ref", "err", "prompt"} <= kinds
    href = next(h for h, cls in links if cls == "ref").replace("&amp;", "&")
    assert "status=refused" in href and "user=alice" in href
    listed = admin.get(href).text
    assert "2 calls." in listed
    total = re.search(r'<a class="stat" href="([^"]+)" id="refused"', html)[1]
    assert "2 calls." in admin.get(total.replace("&amp;", "&")).text  # up to now
    model_bar = next(h for h, _ in links if "model=llama3.2" in h)
    assert "5 calls." not in admin.get(model_bar.replace("&amp;", "&")).text
    assert "Time to first byte (ms)" in html and "polyline" in html
    assert "Answer speed" in html and "tokens/s 50</title>" in html  # 50 in 1 s


def test_any_date_range(app, admin):  # noqa: F811
    for _ in range(2):  # seed gives only its first record the time
        seed(app, 1, started_at=utcnow() - timedelta(days=40))
    seed(app, 1)
    old = (utcnow() - timedelta(days=40)).date()
    html = admin.get(f"/history/dashboard?since={old}&until={old}").text
    assert "<strong>2</strong> calls" in html and f"From {old} to {old}" in html
    assert "<strong>1</strong> calls" in admin.get("/history/dashboard").text
    for bad in (
        "since=2026-13-01",
        f"since={old}&until=2001-01-01",
        "since=1900-01-01",
    ):
        assert admin.get(f"/history/dashboard?{bad}").status_code == 400


def test_failed_key_attempts_are_counted(app, admin, key):  # noqa: F811
    client = app.test_client()
    for header in ("Bearer og_wrong", "Bearer og_wrong2", None):
        headers = {"Authorization": header} if header else {}
        assert client.get("/api/tags", headers=headers).status_code == 401
    html = admin.get("/history/dashboard").text
    assert stat(html, "failed-keys") == 3
    ok = client.get("/api/tags", headers={"Authorization": f"Bearer {key}"})
    assert ok.status_code == 200
    assert stat(admin.get("/history/dashboard").text, "failed-keys") == 3


def test_per_backend_bars_lead_to_their_calls(app, admin):  # noqa: F811
    seed(app, 2, backend="http://gpu-a:11434")
    seed(app, 1, backend="http://gpu-b:11434")
    html = admin.get("/history/dashboard").text
    assert "Calls per backend" in html
    link = re.search(
        r'<a href="(/history/\?[^"]*backend=http%3A%2F%2Fgpu-a[^"]*)"', html
    )[1]
    assert "2 calls." in admin.get(link.replace("&amp;", "&")).text
