"""The EMAIL method (smtplib, email): templated mail with the CSV attached.

The subject and the plain-text and HTML bodies come from the Jinja2 templates
in ``templates/``. The CSV is attached as ``text/csv; charset=utf-8`` under its
file name, or zipped (``<name>.zip``) when it is larger than
``smtp.max_attachment_mb``. The mail server is the operator's, set in
``[smtp]``; the feed gives the address.
"""

from __future__ import annotations

import binascii
import io
import logging
import re
import smtplib
import ssl
import uuid
import zipfile
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import AfterValidator, Field, SecretStr

from .. import redact, rules
from ..templating import environment
from ..errors import DeliveryError
from ..filenames import fit
from ..sections import LocalPath, Section
from . import limits
from .base import Context, Job, Target, classify_os_error, tls_context
from .method import FeedField, Method, Own

if TYPE_CHECKING:
    from ..config import FeedConfig

log = logging.getLogger("feeds.deliver.email")


class SmtpSettings(Section):
    """``[smtp]``: the operator's mail server, for EMAIL feeds (and alerts)."""

    host: str = "localhost"
    port: int = Field(587, ge=1, le=65535)
    security: Literal["starttls", "ssl", "none"] = "starttls"
    username: str = ""
    password: SecretStr = SecretStr("")
    sender: str = "feeds@example.com"
    max_attachment_mb: float = Field(10.0, gt=0)
    verify: bool = True
    ca_file: LocalPath = ""
    timeout: float = Field(60.0, gt=0)

    def notices(self) -> list[str]:
        if self.security == "none" and self.username:
            return ['smtp.security is "none" with smtp.username set: the SMTP password crosses the network '
                    "unencrypted; use starttls or ssl"]
        return []


@dataclass(frozen=True)
class Mailbox:
    """The place of an EMAIL feed's target: the one address it is mailed to."""

    address: str


_SUBJECT, _TEXT, _HTML = "email_subject.txt.j2", "email_body.txt.j2", "email_body.html.j2"
#: an attachment at least this large is put in place as base64 text made in one go (``Mail``)
_SPLICED_FROM = 64 * 1024
_BASE64_LINE = 76  # what the email package writes: 57 bytes a line, at most 78 characters with the line end


@dataclass(frozen=True)
class Mail:
    """A mail with a large attachment, made fast and byte for byte as the email package makes it.

    The email package encodes an attachment 57 bytes at a time and writes
    its base64 one line at a time: for a file of some megabytes that is most
    of a mail's cost. ``message`` holds the headers, both bodies and a small
    stand-in attachment with the real one's headers; ``as_bytes`` writes it
    and puts the real base64, encoded in one call, in the stand-in's place.
    """

    message: EmailMessage
    stand_in: bytes  #: the stand-in's base64 line, unique to this mail
    attachment: bytes  #: the real attachment

    def as_bytes(self, linesep: str = "\n", utf8: bool = False) -> bytes:
        policy = self.message.policy.clone(linesep=linesep, utf8=utf8)
        flat = self.message.as_bytes(policy=policy)
        sep = linesep.encode("ascii")
        encoded = binascii.b2a_base64(self.attachment, newline=False)
        lines = [encoded[at:at + _BASE64_LINE] for at in range(0, len(encoded), _BASE64_LINE)]
        before, found, after = flat.partition(self.stand_in + sep)
        if not found:
            raise AssertionError("the mail's attachment stand-in was not written")
        return b"".join((before, sep.join(lines), sep, after))

    def __getitem__(self, header: str) -> Any:
        return self.message[header]


def build_message(job: Job, sender: str, limit_bytes: int) -> EmailMessage | Mail:
    """The whole mail: headers, both bodies and the attachment (a ``Mail`` when the attachment is large)."""
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
        "changes": job.changes,
    }
    env = environment()
    subject = " ".join(env.get_template(_SUBJECT).render(values).split())
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = sender
    message["To"] = job.feed.delivery_email
    message["Date"] = formatdate(job.generated_at.timestamp(), usegmt=True)
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    message.set_content(env.get_template(_TEXT).render(values))
    message.add_alternative(env.get_template(_HTML).render(values), subtype="html")
    if zipped:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(job.filename, data)
        data, kind = buffer.getvalue(), {"maintype": "application", "subtype": "zip"}
    else:
        kind = {"maintype": "text", "subtype": "csv", "params": {"charset": "utf-8"}}
    if len(data) < _SPLICED_FROM:
        message.add_attachment(data, filename=attachment_name, **kind)
        return message
    stand_in = f"feeds-attachment-{uuid.uuid4().hex}".encode("ascii")  # one base64 line (at most 57 bytes)
    message.add_attachment(stand_in, filename=attachment_name, **kind)
    return Mail(message, binascii.b2a_base64(stand_in, newline=False), data)


def _tls_context(smtp: SmtpSettings) -> ssl.SSLContext:
    return tls_context(smtp.ca_file, smtp.verify, "SMTP", "smtp.verify")


