"""``make run``: everything on one machine, as separate processes.

1. reuse (or start project-local) PostgreSQL and RabbitMQ;
2. create the local keys, the database, roles and schemas, and migrate;
3. create one broker user per component with its permissions (passwords under
   ``.local/keys``) and declare the whole event topology as the admin;
4. start the five services and the gateway (Procfile), each started again should it exit
   (``devtools.supervise``: as Kubernetes restarts a pod, not honcho's stop-everything);
5. once every process is ready, seed the demo merchant and print how to sign in;
6. on Ctrl-C stop the processes, then any server started in step 1.

A second ``make run`` while one runs says so and exits: the sockets use SO_REUSEPORT, so a second
gateway would bind the same port and silently take half the traffic.

``Stack`` is those steps as one object, which the benchmark and the end-to-end
test start too (with their own database, vhost and ports when they like).
"""
import fcntl
import os
import secrets
import signal
import socket
import sys
import time

import requests

from devtools import mail, portal, servers
from devtools.supervise import Supervisor
from devtools.keys import ensure_local_keys
from plumbing import config as cfg


def component_env(overrides=None):
    """The environment every process gets (keys, roles, local defaults, then ``overrides``)."""
    env = dict(os.environ)
    env.update(ensure_local_keys())
    env.update(overrides or {})
    env.setdefault("DATABASE_URL", cfg.admin_database_url())
    env.setdefault("AMQP_URI", cfg.env("AMQP_URI", cfg.DEFAULT_AMQP_URI))
    env.setdefault("GATEWAY_PORT", "8000")
    env.setdefault("LOG_FORMAT", "json")
    env.setdefault("WEBHOOKS_ALLOW_HTTP_LOOPBACK", "1")  # development: webhooks to http://127.0.0.1 too
    env["MIGRATE_ON_START"] = "0"  # done once, below, before anything starts
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env["PYTHONPATH"] = str(cfg.REPO_ROOT)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def component_url(env, component):
    admin = env["DATABASE_URL"]
    return cfg.with_user(admin, cfg.service_role(component)) if env["DB_ROLE_PER_SERVICE"] == "1" else admin


def migrate(env):
    """Create the database, roles and schemas, then migrate every component.

    Records in ``env`` whether per-service roles could be created.
    """
    from plumbing.migrations import bootstrap, upgrade
    roles = bootstrap(env["DATABASE_URL"], roles=env.get("DB_ROLE_PER_SERVICE", "1") not in ("0", "false"))
    env["DB_ROLE_PER_SERVICE"] = "1" if roles else "0"
    for component in cfg.ALL_COMPONENTS:
        upgrade(component, component_url(env, component))


