"""``python -m gateway``: the HTTP API on GATEWAY_PORT (8000)."""
from plumbing.runner import main  # first: it patches the standard library for eventlet
from plumbing import config as cfg

if __name__ == "__main__":
    raise SystemExit(main(
        "gateway", "gateway.service:GatewayService",
        WEB_SERVER_ADDRESS="%s:%d" % (cfg.env("GATEWAY_HOST", "0.0.0.0"), cfg.env_int("GATEWAY_PORT", 8000)),
        JWT_PRIVATE_KEY=cfg.read_key("JWT_PRIVATE_KEY"),
        ACCESS_TOKEN_SECONDS=cfg.env_int("ACCESS_TOKEN_SECONDS", 900)))
