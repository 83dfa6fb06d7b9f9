"""Delivery: one module per method behind one small dispatcher.

``deliver()`` works out the target of a feed (its own server or address, or
the SITC target from the settings), writes to the outbox instead when one is
set, and otherwise calls the method's ``send`` with retries (SPEC §4).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from datetime import datetime, timezone
from types import ModuleType
from typing import Any

from pydantic import SecretStr

from ..config import FeedConfig
from ..errors import ConfigError
from . import sitc
from .base import Attempt, Context, HostKeyStore, Job, Target, with_retries

__all__ = ["Attempt", "Context", "HostKeyStore", "Job", "Target", "deliver", "target_for"]

#: the module that delivers each protocol, imported when first used: a run
#: that mails its file never loads paramiko, one that uploads never loads jinja2
METHODS = {"EMAIL": "email", "FTP": "ftp", "FTPS": "ftp", "SFTP": "sftp"}


def method_module(protocol: str) -> ModuleType:
    """The module with ``send(job, target, context)`` (and ``cleanup`` for uploads)."""
    return importlib.import_module(f"{__name__}.{METHODS[protocol]}")


def target_for(feed: FeedConfig, settings: Any) -> Target:
    """Where a feed's file goes."""
    if feed.delivery_method == "EMAIL":
        return Target(protocol="EMAIL", email=feed.delivery_email or "", method="EMAIL")
    if feed.delivery_method == "SITC":
        return sitc.target(feed, settings)
    if not (feed.delivery_protocol and feed.delivery_server and feed.port):
        raise ConfigError(f"{feed.label()}: an FTP feed needs delivery_procotol and delivery_server")
    return Target(
        protocol=feed.delivery_protocol,
        host=feed.delivery_server,
        port=feed.port,
        user=feed.delivery_user or "",
        password=feed.delivery_password or SecretStr(""),
        directory=feed.delivery_path or "",
        method="FTP",
    )


def deliver(
    job: Job,
    settings: Any,
    *,
    context: Context | None = None,
    on_attempt: Callable[[Attempt], None] | None = None,
    sleep: Callable[[float], None] | None = None,
) -> tuple[str, int]:
    """Deliver ``job``; return the destination (secrets masked) and the attempts made."""
    context = context or Context(settings)
    target = target_for(job.feed, settings)
    if settings.outbox_path is not None:
        from . import outbox

        destination = outbox.write(job, target, settings, settings.outbox_path)
        if on_attempt:
            now = datetime.now(timezone.utc)
            on_attempt(Attempt(1, now, now, None))
        return destination, 1
    module = method_module(target.protocol)
    send = module.send
    options = {"sleep": sleep} if sleep is not None else {}
    try:
        return with_retries(
            lambda: send(job, target, context),
            attempts=settings.delivery.attempts,
            wait=settings.delivery.retry_wait,
            on_attempt=on_attempt,
            label=f"delivery of {job.feed.label()} to {target.describe(job.filename)}",
            **options,
        )
    except BaseException:
        cleanup = getattr(module, "cleanup", None)  # removes what the last attempt could not
        if cleanup and context.leftovers:
            cleanup(target, context)
        raise