# -- the broker: a user per component, its permissions, the topology --------------------
def broker_credentials(env):
    """component -> (user, password): the password from ``<COMPONENT>_AMQP_PASSWORD``, else the
    file under ``.local/keys`` (created once, never in git), where the component reads it."""
    credentials = {}
    for component in cfg.ALL_COMPONENTS:
        user = cfg.broker_user(component, env)
        password = env.get(component.upper() + "_AMQP_PASSWORD")
        if not password:
            path = cfg.broker_password_file(user)
            if not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(str(path), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w") as fh:
                    fh.write(secrets.token_hex(24))
            password = path.read_text().strip()
        credentials[component] = (user, password)
    return credentials


def bootstrap_broker(env):
    """Create the broker users (rabbitmqctl, else the management API) and declare the topology.

    Where no user can be created, says so in one line and falls back to every component
    sharing ``AMQP_URI`` (``BROKER_USER_PER_SERVICE=0``, recorded in ``env``).
    """
    from plumbing.topology import declare_topology
    admin = env["AMQP_URI"]
    if cfg.broker_user_per_service(env):
        credentials = broker_credentials(env)
        try:
            servers.provision_broker_users(admin, credentials)
            servers.say("broker: one user per component (%s)" % ", ".join(
                user for user, _ in credentials.values()))
        except servers.SetupError as exc:
            servers.say("%s; falling back to one shared broker user (BROKER_USER_PER_SERVICE=0): "
                        "events are NOT checked for their publisher" % str(exc).replace("vowrewards: ", ""))
            env["BROKER_USER_PER_SERVICE"] = "0"
    declare_topology(admin)


def health_ports(env):
    return {name: int(env.get(name.upper() + "_HEALTH_PORT") or env.get("HEALTH_PORT") or port)
            for name, port in cfg.HEALTH_PORTS.items()}


def wait_until_ready(processes, env, timeout=90):
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


def ports_in_use(env):
    """``[(what, port)]`` of this stack's ports something already answers on (a running stack)."""
    ports = [("gateway", int(env["GATEWAY_PORT"]))]
    ports += [("%s health" % name, port) for name, port in sorted(health_ports(env).items()) if port]
    busy = []
    for what, port in ports:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        except OSError:
            continue
        busy.append((what, port))
    return busy


def refuse_a_second_stack(env):
    busy = ports_in_use(env)
    if busy:
        raise servers.SetupError(
            "vowrewards: a stack is already running here (%s answer%s): stop it first, or give this "
            "one other ports (GATEWAY_PORT, <COMPONENT>_HEALTH_PORT)" % (
                ", ".join("%s on %d" % each for each in busy), "s" if len(busy) == 1 else ""))


def hold_run_lock():
    """The lock one ``make run`` of this checkout holds while it runs (None: another holds it)."""
    path = cfg.LOCAL_DIR / "run.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.seek(0)
        holder = handle.read().strip()
        handle.close()
        raise servers.SetupError("vowrewards: `make run` is already running from this checkout%s; "
                                 "stop it first (Ctrl-C in its terminal)" % (
                                     " (pid %s)" % holder if holder else ""))
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


def seed_demo(env, password):
    """The demo merchant (gateway's tables), then its unconfirmed payout wallet (through the API)."""
    from gateway.seed import DEMO_WALLET_ADDRESS, seed
    seed(component_url(env, "gateway"), password)
    base = "http://127.0.0.1:%s/api/v1" % env["GATEWAY_PORT"]
    token = requests.post(base + "/auth/token", json={"username": "demo-owner", "password": password},
                          timeout=10).json()["access_token"]
    headers = {"Authorization": "Bearer " + token}
    account = requests.get(base + "/settlements/payout-account", headers=headers, timeout=10)
    if account.status_code == 404:
        # as in the portal's queue: the wallet is set up but its address is not yet confirmed
        requests.put(base + "/settlements/payout-account", json={"wallet_address": DEMO_WALLET_ADDRESS},
                     headers=headers, timeout=10).raise_for_status()


class Stack:
    """Servers, migrations, every process (supervised), the demo seed; ``stop()`` undoes it all.

    ``overrides`` changes the environment (another database, vhost or ports);
    ``stdout`` takes the processes' log lines (the terminal by default).
    """

    def __init__(self, password, overrides=None, stdout=None, timeout=90):
        self.started, self.processes, self.mail = [], None, None
        try:
            self.started = servers.ensure_all()
            portal.build()  # the portal's files, served by the gateway at /portal/ (one line if it cannot)
            self.env = component_env(overrides)
            refuse_a_second_stack(self.env)
            self.mail = mail.start(self.env)  # unless SMTP_HOST names a real mail server
            migrate(self.env)
            bootstrap_broker(self.env)
            self.processes = Supervisor(cfg.REPO_ROOT / "Procfile", self.env, str(cfg.REPO_ROOT), stdout)
            wait_until_ready(self.processes, self.env, timeout)
            seed_demo(self.env, password)
            self.processes.keep_running()
        except BaseException:
            self.stop()
            raise

    @property
    def url(self):
        return "http://127.0.0.1:%s" % self.env["GATEWAY_PORT"]

    def stop(self, timeout=30):
        if self.processes is not None and self.processes.poll() is None:
            try:
                self.processes.send_signal(signal.SIGTERM)  # every process stops gracefully
            except KeyboardInterrupt:
                self.processes.kill()
        self.processes = None
        mail.stop(self.mail)
        self.mail = None
        servers.stop_all(self.started)
        self.started = []


def banner(url, password, generated):
    lines = [
        "",
        "VowRewards is running: %s/api/v1  (OpenAPI: /api/v1/openapi.json)" % url,
        "The merchant portal: %s/portal/" % url,
        "Demo logins (POST /api/v1/auth/token), all with password: %s%s" % (
            password, "  (random: set VOWREWARDS_DEMO_PASSWORD to choose one)" if generated else ""),
        "  demo-owner    owner of VowRewards Demo Merchant",
        "  demo-store    store user at Main Street Store",
        "  demo-agent    support agent",
        "  demo-finance  finance",
        "  demo-admin    platform admin",
        "  demo-platform-finance  platform finance (confirms payout addresses, grants funding)",
        "Health and metrics: http://127.0.0.1:9100-9105/{healthz,readyz,metrics}.  Ctrl-C stops everything.",
        "Email (unless SMTP_HOST is set) goes to the development mail server: one file per message in %s"
        % mail.mail_directory(os.environ),
        "",
    ]
    print("\n".join(lines), flush=True)


def stop_on_sigterm(signum, frame):
    raise KeyboardInterrupt


def main():
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    password = cfg.env("VOWREWARDS_DEMO_PASSWORD")
    generated = not password
    password = password or secrets.token_urlsafe(12)
    stack = None
    try:
        lock = hold_run_lock()  # noqa: F841 - held (open) until this process ends
        stack = Stack(password)
        banner(stack.url, password, generated)
        return stack.processes.wait()
    except KeyboardInterrupt:
        return 0
    except servers.SetupError as exc:
        print(exc, file=sys.stderr)
        return 1
    finally:
        if stack is not None:
            stack.stop()


if __name__ == "__main__":
    sys.exit(main())
