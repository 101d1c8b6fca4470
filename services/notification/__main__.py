"""``python -m services.notification``"""
from plumbing.runner import main  # first: it patches the standard library for eventlet
from plumbing import config as cfg

SMTP_SETTINGS = ("SMTP_HOST", "SMTP_PORT", "SMTP_FROM", "SMTP_USER", "SMTP_PASSWORD", "SMTP_STARTTLS",
                 "SMTP_TIMEOUT")

if __name__ == "__main__":
    raise SystemExit(main("notification", "services.notification.service:NotificationService",
                          **{name: cfg.env(name) for name in SMTP_SETTINGS}))
