"""Mail in: each merchant's support address (``<support_local>@INBOUND_MAIL_DOMAIN``) takes mail;
each one becomes ``notification.email_received`` (support makes a ticket of it, or a message on the
ticket or conversation a verified reply token names).

``python -m services.notification.inbound`` (``make run`` starts it; ``INBOUND_SMTP_PORT``, default
2525, on ``INBOUND_SMTP_ADDRESS``) is an aiosmtpd server of its own: aiosmtpd is asyncio, which does
not share a process with eventlet. It refuses recipients that are no merchant's support address at
RCPT, and answers 250 to DATA only once the mail and its event are committed in one transaction on
the notification schema: the event goes into the service's outbox, which the notification service's
outbox sweep publishes within ``OUTBOX_SWEEP_MIN_AGE`` + ``OUTBOX_SWEEP_INTERVAL`` seconds (nothing lost
if either process dies in between; a sender whose DATA got no 250 sends again).

Like every process it answers ``/healthz``, ``/readyz`` (the SMTP server listens and the notification
schema answers) and ``/metrics`` on ``HEALTH_PORT`` (Kubernetes: 9100; locally ``INBOUND_HEALTH_PORT``,
none when unset) at ``HEALTH_ADDRESS``: a plain thread, as the process has no nameko container.

A reply token (``support+<what>.<mac>@...``, see ``channels.py``) is trusted only when its HMAC
(``NOTIFICATION_REPLY_SECRET``) verifies; a forged or stale-secret token makes the mail a new ticket,
never a message on somebody else's ticket. The subject is never used to match.
"""
import argparse
import asyncio
import email
import email.policy
import json
import logging
import re
import signal
import threading
import time
import uuid
from datetime import datetime, timezone
from email.utils import parseaddr
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg2
import psycopg2.extras
from aiosmtpd.controller import Controller
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from plumbing import config as cfg
from services.notification import channels
from services.notification.contract.events import EmailReceived

log = logging.getLogger(__name__)

DEFAULT_PORT = 2525
MAX_BODY_CHARS = 100000
QUOTE_INTRO = re.compile(r"^On .{0,200} wrote:\s*$")


def plain_text(message):
    """The plain-text body without the quoted history a reply carries."""
    part = message.get_body(preferencelist=("plain", "html"))
    text = part.get_content() if part is not None else ""
    if part is not None and part.get_content_type() == "text/html":
        text = re.sub(r"<[^>]+>", " ", text)
    lines = []
    for line in text.splitlines():
        if line.startswith(">") or QUOTE_INTRO.match(line.strip()):
            break
        lines.append(line.rstrip())
    return "\n".join(lines).strip()[:MAX_BODY_CHARS] or "(no text)"


class Inbox:
    """The aiosmtpd handler: support addresses in, ``email_received`` out (through the outbox)."""

    def __init__(self, database_url, domain, secret):
        self.database_url, self.domain, self.secret = database_url, domain.lower(), secret

    def _connect(self):
        return psycopg2.connect(self.database_url, options="-c search_path=notification",
                                cursor_factory=psycopg2.extras.RealDictCursor, application_name="notification-inbound")

    def merchant_for(self, cursor, address):
        local, token = channels.split_address(address)
        if not address.lower().endswith("@" + self.domain):
            return None, None
        cursor.execute("SELECT merchant_id FROM merchant_mail WHERE support_local = %s", (local,))
        row = cursor.fetchone()
        return (str(row["merchant_id"]) if row else None), token

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        merchant_id, _ = await asyncio.get_running_loop().run_in_executor(None, self._lookup, address)
        if merchant_id is None:
            return "550 5.1.1 No such support address"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    def _lookup(self, address):
        with self._connect() as connection, connection.cursor() as cursor:
            return self.merchant_for(cursor, address)

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.original_content or envelope.content, policy=email.policy.default)
        try:
            await asyncio.get_running_loop().run_in_executor(None, self.receive, envelope.rcpt_tos, message)
        except Exception:
            log.exception("could not keep a received mail")
            return "451 4.3.0 Try again later"
        return "250 OK"

    def receive(self, recipients, message):
        """One ``email_received`` per support address the mail went to, committed with the mail."""
        from_name, from_address = parseaddr(str(message.get("From", "")))
        subject = str(message.get("Subject", "")).strip()[:500] or "(no subject)"
        body = plain_text(message)
        with self._connect() as connection, connection.cursor() as cursor:
            for address in recipients:
                merchant_id, token = self.merchant_for(cursor, address)
                if merchant_id is None:
                    continue
                answers = channels.read_reply_token(self.secret, token) if token else None
                mail = {"id": str(uuid.uuid4()), "merchant_id": merchant_id, "to_address": address.lower(),
                        "from_address": from_address, "from_name": from_name or None, "subject": subject,
                        "body": body, "message_id": str(message.get("Message-ID") or "") or None,
                        "ticket_reference": answers[1] if answers and answers[0] == "ticket" else None,
                        "conversation_id": answers[1] if answers and answers[0] == "conversation" else None,
                        "outcome": "reply" if answers else ("forged_token" if token else "new")}
                cursor.execute(
                    "INSERT INTO inbound_mails (id, merchant_id, to_address, from_address, from_name, subject, body, "
                    "message_id, ticket_reference, conversation_id, outcome) VALUES (%(id)s, %(merchant_id)s, "
                    "%(to_address)s, %(from_address)s, %(from_name)s, %(subject)s, %(body)s, %(message_id)s, "
                    "%(ticket_reference)s, %(conversation_id)s, %(outcome)s)", mail)
                received_at = datetime.now(timezone.utc)
                payload = EmailReceived.to_wire(EmailReceived.of(
                    mail_id=mail["id"], merchant_id=merchant_id, to_address=mail["to_address"],
                    from_address=from_address, from_name=mail["from_name"], subject=subject, body=body,
                    message_id=mail["message_id"], ticket_reference=mail["ticket_reference"],
                    conversation_id=mail["conversation_id"], received_at=received_at))
                cursor.execute("INSERT INTO outbox (event_id, event_type, payload, occurred_at) VALUES "
                               "(%s, %s, %s, %s)", (str(uuid.uuid4()), EmailReceived.event_type,
                                                     json.dumps(payload), received_at))
                log.info("mail to %s from %s kept (%s)", address, from_address, mail["outcome"])


