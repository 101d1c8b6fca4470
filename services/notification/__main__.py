"""``python -m services.notification`` runs the service; ``python -m services.notification
reseal-webhook-secrets`` encrypts every stored webhook secret again under the first key."""
import sys

if __name__ == "__main__" and sys.argv[1:2] == ["reseal-webhook-secrets"]:
    from services.notification.cli import reseal_webhook_secrets
    raise SystemExit(reseal_webhook_secrets(sys.argv[2:]))

from plumbing.runner import main  # noqa: E402 - first: it patches the standard library for eventlet
from plumbing import config as cfg  # noqa: E402
from services.notification import channels, webhooks  # noqa: E402

SMTP_SETTINGS = ("SMTP_HOST", "SMTP_PORT", "SMTP_FROM", "SMTP_USER", "SMTP_PASSWORD", "SMTP_STARTTLS",
                 "SMTP_TIMEOUT")
# the routing table's channels (services/notification/service.py and README say what each does)
CHANNEL_SETTINGS = ("WEBHOOKS_ALLOW_HTTP_LOOPBACK", "WEBHOOK_MAX_ATTEMPTS", "WEBHOOK_RETRY_BASE", "WEBHOOK_RETRY_MAX",
                    "WEBHOOK_DISABLE_AFTER", "WEBHOOK_SECRET_OVERLAP_SECONDS", "EMAIL_MAX_ATTEMPTS",
                    "EMAIL_RETRY_BASE", "CUSTOMER_ONLINE_SECONDS", "INBOUND_MAIL_DOMAIN")


def webhook_secret_keys():
    """The keys, checked now: without usable ones the service refuses to start, saying why."""
    keys = webhooks.secret_keys_text(cfg.env, cfg.LOCAL_DIR)
    try:
        webhooks.SecretKeys(keys)
    except ValueError as error:
        print("vowrewards: notification does not start: %s" % error, file=sys.stderr)
        raise SystemExit(2)
    return keys


if __name__ == "__main__":
    raise SystemExit(main("notification", "services.notification.service:NotificationService",
                          NOTIFICATION_REPLY_SECRET=channels.reply_secret(cfg.env),
                          # the service refuses to start without them (webhook secrets are kept encrypted)
                          WEBHOOK_SECRET_KEYS=webhook_secret_keys(),
                          **{name: cfg.env(name) for name in SMTP_SETTINGS + CHANNEL_SETTINGS}))
