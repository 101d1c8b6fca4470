"""``python -m services.settlement``"""
from plumbing.runner import main  # first: it patches the standard library for eventlet

if __name__ == "__main__":
    raise SystemExit(main("settlement", "services.settlement.service:SettlementService"))
