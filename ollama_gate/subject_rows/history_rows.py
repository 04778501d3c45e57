"""The history's per-subject setting: what the gateway records of calls."""

from __future__ import annotations

from sqlalchemy import String
from wtforms import SelectField
from wtforms.fields.choices import SelectChoice

from ..subject_row import SettingRow

MODES = ("full", "metadata", "off")
CHOICES = [
    SelectChoice("", "default"),
    SelectChoice("full", "full: prompts, answers and metadata"),
    SelectChoice("metadata", "metadata only: no prompt or answer text"),
    SelectChoice("off", "off: nothing recorded"),
]


def parse_mode(text: str) -> str:
    """One of ``MODES``."""
    mode = text.strip().lower()
    if mode not in MODES:
        raise ValueError(f"{text!r}: one of {', '.join(MODES)} (or 'default')")
    return mode


ROWS = [
    SettingRow(
        name="history_mode",
        type=lambda: String(10),
        parse=parse_mode,
        none="HISTORY_MODE",
        help="What is recorded of its calls: full, metadata or off "
        "('default': its user's or team's, else OLLAMA_GATE_HISTORY_MODE).",
        label="History",
        hint="What the gateway records of these calls. Metadata only and off keep "
        "no prompt or answer text.",
        field=lambda row: SelectField(row.label, choices=list(CHOICES), default=""),
        to_form=lambda v: v or "",
        from_form=lambda d: d or None,
    ),
]
