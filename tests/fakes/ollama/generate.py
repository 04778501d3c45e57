"""Native answers: /api/generate, /api/chat (streamed or whole), /api/embed."""

from __future__ import annotations

from tests.fakes import anthropic as fake_anthropic
from tests.fakes import loads

from .data import (
    DEFAULT_TOKENS,
    THINK_WORDS,
    _now_rfc3339,
    embedding_for,
    expected_text,
    think_text,
    token_text,
)
from .gojson import (
    _word_count,
)
from .handler import (
    _BadRequest,
)


class GenerateRoutes:
    """Routes that run a model (a mixin of the request handler)."""

    def _gen_common(self, req, kind):
        fake = self.fake
        name = req.get("model")
        if not isinstance(name, str) or not name:
            if kind == "chat":
                raise _BadRequest(400, "model is required")
            raise _BadRequest(404, f"model '{name or ''}' not found")
        m = self._lookup(name)
        if not m:
            raise _BadRequest(404, f"model '{name}' not found")
        caps = m.get("capabilities", [])
        if "completion" not in caps:
            raise _BadRequest(
                400,
                f'"{name}" does not support {"chat" if kind == "chat" else "generate"}',
            )
        think = req.get("think")
        if think not in (None, False) and "thinking" not in caps:
            raise _BadRequest(400, f'"{name}" does not support thinking')
        if kind == "chat" and req.get("tools") and "tools" not in caps:
            raise _BadRequest(
                400, f"registry.ollama.ai/library/{name} does not support tools"
            )
        opts = req.get("options") or {}
        if not isinstance(opts, dict):
            raise _BadRequest(
                400,
                "json: cannot unmarshal into Go struct field .options of type "
                "map[string]interface {}",
            )
        num_predict = opts.get("num_predict")
        if (
            isinstance(num_predict, (int, float))
            and not isinstance(num_predict, bool)
            and num_predict > 0
        ):
            n, reason = int(num_predict), "length"
        else:
            n, reason = DEFAULT_TOKENS, "stop"
        n_think = len(THINK_WORDS) if think not in (None, False) else 0
        fake._touch_loaded(m["name"], req.get("keep_alive"))
        return name, n, reason, n_think

    @staticmethod
    def _metrics(prompt_tokens, n):
        load = 1_234_567
        pe = 2_000_000 * max(prompt_tokens, 1)
        ev = 10_000_000 * n
        return {
            "total_duration": load + pe + ev + 345_678,
            "load_duration": load,
            "prompt_eval_count": prompt_tokens,
            "prompt_eval_duration": pe,
            "eval_count": n,
            "eval_duration": ev,
        }

    def _nonstream_pacing(self, total_chunks):
        fake = self.fake
        if fake.chunk_delay and total_chunks > 1:
            self._sleep(fake.chunk_delay * (total_chunks - 1))

    def h_generate(self):
        req = self._json_body()
        if req.get("raw") and (
            req.get("system") or req.get("template") or req.get("context")
        ):
            raise _BadRequest(
                400, "raw mode does not support template, system, or context"
            )
        name, n, reason, n_think = self._gen_common(req, "generate")
        prompt = req.get("prompt") or ""
        if not prompt and not req.get("images"):
            ka = req.get("keep_alive")
            if ka == 0 or ka == "0" or ka == "0s":
                self._send_json(
                    200,
                    {
                        "model": name,
                        "created_at": _now_rfc3339(),
                        "response": "",
                        "done": True,
                        "done_reason": "unload",
                    },
                )
            else:
                self._send_json(
                    200,
                    {
                        "model": name,
                        "created_at": _now_rfc3339(),
                        "response": "",
                        "done": True,
                        "done_reason": "load",
                    },
                )
            return
        ptoks = max(_word_count(prompt) + _word_count(req.get("system")), 1)
        final_extra = {"done_reason": reason}
        if not req.get("raw"):
            final_extra["context"] = list(range(1, ptoks + n + 1))
        final_extra.update(self._metrics(ptoks, n))
        if req.get("stream") is False:
            self._nonstream_pacing(n + n_think)
            out = {
                "model": name,
                "created_at": _now_rfc3339(),
                "response": expected_text(n),
            }
            if n_think:
                out["thinking"] = "".join(think_text(i) for i in range(n_think))
            out["done"] = True
            out.update(final_extra)
            self._send_json(200, out)
            return

        def objs():
            for i in range(n_think):
                yield {
                    "model": name,
                    "created_at": _now_rfc3339(),
                    "response": "",
                    "thinking": think_text(i),
                    "done": False,
                }
            for i in range(n):
                yield {
                    "model": name,
                    "created_at": _now_rfc3339(),
                    "response": token_text(i),
                    "done": False,
                }
            final = {
                "model": name,
                "created_at": _now_rfc3339(),
                "response": "",
                "done": True,
            }
            final.update(final_extra)
            yield final

        self._ndjson(objs())

    def h_chat(self):
        answer = self._chat_answer(self._json_body())
        if isinstance(answer, dict):
            self._send_json(200, answer)
        else:
            self._ndjson(answer)

    def _chat_answer(self, req):
        """A chat's whole answer (a dict) or its stream (an iterator of dicts)."""
        name, n, reason, n_think = self._gen_common(req, "chat")
        messages = req.get("messages") or []
        if not isinstance(messages, list):
            raise _BadRequest(
                400,
                "json: cannot unmarshal into Go struct field ChatRequest.messages "
                "of type []api.Message",
            )
        if not messages:
            ka = req.get("keep_alive")
            reason0 = "unload" if ka in (0, "0", "0s") else "load"
            return {
                "model": name,
                "created_at": _now_rfc3339(),
                "message": {"role": "assistant", "content": ""},
                "done": True,
                "done_reason": reason0,
            }
        ptoks = max(
            sum(_word_count(m.get("content")) for m in messages if isinstance(m, dict)),
            1,
        )
        metrics = self._metrics(ptoks, n)
        calls = fake_anthropic.tool_calls(req)  # a tool to call: no text
        if req.get("stream") is False:
            self._nonstream_pacing(n + n_think)
            msg = {"role": "assistant", "content": "" if calls else expected_text(n)}
            if n_think:
                msg["thinking"] = "".join(think_text(i) for i in range(n_think))
            if calls:
                msg["tool_calls"] = calls
            out = {
                "model": name,
                "created_at": _now_rfc3339(),
                "message": msg,
                "done": True,
                "done_reason": reason,
            }
            out.update(metrics)
            return out

        def objs():
            for i in range(n_think):
                yield {
                    "model": name,
                    "created_at": _now_rfc3339(),
                    "message": {
                        "role": "assistant",
                        "content": "",
                        "thinking": think_text(i),
                    },
                    "done": False,
                }
            for i in range(0 if calls else n):
                yield {
                    "model": name,
                    "created_at": _now_rfc3339(),
                    "message": {"role": "assistant", "content": token_text(i)},
                    "done": False,
                }
            if calls:
                yield {
                    "model": name,
                    "created_at": _now_rfc3339(),
                    "message": {
                        "role": "assistant",
                        "content": "",
                        "tool_calls": calls,
                    },
                    "done": False,
                }
            final = {
                "model": name,
                "created_at": _now_rfc3339(),
                "message": {"role": "assistant", "content": ""},
                "done": True,
                "done_reason": reason,
            }
            final.update(metrics)
            yield final

        return objs()

    # embeddings ------------------------------------------------------------

    def h_embed(self):
        req = self._json_body()
        name = req.get("model")
        if not isinstance(name, str) or not name:
            raise _BadRequest(404, f"model '{name or ''}' not found")
        m = self._lookup(name)
        if not m:
            raise _BadRequest(404, f"model '{name}' not found")
        inp = req.get("input")
        if inp is None or inp == "":
            inputs = []
        elif isinstance(inp, str):
            inputs = [inp]
        elif isinstance(inp, list) and all(isinstance(x, str) for x in inp):
            inputs = inp
        else:
            raise _BadRequest(400, "invalid input type")
        self.fake._touch_loaded(m["name"], req.get("keep_alive"))
        ptoks = sum(max(_word_count(x), 1) for x in inputs)
        self._send_json(
            200,
            {
                "model": name,
                "embeddings": [embedding_for(x) for x in inputs],
                "total_duration": 14_143_917,
                "load_duration": 1_019_500,
                "prompt_eval_count": ptoks,
            },
        )

    def h_embeddings(self):
        req = self._json_body()
        name = req.get("model")
        if not isinstance(name, str) or not name:
            raise _BadRequest(400, "model is required")
        m = self._lookup(name)
        if not m:
            raise _BadRequest(404, f"model '{name}' not found")
        prompt = req.get("prompt") or ""
        if not isinstance(prompt, str):
            raise _BadRequest(
                400,
                "json: cannot unmarshal into Go struct field EmbeddingRequest.prompt "
                "of type string",
            )
        self.fake._touch_loaded(m["name"], req.get("keep_alive"))
        self._send_json(200, {"embedding": embedding_for(prompt) if prompt else []})

    # model management ------------------------------------------------------


loads.install(GenerateRoutes)  # a call's own load in its load_duration
