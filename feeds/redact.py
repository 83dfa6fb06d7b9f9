"""Keeping secrets out of everything the product writes.

Secrets (the Hub client secret and tokens, delivery passwords, the SMTP and
SITC passwords) are registered here as soon as they are read. A logging filter
replaces them in every log record, and ``redact()`` does the same for error
messages, ledger rows and manifests, so that a secret that slips into a
message (a server echoing a password, an exception's text) is still masked.
"""

from __future__ import annotations

import logging
import threading
from urllib.parse import quote

MASK = "********"
#: Shorter secrets are masked where they are known (``show``, manifests) but not
#: searched for in free text: masking "stock" or "price" everywhere would mangle
#: ordinary messages, and a password that short protects little anyway.
MIN_LENGTH = 6

_lock = threading.Lock()
_secrets: set[str] = set()


def register(*values: object) -> None:
    """Remember secret values so that they are masked wherever they appear."""
    with _lock:
        for value in values:
            if value is None:
                continue
            if hasattr(value, "get_secret_value"):
                value = value.get_secret_value()
            text = str(value)
            if len(text) >= MIN_LENGTH:
                _secrets.add(text)
                encoded = quote(text, safe="")
                if encoded != text:
                    _secrets.add(encoded)


def forget_all() -> None:
    """Forget every registered secret (for tests, which must not see each other's)."""
    with _lock:
        _secrets.clear()


def redact(text: str) -> str:
    """Return ``text`` with every registered secret replaced by ``MASK``."""
    if not text:
        return text
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


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
    """A logging filter that masks registered secrets in the final message."""

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
