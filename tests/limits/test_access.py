"""Model allowlists and endpoint scopes on every endpoint family, through the app."""

from __future__ import annotations

import json

import pytest

from ollama_gate.limits.access import model_allowed
from tests.helpers.keys import add_key

CHAT = {"messages": [{"role": "user", "content": "Hi"}], "stream": False}


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.mark.parametrize(
    ("name", "patterns", "allowed"),
    [
        ("llama3.2", ("llama3*",), True),
        ("llama3.2:latest", ("llama3.2",), True),
        ("llama3.2:70b", ("llama3.2",), True),  # no tag in the pattern: every tag
        ("llama3.2:70b", ("llama3.2:latest",), False),
        ("qwen2.5:7b", ("qwen2.5:7b",), True),
        ("qwen2.5", ("qwen2.5:7b",), False),  # the request means qwen2.5:latest
        (
            "QWEN2.5:7B",
            ("qwen2.5:7b",),
            True,
        ),  # Ollama matches names case-insensitively
        ("registry.ollama.ai/library/qwen2.5:7b", ("qwen2.5:7b",), True),
        ("hf.co/bartowski/llama3-gguf:q4", ("llama3*",), False),
        ("hf.co/bartowski/llama3-gguf:q4", ("hf.co/bartowski/*",), True),
        ("myreg:5000/team/model", ("myreg:5000/team/model",), True),
        ("nomic-embed-text", ("llama3*", "nomic-*"), True),
        ("anything", (), True),  # no allowlist: every model
    ],
)
def test_patterns(name, patterns, allowed):
    assert model_allowed(name, patterns) is allowed


# Ollama reads a name as [host/][namespace/]model[:tag], filling registry.ollama.ai
# and library; "*" and "?" stay inside one part, so no pattern reaches another host
@pytest.mark.parametrize(
    ("name", "pattern", "allowed"),
    [
        ("llama3", "llama3*", True),
        ("llama3:8b", "llama3*", True),
        ("llama3.2:1b", "llama3*", True),
        ("library/llama3", "llama3*", True),  # the same model: library is the default
        ("registry.ollama.ai/library/llama3.2", "llama3*", True),
        ("llama3.evil.example/x/y", "llama3*", False),  # a pull from another host
        ("llama3.evil.example/x/y:latest", "llama3*", False),
        ("llama3/x", "llama3*", False),  # namespace llama3, another model
        ("someone/llama3", "llama3*", False),
        ("someone/llama3", "*llama3", False),
        ("evil.example/library/llama3", "llama3*", False),  # library on another host
        ("library/team/model", "team/*", False),  # host "library", not team's
        ("https://llama3.evil.example/x/y", "llama3*", False),
        ("llama3.evil.example\\x\\y", "llama3*", False),  # Windows: \ is /
        ("llama3.2", "*", True),  # "*": every model of the default library
        ("someone/model", "*", False),
        ("hf.co/a/b", "*", False),
        ("someone/model", "*/*", True),  # any namespace of the default registry
        ("hf.co/a/b", "*/*", False),
        ("hf.co/a/b", "*/*/*", True),  # any registry: say so in full
        ("https://hf.co/a/b:q4", "*/*/*", True),  # the scheme is no part of the name
        ("team/model", "team/*", True),  # namespace/*: that namespace's models
        ("team/model:7b", "team/*", True),
        ("team/sub/model", "team/*", False),  # host "team": another registry
        ("evil.example/team/model", "team/*", False),
        ("hf.co/bartowski/llama3-gguf:q4", "hf.co/bartowski/*", True),
        ("hf.co/bartowski/x/y", "hf.co/bartowski/*", False),
        ("hf.co.evil.example/bartowski/x", "hf.co/bartowski/*", False),
        ("hf.co.evil.example/bartowski/x", "hf.co*/bartowski/*", True),  # as written
        ("myreg:5000/team/model:v1", "myreg:5000/team/*", True),
        ("myreg:5000/team/model:v1", "myreg:5000/team/*:v?", True),
        ("myreg:5000/team/model:v10", "myreg:5000/team/*:v?", False),
        ("qwen2.5:7b", "qwen2.5:*", True),
        ("qwen2.5:7b", "qwen*:7b", True),
        ("qwen2.5-evil:7b", "qwen2.5:*", False),
        ("QWEN2.5:7B", "Qwen*:7b", True),
    ],
)
def test_star_stays_within_one_part(name, pattern, allowed):
    assert model_allowed(name, (pattern,)) is allowed


