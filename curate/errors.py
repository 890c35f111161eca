"""The one family of user-facing errors. Whatever a user can fix (a bad spec, a missing file, a
corrupt bundle, bad input, a missing API key, a spent budget) raises a `CurateError` subclass
whose message says what and where; the CLI (`curate.cli.CurateGroup`, the one place) prints it
as one line and exits with its `exit_code`. Any other exception is a bug in curate: it keeps its
traceback."""

from __future__ import annotations


class CurateError(Exception):
    """An error the user can fix; the message names the file, key or value at fault.
    `exit_code`: what the command returns (1 unless the error says otherwise)."""

    exit_code = 1

    def __init__(self, message: str = "", exit_code: int | None = None):
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class InputError(CurateError, ValueError):
    """An argument, file or value given to a command that cannot be used as given."""


class MissingInput(CurateError, FileNotFoundError):
    """A file or folder a command needs is not there."""


class BudgetReached(CurateError):
    """A run stopped before its cost would pass the budget; rerunning continues it."""

    exit_code = 3
