"""``python -m services.support``"""
from plumbing.runner import main  # first: it patches the standard library for eventlet

if __name__ == "__main__":
    raise SystemExit(main("support", "services.support.service:SupportService"))
