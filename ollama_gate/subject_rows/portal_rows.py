"""The portal's team policy: what members may do with their own keys.

Team-only rows (``kinds=("team",)``): the portal reads them from the member's team
(``accounts/policy.py``); they bound no call, so a call's chain carries them unused.
From these rows come the ``teams create|set`` options, the team page's fields and
the audit log's before/after, as for every other setting of a team.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Integer, Text
from wtforms import BooleanField, TextAreaField
from wtforms.validators import Length, Optional

from ..subject_row import SettingRow, parse_count
from .budget_rows import parse_on
from .limit_rows import count_field, parse_models, split_list

TEAM = ("team",)
MAX_DAYS = 36500  # a hundred years: past it an expiry date overflows nothing useful


def parse_days(text: str) -> int:
    """A number of days from 1 to ``MAX_DAYS``."""
    n = parse_count(text)
    if not 1 <= n <= MAX_DAYS:
        raise ValueError(f"must be from 1 to {MAX_DAYS} days")
    return n


def picks_field(row: SettingRow) -> TextAreaField:
    """The models members may pick: patterns, as the allowlist's field."""
    return TextAreaField(
        row.label,
        validators=[Optional(), Length(max=4000)],
        render_kw={"rows": 2, "placeholder": "the team's allowed models"},
    )


def required_field(row: SettingRow) -> BooleanField:
    """The expiry-required box."""
    return BooleanField(row.label)


ROWS = [
    SettingRow(
        name="portal_max_keys",
        type=Integer,
        parse=parse_count,
        none="OLLAMA_GATE_PORTAL_MAX_KEYS",
        help="Most active keys a member may hold, made in the portal or not "
        "(0: members make none; 'none': OLLAMA_GATE_PORTAL_MAX_KEYS).",
        label="Portal: most keys per person",
        hint="Active keys each member may hold; the portal refuses one more. "
        "Empty: the gateway's default (OLLAMA_GATE_PORTAL_MAX_KEYS); 0: none.",
        kinds=TEAM,
        field=count_field,
    ),
    SettingRow(
        name="portal_max_days",
        type=Integer,
        parse=parse_days,
        none="no longest expiry",
        help="Longest expiry, in days from today, of a key a member makes "
        "('none': no bound).",
        label="Portal: longest key expiry (days)",
        hint="A member's key may expire at most this many days from today. "
        "Empty: no bound.",
        kinds=TEAM,
        field=count_field,
    ),
    SettingRow(
        name="portal_expiry_required",
        type=Boolean,
        parse=parse_on,
        none="off: a member's key may never expire",
        help="'on': every key a member makes must have an expiry ('off': optional).",
        label="Portal: keys must have an expiry",
        hint="Members must give each key they make an expiry date.",
        option="--portal-expiry-required",
        kinds=TEAM,
        show=lambda v: "on" if v else "off",
        field=required_field,
        to_form=bool,
        from_form=lambda d: True if d else None,
    ),
    SettingRow(
        name="portal_models",
        type=Text,
        parse=parse_models,
        none="the team's allowed models",
        help="Models members may pick for their keys, patterns as --models; a pick "
        "must pass the team's allowlist too ('none': the team's allowlist).",
        label="Portal: models members may pick",
        hint="Empty: the team's allowed models. Within them: a pick must pass both.",
        kinds=TEAM,
        show=lambda v: v or "the team's",
        field=picks_field,
        to_form=lambda v: ", ".join(split_list(v)),
        from_form=lambda d: parse_models(d or ""),
    ),
]
