"""``python -m services.redemption``"""
from plumbing.runner import main  # first: it patches the standard library for eventlet
from plumbing import config as cfg


def qr_signing_keys():
    """The current key signs; previous ones (comma-separated) still verify QRs printed before a rotation."""
    current = (cfg.read_key("QR_SIGNING_KEY") or "").strip()
    previous = [key.strip() for key in cfg.env("QR_SIGNING_KEYS_PREVIOUS", "").split(",") if key.strip()]
    return [current] + previous if current else previous


if __name__ == "__main__":
    raise SystemExit(main("redemption", "services.redemption.service:RedemptionService",
                          QR_SIGNING_KEYS=qr_signing_keys(),
                          REVERSAL_WINDOW_HOURS=cfg.env_float("REVERSAL_WINDOW_HOURS", 72)))
