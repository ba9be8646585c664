"""The product's base exceptions.

Every error a user can cause or fix derives from :class:`AlmaToolsError` and carries a message written for
library staff (what happened, where, and what to do). The faces (command line, Excel) show ``str(error)``
and never a traceback for these.
"""


class AlmaToolsError(Exception):
    """Base of every error the product reports to a person in plain words."""

    #: exit code the command line uses for this kind of error
    exit_code = 1


class InputError(AlmaToolsError):
    """The input (file, sheet, option) cannot be used as it is; the message says why and how to fix it."""

    exit_code = 2


class ConfigError(AlmaToolsError):
    """Settings are missing or unsafe (no API key, plain http to a remote host, bad region)."""

    exit_code = 2
