"""OpenAI's /v1/responses, whole or as its typed SSE events."""

from __future__ import annotations

import random
import time

from .data import (
    SSE_CT,
    _dumps,
    expected_text,
    token_text,
)
from .gojson import (
    _word_count,
)
from .handler import (
    _BadRequest,
)


class ResponsesRoutes:
    """The /v1/responses route (a mixin of the request handler)."""

    def h_v1_responses(self):
        req = self._json_body()
        name, m = self._v1_model(req)
        self.fake._touch_loaded(m["name"], None)
        n, reason = self._v1_tokens(req, "max_output_tokens")
        inp = req.get("input")
        if isinstance(inp, str):
            ptoks = _word_count(inp)
        elif isinstance(inp, list):
            ptoks = 0
            for item in inp:
                if isinstance(item, dict):
                    c = item.get("content")
                    if isinstance(c, str):
                        ptoks += _word_count(c)
                    elif isinstance(c, list):
                        ptoks += sum(
                            _word_count(p.get("text")) for p in c if isinstance(p, dict)
                        )
        else:
            raise _BadRequest(400, "invalid input")
        ptoks = max(ptoks, 1)
        num = random.randint(0, 998)
        rid, mid = f"resp_{num}", f"msg_{num}"
        created = int(time.time())
        text = expected_text(n)
        usage = {
            "input_tokens": ptoks,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": n,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": ptoks + n,
        }
        status = "completed" if reason == "stop" else "incomplete"

        def resp(st, output, with_usage):
            r = {
                "id": rid,
                "object": "response",
                "created_at": created,
                "status": st,
                "error": None,
                "incomplete_details": {"reason": "max_output_tokens"}
                if st == "incomplete"
                else None,
                "instructions": req.get("instructions"),
                "max_output_tokens": req.get("max_output_tokens"),
                "model": name,
                "output": output,
                "parallel_tool_calls": True,
                "temperature": req.get("temperature", 1.0),
                "tool_choice": "auto",
                "tools": [],
                "top_p": req.get("top_p", 1.0),
                "usage": usage if with_usage else None,
            }
            return r

        def item(st, content):
            return {
                "type": "message",
                "id": mid,
                "status": st,
                "role": "assistant",
                "content": content,
            }

        def part(t):
            return {"type": "output_text", "text": t, "annotations": [], "logprobs": []}

        if not req.get("stream"):
            self._nonstream_pacing(n)
            self._send_json(200, resp(status, [item("completed", [part(text)])], True))
            return

        def events():
            seq = 0

            def ev(etype, **fields):
                nonlocal seq
                o = {"type": etype, "sequence_number": seq}
                o.update(fields)
                seq += 1
                return b"event: " + etype.encode() + b"\ndata: " + _dumps(o) + b"\n\n"

            yield ev("response.created", response=resp("in_progress", [], False))
            yield ev("response.in_progress", response=resp("in_progress", [], False))
            yield ev(
                "response.output_item.added",
                output_index=0,
                item=item("in_progress", []),
            )
            yield ev(
                "response.content_part.added",
                item_id=mid,
                output_index=0,
                content_index=0,
                part=part(""),
            )
            for i in range(n):
                yield ev(
                    "response.output_text.delta",
                    item_id=mid,
                    output_index=0,
                    content_index=0,
                    delta=token_text(i),
                    logprobs=[],
                )
            yield ev(
                "response.output_text.done",
                item_id=mid,
                output_index=0,
                content_index=0,
                text=text,
                logprobs=[],
            )
            yield ev(
                "response.content_part.done",
                item_id=mid,
                output_index=0,
                content_index=0,
                part=part(text),
            )
            yield ev(
                "response.output_item.done",
                output_index=0,
                item=item("completed", [part(text)]),
            )
            done_type = (
                "response.completed" if status == "completed" else "response.incomplete"
            )
            yield ev(
                done_type,
                response=resp(status, [item("completed", [part(text)])], True),
            )

        self._stream(SSE_CT, events())
