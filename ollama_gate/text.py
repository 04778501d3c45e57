"""Text from users and keys made safe to show on an admin's terminal."""

from __future__ import annotations


def printable(text: str) -> str:
    """``text`` with each character that ``repr`` escapes shown escaped (``\\x1b``).

    Names reach an admin's terminal through the CLI, where an escape sequence could
    clear the screen, set the window title or forge lines, and a bidi override could
    reorder what is shown. Escaped: control and format characters (tab and newline
    too), line and paragraph separators, spaces other than " ", lone surrogates and
    unassigned code points; a backslash becomes ``\\\\`` so that no escape is ambiguous.
    Letters, marks, symbols and emoji of any script stay as they are.
    """
    if text.isprintable() and "\\" not in text:
        return text  # the usual name: nothing to do
    return "".join(
        ch if ch.isprintable() and ch != "\\" else repr(ch)[1:-1] for ch in text
    )
