"""``make run``: everything on one machine, as separate processes.

1. reuse (or start project-local) PostgreSQL and RabbitMQ;
2. create the local keys, the database, roles and schemas, and migrate;
3. start the five services and the gateway with honcho (Procfile);
4. once every process is ready, seed the demo merchant and print how to sign in;
5. on Ctrl-C stop the processes, then any server started in step 1.
"""
import os
import secrets
import signal
import subprocess
import sys
import time

import requests

from devtools import servers
from devtools.keys import ensure_local_keys
from plumbing import config as cfg

GATEWAY_PORT = cfg.env_int("GATEWAY_PORT", 8000)


def component_env(overrides=None):
    """The environment every process gets (keys, roles, local defaults, then ``overrides``)."""
    env = dict(os.environ)
    env.update(ensure_local_keys())
    env.update(overrides or {})
    env.setdefault("DATABASE_URL", cfg.admin_database_url())
    env.setdefault("AMQP_URI", cfg.env("AMQP_URI", cfg.DEFAULT_AMQP_URI))
    env.setdefault("LOG_FORMAT", "json")
    env["MIGRATE_ON_START"] = "0"  # done once, below, before anything starts
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env["PYTHONPATH"] = str(cfg.REPO_ROOT)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def migrate():
    """Bootstrap and migrate in this process: it learns whether per-service roles are in use."""
    from plumbing.migrate import main as migrate_main
    migrate_main(["--bootstrap"])


def start_processes(env, stdout=None):
    """Every component as its own process, under honcho (which stops them all on SIGTERM)."""
    return subprocess.Popen([sys.executable, "-m", "honcho", "start", "-f", str(cfg.REPO_ROOT / "Procfile")],
                            env=env, cwd=str(cfg.REPO_ROOT), stdout=stdout, stderr=subprocess.STDOUT if stdout
                            else None, start_new_session=stdout is not None)


def stop_processes(processes, timeout=30):
    if processes.poll() is None:
        processes.send_signal(signal.SIGTERM)  # honcho stops every process gracefully
        try:
            processes.wait(timeout=timeout)
        except (subprocess.TimeoutExpired, KeyboardInterrupt):
            processes.kill()


def health_ports(env=None):
    env = os.environ if env is None else env
    return {name: int(env.get(name.upper() + "_HEALTH_PORT") or port) for name, port in cfg.HEALTH_PORTS.items()}


def wait_until_ready(processes, timeout=90, env=None):
    deadline = time.monotonic() + timeout
    pending = health_ports(env)
    while pending and time.monotonic() < deadline:
        if processes.poll() is not None:
            raise servers.SetupError("a process exited while starting; see its log lines above")
        for name, port in list(pending.items()):
            try:
                if requests.get("http://127.0.0.1:%d/readyz" % port, timeout=2).ok:
                    del pending[name]
            except requests.RequestException:
                pass
        time.sleep(0.5)
    if pending:
        raise servers.SetupError("not ready after %ds: %s" % (timeout, ", ".join(sorted(pending))))


def seed_demo(env, password):
    from gateway.seed import DEMO_WALLET_ADDRESS, seed
    admin_url = env.get("DATABASE_URL") or cfg.admin_database_url()
    seed(cfg.with_user(admin_url, cfg.service_role("gateway")) if cfg.role_per_service() else admin_url, password)
    base = "http://127.0.0.1:%d/api/v1" % int(env.get("GATEWAY_PORT") or GATEWAY_PORT)
    token = requests.post(base + "/auth/token", json={"username": "demo-owner", "password": password},
                          timeout=10).json()["access_token"]
    headers = {"Authorization": "Bearer " + token}
    account = requests.get(base + "/settlements/payout-account", headers=headers, timeout=10)
    if account.status_code == 404:
        # as in the portal's queue: the wallet is set up but its address is not yet confirmed
        requests.put(base + "/settlements/payout-account", json={"wallet_address": DEMO_WALLET_ADDRESS},
                     headers=headers, timeout=10).raise_for_status()


def banner(password, generated):
    lines = [
        "",
        "VowRewards is running: http://127.0.0.1:%d/api/v1  (OpenAPI: /api/v1/openapi.json)" % GATEWAY_PORT,
        "Demo logins (POST /api/v1/auth/token), all with password: %s%s" % (
            password, "  (random: set VOWREWARDS_DEMO_PASSWORD to choose one)" if generated else ""),
        "  demo-owner    owner of VowRewards Demo Merchant",
        "  demo-store    store user at Main Street Store",
        "  demo-agent    support agent",
        "  demo-finance  finance",
        "  demo-admin    platform admin",
        "Health and metrics: http://127.0.0.1:9100-9105/{healthz,readyz,metrics}.  Ctrl-C stops everything.",
        "",
    ]
    print("\n".join(lines), flush=True)


def stop_on_sigterm(signum, frame):
    raise KeyboardInterrupt


def main():
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    started = servers.ensure_all()
    processes = None
    try:
        migrate()
        env = component_env()
        processes = start_processes(env)
        wait_until_ready(processes)
        password = cfg.env("VOWREWARDS_DEMO_PASSWORD")
        generated = not password
        password = password or secrets.token_urlsafe(12)
        seed_demo(env, password)
        banner(password, generated)
        return processes.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        if processes is not None:
            stop_processes(processes)
        servers.stop_all(started)


if __name__ == "__main__":
    sys.exit(main())
