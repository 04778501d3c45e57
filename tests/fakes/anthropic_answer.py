"""The answer side of the fake Ollama's ``/v1/messages``: a chat's answer as Ollama's
``anthropic/anthropic.go`` writes it, a whole Message (``ToMessagesResponse``) or named
SSE events (``StreamConverter``). The request side is ``fake_anthropic``."""

from __future__ import annotations

import json


def _dumps(obj) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def stop_reason(done_reason: str, has_tool_calls: bool) -> str:
    """Ollama's done reason as Anthropic's stop reason (``mapStopReason``)."""
    if has_tool_calls:
        return "tool_use"
    return {"stop": "end_turn", "length": "max_tokens", "": ""}.get(
        done_reason or "", "stop_sequence"
    )


def whole_message(mid: str, chat: dict) -> dict:
    """A whole chat answer as a Message (``ToMessagesResponse``)."""
    message = chat.get("message") or {}
    content = []
    if message.get("thinking"):
        content.append({"type": "thinking", "thinking": message["thinking"]})
    if message.get("content"):
        content.append({"type": "text", "text": message["content"]})
    for call in message.get("tool_calls") or []:
        function = call["function"]
        content.append(
            {
                "type": "tool_use",
                "id": call.get("id", ""),
                "name": function["name"],
                "input": function["arguments"],
            }
        )
    out = {"id": mid, "type": "message", "role": "assistant", "model": chat["model"]}
    out["content"] = content or None  # Go's nil slice
    reason = stop_reason(chat.get("done_reason"), bool(message.get("tool_calls")))
    if reason:
        out["stop_reason"] = reason
    out["usage"] = {
        "input_tokens": chat.get("prompt_eval_count", 0),
        "output_tokens": chat.get("eval_count", 0),
    }
    return out


def event(name: str, data: dict) -> bytes:
    """One named SSE event (``writeSSE``)."""
    return b"event: " + name.encode() + b"\ndata: " + _dumps(data) + b"\n\n"


class StreamConverter:
    """Chat chunks in, Anthropic events out (``anthropic.StreamConverter``)."""

    def __init__(self, mid: str, model: str, estimate: int, ping: bool = False):
        self.mid, self.model, self.estimate, self.ping = mid, model, estimate, ping
        self.first = True
        self.index = 0
        self.thinking_started = self.thinking_done = self.text_started = False
        self.tools_sent: set[str] = set()

    def _stop(self) -> bytes:
        return event(
            "content_block_stop", {"type": "content_block_stop", "index": self.index}
        )

    def _start(self, block: dict) -> bytes:
        data = {
            "type": "content_block_start",
            "index": self.index,
            "content_block": block,
        }
        return event("content_block_start", data)

    def _delta(self, delta: dict) -> bytes:
        data = {"type": "content_block_delta", "index": self.index, "delta": delta}
        return event("content_block_delta", data)

    def process(self, chunk: dict) -> list[bytes]:
        """The events of one chat chunk (``StreamConverter.Process``)."""
        out = []
        message = chunk.get("message") or {}
        if self.first:
            self.first = False
            usage = {"input_tokens": chunk.get("prompt_eval_count") or self.estimate}
            usage["output_tokens"] = 0
            start = {"id": self.mid, "type": "message", "role": "assistant"}
            start.update(model=self.model, content=[], usage=usage)
            out.append(
                event("message_start", {"type": "message_start", "message": start})
            )
            if self.ping:  # Anthropic's own API pings; Ollama does not
                out.append(event("ping", {"type": "ping"}))
        if message.get("thinking") and not self.thinking_done:
            if self.text_started:
                out.append(self._stop())
                self.index += 1
                self.text_started = False
            if not self.thinking_started:
                self.thinking_started = True
                out.append(self._start({"type": "thinking", "thinking": ""}))
            thinking = {"type": "thinking_delta", "thinking": message["thinking"]}
            out.append(self._delta(thinking))
        if message.get("content"):
            if self.thinking_started and not self.thinking_done:
                self.thinking_done = True
                out.append(self._stop())
                self.index += 1
            if not self.text_started:
                self.text_started = True
                out.append(self._start({"type": "text", "text": ""}))
            out.append(self._delta({"type": "text_delta", "text": message["content"]}))
        for call in message.get("tool_calls") or []:
            out += self._tool_use(call)
        if chunk.get("done"):
            if self.text_started or (self.thinking_started and not self.thinking_done):
                out.append(self._stop())
            reason = stop_reason(chunk.get("done_reason"), bool(self.tools_sent))
            delta = {"stop_reason": reason} if reason else {}
            usage = {
                "input_tokens": chunk.get("prompt_eval_count", 0),
                "output_tokens": chunk.get("eval_count", 0),
            }
            data = {"type": "message_delta", "delta": delta, "usage": usage}
            out.append(event("message_delta", data))
            out.append(event("message_stop", {"type": "message_stop"}))
        return out

    def _tool_use(self, call: dict) -> list[bytes]:
        """A whole tool call: its block's start, its input as one JSON delta, stop."""
        if call.get("id") in self.tools_sent:
            return []
        out = []
        if self.thinking_started and not self.thinking_done:
            self.thinking_done = True
            out.append(self._stop())
            self.index += 1
        if self.text_started:
            out.append(self._stop())
            self.index += 1
            self.text_started = False
        function = call["function"]
        block = {"type": "tool_use", "id": call.get("id", "")}
        block.update(name=function["name"], input={})
        out.append(self._start(block))
        partial = _dumps(function["arguments"]).decode()
        out.append(self._delta({"type": "input_json_delta", "partial_json": partial}))
        out.append(self._stop())
        self.tools_sent.add(call.get("id"))
        self.index += 1
        return out
