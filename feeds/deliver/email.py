"""EMAIL delivery (smtplib, email): templated mail with the CSV attached.

The subject and the plain-text and HTML bodies come from the Jinja2 templates
in ``templates/``. The CSV is attached as ``text/csv; charset=utf-8`` under its
file name, or zipped (``<name>.zip``) when it is larger than
``smtp.max_attachment_mb``.
"""

from __future__ import annotations

import importlib.resources
import io
import logging
import smtplib
import ssl
import zipfile
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from functools import lru_cache
from typing import Any

import jinja2

from .. import redact
from ..errors import DeliveryError
from .base import Context, Job, Target, classify_os_error, tls_context

log = logging.getLogger("feeds.deliver.email")


@lru_cache(maxsize=1)
def _templates() -> jinja2.Environment:
    folder = importlib.resources.files("feeds.templates")
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(folder)),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html", "html.j2"), default_for_string=False),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )


def build_message(job: Job, sender: str, limit_bytes: int) -> EmailMessage:
    """The whole mail: headers, both bodies and the attachment."""
    data = job.path.read_bytes()
    zipped = len(data) > limit_bytes
    attachment_name = job.filename + ".zip" if zipped else job.filename
    values: dict[str, Any] = {
        "feed": job.feed,
        "feed_name": job.feed.name,
        "feed_id": job.feed.id,
        "generated_at": job.generated_at,
        "generated": job.generated_at.strftime("%Y-%m-%d %H:%M UTC"),
        "rows": job.rows,
        "size": job.size,
        "columns": ["sku", *job.feed.columns],
        "filename": job.filename,
        "attachment_name": attachment_name,
        "zipped": zipped,
    }
    env = _templates()
    subject = " ".join(env.get_template("email_subject.txt.j2").render(values).split())
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = sender
    message["To"] = job.feed.delivery_email
    message["Date"] = formatdate(job.generated_at.timestamp(), usegmt=True)
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    message.set_content(env.get_template("email_body.txt.j2").render(values))
    message.add_alternative(env.get_template("email_body.html.j2").render(values), subtype="html")
    if zipped:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(job.filename, data)
        message.add_attachment(buffer.getvalue(), maintype="application", subtype="zip", filename=attachment_name)
    else:
        message.add_attachment(data, maintype="text", subtype="csv", filename=attachment_name,
                               params={"charset": "utf-8"})
    return message


def _tls_context(settings: Any) -> ssl.SSLContext:
    return tls_context(settings.smtp.ca_file, settings.smtp.verify, "SMTP", "smtp.verify")


def _error(exc: BaseException, what: str) -> DeliveryError:
    if isinstance(exc, DeliveryError):
        return exc
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return DeliveryError(f"{what}: the server refused the login ({exc.smtp_code}); check smtp.username and smtp.password")
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        detail = "; ".join(f"{addr}: {code} {msg.decode('utf-8', 'replace') if isinstance(msg, bytes) else msg}"
                           for addr, (code, msg) in exc.recipients.items())
        transient = all(400 <= code < 500 for code in codes)
        return DeliveryError(f"{what}: the server refused the address ({detail})", transient=transient)
    if isinstance(exc, smtplib.SMTPResponseException):
        text = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
        transient = 400 <= exc.smtp_code < 500
        return DeliveryError(f"{what}: the server answered {exc.smtp_code} {redact.redact(text)}", transient=transient)
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return DeliveryError(f"{what}: {exc} (check smtp.security)")
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return DeliveryError(f"{what}: the server closed the connection", transient=True)
    if isinstance(exc, smtplib.SMTPException):
        return DeliveryError(f"{what}: {redact.redact(str(exc))}", transient=True)
    return classify_os_error(exc, what)


def send_message(message: EmailMessage, recipient: str, context: Context) -> None:
    settings = context.settings
    smtp_settings = settings.smtp
    where = f"SMTP {smtp_settings.host}:{smtp_settings.port}"
    timeout = smtp_settings.timeout
    client: smtplib.SMTP | None = None
    try:
        try:
            if smtp_settings.security == "ssl":
                client = smtplib.SMTP_SSL(smtp_settings.host, smtp_settings.port, timeout=timeout,
                                          context=_tls_context(settings))
            else:
                client = smtplib.SMTP(smtp_settings.host, smtp_settings.port, timeout=timeout)
            client.ehlo()
            if smtp_settings.security == "starttls":
                client.starttls(context=_tls_context(settings))
                client.ehlo()
        except Exception as exc:
            raise _error(exc, f"connecting to {where}") from None
        try:
            if smtp_settings.username:
                client.login(smtp_settings.username, smtp_settings.password.get_secret_value())
        except Exception as exc:
            raise _error(exc, f"logging in to {where}") from None
        context.check_cancel()
        try:
            client.send_message(message, from_addr=smtp_settings.sender, to_addrs=[recipient])
        except Exception as exc:
            raise _error(exc, f"sending to {recipient} through {where}") from None
    finally:
        if client is not None:
            try:
                client.quit()
            except Exception:
                client.close()


def send(job: Job, target: Target, context: Context) -> str:
    """Mail ``job`` to the feed's address; return the destination."""
    limit = int(context.settings.smtp.max_attachment_mb * 1024 * 1024)
    message = build_message(job, context.settings.smtp.sender, limit)
    send_message(message, target.email, context)
    return target.describe(job.filename)
