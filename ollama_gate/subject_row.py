"""One row of the per-subject settings table (``subject_settings.TABLE``).

A row says everything the gateway needs to spell one setting of a key, user or team
once: its column, how its text is read, what no value means, which kinds of subject
it applies to, its CLI option, form field, audit label and whether a rotated key
copies it. Each owning package declares its rows in ``subject_rows/``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Integer

KINDS = ("end_user", "key", "user", "team")
STORED = KINDS  # every kind has a table (end users: endusers/models.py)
CLEARING = ("none", "default", "")  # option text that removes a subject's own value
MAX_COUNT = 2**31 - 1  # INTEGER columns: PostgreSQL refuses more


def parse_count(text: str) -> int:
    """A whole number from 0 to ``MAX_COUNT``; ValueError otherwise."""
    try:
        n = int(str(text).strip())
    except ValueError:
        raise ValueError(f"{text!r} is not a whole number (or 'none')") from None
    if n < 0:
        raise ValueError("must be 0 or more")
    if n > MAX_COUNT:
        raise ValueError(f"must be at most {MAX_COUNT}")
    return n


def same(value: Any) -> Any:
    """A stored value as a level holds it (most settings)."""
    return value


@dataclass(frozen=True)
class SettingRow:
    """One per-subject setting (see the module's docstring)."""

    name: str  # the column on api_keys, users and teams
    type: Callable[[], Any]  # the column's SQLAlchemy type, made per table
    parse: Callable[[str], Any]  # option or form text -> stored value; ValueError
    none: str  # what no value means, e.g. "no limit"
    help: str  # the CLI option's help
    label: str  # the form field's label
    hint: str = ""  # the form field's hint
    kinds: tuple[str, ...] = KINDS
    option: str = ""  # the CLI option, default --<name with dashes>
    form_name: str = ""  # the form field's name, default the column
    audit: str = ""  # the name the audit log gives it, default the column
    copied: bool = True  # a rotated key takes it over from the key it replaces
    snap: Callable[[Any], Any] = same  # stored value -> a level's value (None: unset)
    key_default: Any = None  # the api_keys column's value when unset (NOT NULL there)
    show: Callable[[Any], str] = str  # a set value in ``describe`` lines
    field: Callable[[SettingRow], Any] | None = None  # a WTForms field (None: text)
    to_form: Callable[[Any], Any] = same  # stored value -> form data
    from_form: Callable[[Any], Any] | None = None  # form data -> stored (None: parse)
    # a user's or team's own form field and its conversions, where a key's would
    # say something else (scopes: a key's unticked box is "no scope", a team's
    # empty choice "no bound"); None: the key's
    group_form: tuple[Callable, Callable, Callable] | None = None

    def form_parts(self, kind: str) -> tuple[Callable | None, Callable, Any]:
        """(field maker, to_form, from_form) for a form of ``kind``."""
        if kind != "key" and self.group_form is not None:
            return self.group_form
        return self.field, self.to_form, self.from_form

    @property
    def cli_option(self) -> str:
        """The option's spelling, e.g. ``--calls-per-day``."""
        return self.option or "--" + self.name.replace("_", "-")

    @property
    def form_field(self) -> str:
        """The form field's name (the column's, unless the row says another)."""
        return self.form_name or self.name

    @property
    def audit_label(self) -> str:
        """The setting's name in the audit log."""
        return self.audit or self.name

    def unset(self, kind: str) -> Any:
        """The stored value of no setting of this subject kind."""
        return self.key_default if kind == "key" else None

    def read(self, text: Any, kind: str) -> Any:
        """Option text -> stored value for ``kind`` (clearing words: unset)."""
        if isinstance(text, str) and text.strip().lower() in CLEARING:
            return self.unset(kind)
        if not isinstance(text, str) and self.type is Integer and isinstance(text, int):
            return parse_count(str(text))
        return self.parse(str(text))
