"""Email: a small SMTP sender, and a delivery record so that no event is ever emailed twice.

``self.mail.send_once(kind, recipient, subject, body)`` in an event handler sends one message
for the event being handled:

* the delivery is claimed as ``sending`` in a transaction of its own, committed before the
  SMTP conversation, keyed by (event id, kind);
* a redelivered event finds it ``sent`` and sends nothing; one whose earlier try stopped
  between claiming and recording the outcome finds it ``sending`` and cannot know whether the
  message went, so it marks it ``unknown`` and does not send it again (never twice);
* an SMTP failure marks it ``failed`` and raises, so the event comes back through the retry
  queues (and is parked after the last), and the next try sends it.

Settings (container config, from the environment): ``SMTP_HOST`` (required: without it
every email fails, is retried and then parked where an operator sees it), ``SMTP_PORT``
(25), ``SMTP_FROM``, ``SMTP_USER`` / ``SMTP_PASSWORD`` (optional), ``SMTP_STARTTLS`` (``1``
to upgrade the connection), ``SMTP_TIMEOUT`` (seconds). ``make run`` points them at its
development mail server (``devtools/mail.py``).

smtplib talks through the socket module, which eventlet has made cooperative in every
process (``plumbing.runner``), so a slow mail server holds only the worker that sends.
"""
import logging
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, parseaddr

from nameko.extensions import DependencyProvider

from plumbing.db import Database, find_dependency
from plumbing.fields import new_id
from services.notification import storage

log = logging.getLogger(__name__)

TRUE = ("1", "true", "yes", "on")


@dataclass(frozen=True)
class SmtpSettings:
    host: str = None
    port: int = 25
    sender: str = "VowRewards <no-reply@vowrewards.localhost>"
    user: str = None
    password: str = None
    starttls: bool = False
    timeout: float = 10.0

    @classmethod
    def from_config(cls, config):
        defaults = cls()
        return cls(host=config.get("SMTP_HOST") or defaults.host,
                   port=int(config.get("SMTP_PORT") or defaults.port),
                   sender=config.get("SMTP_FROM") or defaults.sender,
                   user=config.get("SMTP_USER") or None,
                   password=config.get("SMTP_PASSWORD") or None,
                   starttls=str(config.get("SMTP_STARTTLS") or "").lower() in TRUE,
                   timeout=float(config.get("SMTP_TIMEOUT") or defaults.timeout))


def compose(settings, recipient, subject, body, message_id):
    """A plain-text message; its Message-ID is the delivery's, so it is the same on every try."""
    message = EmailMessage()
    message["From"] = settings.sender
    message["To"] = recipient
    message["Subject"] = subject
    message["Date"] = formatdate(usegmt=True)
    domain = parseaddr(settings.sender)[1].rpartition("@")[2] or "vowrewards.localhost"
    message["Message-ID"] = "<%s@%s>" % (message_id, domain)
    message.set_content(body)
    return message


def send(settings, message):
    if not settings.host:
        raise RuntimeError("email is not configured: set SMTP_HOST (and SMTP_PORT) for the notification service")
    with smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout) as smtp:
        if settings.starttls:
            smtp.starttls(context=ssl.create_default_context())
        if settings.user:
            smtp.login(settings.user, settings.password or "")
        smtp.send_message(message)


class OutgoingMail:
    """What a worker sees as ``self.mail``."""

    def __init__(self, mailer, worker_ctx):
        self._mailer = mailer
        self._worker_ctx = worker_ctx

    def send_once(self, kind, recipient, subject, body, merchant_id=None):
        """Send this event's ``kind`` of email once; returns ``sent``, ``already_sent`` or ``unknown``."""
        event_id = self._worker_ctx.data.get("event_id")
        if not event_id:
            raise RuntimeError("send_once is keyed by the event being handled, and this worker has none")
        pool = self._mailer.database.pool
        delivery = {"id": new_id(), "event_id": event_id, "kind": kind, "merchant_id": merchant_id,
                    "recipient": recipient, "subject": subject}
        decision, delivery_id = pool.run(lambda tx: storage.claim_delivery(tx, delivery))
        if decision == "sent":
            return "already_sent"
        if decision == "unknown":
            log.error("email %s for event %s: an earlier try stopped mid-send; not sending it again",
                      kind, event_id)
            return "unknown"
        settings = SmtpSettings.from_config(self._mailer.container.config)
        try:
            send(settings, compose(settings, recipient, subject, body, delivery_id))
        except Exception as exc:
            error = "%s: %s" % (type(exc).__name__, exc)
            pool.run(lambda tx: storage.finish_delivery(tx, delivery_id, "failed", error[:1000]))
            raise
        pool.run(lambda tx: storage.finish_delivery(tx, delivery_id, "sent"))
        return "sent"


class Mailer(DependencyProvider):
    def setup(self):
        self.database = find_dependency(self.container, Database)
        if self.database is None:
            raise RuntimeError("Mailer needs a Database dependency on %s" % self.container.service_name)

    def get_dependency(self, worker_ctx):
        return OutgoingMail(self, worker_ctx)
