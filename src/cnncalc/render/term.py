"""The output streams: width, colour, encodings that lack box-drawing characters, and closed pipes.

Everything cnncalc prints goes to ``sys.stdout`` (results) or ``sys.stderr`` (messages). This module decides,
in one place, how wide the output may be, whether it may be coloured, and what happens when the stream cannot
take it:

- **Width**: ``--width`` if given, else ``COLUMNS`` from the environment, else the terminal's width when stdout
  is a terminal; else none (a pipe or a file gets whole table rows, for grep and diff). Never below :data:`MIN_WIDTH`.
- **Colour**: only on a terminal, never when ``NO_COLOR`` is set to a non-empty value or ``TERM=dumb``;
  ``FORCE_COLOR`` (non-empty) forces it.
- **Encodings**: a stream whose encoding lacks a character (``PYTHONIOENCODING=cp1252`` and the box-drawing
  rule ``─``) gets an ASCII stand-in of the same width (``-``, ``#``, ``~``) instead of an exception.
- **Closed pipes** (``cnncalc show resnet152 | head -1``) end quietly with status 1, as click itself does.
"""

from __future__ import annotations

import codecs
import os
import sys
from typing import TextIO

#: The narrowest layout the tables attempt (``--width`` refuses less; a smaller COLUMNS counts as this).
MIN_WIDTH = 40

#: ASCII stand-ins for the non-ASCII characters cnncalc itself prints; table characters keep their width.
ASCII = {
    "─": "-",
    "…": "~",
    "█": "#",
    "▏": " ",
    "▎": " ",
    "▍": " ",
    "▌": "#",
    "▋": "#",
    "▊": "#",
    "▉": "#",
    "·": "*",
    "×": "x",
    "±": "+-",
    "→": "->",
    "–": "-",
    "—": "-",
    "≤": "<=",
    "≥": ">=",
}
ERRORS = "cnncalc-ascii"


def _ascii_fallback(exc: UnicodeError) -> tuple[str, int]:
    if not isinstance(exc, UnicodeEncodeError):
        raise exc
    text = exc.object[exc.start : exc.end]
    return "".join(ASCII.get(ch, "?") for ch in text), exc.end


codecs.register_error(ERRORS, _ascii_fallback)


def setup_streams() -> None:
    """Let stdout and stderr replace what their encoding cannot show instead of raising (idempotent)."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None and getattr(stream, "errors", ERRORS) != ERRORS:
            try:
                reconfigure(errors=ERRORS)
            except (ValueError, OSError):  # pragma: no cover - a closed or exotic stream: leave it
                pass


def can_encode(text: str, stream: TextIO | None = None) -> bool:
    """True when ``stream`` (default stdout) can show ``text`` as it is."""
    encoding = getattr(stream or sys.stdout, "encoding", None) or "utf-8"
    try:
        text.encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return False
    return True


def ellipsis(stream: TextIO | None = None) -> str:
    """``…``, or ``...`` where the stream's encoding lacks it."""
    return "…" if can_encode("…", stream) else "..."


def is_terminal(stream: TextIO | None = None) -> bool:
    """True when ``stream`` (default stdout) is an interactive terminal."""
    isatty = getattr(stream or sys.stdout, "isatty", None)
    try:
        return bool(isatty and isatty())
    except (ValueError, OSError):  # a closed stream
        return False


def output_width(width: int | None = None, stream: TextIO | None = None) -> int | None:
    """The width to lay tables out for: ``--width``, ``COLUMNS``, the terminal's, or None (no limit)."""
    if width is not None:
        return max(width, MIN_WIDTH)
    columns = os.environ.get("COLUMNS", "").strip()
    if columns.isdigit() and int(columns) > 0:
        return max(int(columns), MIN_WIDTH)
    stream = stream or sys.stdout
    if is_terminal(stream):
        try:
            return max(os.get_terminal_size(stream.fileno()).columns, MIN_WIDTH)
        except (OSError, ValueError, AttributeError):
            return 80
    return None


def use_colour(stream: TextIO | None = None) -> bool:
    """Colour on a terminal unless NO_COLOR (non-empty) or TERM=dumb; FORCE_COLOR (non-empty) forces it."""
    if os.environ.get("NO_COLOR", ""):
        return False
    if os.environ.get("FORCE_COLOR", ""):
        return True
    if os.environ.get("TERM", "") == "dumb" or (sys.platform == "win32" and "WT_SESSION" not in os.environ):
        return False  # a legacy Windows console shows escape codes as text
    return is_terminal(stream)


def silence_stdout() -> None:
    """After a closed pipe: point stdout at the null device, so that the final flush at exit cannot fail."""
    try:
        fd = os.open(os.devnull, os.O_WRONLY)
        os.dup2(fd, sys.stdout.fileno())
        os.close(fd)
    except (OSError, ValueError, AttributeError):  # no real file descriptor (tests): nothing to flush into
        pass


def is_closed_pipe(exc: BaseException) -> bool:
    """A write to a pipe whose reader has gone (``| head``)."""
    import errno

    return isinstance(exc, BrokenPipeError) or (isinstance(exc, OSError) and exc.errno == errno.EPIPE)