def _error(exc: BaseException, what: str, smtp: SmtpSettings) -> DeliveryError:
    """The error a failed SMTP step is; the server's text in it with smtp.password masked (SPEC §11)."""
    if isinstance(exc, DeliveryError):
        return exc

    def echoed(said: object) -> str:
        return redact.echoed(_text(said), smtp.password.get_secret_value())

    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return DeliveryError(f"{what}: the server refused the login ({exc.smtp_code}); check smtp.username and smtp.password",
                             reason="login refused")
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        detail = echoed("; ".join(f"{addr}: {code} {_text(msg)}" for addr, (code, msg) in exc.recipients.items()))
        transient = all(400 <= code < 500 for code in codes)
        return DeliveryError(f"{what}: the server refused the address ({detail})", transient=transient)
    if isinstance(exc, smtplib.SMTPResponseException):
        transient = 400 <= exc.smtp_code < 500
        return DeliveryError(f"{what}: the server answered {exc.smtp_code} {echoed(exc.smtp_error)}",
                             transient=transient)
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return DeliveryError(f"{what}: {echoed(exc)} (check smtp.security)")
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return DeliveryError(f"{what}: the server closed the connection", transient=True)
    if isinstance(exc, smtplib.SMTPException):
        return DeliveryError(f"{what}: {echoed(exc)}", transient=True)
    return classify_os_error(exc, what)


def _text(said: object) -> str:
    """What a mail server said (bytes in smtplib's errors), as text."""
    return said.decode("utf-8", "replace") if isinstance(said, bytes) else str(said)


#: what an EMAIL delivery publishes: the final dot of the mail
_COMMIT = "the mail's final dot"


class _CappedReader:
    """The reply stream of an SMTP connection, read with a cap per reply (SPEC §11)."""

    def __init__(self, inner: Any, budget: limits.ReplyBudget):
        self._inner = inner
        self.budget = budget

    def readline(self, size: int = -1) -> bytes:
        line = self._inner.readline(size)
        self.budget.spend(line)
        return line

    def close(self) -> None:
        self._inner.close()


