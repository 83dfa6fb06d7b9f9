"""Keeping secrets out of everything the product writes.

Secrets are masked by structure first: a password field is shown as
``********`` where it is known to be one (``show``, manifests, destinations).
As a second line of defence, secret values are registered where they come in,
and every log line, error message and ledger field is searched for them:

- the operator's secrets (the Hub client secrets and tokens, the SMTP and SITC
  passwords) are registered by the settings and the Hub client, in the
  process-wide scope, and masked everywhere;
- a feed's own secrets (its delivery password) are registered by its run, in
  that run's scope (``run_scope``), and masked only in what that run writes.
  A reseller whose password is a common word (``delivered``) must not mangle
  other feeds' log lines and ledger rows (SPEC §11).

The scope follows the code through ``contextvars``: a run's worker thread
enters its scope, and the logging filter masks with the scope of the thread
that logs.

What a server says goes through ``echoed`` where it becomes an error: the
password of the target it came from is masked there whatever its length (a
server may echo it back: ``530 bad password abcde``), and the text is cut to
``STORED_LIMIT`` characters. What is kept as a run's error (ledger, pages,
alerts) goes through ``stored`` (SPEC §11).
"""

from __future__ import annotations

import contextvars
import logging
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import quote

MASK = "********"
#: Shorter secrets are masked where they are known (``show``, manifests) but not
#: searched for in free text: masking "stock" or "price" everywhere would mangle
#: ordinary messages, and a password that short protects little anyway.
MIN_LENGTH = 6
#: a server's or Hub's text kept as a run's error is cut to this many characters (SPEC §11)
STORED_LIMIT = 500


class Secrets:
    """A set of secret values, masked in text together with its parent's."""

    def __init__(self, parent: Secrets | None = None):
        self.parent = parent
        self._lock = threading.Lock()
        self._values: set[str] = set()

    def add(self, *values: object) -> None:
        with self._lock:
            for value in values:
                if value is None:
                    continue
                if hasattr(value, "get_secret_value"):
                    value = value.get_secret_value()
                text = str(value)
                if len(text) >= MIN_LENGTH:
                    self._values.add(text)
                    encoded = quote(text, safe="")
                    if encoded != text:
                        self._values.add(encoded)

    def __getstate__(self) -> dict[str, object]:
        """A run's secrets travel with its result from a worker process: its own values, not the operator's."""
        return {"values": self.values() - OPERATOR.values() if self is not OPERATOR else set()}

    def __setstate__(self, state: dict[str, object]) -> None:
        self._lock = threading.Lock()
        self._values = set(state["values"])  # type: ignore[call-overload]
        self.parent = OPERATOR  # the receiving process's operator secrets (the same settings)

    def values(self) -> set[str]:
        with self._lock:
            own = set(self._values)
        return own | self.parent.values() if self.parent is not None else own

    def clear(self) -> None:
        with self._lock:
            self._values.clear()

    def mask(self, text: str) -> str:
        if not text:
            return text
        for secret in sorted(self.values(), key=len, reverse=True):
            if secret in text:
                text = text.replace(secret, MASK)
        return text


#: the operator's secrets: masked in everything the process writes
OPERATOR = Secrets()
_current: contextvars.ContextVar[Secrets] = contextvars.ContextVar("feeds_secrets", default=OPERATOR)


def current() -> Secrets:
    return _current.get()


@contextmanager
def run_scope() -> Iterator[Secrets]:
    """A scope for one feed run: its secrets are masked inside it, and only there."""
    scope = Secrets(parent=OPERATOR)
    token = _current.set(scope)
    try:
        yield scope
    finally:
        _current.reset(token)


def mask_known(text: str, *secrets: object) -> str:
    """``text`` with these secrets masked whatever their length: masking by structure, where it is known that
    they are the secrets of what ``text`` speaks of (a feed's password in a server's answer to that feed's
    login). One shorter than ``MIN_LENGTH`` is masked where it stands as a word of its own (not inside a
    longer run of letters and digits), so that a password "pass" does not mangle "passive"."""
    for secret in secrets:
        if hasattr(secret, "get_secret_value"):
            secret = secret.get_secret_value()
        if not isinstance(secret, str) or not secret:
            continue
        if len(secret) >= MIN_LENGTH:
            text = text.replace(secret, MASK)
        else:
            text = re.sub(rf"(?<![A-Za-z0-9]){re.escape(secret)}(?![A-Za-z0-9])", MASK, text)
    return text


def register(*values: object) -> None:
    """Register secret values in the current scope (process-wide outside a run)."""
    current().add(*values)


def forget_all() -> None:
    """Forget every registered operator secret (for tests, which must not see each other's)."""
    OPERATOR.clear()


def redact(text: str) -> str:
    """Return ``text`` with every secret of the current scope replaced by ``MASK``."""
    return current().mask(text)


def echoed(text: str, *passwords: str) -> str:
    """A server's text for an error message: secrets masked, ``passwords`` (the target's) whatever their length.

    A password shorter than ``MIN_LENGTH`` is masked where it stands as a word
    of its own (between characters that are not letters, digits or ``_``): a
    password ``5`` masked inside ``530`` would mangle the reply and, by the
    gap it leaves, give itself away. Longer ones are masked wherever they are.
    The text is then made one line (a multi-line reply's line breaks would
    break log lines) and cut to ``STORED_LIMIT`` characters.
    """
    text = redact(text)
    for password in sorted(filter(None, passwords), key=len, reverse=True):
        if len(password) >= MIN_LENGTH:
            text = text.replace(password, MASK)
        else:
            text = re.sub(rf"(?<!\w){re.escape(password)}(?!\w)", MASK, text)
    return cut(" ".join(text.split()))


def cut(text: str, limit: int = STORED_LIMIT) -> str:
    """``text`` in at most ``limit`` characters: the middle is cut and marked, so that the start (what failed)
    and the end (what to do about it) stay."""
    if len(text) <= limit:
        return text
    mark = " […] "
    for _ in range(2):  # the mark's length depends on the count it states
        kept = limit - len(mark)
        mark = f" […{len(text) - kept:,} characters cut…] "
    kept = limit - len(mark)
    head = kept * 2 // 3
    return text[:head] + mark + text[len(text) - (kept - head):]


def stored(text: str | None) -> str | None:
    """A run's error as it is kept (ledger, pages, alerts): secrets masked, then cut to ``STORED_LIMIT``."""
    return cut(redact(text)) if text else text


def redact_data(value: object) -> object:
    """Mask secrets in the string values of JSON-like data; keys are left alone."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: redact_data(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_data(v) for v in value]
    return value


class RedactingFilter(logging.Filter):
    """A logging filter that masks the secrets of the logging thread's scope in the final message."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if record.exc_info and not record.exc_text:
            formatter = logging.Formatter()
            record.exc_text = formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if cleaned != message or record.args:
            record.msg = cleaned
            record.args = None
        return True
