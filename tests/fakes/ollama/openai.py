"""The OpenAI-compatible /v1 endpoints: chat, completions, embeddings, models."""

from __future__ import annotations

import base64
import random
import struct
import time
import urllib.parse

from .data import (
    DEFAULT_TOKENS,
    _unix_of,
    embedding_for,
    expected_text,
    token_text,
)
from .gojson import (
    _word_count,
)
from .handler import (
    _BadRequest,
)


class OpenAIRoutes:
    """The /v1 routes but /v1/responses (a mixin of the request handler)."""

    def _v1_model(self, req):
        name = req.get("model")
        if not isinstance(name, str) or not name:
            raise _BadRequest(400, "model is required")
        m = self._lookup(name)
        if not m:
            raise _BadRequest(404, f"model '{name}' not found")
        return name, m

    @staticmethod
    def _v1_tokens(req, key="max_tokens"):
        mt = req.get(key)
        if isinstance(mt, int) and not isinstance(mt, bool) and mt > 0:
            return mt, "length"
        return DEFAULT_TOKENS, "stop"

    def h_v1_chat(self):
        req = self._json_body()
        messages = req.get("messages")
        if not isinstance(messages, list) or not messages:
            raise _BadRequest(400, "[] is too short - 'messages'")
        name, m = self._v1_model(req)
        self.fake._touch_loaded(m["name"], None)
        n, reason = self._v1_tokens(req)
        ptoks = 0
        for msg in messages:
            c = msg.get("content") if isinstance(msg, dict) else None
            if isinstance(c, list):
                ptoks += sum(
                    _word_count(p.get("text")) for p in c if isinstance(p, dict)
                )
            else:
                ptoks += _word_count(c)
        ptoks = max(ptoks, 1)
        usage = {
            "prompt_tokens": ptoks,
            "completion_tokens": n,
            "total_tokens": ptoks + n,
        }
        cid = f"chatcmpl-{random.randint(0, 998)}"
        created = int(time.time())
        base = {
            "id": cid,
            "object": "chat.completion.chunk",
            "created": created,
            "model": name,
            "system_fingerprint": "fp_ollama",
        }
        if not req.get("stream"):
            self._nonstream_pacing(n)
            self._send_json(
                200,
                {
                    "id": cid,
                    "object": "chat.completion",
                    "created": created,
                    "model": name,
                    "system_fingerprint": "fp_ollama",
                    "choices": [
                        {
                            "index": 0,
                            "message": {
                                "role": "assistant",
                                "content": expected_text(n),
                            },
                            "finish_reason": reason,
                        }
                    ],
                    "usage": usage,
                },
            )
            return
        include_usage = bool((req.get("stream_options") or {}).get("include_usage"))

        def objs():
            for i in range(n):
                yield dict(
                    base,
                    choices=[
                        {
                            "index": 0,
                            "delta": {"role": "assistant", "content": token_text(i)},
                            "finish_reason": None,
                        }
                    ],
                )
            yield dict(
                base, choices=[{"index": 0, "delta": {}, "finish_reason": reason}]
            )
            if include_usage:
                yield dict(base, choices=[], usage=usage)

        self._sse(objs())

    def h_v1_completions(self):
        req = self._json_body()
        prompt = req.get("prompt")
        if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str):
            prompt = prompt[0]
        if not isinstance(prompt, str):
            raise _BadRequest(
                400, "invalid type for 'prompt' field: only string is supported"
            )
        name, m = self._v1_model(req)
        self.fake._touch_loaded(m["name"], None)
        n, reason = self._v1_tokens(req)
        ptoks = max(_word_count(prompt), 1)
        usage = {
            "prompt_tokens": ptoks,
            "completion_tokens": n,
            "total_tokens": ptoks + n,
        }
        cid = f"cmpl-{random.randint(0, 998)}"
        created = int(time.time())
        base = {
            "id": cid,
            "object": "text_completion",
            "created": created,
            "model": name,
            "system_fingerprint": "fp_ollama",
        }
        if not req.get("stream"):
            self._nonstream_pacing(n)
            self._send_json(
                200,
                dict(
                    base,
                    choices=[
                        {"text": expected_text(n), "index": 0, "finish_reason": reason}
                    ],
                    usage=usage,
                ),
            )
            return
        include_usage = bool((req.get("stream_options") or {}).get("include_usage"))
        zero = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}

        def objs():
            for i in range(n):
                o = dict(
                    base,
                    choices=[
                        {"text": token_text(i), "index": 0, "finish_reason": None}
                    ],
                )
                if include_usage:
                    o["usage"] = dict(zero)
                yield o
            o = dict(base, choices=[{"text": "", "index": 0, "finish_reason": reason}])
            if include_usage:
                o["usage"] = dict(zero)
            yield o
            if include_usage:
                yield dict(base, choices=[], usage=usage)

        self._sse(objs())

    def h_v1_embeddings(self):
        req = self._json_body()
        inp = req.get("input")
        if isinstance(inp, str):
            inputs = [inp]
        elif isinstance(inp, list) and inp and all(isinstance(x, str) for x in inp):
            inputs = inp
        elif inp is None or inp == []:
            raise _BadRequest(400, "invalid input")
        else:
            raise _BadRequest(400, "invalid input type")
        fmt = req.get("encoding_format")
        if fmt not in (None, "", "float", "base64"):
            raise _BadRequest(
                400, f"invalid encoding format: {fmt!r}; must be 'float' or 'base64'"
            )
        name, m = self._v1_model(req)
        self.fake._touch_loaded(m["name"], None)
        data = []
        for i, x in enumerate(inputs):
            vec = embedding_for(x)
            if fmt == "base64":
                emb = base64.b64encode(struct.pack(f"<{len(vec)}f", *vec)).decode(
                    "ascii"
                )
            else:
                emb = vec
            data.append({"object": "embedding", "embedding": emb, "index": i})
        ptoks = sum(max(_word_count(x), 1) for x in inputs)
        self._send_json(
            200,
            {
                "object": "list",
                "data": data,
                "model": name,
                "usage": {"prompt_tokens": ptoks, "total_tokens": ptoks},
            },
        )

    @staticmethod
    def _v1_model_obj(m):
        name = m["name"]
        owner = name.split("/")[-2] if "/" in name else "library"
        return {
            "id": name,
            "object": "model",
            "created": _unix_of(m.get("modified_at", "")),
            "owned_by": owner,
        }

    def h_v1_models(self):
        with self.fake._lock:
            models = [self._v1_model_obj(m) for m in self.fake.models]
        self._send_json(200, {"object": "list", "data": models or None})

    def h_v1_model(self):
        seg = self.route_path[len("/v1/models/") :]
        name = urllib.parse.unquote(seg)
        m = self._lookup(name)
        if not m:
            raise _BadRequest(404, f"model '{name}' not found")
        obj = self._v1_model_obj(m)
        obj["id"] = name
        self._send_json(200, obj)
