"""``python -m services.notification``"""
from plumbing.runner import main  # first: it patches the standard library for eventlet

if __name__ == "__main__":
    raise SystemExit(main("notification", "services.notification.service:NotificationService"))
