"""Local keys for ``make run``: generated once under ``.local/keys`` (git-ignored).

On Kubernetes the same settings come from Secrets (see deploy/k8s/README.md).
"""
import os
import secrets

from cryptography.fernet import Fernet

from plumbing import config as cfg
from plumbing.auth import generate_keypair

KEYS = cfg.LOCAL_DIR / "keys"


def ensure_local_keys():
    """Create the JWT key pair and the QR signing key if they are missing; returns their env."""
    KEYS.mkdir(parents=True, exist_ok=True)
    private_path, public_path = KEYS / "jwt-private-key.pem", KEYS / "jwt-public-key.pem"
    if not (private_path.exists() and public_path.exists()):
        private_pem, public_pem = generate_keypair()
        private_path.write_text(private_pem)
        os.chmod(private_path, 0o600)
        public_path.write_text(public_pem)
    qr_path = KEYS / "qr-signing-key"
    if not qr_path.exists():
        qr_path.write_text(secrets.token_urlsafe(32))
        os.chmod(qr_path, 0o600)
    reply_path = KEYS / "notification-reply-secret"  # signs the reply tokens of support mail
    if not reply_path.exists():
        reply_path.write_text(secrets.token_urlsafe(32))
        os.chmod(reply_path, 0o600)
    webhook_keys_path = KEYS / "webhook-secret-keys"  # encrypt the webhook endpoints' secrets at rest
    if not webhook_keys_path.exists():
        webhook_keys_path.write_text(Fernet.generate_key().decode())
        os.chmod(webhook_keys_path, 0o600)
    return {
        "NOTIFICATION_REPLY_SECRET_FILE": str(reply_path),
        "WEBHOOK_SECRET_KEYS_FILE": str(webhook_keys_path),
        "JWT_PRIVATE_KEY_FILE": str(private_path),
        "JWT_PUBLIC_KEY_FILE": str(public_path),
        "QR_SIGNING_KEY_FILE": str(qr_path),
    }
