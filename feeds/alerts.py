"""Alerts (SPEC §12): someone is told when a feed fails, is held, and recovers.

One alert per feed per streak: a feed that fails at every wake sends one
``failed`` alert, then one ``recovered`` when it is delivered again (the
streak is kept in the ledger, so restarts do not repeat it). Alerts go to
``alerts.email`` through ``[smtp]`` and to ``alerts.webhook`` as a JSON POST
whose ``text`` is one readable sentence, so chat webhooks show it. An alert
that cannot be sent is tried briefly again, then logged; it never fails the
run. The webhook is the operator's own target: the egress rule does not apply.
"""

from __future__ import annotations

import logging
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any

from pydantic import field_validator

from . import redact, retry
from .deliver.base import Context
from .deliver.email import SmtpSettings, send_message
from .rules import email_address
from .sections import Section

if TYPE_CHECKING:
    from .ledger import Ledger
    from .runner import RunResult

log = logging.getLogger("feeds.alerts")

#: each try of an alert waits at most this long (the tries themselves: ``retry.ALERTS``)
ALERT_TIMEOUT = 10.0


class AlertsSettings(Section):
    """``[alerts]``: who is told when a feed fails, is held or recovers."""

    email: list[str] = []
    webhook: str = ""

    @field_validator("email")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        for address in value:
            email_address(address)
        return value

    @field_validator("webhook")
    @classmethod
    def _url(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value


def event_of(ledger: Ledger, result: RunResult, final: bool) -> str | None:
    """The alert a run's outcome calls for, given the feed's streak; the streak is updated."""
    feed_id = result.feed_id
    if feed_id is None:
        return None
    if result.status == "delivered":
        previous = ledger.streaks.get(feed_id)
        return "recovered" if ledger.streaks.set(feed_id, "ok") and previous != "ok" else None
    if result.status == "held":
        return "held" if ledger.streaks.set(feed_id, "held") else None
    if result.status == "failed" and final:
        return "failed" if ledger.streaks.set(feed_id, "failed") else None
    return None


def sentence(event: str, result: RunResult) -> str:
    who = f"Feed {result.feed_id} ({result.feed_name}) of organisation {result.organisation}"
    error = redact.cut(result.mask(result.error or ""))  # as the ledger keeps it: masked, then cut (SPEC §11)
    if event == "failed":
        return f"{who} failed: {error}"
    if event == "held":
        return f"{who} was held, not sent: {error}. Release it with: feeds release {result.run_id}"
    return f"{who} recovered: {result.rows} rows delivered to {result.destination}"


class Alerts:
    """Who is told (``[alerts]``), and the mail server that tells them (``[smtp]``)."""

    def __init__(self, alerts: AlertsSettings, smtp: SmtpSettings, timeout: float = ALERT_TIMEOUT):
        self.alerts = alerts
        self.smtp = smtp
        self.timeout = min(ALERT_TIMEOUT, timeout)

    def after_run(self, ledger: Ledger, result: RunResult, *, final: bool = True) -> str | None:
        """Send the alert a run calls for, if any; never raises. Returns the event sent (or attempted)."""
        try:
            event = event_of(ledger, result, final)
        except Exception as exc:  # the ledger is down: the run is recorded elsewhere; say so and go on
            log.warning("feed %s: could not read its alert streak (%s)", result.feed_id, exc)
            return None
        if event is None:
            return None
        text = result.mask(sentence(event, result))  # the run's own secrets (its feed's password) too
        payload: dict[str, Any] = {
            "event": event, "feed_id": result.feed_id, "organisation": result.organisation,
            "feed_name": result.feed_name, "run_id": result.run_id,
            "slot_start": result.slot_start.isoformat() if result.slot_start else None,
            "error": redact.cut(result.mask(result.error)) if result.error else None,
            "changes": result.changes.to_json() if result.changes else None, "text": text,
        }
        if self.alerts.webhook:
            _try(f"the {event} alert to alerts.webhook", lambda: self._post(payload))
        for address in self.alerts.email:
            _try(f"the {event} alert to {address}", lambda address=address: self._mail(address, text))
        if not self.alerts.webhook and not self.alerts.email:
            log.info("feed %s: %s (no [alerts] configured)", result.feed_id, text)
        return event

    def _post(self, payload: dict[str, Any]) -> None:
        import httpx  # lazy: only an alert needs httpx

        answer = httpx.post(self.alerts.webhook, json=payload, timeout=self.timeout)
        answer.raise_for_status()

    def _mail(self, address: str, text: str) -> None:
        message = EmailMessage()
        message["Subject"] = "[feeds] " + " ".join(text.split())[:150]
        message["From"] = self.smtp.sender
        message["To"] = address
        message.set_content(text + "\n\nThis alert was sent by feeds; `feeds history` and the status page say more.\n")
        send_message(message, address, Context(timeout=self.timeout), self.smtp)


def _try(what: str, send: Any) -> None:
    try:
        retry.ALERTS.run(send, lambda exc: True)
    except Exception as exc:
        log.error("%s could not be sent (%s); the run is not affected", what, redact.redact(str(exc)))
