"""``python -m gateway``: the HTTP API on GATEWAY_PORT (8000)."""
from plumbing.runner import main  # first: it patches the standard library for eventlet
from plumbing import config as cfg

if __name__ == "__main__":
    raise SystemExit(main(
        "gateway", "gateway.service:GatewayService",
        WEB_SERVER_ADDRESS="%s:%d" % (cfg.env("GATEWAY_HOST", "0.0.0.0"), cfg.env_int("GATEWAY_PORT", 8000)),
        JWT_PRIVATE_KEY=cfg.read_key("JWT_PRIVATE_KEY"),
        ACCESS_TOKEN_SECONDS=cfg.env_int("ACCESS_TOKEN_SECONDS", 900),
        # slow and abusive clients (see gateway/http.py, gateway/throttle.py, README)
        **{name: cfg.env(name) for name in (
            "GATEWAY_READ_TIMEOUT", "GATEWAY_IDLE_TIMEOUT", "GATEWAY_MAX_CONNECTIONS", "GATEWAY_MAX_JSON_BYTES",
            "GATEWAY_TRUSTED_PROXIES", "GATEWAY_SIGN_IN_HASHES", "GATEWAY_SIGN_IN_WAIT",
            "GATEWAY_PHOTO_DECODES", "GATEWAY_PHOTO_WAIT", "SSE_HEARTBEAT_SECONDS", "API_CLIENT_GRACE_SECONDS")}))
