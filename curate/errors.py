"""The one family of user-facing errors. Whatever a user can fix (a bad spec, a missing file, a
corrupt bundle, bad input) raises a `CurateError` subclass whose message says what and where;
the CLI prints it as one line and exits 1. Any other exception is a bug in curate: the CLI lets
it through with its traceback under `-v`."""

from __future__ import annotations


class CurateError(Exception):
    """An error the user can fix; the message names the file, key or value at fault."""


class InputError(CurateError, ValueError):
    """An argument, file or value given to a command that cannot be used as given."""


class MissingInput(CurateError, FileNotFoundError):
    """A file or folder a command needs is not there."""
