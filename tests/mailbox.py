"""A real SMTP server for tests (aiosmtpd's ``Controller`` on a free port) that keeps what it receives."""
import email
import email.policy
import socket
import threading

from aiosmtpd.controller import Controller


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Mailbox:
    """``with Mailbox() as box``: ``box.port`` takes mail; ``box.to(address)`` is what arrived for it."""

    def __init__(self, port=None):
        self.port = port or free_port()
        self.messages = []  # (envelope recipients, parsed message)
        self._lock = threading.Lock()
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.original_content or envelope.content,
                                           policy=email.policy.default)
        with self._lock:
            self.messages.append((list(envelope.rcpt_tos), message))
        return "250 OK"

    def to(self, address):
        with self._lock:
            return [message for recipients, message in self.messages if address in recipients]

    def start(self):
        self._controller.start()
        return self

    def stop(self):
        self._controller.stop()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()


def text_of(message):
    """The plain-text body, with the wire's CRLF line ends as \n."""
    return message.get_body(preferencelist=("plain",)).get_content().replace("\r\n", "\n")