def test_manage_key_cannot_pull_from_another_host(app, client, fake):
    key = add_key(app, model_allowlist="llama3*", scopes="manage")
    for model in ("llama3.evil.example/x/y", "https://llama3.evil.example/x/y:1"):
        resp = client.post(
            "/api/pull", json={"model": model, "stream": False}, headers=auth(key)
        )
        assert resp.status_code == 403, model
    assert not fake.calls()
    resp = client.post(
        "/api/pull", json={"model": "llama3.2:1b", "stream": False}, headers=auth(key)
    )
    assert resp.status_code == 200 and fake.calls()[-1].path == "/api/pull"


# (method, path, body) of every model-naming endpoint, with the model in ``{m}``
MODEL_CALLS = [
    ("POST", "/api/generate", {"model": "{m}", "prompt": "Hi", "stream": False}),
    ("POST", "/api/generate", {"model": "{m}", "prompt": "Hi"}),  # streamed
    ("POST", "/api/chat", {"model": "{m}", **CHAT}),
    ("POST", "/api/embed", {"model": "{m}", "input": "Hi"}),
    ("POST", "/api/embeddings", {"model": "{m}", "prompt": "Hi"}),
    ("POST", "/api/show", {"model": "{m}"}),
    ("POST", "/api/show", {"name": "{m}"}),  # the deprecated field
    ("POST", "/v1/chat/completions", {"model": "{m}", **CHAT}),
    ("POST", "/v1/chat/completions", {"model": "{m}", **CHAT, "stream": True}),
    ("POST", "/v1/completions", {"model": "{m}", "prompt": "Hi"}),
    ("POST", "/v1/embeddings", {"model": "{m}", "input": "Hi"}),
    ("POST", "/v1/responses", {"model": "{m}", "input": "Hi"}),
    ("GET", "/v1/models/{m}", None),
]


def _send(client, key, method, path, body, model):
    path = path.replace("{m}", model)
    data = json.loads(json.dumps(body).replace("{m}", model)) if body else None
    return client.open(path, method=method, json=data, headers=auth(key))


@pytest.mark.parametrize(("method", "path", "body"), MODEL_CALLS)
def test_allowlist_on_every_endpoint(app, client, fake, method, path, body):
    key = add_key(app, model_allowlist="llama3*, nomic-embed-text")
    model = "nomic-embed-text" if "embed" in path else "llama3.2"
    allowed = _send(client, key, method, path, body, model)
    assert allowed.status_code == 200, allowed.get_data()
    before = len(fake.requests)
    refused = _send(client, key, method, path, body, "qwen2.5:7b")
    assert refused.status_code == 403
    err = refused.get_json()["error"]
    if path.startswith("/v1/"):
        assert err["type"] == "permission_error"
        assert "qwen2.5:7b" in err["message"]
    else:
        assert "may not use model 'qwen2.5:7b'" in err
    assert len(fake.requests) == before  # refused before the upstream


def test_key_without_allowlist_reaches_every_model(client, key):
    resp = client.post(
        "/api/chat", json={"model": "qwen2.5:7b", **CHAT}, headers=auth(key)
    )
    assert resp.status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {"MODEL": "qwen2.5:7b", "prompt": "Hi", "stream": False},  # Go matches any case
        {"model": "llama3.2", "Model": "qwen2.5:7b", "prompt": "Hi", "stream": False},
    ],
)
def test_model_field_in_another_case_is_checked(app, client, body):
    key = add_key(app, model_allowlist="llama3*")
    raw = json.dumps(body).encode()  # in this order: Go runs the last spelling
    resp = client.post(
        "/api/generate",
        data=raw,
        headers={**auth(key), "Content-Type": "application/json"},
    )
    assert resp.status_code == 403


@pytest.mark.parametrize(
    "raw, status",
    [
        # what Ollama's decoder reads (leading space, trailing data) is read and checked
        (b' {"model": "qwen2.5:7b", "prompt": "Hi", "stream": false}', 403),
        (b'{"model": "qwen2.5:7b", "prompt": "Hi"} trailing', 403),
        # what nobody can read is refused rather than let through unchecked
        (b'{"model": "qwen2.5:7b", "prompt": ', 400),
    ],
)
def test_bodies_are_checked_as_ollama_reads_them(app, client, fake, raw, status):
    key = add_key(app, model_allowlist="llama3*")
    resp = client.post(
        "/api/generate",
        data=raw,
        headers={**auth(key), "Content-Type": "application/json"},
    )
    assert resp.status_code == status
    assert not fake.calls()


