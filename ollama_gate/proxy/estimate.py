"""Token counts for an answer whose final statistics never reached the summary.

A client that hangs up a stream before its last line, or an answer too large to keep
whole, would otherwise cost no tokens at all: a way to dodge every token quota. The
counts come, in order of preference, from the final line in the kept tail of a
truncated answer, then from what was relayed: Ollama sends one token per chunk, so
each chunk of text is a token, and the prompt is taken at four characters a token
(the usual rule of thumb for Llama-family tokenizers). Estimates are marked
``estimated`` in the statistics.
"""

from __future__ import annotations

import math
import re
from typing import Any

from ..call import Call
from ..gofields import fold_name, same_field

GENERATES = frozenset(
    {
        "/api/generate",
        "/api/chat",
        "/v1/chat/completions",
        "/v1/completions",
        "/v1/responses",
        "/v1/messages",
    }
)
CHARS_PER_TOKEN = 4
# Fields of a request that are not prompt text (images are base64, not tokens).
NOT_PROMPT = frozenset(
    fold_name(n) for n in ("model", "images", "keep_alive", "options", "stream")
)  # as Go folds them: "IMAGES" is no prompt either

_COUNTS = {
    "prompt_tokens": re.compile(
        rb'"(?:prompt_eval_count|prompt_tokens|input_tokens)":(\d+)'
    ),
    "completion_tokens": re.compile(
        rb'"(?:eval_count|completion_tokens|output_tokens)":(\d+)'
    ),
}


def uncounted(call: Call, text: list, thinking: list, stats: dict) -> None:
    """Fill in ``stats``' token counts for an answer that did not give them."""
    if call.truncated and _from_tail(call.tail, stats):
        return
    if call.endpoint not in GENERATES or (call.status or 0) >= 400:
        return
    relayed = sum(1 for piece in text if piece) + sum(1 for piece in thinking if piece)
    relayed += call.dropped_lines // _LINES_PER_TOKEN.get(_framing(call), 1)
    if not relayed and not call.streamed:
        return  # a whole answer without statistics: nothing was generated
    stats["prompt_tokens"] = prompt_tokens(call.payload)
    stats["completion_tokens"] = relayed
    stats["estimated"] = True


# line ends per relayed token: NDJSON's one, ``data:`` + blank line, and Anthropic's
# named events (``event:``, ``data:``, blank line)
_LINES_PER_TOKEN = {"ndjson": 1, "sse": 2, "named": 3}


def _framing(call: Call) -> str:
    """How the call's stream frames a token."""
    if not call.content_type.startswith("text/event-stream"):
        return "ndjson"
    return "named" if call.endpoint == "/v1/messages" else "sse"


def _from_tail(tail: bytes, stats: dict) -> bool:
    """The last token counts written in a truncated answer's tail, if any."""
    found = False
    for name, pattern in _COUNTS.items():
        matches = pattern.findall(tail)
        if matches:
            stats[name] = int(matches[-1])
            found = True
    return found


def prompt_tokens(payload: Any) -> int:
    """The prompt of a request, in tokens at ``CHARS_PER_TOKEN`` characters each."""
    chars = _text_length(payload, top=True)
    return math.ceil(chars / CHARS_PER_TOKEN) if chars else 0


def _text_length(value: Any, top: bool = False, depth: int = 0) -> int:
    """The characters of every string in ``value`` but the fields of ``NOT_PROMPT``."""
    if depth > 32:  # a hostile nesting: what is deeper is not a prompt
        return 0
    if isinstance(value, str):
        return len(value)
    if isinstance(value, dict):
        return sum(
            _text_length(item, depth=depth + 1)
            for key, item in value.items()
            if not (top and fold_name(key) in NOT_PROMPT or same_field(key, "images"))
        )
    if isinstance(value, list):
        return sum(_text_length(item, depth=depth + 1) for item in value)
    return 0