def start(database_url, domain, secret, port, hostname="127.0.0.1"):
    controller = Controller(Inbox(database_url, domain, secret), hostname=hostname, port=port)
    controller.start()
    return controller


class Health:
    """Liveness, readiness and metrics on their own port, in a thread of their own."""

    def __init__(self, address, port, database_url, controller):
        self.database_url, self.controller = database_url, controller
        health = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path == "/metrics":
                    return self._answer(200, generate_latest(REGISTRY), CONTENT_TYPE_LATEST)
                if self.path == "/healthz":
                    return self._json(200, {"status": "alive", "service": "notification-inbound"})
                if self.path == "/readyz":
                    checks = health.readiness()
                    ok = all(error is None for error in checks.values())
                    return self._json(200 if ok else 503, {
                        "status": "ready" if ok else "not_ready", "service": "notification-inbound",
                        "checks": {name: error or "ok" for name, error in checks.items()}})
                return self._json(404, {"error": {"code": "not_found", "message": self.path, "fields": {}}})

            def _json(self, status, body):
                self._answer(status, json.dumps(body).encode(), "application/json")

            def _answer(self, status, payload, content_type):
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *_):
                pass  # probes every few seconds are not worth a line each

        self.server = ThreadingHTTPServer((address, port), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, name="health", daemon=True).start()

    def readiness(self):
        checks = {}
        for name, check in (("database", self._database), ("smtp", self._smtp)):
            try:
                check()
                checks[name] = None
            except Exception as error:  # a probe reports, it never raises
                checks[name] = "%s: %s" % (type(error).__name__, str(error).strip() or "failed")
        return checks

    def _database(self):
        with psycopg2.connect(self.database_url, connect_timeout=2, options="-c search_path=notification") as conn, \
                conn.cursor() as cursor:
            cursor.execute("SELECT 1 FROM merchant_mail LIMIT 1")
        conn.close()

    def _smtp(self):
        # asked of the server, not by connecting to it: a probe every few seconds is no SMTP session
        server = self.controller.server
        if server is None or not server.is_serving():
            raise RuntimeError("the SMTP server is not listening")

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=cfg.env_int("INBOUND_SMTP_PORT", DEFAULT_PORT))
    parser.add_argument("--address", default=cfg.env("INBOUND_SMTP_ADDRESS", "127.0.0.1"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=cfg.env("LOG_LEVEL", "INFO"), format="%(asctime)s %(name)s %(message)s")
    domain = cfg.env("INBOUND_MAIL_DOMAIN", channels.DEFAULT_INBOUND_DOMAIN)
    while True:
        try:
            controller = start(cfg.service_database_url("notification"), domain, channels.reply_secret(cfg.env),
                               args.port, args.address)
            break
        except (OSError, RuntimeError) as error:
            # a taken port must not take the rest of `make run` down with it (an exit before the stack is
            # ready stops every process: devtools.supervise)
            log.error("support mail in cannot listen on %s:%d (%s): set INBOUND_SMTP_PORT; trying again in 10 s",
                      args.address, args.port, error)
            time.sleep(10)
    log.info("support mail in on %s:%d for @%s", args.address, args.port, domain)
    health_port = cfg.env("HEALTH_PORT") or cfg.env("INBOUND_HEALTH_PORT")
    health = Health(cfg.env("HEALTH_ADDRESS", "127.0.0.1"), int(health_port), cfg.service_database_url("notification"),
                    controller) if health_port else None
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        asyncio.run(asyncio.Event().wait())
    except KeyboardInterrupt:
        pass
    finally:
        if health is not None:
            health.stop()
        controller.stop()


if __name__ == "__main__":
    main()