def test_copy_and_create_check_every_model_they_name(app, client, fake):
    key = add_key(app, model_allowlist="llama3*", scopes="manage")
    ok = client.post(
        "/api/copy",
        json={"source": "llama3.2", "destination": "llama3-mine"},
        headers=auth(key),
    )
    assert ok.status_code == 200
    for body in (
        {"source": "qwen2.5:7b", "destination": "llama3-x"},
        {"source": "llama3.2", "destination": "qwen-copy"},
    ):
        assert client.post("/api/copy", json=body, headers=auth(key)).status_code == 403
    create = {"model": "llama3-new", "from": "qwen2.5:7b", "stream": False}
    assert client.post("/api/create", json=create, headers=auth(key)).status_code == 403


@pytest.mark.parametrize(
    "body",
    [
        {"\u017fource": "qwen2.5:7b", "destination": "llama3-x"},  # long s
        {"source": "llama3.2", "de\u017ftination": "qwen-copy"},
        {"SOURCE": "qwen2.5:7b", "destination": "llama3-x"},
    ],
)
def test_copy_field_names_fold_as_go_folds_them(app, client, fake, body):
    """Go's decoder reads "\u017fource" as "source": the allowlist must see it too."""
    key = add_key(app, model_allowlist="llama3*", scopes="manage")
    raw = json.dumps(body).encode()
    resp = client.post(
        "/api/copy", data=raw, headers={**auth(key), "Content-Type": "application/json"}
    )
    assert resp.status_code == 403
    assert not fake.calls()


def test_allowlist_reads_names_as_go_does_not_as_casefold(app, client, fake):
    """Go folds names simply: "deﬆination" (a ligature) and "deßtination" set
    nothing, so the copy runs as named; casefold read them as "destination" and
    refused a call the allowlist allows. The long s is "s" to both: still read, the
    last spelling winning."""
    key = add_key(app, model_allowlist="llama3*", scopes="manage")

    def copy(*pairs):  # the body's names in this order (json= would sort them)
        raw = json.dumps(dict(pairs)).encode()
        headers = {**auth(key), "Content-Type": "application/json"}
        return client.post("/api/copy", data=raw, headers=headers).status_code

    for planted in ("de\ufb06ination", "de\u00dftination"):
        pairs = (("source", "llama3.2"), ("destination", "llama3-c"), (planted, "q"))
        assert copy(*pairs) == 200
        assert fake.calls()[-1].json["destination"] == "llama3-c"
    long_s = "de\u017ftination"
    assert (
        copy(("source", "llama3.2"), ("destination", "q"), (long_s, "llama3-z")) == 200
    )
    assert (
        copy(("source", "llama3.2"), (long_s, "llama3-z"), ("destination", "q")) == 403
    )


def _names(resp, field="models", name="name"):
    assert resp.status_code == 200, resp.get_data()
    return [entry[name] for entry in (resp.get_json()[field] or [])]


def test_model_lists_show_only_allowed_models(app, client, fake):
    key = add_key(app, model_allowlist="qwen2.5:7b,nomic-*")
    fake.loaded[:] = ["llama3.2:latest", "qwen2.5:7b"]
    assert _names(client.get("/api/tags", headers=auth(key))) == [
        "qwen2.5:7b",
        "nomic-embed-text:latest",
    ]
    assert _names(client.get("/api/ps", headers=auth(key))) == ["qwen2.5:7b"]
    assert _names(client.get("/v1/models", headers=auth(key)), "data", "id") == [
        "qwen2.5:7b",
        "nomic-embed-text:latest",
    ]
    everyone = add_key(app, "bob")
    assert len(_names(client.get("/api/tags", headers=auth(everyone)))) == 3
    assert len(_names(client.get("/api/ps", headers=auth(everyone)))) == 2


def test_model_list_with_no_allowed_model(app, client, fake):
    key = add_key(app, model_allowlist="mistral*")
    assert _names(client.get("/api/tags", headers=auth(key))) == []
    fake.models[:] = []  # Ollama then sends "data": null on /v1/models
    assert client.get("/v1/models", headers=auth(key)).get_json()["data"] == []


