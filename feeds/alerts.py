"""Alerts (SPEC §12): someone is told when a feed fails, is held, and recovers.

One alert per feed per streak: a feed that fails at every wake sends one
``failed`` alert, then one ``recovered`` when it is delivered again (the
streak is kept in the ledger, so restarts do not repeat it). Alerts go to
``alerts.email`` through ``[smtp]`` and to ``alerts.webhook`` as a JSON POST
whose ``text`` is one readable sentence, so chat webhooks show it. The
webhook is the operator's own target: the egress rule does not apply.

Off the workers' path (SPEC §11): ``after_run`` decides the event (the
streak, in the ledger), keeps the alert in the ledger and hands it to the
sender thread (``alert_sender.py``), and returns. Each try of an alert is one
exchange with a deadline on the whole of it (the POST from connect to the
last byte of the answer; the whole SMTP conversation), and what is read back
is capped, so a receiver that trickles or never ends its reply costs a try,
not a worker or memory. An alert that cannot be sent is tried again
(``retry.ALERTS``), then logged; it never fails the run.
"""

from __future__ import annotations

import logging
import threading
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any

import httpx
from pydantic import field_validator

from . import bounded, redact, retry
from .alert_sender import AlertSender
from .deliver import limits
from .deliver.base import Context
from .deliver.email import SmtpSettings, send_message
from .rules import email_address
from .sections import Section

if TYPE_CHECKING:
    from .ledger import Ledger, PendingAlert
    from .runner import RunResult

log = logging.getLogger("feeds.alerts")

#: each try of an alert ends within this many seconds, its whole exchange (the tries: ``retry.ALERTS``)
ALERT_TIMEOUT = 10.0
#: how long a command that exits, or a daemon that stops, waits for its alerts to go out
DRAIN_SECONDS = 15.0
#: the recipient of an alert kept for the webhook (its URL may hold a token: it is not stored)
WEBHOOK = "webhook"


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


def payload_of(event: str, result: RunResult) -> dict[str, Any]:
    """The webhook's JSON body; its ``text`` is the mail's too. The run's own secrets are masked."""
    return {
        "event": event, "feed_id": result.feed_id, "organisation": result.organisation,
        "feed_name": result.feed_name, "run_id": result.run_id,
        "slot_start": result.slot_start.isoformat() if result.slot_start else None,
        "error": redact.cut(result.mask(result.error)) if result.error else None,  # as the ledger keeps it
        "changes": result.changes.to_json() if result.changes else None,
        "text": result.mask(sentence(event, result)),
    }


def post_json(url: str, payload: dict[str, Any], bound: bounded.Bound) -> httpx.Response:
    """POST ``payload`` as JSON; the whole exchange ends by ``bound``, and at most its cap is read back."""
    with bounded.within(bound), httpx.Client(transport=bounded.transport(), timeout=max(0.1, bound.left()),
                                             follow_redirects=False) as client:
        return client.post(url, json=payload)


