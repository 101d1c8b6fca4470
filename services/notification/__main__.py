"""``python -m services.notification``"""
from plumbing.runner import main  # first: it patches the standard library for eventlet
from services.catalog import service_classes

if __name__ == "__main__":
    raise SystemExit(main("notification", "services.notification.service:NotificationService", service_classes))
