"""The exceptions that carry a user-facing sentence and an exit status.

Every error a user can act on is one of these: the CLI prints its message as
one sentence on stderr and exits with its ``exit_code``; anything else is a bug
and is reported as such (with the traceback only under ``-v``).
"""

from __future__ import annotations


class FeedsError(Exception):
    """An error the user can act on; ``str(error)`` is one clear sentence."""

    exit_code = 1


class UsageError(FeedsError):
    """Wrong usage, unusable settings or unreadable input (exit status 2)."""

    exit_code = 2


class SettingsError(UsageError):
    """The settings file or a FEEDS_* variable is unusable."""


class ConfigError(FeedsError):
    """A feed configuration is invalid; nothing was fetched or sent."""

    def __init__(self, message: str, problems: list[str] | None = None):
        super().__init__(message)
        self.problems = problems or []


class HubError(FeedsError):
    """Hub refused a request or could not be reached after the retries."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class DeliveryError(FeedsError):
    """A delivery failed.

    ``transient`` says whether another attempt may succeed (a dropped
    connection, an SMTP 4xx); permanent failures (login refused, an SMTP 5xx,
    a changed host key) are never retried. ``reason`` is the short cause
    ``feeds check`` prints (``login refused``, ``folder not writable``,
    ``host key changed``), when the method knows it.
    """

    def __init__(self, message: str, *, transient: bool = False, reason: str | None = None):
        super().__init__(message)
        self.transient = transient
        self.reason = reason


class Cancelled(FeedsError):
    """Work was cut off by a shutdown before it could finish."""


class Unconfirmed(DeliveryError):
    """A delivery was interrupted after the server had the whole file, and whether it took it cannot be told.

    It is not sent again (a duplicate is worse than a file a person can
    resend after checking), and the slot is not tried again by the daemon.
    """

    def __init__(self, message: str):
        super().__init__(message, reason="outcome unknown")
