"""The QR signing keys, from configuration: the first signs, all of them verify."""
from nameko.extensions import DependencyProvider

from services.redemption import qr_signing


class QrKeys:
    def __init__(self, keys):
        self.keys = keys

    def sign(self, code, expires_at=None):
        return qr_signing.sign_payload(code, self.keys, expires_at)

    def verify(self, text, now=None):
        return qr_signing.verify_payload(text, self.keys, now)


class QrSigning(DependencyProvider):
    def setup(self):
        keys = [key for key in self.container.config.get("QR_SIGNING_KEYS") or () if key]
        if not keys:
            raise RuntimeError("QR_SIGNING_KEY is not configured for the redemption service")
        self.keys = QrKeys(keys)

    def get_dependency(self, worker_ctx):
        return self.keys
