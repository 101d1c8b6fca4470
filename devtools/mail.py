"""A development mail server for ``make run``: every message it receives becomes a file.

``python -m devtools.mail --port 8025 --directory .local/mail`` runs an SMTP server
(aiosmtpd) that delivers nowhere: each message is written, as received, to
``<directory>/<UTC time>-<id>.eml``. The ``Stack`` starts it unless ``SMTP_HOST`` names a
real server, and points the notification service at it.
"""
import argparse
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

from devtools.servers import SetupError
from plumbing import config as cfg

DEFAULT_PORT = 8025


def mail_directory(env):
    return Path(env.get("DEV_MAIL_DIR") or cfg.LOCAL_DIR / "mail")


class MailDirectory:
    """aiosmtpd handler: one ``.eml`` file per message."""

    def __init__(self, directory):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)

    async def handle_DATA(self, server, session, envelope):
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
        path = self.directory / ("%s-%s.eml" % (stamp, uuid.uuid4().hex[:8]))
        partial = path.with_suffix(".part")
        partial.write_bytes(envelope.original_content or envelope.content)
        partial.rename(path)  # readers never see half a message
        return "250 Message accepted for delivery"


def serve(host, port, directory):
    from aiosmtpd.controller import Controller
    controller = Controller(MailDirectory(directory), hostname=host, port=port)
    controller.start()
    print("development mail server on %s:%d, writing to %s" % (host, port, directory), flush=True)
    stopped = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopped.set())
    stopped.wait()
    controller.stop()


def accepting(host, port):
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def start(env, timeout=15):
    """Start the development server unless ``SMTP_HOST`` names one; sets ``SMTP_HOST`` / ``SMTP_PORT``
    in ``env`` for the processes. Returns the server's process (None when not started)."""
    if env.get("SMTP_HOST"):
        return None
    port = int(env.get("SMTP_PORT") or DEFAULT_PORT)
    directory = mail_directory(env)
    process = subprocess.Popen([sys.executable, "-m", "devtools.mail", "--port", str(port),
                                "--directory", str(directory)], env=env, cwd=str(cfg.REPO_ROOT))
    deadline = time.monotonic() + timeout
    while not accepting("127.0.0.1", port):
        if process.poll() is not None or time.monotonic() > deadline:
            stop(process)
            raise SetupError("the development mail server did not start on port %d (is it taken? "
                               "set SMTP_PORT, or SMTP_HOST for a real server)" % port)
        time.sleep(0.1)
    env.update(SMTP_HOST="127.0.0.1", SMTP_PORT=str(port))
    return process


def stop(process, timeout=10):
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("SMTP_PORT") or DEFAULT_PORT))
    parser.add_argument("--directory", default=str(mail_directory(os.environ)))
    args = parser.parse_args(argv)
    serve(args.host, args.port, args.directory)
    return 0


if __name__ == "__main__":
    sys.exit(main())
