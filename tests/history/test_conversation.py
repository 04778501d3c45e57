"""A record as a conversation: native and OpenAI messages, prompts, inputs, images."""

from __future__ import annotations

from ollama_gate.history.conversation import conversation
from ollama_gate.history.models import Request

STUB = {"image": True, "bytes": 10, "sha256": "ab" * 32}


def turns(request, answer=None, mode="full"):
    row = Request(request=request, answer=answer, mode=mode, answer_text="")
    return [
        (t["role"], t["text"], len(t["images"]), bool(t["tool_calls"]), t["thinking"])
        for t in conversation(row)
    ]


def test_native_chat_with_tools_images_and_thinking():
    request = {
        "messages": [
            {"role": "system", "content": "sys"},
            {"role": "user", "content": "look", "images": [STUB]},
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [{"function": {"name": "f"}}],
            },
            {"role": "tool", "content": "42"},
        ]
    }
    answer = {"text": "done", "thinking": "hmm"}
    assert turns(request, answer) == [
        ("system", "sys", 0, False, ""),
        ("user", "look", 1, False, ""),
        ("assistant", "", 0, True, ""),
        ("tool", "42", 0, False, ""),
        ("assistant", "done", 0, False, "hmm"),
    ]


def test_openai_parts_and_generate_prompt():
    request = {
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "a"},
                    {"type": "image_url", "image_url": {"url": STUB}},
                    {"type": "text", "text": "b"},
                ],
            }
        ]
    }
    assert turns(request) == [("user", "a\nb", 1, False, "")]
    gen = {"system": "be kind", "prompt": "hi", "images": [STUB]}
    assert turns(gen, {"text": "hello"}) == [
        ("system", "be kind", 0, False, ""),
        ("user", "hi", 1, False, ""),
        ("assistant", "hello", 0, False, ""),
    ]


def test_responses_and_embed_inputs():
    responses = {
        "instructions": "terse",
        "input": [{"role": "user", "content": [{"type": "input_text", "text": "q"}]}],
    }
    assert turns(responses) == [
        ("system", "terse", 0, False, ""),
        ("user", "q", 0, False, ""),
    ]
    assert turns({"input": ["x", "y"]}) == [
        ("input", "x", 0, False, ""),
        ("input", "y", 0, False, ""),
    ]


def test_metadata_records_have_no_conversation():
    assert turns({"model": "m"}, None, mode="metadata") == []
