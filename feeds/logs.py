"""Logging: one line per event on stderr, as text or JSON, secrets masked."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone

from .redact import RedactingFilter

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and any extras."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure(verbose: int = 0, fmt: str = "text", stream=None) -> None:
    """Send feeds' log records to stderr; ``-v`` shows more, ``-vv`` everything."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(RedactingFilter())
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_feeds", False):
            root.removeHandler(old)
    handler._feeds = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.getLogger("feeds").setLevel(level)
    root.setLevel(level)
    # Third-party chatter only with -vv; never their request lines by default.
    for noisy in ("httpx", "httpcore", "paramiko", "apscheduler", "mail.log", "pyftpdlib"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if verbose >= 2 else logging.WARNING)


class _HeldBack(logging.Filter):
    """Holds back every record of one logger, masked as it would have been written when it came."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []
        self._mask = RedactingFilter()

    def filter(self, record: logging.LogRecord) -> bool:
        self._mask.filter(record)  # now, in the secrets scope of the run that logs it
        record.msg, record.args = record.getMessage(), None
        self.records.append(record)
        return False


class SaidOnce:
    """Which of a command's own line and the log record saying the same reaches stderr: one of them."""

    def __init__(self, held: _HeldBack, as_text: bool):
        self._held, self._as_text = held, as_text
        self.dropped: set[str] = set()

    def say(self, line: str) -> bool:
        """Whether the command should print ``line`` itself. With text logs it does, and the record saying
        the same is dropped; with JSON logs the record (for machines) is the line, when there is one."""
        if self._as_text:
            self.dropped.add(line)
            return True
        return not any(record.msg == line for record in self._held.records)


@contextmanager
def said_once(logger_name: str, fmt: str = "text") -> Iterator[SaidOnce]:
    """Each message once on stderr: a command that prints its own line (a run's summary) asks ``say``
    whether to, and a record of ``logger_name`` saying the same is dropped, or is the line. The logger's
    records are held back until the block ends, then written in order."""
    logger = logging.getLogger(logger_name)
    held = _HeldBack()
    once = SaidOnce(held, as_text=fmt != "json")
    logger.addFilter(held)
    try:
        yield once
    finally:
        logger.removeFilter(held)
        for record in held.records:
            if record.msg not in once.dropped:
                logger.handle(record)
