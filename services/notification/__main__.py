"""``python -m services.notification``"""
from plumbing.runner import main  # first: it patches the standard library for eventlet
from plumbing import config as cfg
from services.notification import channels, webhooks

SMTP_SETTINGS = ("SMTP_HOST", "SMTP_PORT", "SMTP_FROM", "SMTP_USER", "SMTP_PASSWORD", "SMTP_STARTTLS",
                 "SMTP_TIMEOUT")
# the routing table's channels (services/notification/service.py and README say what each does)
CHANNEL_SETTINGS = ("WEBHOOKS_ALLOW_HTTP_LOOPBACK", "WEBHOOK_MAX_ATTEMPTS", "WEBHOOK_RETRY_BASE", "WEBHOOK_RETRY_MAX",
                    "WEBHOOK_DISABLE_AFTER", "WEBHOOK_SECRET_OVERLAP_SECONDS", "EMAIL_MAX_ATTEMPTS",
                    "EMAIL_RETRY_BASE", "CUSTOMER_ONLINE_SECONDS", "INBOUND_MAIL_DOMAIN")

if __name__ == "__main__":
    raise SystemExit(main("notification", "services.notification.service:NotificationService",
                          NOTIFICATION_REPLY_SECRET=channels.reply_secret(cfg.env),
                          # the service refuses to start without them (webhook secrets are kept encrypted)
                          WEBHOOK_SECRET_KEYS=webhooks.secret_keys_text(cfg.env, cfg.LOCAL_DIR),
                          **{name: cfg.env(name) for name in SMTP_SETTINGS + CHANNEL_SETTINGS}))
