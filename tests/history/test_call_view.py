"""A call's page: human units, the request folded, links to its user and key, and
previous/next within the list it was opened from."""

from __future__ import annotations

from ollama_gate.history.units import ms, rate, stats_facts
from tests.history.test_views import admin, seed  # noqa: F401  (admin is a fixture)


def test_units_are_human():
    stats = {
        "total_duration": 85_580_245,
        "load_duration": 1_234_567,
        "prompt_eval_duration": 4_000_000,
        "eval_duration": 80_000_000,
        "prompt_eval_count": 2,
        "eval_count": 8,
    }
    facts = dict(stats_facts(stats))
    assert facts["Total (Ollama)"] == "85.6 ms" and facts["Model load"] == "1.2 ms"
    assert facts["Generation speed"] == "100.0 tokens/s"
    assert facts["Prompt speed"] == "500.0 tokens/s"
    assert ms(12_345_000_000) == "12.35 s"
    assert rate(5, 0) is None and rate("x", 1) is None
    assert stats_facts(None) == [] and stats_facts({"eval_duration": "odd"}) == []


def test_call_page_links_and_steps_through_its_list(app, admin):  # noqa: F811
    newest, middle, oldest = seed(
        app, 3, user_id=7, key_prefix="og_abcdefgh", request={"model": "llama3.2"}
    )
    seed(app, 1, user_name="bob")  # another user's call, newer than all
    html = admin.get(f"/history/{middle}?user=alice").text
    assert f'rel="prev" href="/history/{newest}?user=alice"' in html
    assert f'rel="next" href="/history/{oldest}?user=alice"' in html
    assert 'href="/admin/users/7"' in html
    assert 'href="/admin/keys/prefix/og_abcdefgh"' in html
    assert '<details class="raw">' in html
    first = admin.get(f"/history/{newest}?user=alice").text
    assert 'rel="prev"' not in first  # bob's newer call is not in alice's list
    assert 'rel="prev"' in admin.get(f"/history/{newest}").text
    assert admin.get(f"/history/{newest}?status=bogus").status_code == 400
