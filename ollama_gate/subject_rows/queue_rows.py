"""The scheduler's per-subject settings: a subject's weight in the fair queue, its
priority band, how many of its calls may wait at once, and whether its streams to a
loading model get progress lines."""

from __future__ import annotations

from sqlalchemy import Boolean, Integer, String
from wtforms import BooleanField, SelectField
from wtforms.fields.choices import SelectChoice

from ..subject_row import SettingRow, parse_count
from .budget_rows import parse_on
from .limit_rows import count_field

BANDS = ("interactive", "batch")  # the priority bands, first served first
BAND_CHOICES = [
    SelectChoice("", "default"),
    SelectChoice("interactive", "interactive: goes before every batch call"),
    SelectChoice("batch", "batch: takes idle capacity, never starved"),
]


def parse_weight(text: str) -> int:
    """A weight of 1 or more."""
    n = parse_count(text)
    if n < 1:
        raise ValueError("must be 1 or more")
    return n


def parse_band(text: str) -> str:
    """One of ``BANDS``."""
    band = str(text).strip().lower()
    if band not in BANDS:
        raise ValueError(f"{text!r}: one of {', '.join(BANDS)} (or 'default')")
    return band


ROWS = [
    SettingRow(
        name="queue_weight",
        type=Integer,
        parse=parse_weight,
        none="1",
        help="Its share of backend slots when calls wait, e.g. 3: three times "
        "a key of weight 1 ('none': 1, or its user's or team's).",
        label="Queue weight",
        hint="Its share of backend slots when calls wait. Empty: 1.",
        field=count_field,
    ),
    SettingRow(
        name="priority",
        type=lambda: String(12),
        parse=parse_band,
        none="interactive",
        help="Its calls' band in the queue: interactive or batch (a waiting "
        "interactive call goes first; batch takes idle capacity and is never "
        "starved past OLLAMA_GATE_BATCH_MAX_WAIT) ('default': its user's or team's).",
        label="Priority",
        hint="Batch calls wait behind interactive ones (never past the batch "
        "bound). Empty: its user's or team's, else interactive.",
        field=lambda row: SelectField(
            row.label, choices=list(BAND_CHOICES), default=""
        ),
        to_form=lambda v: v or "",
        from_form=lambda d: d or None,
    ),
    SettingRow(
        name="queue_max",
        type=Integer,
        parse=parse_count,
        none="the gateway's bounds",
        help="Calls of it (a user's or team's members together) that may wait in "
        "the queue at once, per worker; more get 503 with Retry-After at once.",
        label="Most waiting calls",
        hint="Calls of it (its members together) that may wait for a slot at once. "
        "Empty: the gateway's bounds alone.",
        field=count_field,
    ),
    SettingRow(
        name="loading_progress",
        type=Boolean,
        parse=parse_on,
        none="off",
        help="'on': its native streams (/api/chat, /api/generate) to a model still "
        "loading get a progress line every few seconds (done false, empty content, "
        "a gateway field) until the answer starts ('off': nothing until then).",
        label="Loading progress lines",
        hint="Streams to a loading model get a line every few seconds (clients "
        "ignore it), so idle timeouts do not fire.",
        show=lambda v: "on" if v else "off",
        field=lambda row: BooleanField(row.label),
        to_form=bool,
        from_form=lambda d: True if d else None,
    ),
]
