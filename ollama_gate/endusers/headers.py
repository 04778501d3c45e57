"""Who an app key's call is for: Open WebUI's headers, or the gateway's own.

Open WebUI (``ENABLE_FORWARD_USER_INFO_HEADERS=true``) sends on every call to an
Ollama or OpenAI connection ``X-OpenWebUI-User-Name`` (URL-quoted,
``quote(name, safe=" ")``), ``-Id``, ``-Email`` and ``-Role``, and on chat calls
``X-OpenWebUI-Chat-Id`` (its ``metadata.chat_id``). Other apps may send
``X-Ollama-Gate-User`` (the id) with ``-Name`` and ``-Email``; when both are sent,
the gateway's own wins. Values are bounded and cleaned here: a long or hostile
header is cut, never an error.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from urllib.parse import unquote

from .models import DEFAULTS, MAX_EMAIL, MAX_EXTERNAL_ID, MAX_NAME, MAX_ROLE

OWUI_ID = "X-OpenWebUI-User-Id"
OWUI_NAME = "X-OpenWebUI-User-Name"
OWUI_EMAIL = "X-OpenWebUI-User-Email"
OWUI_ROLE = "X-OpenWebUI-User-Role"
OWUI_CHAT = "X-OpenWebUI-Chat-Id"
GATE_USER = "X-Ollama-Gate-User"
GATE_NAME = "X-Ollama-Gate-User-Name"
GATE_EMAIL = "X-Ollama-Gate-User-Email"
MAX_CHAT_ID = 200
MAX_RAW = 4096  # characters of a header read at all (the rest is not looked at)


@dataclass(frozen=True, slots=True)
class Person:
    """An end user as the call names them (cleaned); ``id`` identifies."""

    external_id: str
    name: str = ""
    email: str = ""
    role: str = ""


def clean(value: str | None, limit: int, quoted: bool = False) -> str:
    """A header value as text to store: UTF-8 read back (WSGI hands headers over as
    Latin-1), percent-decoding undone for ``quoted`` ones, control and format
    characters dropped, spaces trimmed, cut to ``limit`` characters."""
    if not value:
        return ""
    text = value[:MAX_RAW]
    try:
        text = text.encode("latin-1").decode("utf-8", "replace")
    except UnicodeEncodeError:  # not from WSGI: already text
        pass
    if quoted:
        text = unquote(text, errors="replace")
    text = "".join(
        " " if ch in "\t\r\n" else ch
        for ch in text
        if ch in "\t\r\n" or unicodedata.category(ch) not in ("Cc", "Cf", "Cs")
    )
    return " ".join(text.split())[:limit]


def person_of(headers) -> Person | None:
    """The person a call names, or None (no id, or only the defaults' ``*``)."""
    own = clean(headers.get(GATE_USER), MAX_EXTERNAL_ID)
    if own:
        name = clean(headers.get(GATE_NAME), MAX_NAME)
        email = clean(headers.get(GATE_EMAIL), MAX_EMAIL)
        found = Person(own, name, email)
    else:
        ident = clean(headers.get(OWUI_ID), MAX_EXTERNAL_ID)
        if not ident:
            return None
        found = Person(
            ident,
            clean(headers.get(OWUI_NAME), MAX_NAME, quoted=True),
            clean(headers.get(OWUI_EMAIL), MAX_EMAIL),
            clean(headers.get(OWUI_ROLE), MAX_ROLE),
        )
    # "*" names an app key's defaults row, never a person
    return None if found.external_id == DEFAULTS else found


def chat_of(headers) -> str | None:
    """The conversation Open WebUI names (its chat id), for affinity; or None."""
    return clean(headers.get(OWUI_CHAT), MAX_CHAT_ID) or None
