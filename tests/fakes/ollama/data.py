"""The fake's constants, default models and the words it answers with."""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import re
import struct

VERSION = "0.33.0"
BUSY_MESSAGE = "server busy, please try again.  maximum pending requests exceeded"
PIECE = 64 * 1024
HOLD_TIMEOUT = 30.0
DEFAULT_TOKENS = 8
EMBED_DIM = 8

WORDS = ["The", "quick", "brown", "fox", "jumps", "over", "the", "lazy", "dog", "again"]
THINK_WORDS = ["Let", "me", "think", "about", "this", "carefully"]

DEFAULT_MODELS = [
    {
        "name": "llama3.2:latest",
        "model": "llama3.2:latest",
        "modified_at": "2025-06-01T10:00:00.123456789+02:00",
        "size": 2019393189,
        "digest": "a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72",
        "details": {
            "parent_model": "",
            "format": "gguf",
            "family": "llama",
            "families": ["llama"],
            "parameter_size": "3.2B",
            "quantization_level": "Q4_K_M",
        },
        "capabilities": ["completion", "tools"],
    },
    {
        "name": "qwen2.5:7b",
        "model": "qwen2.5:7b",
        "modified_at": "2025-05-20T08:30:00.5+02:00",
        "size": 4683087332,
        "digest": "845dbda0ea48ed749caafd9e6037047aa19acfcfd82e704d7ca97d631a0b697e",
        "details": {
            "parent_model": "",
            "format": "gguf",
            "family": "qwen2",
            "families": ["qwen2"],
            "parameter_size": "7.6B",
            "quantization_level": "Q4_K_M",
        },
        "capabilities": ["completion", "tools", "thinking"],
    },
    {
        "name": "nomic-embed-text:latest",
        "model": "nomic-embed-text:latest",
        "modified_at": "2025-04-02T12:00:00.987654321+02:00",
        "size": 274302450,
        "digest": "0a109f422b47e3a30ba2b10eca18548e944e8a23073ee3f3e947efcf3c45e59f",
        "details": {
            "parent_model": "",
            "format": "gguf",
            "family": "nomic-bert",
            "families": ["nomic-bert"],
            "parameter_size": "137M",
            "quantization_level": "F16",
        },
        "capabilities": ["embedding"],
    },
]

DEFAULT_LOADED = ["llama3.2:latest"]

_CONTEXT_LENGTH = {"llama": 131072, "qwen2": 32768, "nomic-bert": 2048}
_EMBED_LENGTH = {"llama": 3072, "qwen2": 3584, "nomic-bert": 768}

JSON_CT = "application/json; charset=utf-8"
TEXT_CT = "text/plain; charset=utf-8"
NDJSON_CT = "application/x-ndjson"
SSE_CT = "text/event-stream"


def _dumps(obj) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _now_rfc3339() -> str:
    return _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _rfc3339_in(seconds: float) -> str:
    t = _dt.datetime.now(_dt.UTC) + _dt.timedelta(seconds=seconds)
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _unix_of(rfc3339: str) -> int:
    s = rfc3339
    m = re.match(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$", s)
    if not m:
        return 0
    tz = "+00:00" if m.group(3) == "Z" else m.group(3)
    return int(_dt.datetime.fromisoformat(m.group(1) + tz).timestamp())


def normalize_model_name(name: str) -> str:
    """Canonical form used for matching: lower case, default host/namespace/tag."""
    n = (name or "").strip().lower()
    for prefix in ("registry.ollama.ai/", "library/"):
        if n.startswith(prefix):
            n = n[len(prefix) :]
    last = n.rsplit("/", 1)[-1]
    if ":" not in last:
        n += ":latest"
    return n


def token_text(i: int) -> str:
    w = WORDS[i % len(WORDS)]
    return w if i == 0 else " " + w


def think_text(i: int) -> str:
    w = THINK_WORDS[i % len(THINK_WORDS)]
    return w if i == 0 else " " + w


def expected_text(n: int = DEFAULT_TOKENS) -> str:
    """The text a generation of ``n`` tokens produces."""
    return "".join(token_text(i) for i in range(n))


def embedding_for(text: str, dim: int = EMBED_DIM) -> list:
    """Deterministic unit vector (float32-exact values) for ``text``."""
    raw = b""
    counter = 0
    while len(raw) < 4 * dim:
        raw += hashlib.sha256(f"{counter}:{text}".encode()).digest()
        counter += 1
    vals = [
        (struct.unpack_from("<I", raw, 4 * i)[0] / 2**32) * 2 - 1 for i in range(dim)
    ]
    norm = sum(v * v for v in vals) ** 0.5 or 1.0
    return [struct.unpack("<f", struct.pack("<f", v / norm))[0] for v in vals]
