"""Value rules of single configuration fields, shared by the model and the delivery methods.

Each rule takes a value and returns it (possibly normalised) or raises a
``PydanticCustomError`` whose message says what is wrong and what would be
right. They are plain functions, used as pydantic ``AfterValidator``s, so
that the feed model, ``feeds schema`` and the run all apply them; the
delivery methods declare their fields with them (``deliver/*.py``).
"""

from __future__ import annotations

import ipaddress
import json
import re
from datetime import datetime, timezone
from typing import Any

from pydantic import SecretStr
from pydantic_core import PydanticCustomError

from .filenames import check_filename, expand_pattern

CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_LINE_BREAK = re.compile(r"[\r\n]")
_HOST_LABEL = re.compile(r"^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)$")


def fail(code: str, message: str) -> PydanticCustomError:
    return PydanticCustomError(code, message)


def show(value: Any, limit: int = 60) -> str:
    """A value as it appears in a message: short, JSON-like, never huge."""
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        text = repr(value)
    if len(text) > limit:
        size = len(value) if isinstance(value, (str, list, dict)) else len(text)
        text = text[: limit - 1] + f"… ({size} characters)" if isinstance(value, str) else text[: limit - 1] + "…"
    return text


def one_line(value: str, what: str) -> str:
    if _LINE_BREAK.search(value):
        raise fail("line_break", f"contains a line break; give {what} on one line")
    if CONTROL.search(value):
        raise fail("control_char", f"contains a control character (such as NUL or a tab); give {what} as plain text")
    return value


def feed_name(value: str) -> str:
    if not value.strip():
        raise fail("blank", "is only spaces; give the feed a name")
    return one_line(value, "the name")


def unique_items(value: tuple[str, ...]) -> tuple[str, ...]:
    seen: set[str] = set()
    for item in value:
        if item in seen:
            raise fail("repeated", f"'{item}' appears more than once; list each column once")
        seen.add(item)
    return value


def email_address(value: str | None) -> str | None:
    """Exactly one bare address (addr-spec): no display name, no list, no header injection."""
    if value is None:
        return value
    if _LINE_BREAK.search(value):
        raise fail("line_break", "contains a line break, which could inject mail headers; give one address such as orders@example.com")
    one_line(value, "the address")
    if "<" in value or ">" in value:
        raise fail("display_name", "has a display name or angle brackets; give the bare address, such as orders@example.com")
    problem = _address_form(value)
    if problem:
        raise fail("email", problem)
    return value


_EXAMPLE_ADDRESS = "such as orders@example.com"


def _address_form(value: str) -> str | None:
    """What is wrong with the form of ``value`` as one address, and what would be right.

    A list of addresses is told apart from one malformed address: ``bob@@x``
    is one address with a typo, not two addresses.
    """
    words = [word for word in re.split(r"[,;\s]+", value) if word]
    if sum("@" in word for word in words) > 1:
        return f"holds more than one address; give exactly one, {_EXAMPLE_ADDRESS}"
    separator = next((char for char in ",;" if char in value), None)
    if separator:
        return f"contains {separator!r}, which separates addresses; give one address alone, {_EXAMPLE_ADDRESS}"
    if any(char.isspace() for char in value):
        return f"contains a space; give the address without spaces, {_EXAMPLE_ADDRESS}"
    at_signs = value.count("@")
    if at_signs == 0:
        return f"has no @; an address is a mailbox, @ and a domain, {_EXAMPLE_ADDRESS}"
    if at_signs > 1:
        return (f"has {at_signs} @ signs; an address has exactly one, between the mailbox and the domain, "
                f"{_EXAMPLE_ADDRESS}")
    mailbox, domain = value.split("@")
    if not mailbox:
        return f"has nothing before the @; give the mailbox too, {_EXAMPLE_ADDRESS}"
    if not domain:
        return f"has nothing after the @; give the domain too, {_EXAMPLE_ADDRESS}"
    import email_validator  # lazy: a run with no address to check does without it (a fiftieth of a second)

    try:
        email_validator.validate_email(value, check_deliverability=False)
    except email_validator.EmailNotValidError as exc:
        sentences = [part.strip().rstrip(".") for part in str(exc).split(". ")]
        reason = ": ".join(part[:1].lower() + part[1:] for part in sentences if part)
        return f"is not a valid email address ({reason}); give one address {_EXAMPLE_ADDRESS}"
    return None


def host_name(value: str | None) -> str | None:
    """A host name or IP address only: no scheme, port, path, user or spaces."""
    if value is None:
        return value
    one_line(value, "the host name")
    if "://" in value:
        host = value.split("://", 1)[1].split("/", 1)[0].split("@")[-1].rsplit(":", 1)[0]
        raise fail("url", f"is a URL; give the host name only, such as {host or 'ftp.example.com'!r}, and the port in delivery_port")
    if " " in value or not value:
        raise fail("spaces", "contains spaces; give a host name such as ftp.example.com or an IP address")
    if "@" in value:
        raise fail("user", "contains a user name; give the host name only and the user in delivery_user")
    if "/" in value or "\\" in value:
        raise fail("path", "contains a path; give the host name only and the folder in delivery_path")
    try:
        ipaddress.ip_address(value.strip("[]"))
        return value.strip("[]")
    except ValueError:
        pass
    if ":" in value:
        raise fail("port", "contains a port; give the host name only and the port in delivery_port")
    if not value.isascii():
        raise fail("idn", "is not ASCII; give the host name in its ASCII (xn--) form")
    labels = value.rstrip(".").split(".")
    if not all(_HOST_LABEL.match(label) for label in labels):
        raise fail("host", "is not a valid host name; give a host name such as ftp.example.com or an IP address")
    return value


def user_name(value: str | None) -> str | None:
    return None if value is None else one_line(value, "the user name")


def password(value: SecretStr | None) -> SecretStr | None:
    """Printable: FTP and SSH cannot send a line break. The value is never part of a message."""
    if value is not None and CONTROL.search(value.get_secret_value()):
        raise fail("control_char", "contains a line break or control character, which FTP and SFTP cannot send; set a password of printable characters")
    return value


def folder(value: str | None) -> str | None:
    if value is None:
        return value
    one_line(value, "the folder")
    if ".." in value.replace("\\", "/").split("/"):
        raise fail("parent", "contains '..'; give the folder without parent references, such as /incoming/feeds")
    return value


def filename_pattern(value: str | None) -> str | None:
    """A strftime pattern whose expansion is a safe file name (checked at a sample time)."""
    if value is None:
        return value
    # Checked before expansion: strftime would cut the pattern at a NUL.
    if CONTROL.search(value):
        raise fail("unsafe", str(check_filename(value)))
    sample = datetime(2026, 1, 31, 23, 59, 58, tzinfo=timezone.utc)
    try:
        expanded = expand_pattern(value, sample)
    except ValueError as exc:
        raise fail("pattern", f"is not a usable strftime pattern ({exc}); try 'Stock %Y%m%d.csv'")
    problem = check_filename(expanded)
    if problem:
        raise fail("unsafe", f"gives the file name {show(expanded)}, which {problem}")
    return value


def plain_filename(value: str | None) -> str | None:
    if value is None:
        return value
    problem = check_filename(value)
    if problem:
        raise fail("unsafe", problem)
    return value