class Alerts:
    """Who is told (``[alerts]``), the mail server that tells them (``[smtp]``), and the sender thread.

    ``start(ledger)`` starts the sender (and sends what a stopped process left
    unsent); ``after_run`` starts it when needed; ``close`` (or leaving a
    ``with`` block) waits for the queue, ``DRAIN_SECONDS`` at most.
    """

    def __init__(self, alerts: AlertsSettings, smtp: SmtpSettings, timeout: float = ALERT_TIMEOUT):
        self.alerts = alerts
        self.smtp = smtp
        self.timeout = min(ALERT_TIMEOUT, timeout)
        self._sender: AlertSender | None = None
        self._sender_lock = threading.Lock()

    def recipients(self) -> list[str]:
        return ([WEBHOOK] if self.alerts.webhook else []) + list(self.alerts.email)

    # --- lifecycle -------------------------------------------------------------------

    def start(self, ledger: Ledger | None = None) -> Alerts:
        """Start the sender; with ``ledger``, it first sends the alerts a stopped process left unsent there."""
        with self._sender_lock:
            if self._sender is None and self.recipients():
                self._sender = AlertSender(self._deliver).start(ledger.alerts if ledger is not None else None)
        return self

    def close(self, timeout: float = DRAIN_SECONDS) -> bool:
        """Wait ``timeout`` seconds at most for the queued alerts; True when all were done."""
        with self._sender_lock:
            sender, self._sender = self._sender, None
        return sender.close(timeout) if sender is not None else True

    def __enter__(self) -> Alerts:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- a run's alert -----------------------------------------------------------------

    def after_run(self, ledger: Ledger, result: RunResult, *, final: bool = True) -> str | None:
        """Queue the alert a run calls for, if any, and return at once; never raises. Returns the event."""
        try:
            event = event_of(ledger, result, final)
        except Exception as exc:  # the ledger is down: the run is recorded elsewhere; say so and go on
            log.warning("feed %s: could not read its alert streak (%s)", result.feed_id, exc)
            return None
        if event is None:
            return None
        payload = payload_of(event, result)
        recipients = self.recipients()
        if not recipients:
            log.info("feed %s: %s (no [alerts] configured)", result.feed_id, payload["text"])
            return event
        self._queue(ledger, result.feed_id or 0, event, recipients, payload)
        return event

    def _queue(self, ledger: Ledger, feed_id: int, event: str, recipients: list[str],
               payload: dict[str, Any]) -> None:
        """Keep the alert in the ledger (so that a restart still sends it), then hand it to the sender."""
        from .ledger import PendingAlert

        outbox: Any = ledger.alerts
        try:
            pending = outbox.add(feed_id, event, recipients, payload)
        except Exception as exc:
            log.warning("feed %s: the %s alert could not be kept in the ledger (%s); sending it all the same",
                        feed_id, event, exc)
            outbox, pending = None, [PendingAlert(None, feed_id, event, r, payload) for r in recipients]
        sender = self.start(ledger)._sender
        if sender is None:
            return  # closed meanwhile (the process is stopping): kept, the next start sends it
        for alert in pending:
            sender.put(outbox, alert)

    # --- one alert to one recipient, on the sender's thread -----------------------------

    def _deliver(self, alert: PendingAlert) -> bool:
        """Send ``alert``, tried ``retry.ALERTS``; False (logged) when it could not be sent."""
        to_webhook = alert.recipient == WEBHOOK
        what = f"feed {alert.feed_id}: the {alert.event} alert to {'alerts.webhook' if to_webhook else alert.recipient}"
        if to_webhook and not self.alerts.webhook:
            log.error("%s could not be sent: alerts.webhook is no longer set", what)
            return False
        if to_webhook:
            def send() -> None:
                self._post(alert.payload)
        else:
            def send() -> None:
                self._mail(alert.recipient, str(alert.payload.get("text") or ""))
        try:
            retry.ALERTS.run(send, lambda exc: True)
        except Exception as exc:
            log.error("%s could not be sent (%s); the run is not affected", what, redact.redact(str(exc)))
            return False
        log.info("%s was sent", what)
        return True

    @property
    def _deadline(self) -> str:
        return f"the alert passed its deadline ({self.timeout:g} s)"

    def _bound(self) -> bounded.Bound:
        """One try's bound: the whole exchange within ``self.timeout``, 64 KB read back at most."""
        return bounded.Bound.after(self.timeout, self._deadline, cap=limits.REPLY_CAP)

    def _post(self, payload: dict[str, Any]) -> None:
        answer = post_json(self.alerts.webhook, payload, self._bound())
        if answer.status_code >= 300:  # the URL is not said: it may hold the receiver's token
            raise AlertNotTaken(f"the webhook answered {answer.status_code} {answer.reason_phrase}")

    def _mail(self, address: str, text: str) -> None:
        """Mail one alert: the whole SMTP conversation is cut when the alert's deadline passes."""
        message = EmailMessage()
        message["Subject"] = "[feeds] " + " ".join(text.split())[:150]
        message["From"] = self.smtp.sender
        message["To"] = address
        message.set_content(text + "\n\nThis alert was sent by feeds; `feeds history` and the status page say more.\n")
        smtp = self.smtp.model_copy(update={"timeout": min(self.smtp.timeout, self.timeout)})  # the connect too
        context = Context(timeout=self.timeout)
        with limits.Watchdog(self.timeout) as watchdog:
            watchdog.watch(context)  # every socket of the conversation is shut when the deadline passes
            try:
                send_message(message, address, context, smtp)  # each reply capped (limits.REPLY_CAP)
            except Exception:
                if watchdog.passed.is_set():
                    raise bounded.DeadlinePassed(self._deadline) from None
                raise


class AlertNotTaken(Exception):
    """The receiver answered, but not with a success."""
