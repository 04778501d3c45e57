"""An app's background calls (titles, tags, follow-ups...) told from chats.

Open WebUI makes them from ``routers/tasks.py``: ``{"model", "messages": [{"role":
"user", "content": <template>}], "stream": false, "metadata": {"task": ...}}``; its
Ollama and OpenAI routers take ``metadata`` out before sending, so what reaches the
gateway is the prompt. Every default template but the emoji one begins with
``### Task:`` and names its task on the next line; the emoji one begins as below. A
``metadata.task`` (an app that sends it through) is taken as given.
"""

from __future__ import annotations

from typing import Any

TASK_MARK = "### Task:"
EMOJI_MARK = "Your task is to reflect the speaker's likely facial expression"
TOOLS_MARK = "Available Tools:"
MAX_TASK = 40
# the first words of a "### Task:" template's next line -> the task it is
KINDS = (
    ("title", "title"),
    ("tags", "tags"),
    ("follow-up", "follow_up"),
    ("search quer", "queries"),
    ("autocompletion", "autocomplete"),
    ("image", "image_prompt"),
)


def task_of(payload: Any) -> str | None:
    """The background task a request body is, e.g. ``title``; None for a chat."""
    if not isinstance(payload, dict):
        return None
    meta = payload.get("metadata")
    if isinstance(meta, dict) and isinstance(meta.get("task"), str):
        return meta["task"].strip()[:MAX_TASK] or None
    text = _prompt(payload)
    if text.startswith(TASK_MARK):
        line = text[len(TASK_MARK) :].lstrip().split("\n", 1)[0].lower()
        return next((kind for words, kind in KINDS if words in line), "task")
    if text.startswith(EMOJI_MARK):
        return "emoji"
    if text.startswith(TOOLS_MARK):
        return "tools"
    return None


def _prompt(payload: dict) -> str:
    """The prompt a template would be: a generate call's, or a chat's one message."""
    prompt = payload.get("prompt")
    if isinstance(prompt, str):
        return prompt.lstrip()[:2000]
    messages = payload.get("messages")
    if not isinstance(messages, list) or not messages:
        return ""
    message = messages[0]
    if not isinstance(message, dict):
        return ""
    # task calls send one user message; the tools call a system message first
    if len(messages) == 1 and message.get("role") == "user":
        content = message.get("content")
    elif message.get("role") == "system" and len(messages) == 2:
        content = message.get("content")
        if not (isinstance(content, str) and content.startswith(TOOLS_MARK)):
            return ""
    else:
        return ""
    if isinstance(content, list):  # OpenAI parts
        content = next(
            (p.get("text") for p in content if isinstance(p, dict) and p.get("text")),
            "",
        )
    return content.lstrip()[:2000] if isinstance(content, str) else ""