class _Bounded:
    """smtplib with every reply capped and every socket handed to the run (its deadline cuts them).

    ``data`` tells ``on_commit`` between the message and its final dot: the
    server accepts a mail only at that dot, so that is the step a delivery
    records before taking (``Context.publish``).
    """

    on_socket: Any = None
    on_commit: Any = None
    on_refused: Any = None
    file: Any
    sock: Any

    def data(self, msg: bytes | str) -> tuple[int, bytes]:
        self.putcmd("data")  # type: ignore[attr-defined]
        code, reply = self.getreply()
        if code != 354:
            raise smtplib.SMTPDataError(code, reply)
        if isinstance(msg, str):  # as smtplib does: line ends fixed for text, bytes sent as they are
            msg = re.sub(r"(?:\r\n|\n|\r(?!\n))", "\r\n", msg).encode("ascii")
        body = re.sub(rb"(?m)^\.", b"..", msg)
        if not body.endswith(b"\r\n"):
            body += b"\r\n"
        self.send(body)  # type: ignore[attr-defined]
        if self.on_commit is not None:
            self.on_commit()
        self.send(b".\r\n")  # type: ignore[attr-defined]
        code, reply = self.getreply()
        if code != 250 and self.on_refused is not None:
            self.on_refused()  # the server answered: it did not take the mail, so it may be sent again
        return code, reply

    def getreply(self) -> tuple[int, bytes]:
        if self.file is None and self.sock is not None:
            self.file = _CappedReader(self.sock.makefile("rb"), limits.ReplyBudget(f"the mail server {self._host}"))
        if isinstance(self.file, _CappedReader):
            self.file.budget.reset()
        return super().getreply()  # type: ignore[misc]

    def _get_socket(self, host: str, port: int, timeout: float) -> Any:
        sock = super()._get_socket(host, port, timeout)  # type: ignore[misc]
        if self.on_socket is not None:
            self.on_socket(sock)
        return sock

    def starttls(self, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        answer = super().starttls(*args, **kwargs)  # type: ignore[misc]
        if self.on_socket is not None:
            self.on_socket(self.sock)  # the TLS socket replaces the plain one
        return answer


class BoundedSMTP(_Bounded, smtplib.SMTP):
    pass


class BoundedSMTP_SSL(_Bounded, smtplib.SMTP_SSL):
    pass


class _Session:
    """An SMTP connection set up as ``[smtp]`` says: TLS, then the login."""

    def __init__(self, smtp: SmtpSettings, context: Context | None = None):
        self.smtp = smtp
        self.context = context
        self.where = f"SMTP {smtp.host}:{smtp.port}"
        self.client: smtplib.SMTP | None = None

    def __enter__(self) -> smtplib.SMTP:
        smtp = self.smtp
        try:
            client: _Bounded
            if smtp.security == "ssl":
                client = BoundedSMTP_SSL(timeout=smtp.timeout, context=_tls_context(smtp))
            else:
                client = BoundedSMTP(timeout=smtp.timeout)
            if self.context is not None:
                client.on_socket = self.context.opened
                client.on_commit = lambda: self.context.publish(_COMMIT)
                client.on_refused = self.context.unpublish
            self.client = client  # type: ignore[assignment]
            client._host = smtp.host  # type: ignore[attr-defined]
            self.client.connect(smtp.host, smtp.port)
            self.client.ehlo()
            if smtp.security == "starttls":
                self.client.starttls(context=_tls_context(smtp))
                self.client.ehlo()
        except Exception as exc:
            self.__exit__()
            raise _error(exc, f"connecting to {self.where}", smtp) from None
        try:
            if smtp.username:
                self.client.login(smtp.username, smtp.password.get_secret_value())
        except Exception as exc:
            self.__exit__()
            raise _error(exc, f"logging in to {self.where}", smtp) from None
        return self.client

    def __exit__(self, *exc: object) -> None:
        if self.client is not None:
            try:
                self.client.quit()
            except Exception:
                self.client.close()
            self.client = None


def _send_mail(client: smtplib.SMTP, mail: Mail, sender: str, recipient: str) -> None:
    """What ``smtplib.SMTP.send_message`` does, with the mail's bytes made by ``Mail.as_bytes``."""
    options: tuple[str, ...] = ()
    international = not (sender + recipient).isascii()
    if international:
        if not client.has_extn("smtputf8"):
            raise smtplib.SMTPNotSupportedError("One or more source or delivery addresses require internationalized "
                                                "email support, but the server does not advertise the required "
                                                "SMTPUTF8 capability")
        options = ("SMTPUTF8", "BODY=8BITMIME")
    client.sendmail(sender, [recipient], mail.as_bytes("\r\n", utf8=international), options)


def send_message(message: EmailMessage | Mail, recipient: str, context: Context, smtp: SmtpSettings) -> None:
    session = _Session(smtp, context)
    with session as client:
        context.check_cancel()
        try:
            if isinstance(message, Mail):
                _send_mail(client, message, smtp.sender, recipient)
            else:
                client.send_message(message, from_addr=smtp.sender, to_addrs=[recipient])
        except Exception as exc:
            raise _error(exc, f"sending to {recipient} through {session.where}", smtp) from None


def _limit(smtp: SmtpSettings) -> int:
    return int(smtp.max_attachment_mb * 1024 * 1024)


class EmailMethod(Method):
    name = "EMAIL"
    fields = {
        "delivery_email": FeedField(
            Annotated[str | None, AfterValidator(rules.email_address)],
            Field(None, max_length=254, description="Exactly one address, for EMAIL."),
            "one address such as orders@example.com",
        ),
    }
    required = ("delivery_email",)
    natural_values = {"delivery_method": {"mail": ("EMAIL", ""), "smtp": ("EMAIL", "")}}
    settings_sections = {"smtp": SmtpSettings}

    def destination(self, raw: Mapping[str, Any]) -> str:
        return str(raw.get("delivery_email") or "")

    def target(self, feed: FeedConfig, own: Own) -> Target:
        return Target(self, Mailbox(feed.delivery_email or ""))

    def describe(self, target: Target, filename: str = "") -> str:
        return f"email to {target.place.address}"

    def landed(self, target: Target, context: Context, own: Own) -> bool | None:
        """A mail interrupted after its final dot cannot be told: the server had all of it, and may have taken
        it (most do before they answer) or dropped it; no mail server can be asked afterwards."""
        return None

    def prepare(self, target: Target | None = None) -> None:
        """The templates compiled, and the parts of the email package a mail uses loaded."""
        import importlib

        for module in ("email.contentmanager", "email.headerregistry"):  # loaded on a message's first use
            importlib.import_module(module)

        env = environment()
        for name in (_SUBJECT, _TEXT, _HTML):
            env.get_template(name)

    def probe_key(self, target: Target) -> Hashable:
        return self.name  # every EMAIL feed goes through the one mail server of [smtp]: one probe

    def send(self, job: Job, target: Target, context: Context, own: Own) -> str:
        """Mail ``job`` to the feed's address; return the destination."""
        smtp: SmtpSettings = own.smtp
        message = build_message(job, smtp.sender, _limit(smtp))
        send_message(message, target.place.address, context, smtp)
        return target.describe(job.filename)

    def probe(self, target: Target, context: Context, own: Own) -> str:
        """Connect, start TLS and log in as ``[smtp]`` says; no mail is sent."""
        smtp: SmtpSettings = own.smtp
        with _Session(smtp, context):
            pass
        security = {"starttls": "STARTTLS", "ssl": "TLS", "none": "no TLS"}[smtp.security]
        login = "logged in" if smtp.username else "no login configured"
        return f"connected ({security}), {login}; no mail sent"

    def outbox_file(self, job: Job, target: Target, own: Own) -> tuple[str, bytes, dict[str, Any]]:
        smtp: SmtpSettings = own.smtp
        message = build_message(job, smtp.sender, _limit(smtp))
        details = {"email": {
            "smtp": f"{smtp.host}:{smtp.port} ({smtp.security})",
            "from": message["From"],
            "to": message["To"],
            "subject": message["Subject"],
        }}
        return fit(job.filename, suffix=".eml"), message.as_bytes(), details


METHOD = EmailMethod()
