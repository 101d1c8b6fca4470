"""Webhooks: signed HTTPS deliveries to the endpoints owners register, guarded against SSRF.

Signature (what a receiver checks, in five lines)::

    t, v1 = (dict(p.split("=", 1) for p in request.headers["VowRewards-Signature"].split(",")))[k]
                for k in ("t", "v1"))
    expected = hmac.new(secret, f"{t}.".encode() + raw_body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(expected, v1) and abs(time.time() - int(t)) < 300

``VowRewards-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "t.body">[,v1=...]``: during a secret
rotation's overlap there is one ``v1`` per live secret; any one matching is enough.
``VowRewards-Event-Id`` and ``VowRewards-Event-Type`` name the event (a receiver deduplicates on the id).

SSRF: a URL must be https (``WEBHOOKS_ALLOW_HTTP_LOOPBACK=1``, the dev overlay and tests, also allows
``http://127.0.0.1``), and its host must resolve only to public addresses, checked when it is
registered and again at every delivery, which then connects to the very address it checked (a DNS
answer that changes in between cannot send it elsewhere).

At rest each endpoint's secret is encrypted (``SecretKeys``: Fernet under ``WEBHOOK_SECRET_KEYS``,
comma-separated; the first key encrypts, every key decrypts, so a new key goes first and the old one
stays until nothing is encrypted under it): a copy of the database does not let anyone sign as us.
"""
import hashlib
import hmac
import http.client
import ipaddress
import json
import secrets
import socket
import ssl
import time
from pathlib import Path
from urllib.parse import urlsplit

from cryptography.fernet import Fernet, MultiFernet

SIGNATURE_HEADER = "VowRewards-Signature"
SECRET_PREFIX = "whsec_"
TIMEOUT = 10.0
MAX_RESPONSE = 2048


class UnsafeUrl(ValueError):
    """A URL we will not call: not https, or it resolves where a webhook must not go."""


class SecretKeys:
    """The endpoints' secrets sealed at rest: ``seal`` with the first key, ``open`` with any of them."""

    SETTING = "WEBHOOK_SECRET_KEYS"

    def __init__(self, keys):
        if isinstance(keys, str):
            keys = keys.replace("\n", ",").split(",")
        keys = [key.strip() for key in keys or () if key and key.strip()]
        if not keys:
            raise ValueError("%s is not set: webhook secrets are stored encrypted under it (comma-separated "
                             "Fernet keys, the first encrypts; make one with `python -c \"from "
                             "cryptography.fernet import Fernet; print(Fernet.generate_key().decode())\"`)"
                             % self.SETTING)
        try:
            self._fernet = MultiFernet([Fernet(key) for key in keys])
        except ValueError:
            raise ValueError("%s must be Fernet keys (32 url-safe base64-encoded bytes each), comma-separated"
                             % self.SETTING) from None

    def seal(self, secret):
        return self._fernet.encrypt(secret.encode()).decode()

    def open(self, sealed):
        """The secret; ``cryptography.fernet.InvalidToken`` if no key of ours sealed it."""
        return self._fernet.decrypt(sealed.encode()).decode()

    def reseal(self, sealed):
        """Sealed again under the first key (after a rotation)."""
        return self._fernet.rotate(sealed.encode()).decode()


def secret_keys_text(env, local_dir=None):
    """``WEBHOOK_SECRET_KEYS``, else the file ``WEBHOOK_SECRET_KEYS_FILE`` names (a Kubernetes Secret),
    else the one ``make run`` generated under ``.local/keys``; None when there is none."""
    inline, path = env(SecretKeys.SETTING), env(SecretKeys.SETTING + "_FILE")
    if inline:
        return inline
    if not path and local_dir is not None and (Path(local_dir) / "keys" / "webhook-secret-keys").exists():
        path = Path(local_dir) / "keys" / "webhook-secret-keys"
    return Path(path).read_text().strip() if path else None


def new_secret():
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def signature(secrets_, body, timestamp=None):
    """The header's value for ``body`` (bytes), signed with every live secret."""
    timestamp = int(timestamp if timestamp is not None else time.time())
    signed = str(timestamp).encode() + b"." + body
    return ",".join(["t=%d" % timestamp] + ["v1=" + hmac.new(s.encode(), signed, hashlib.sha256).hexdigest()
                                            for s in secrets_])


def verify(secret, header, body, tolerance=300, now=None):
    """What a receiver does (and our tests): True if one v1 is ``secret``'s over ``t.body``."""
    parts = [part.split("=", 1) for part in header.split(",") if "=" in part]
    timestamp = next((value for key, value in parts if key == "t"), None)
    if timestamp is None or not timestamp.isdigit() or abs((now or time.time()) - int(timestamp)) > tolerance:
        return False
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, value) for key, value in parts if key == "v1")


def _public(address):
    ip = ipaddress.ip_address(address)
    if ip.version == 6 and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_global and not (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast
                                 or ip.is_reserved or ip.is_unspecified)


def resolve(url, allow_http_loopback=False):
    """(scheme, host, port, path, the address to connect to) for a URL we may call; UnsafeUrl otherwise."""
    parts = urlsplit(url)
    host = parts.hostname
    if not host or parts.username or parts.password:
        raise UnsafeUrl("Give an https URL with a host and no credentials")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise UnsafeUrl("The port is not valid")
    path = (parts.path or "/") + ("?" + parts.query if parts.query else "")
    if parts.scheme == "http" and allow_http_loopback and host == "127.0.0.1":
        return "http", host, port, path, "127.0.0.1"  # development only (a setting)
    if parts.scheme != "https":
        raise UnsafeUrl("Webhook URLs must be https")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise UnsafeUrl("The host %s does not resolve" % host)
    addresses = [info[4][0] for info in infos]
    if not addresses or not all(_public(address) for address in addresses):
        raise UnsafeUrl("The host %s resolves to a loopback, link-local or private address" % host)
    return "https", host, port, path, addresses[0]


class _PinnedHTTPS(http.client.HTTPSConnection):
    """HTTPS to the address we checked, with the certificate checked for the URL's host name."""

    def __init__(self, host, port, address, **kwargs):
        super().__init__(host, port, context=ssl.create_default_context(), **kwargs)
        self._address = address

    def connect(self):
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def post(url, body, headers, allow_http_loopback=False, timeout=TIMEOUT):
    """POST ``body`` to ``url`` (checked again now); (status, first bytes of the answer)."""
    scheme, host, port, path, address = resolve(url, allow_http_loopback)
    if scheme == "https":
        connection = _PinnedHTTPS(host, port, address, timeout=timeout)
    else:
        connection = http.client.HTTPConnection(address, port, timeout=timeout)
    try:
        connection.request("POST", path, body=body, headers=dict(headers, Host=host if port in (80, 443)
                                                                 else "%s:%d" % (host, port)))
        response = connection.getresponse()
        return response.status, response.read(MAX_RESPONSE).decode("utf-8", "replace")
    finally:
        connection.close()


def envelope(event_id, event_type, payload, occurred_at):
    """The JSON body a receiver gets."""
    return json.dumps({"id": event_id, "type": event_type, "occurred_at": occurred_at, "data": payload},
                      separators=(",", ":"), sort_keys=True, default=str).encode()
