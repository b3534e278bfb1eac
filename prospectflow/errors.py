"""The one error the tool shows as it is: a message a person can act on, and an exit code."""


class CliError(Exception):
    """Something went wrong that the user can fix; the message says what (and what was tried)."""

    exit_code = 1


class Incomplete(CliError):
    """The work ran, but not all of it was accepted or delivered (exit code 3)."""

    exit_code = 3
