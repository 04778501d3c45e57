"""The tokens a call holds against its key's token quota from admission until its
record settles them (``counters.py``).

An estimate, made before anything runs: the prompt at four bytes of request body a
token (images and JSON count by their size, which errs high), plus the most the
request lets the model generate (``Call.max_output``: ``options.num_predict`` on
``/api``, ``max_tokens`` or ``max_output_tokens`` on ``/v1``, 0 for embeddings), or
``OLLAMA_GATE_TOKEN_RESERVE`` when it sets no bound. What a call spends beyond its
estimate (a Modelfile's system prompt, a longer answer than the default when it named
no bound) is the only way past a token quota, and is charged.
"""

from __future__ import annotations

import math

from ..call import Call

BYTES_PER_TOKEN = 4  # the usual rule of thumb for Llama-family tokenizers


def tokens_to_hold(call: Call, default: int) -> int:
    """The tokens ``call`` holds while it runs: its prompt and its answer's bound."""
    prompt = math.ceil(call.body_size / BYTES_PER_TOKEN)
    answer = default if call.max_output is None else call.max_output
    return max(1, prompt + answer)