def test_model_lists_pass_errors_unchanged(app, client, fake):
    key = add_key(app, model_allowlist="llama3*")
    fake.next_status = (500, {"error": "boom"})
    resp = client.get("/api/tags", headers=auth(key))
    assert resp.status_code == 500 and resp.get_json() == {"error": "boom"}


MANAGE_CALLS = [
    ("POST", "/api/pull", {"model": "llama3.2", "stream": False}),
    ("POST", "/api/push", {"model": "llama3.2", "stream": False}),
    ("POST", "/api/create", {"model": "llama3-x", "from": "llama3.2", "stream": False}),
    ("POST", "/api/copy", {"source": "llama3.2", "destination": "llama3-copy"}),
    ("DELETE", "/api/delete", {"model": "llama3.2"}),
    ("POST", "/api/signout", None),
    ("DELETE", "/api/user/keys/abc", None),
]


@pytest.mark.parametrize(("method", "path", "body"), MANAGE_CALLS)
def test_management_needs_the_manage_scope(app, client, fake, method, path, body):
    plain = add_key(app)
    refused = client.open(path, method=method, json=body, headers=auth(plain))
    assert refused.status_code == 403
    assert "'manage' scope" in refused.get_json()["error"]
    assert not fake.calls()
    manager = add_key(app, "ops", scopes="manage")
    resp = client.open(path, method=method, json=body, headers=auth(manager))
    assert resp.status_code != 403
    assert fake.calls() and fake.calls()[-1].method == method


@pytest.mark.parametrize("method", ["HEAD", "POST"])
def test_blobs_need_the_manage_scope(app, client, fake, method):
    digest = "sha256:" + "0" * 64
    plain = add_key(app)
    resp = client.open(
        f"/api/blobs/{digest}", method=method, data=b"x", headers=auth(plain)
    )
    assert resp.status_code == 403
    manager = add_key(app, "ops", scopes="manage")
    resp = client.open(
        f"/api/blobs/{digest}", method=method, data=b"x", headers=auth(manager)
    )
    assert resp.status_code in (200, 201, 400, 404)
    assert fake.requests


@pytest.mark.parametrize("path", ["/api//pull", "/api/pull/"])
def test_scope_check_survives_odd_paths(app, client, fake, path):
    resp = client.post(path, json={"model": "llama3.2"}, headers=auth(add_key(app)))
    assert resp.status_code in (403, 308)  # werkzeug redirects // to the checked path
    assert not fake.calls()


@pytest.mark.parametrize(
    "path",
    [
        "/api/tags/../pull",
        "/api/./pull",
        "/api/tags/%2e%2e/pull",
        "/v1/models/../../api/pull",
        "/api/show/..",
    ],
)
def test_dot_segments_never_reach_the_upstream(app, client, fake, path):
    """A resolver upstream (nginx) would turn these into an endpoint never checked."""
    resp = client.post(
        path,
        json={"model": "llama3.2"},
        headers=auth(add_key(app)),
        environ_overrides={"RAW_URI": path},
    )
    assert resp.status_code == 400 and "segments" in resp.get_data(as_text=True)
    assert not fake.calls()


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/tags"),
        ("GET", "/api/ps"),
        ("GET", "/v1/models"),
        ("GET", "/api/version"),
        ("POST", "/api/chat"),
    ],
)
def test_default_key_reads_lists_and_runs_models(client, key, method, path):
    body = {"model": "llama3.2", **CHAT} if method == "POST" else None
    assert (
        client.open(path, method=method, json=body, headers=auth(key)).status_code
        == 200
    )


def test_ollama_and_openai_clients_see_the_filtered_lists(gateway, fake):
    import ollama
    import openai

    key = gateway.key(model_allowlist="llama3*")
    listed = ollama.Client(host=gateway.url, headers=auth(key)).list()
    assert [m.model for m in listed.models] == ["llama3.2:latest"]
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0)
    assert [m.id for m in client.models.list()] == ["llama3.2:latest"]
    with pytest.raises(openai.PermissionDeniedError):
        client.models.retrieve("qwen2.5:7b")
    with pytest.raises(ollama.ResponseError) as info:
        ollama.Client(host=gateway.url, headers=auth(key)).pull("llama3.2")
    assert info.value.status_code == 403
