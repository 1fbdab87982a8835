"""The replay's progress bar: rich on a terminal when installed, the plain line anywhere else."""
from __future__ import annotations

import io
import sys

from exchange.files.replay import Progress


class Terminal(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def drawn(stream: io.StringIO) -> str:
    bar = Progress(True, stream=stream)
    bar.phase("reading", 1000)
    bar.update(500, force=True)
    bar.phase("matching")
    bar.close()
    return stream.getvalue()


def test_off_a_terminal_the_bar_is_the_plain_line():
    text = drawn(io.StringIO())
    assert text.startswith("\rreading    [" + "." * 30 + "]   0.0%")
    assert "\rreading    [" + "#" * 15 + "." * 15 + "]  50.0%" in text
    assert "\rmatching   ... " in text
    assert "\x1b" not in text  # no terminal codes in a file or a pipe
    assert text.endswith("\r" + " " * 70 + "\r")  # close clears the line


def test_on_a_terminal_rich_draws_it():
    text = drawn(Terminal())
    assert "reading" in text and "matching" in text
    assert "\x1b[" in text  # rich's cursor and colour codes
    assert "[" + "#" * 15 not in text  # not the plain bar


def test_on_a_terminal_without_rich_the_bar_is_the_plain_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "rich", None)  # import fails as if not installed
    text = drawn(Terminal())
    assert "\rreading    [" + "#" * 15 + "." * 15 + "]  50.0%" in text
    assert "\x1b" not in text


def test_a_disabled_bar_draws_nothing():
    stream = Terminal()
    bar = Progress(False, stream=stream)
    bar.phase("reading", 10)
    bar.update(10, force=True)
    bar.close()
    assert stream.getvalue() == ""
