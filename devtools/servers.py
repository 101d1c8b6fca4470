"""Find or start the PostgreSQL and RabbitMQ that ``make run`` and ``make test`` need.

A server already reachable at the configured URL is reused as it is.
Otherwise, for a local address, a project-local one is started from the
system's server binaries with its data under ``.local/`` (git-ignored); when
the binaries are missing they are installed from the system's packages where
that is possible (root on Debian or Ubuntu), and otherwise one line says what
to install. Servers started here are stopped again by ``stop()``.
"""
import os
import glob
import pwd
import shutil
import socket
import subprocess
import sys
import time
from urllib.parse import urlsplit

from plumbing import config as cfg

LOCAL = cfg.LOCAL_DIR
PG_DIR = LOCAL / "postgres"
RABBIT_DIR = LOCAL / "rabbitmq"
RABBIT_NODE = os.environ.get("VOWREWARDS_RABBITMQ_NODENAME", "vowrewards@localhost")  # several local brokers: make faults
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1", "")


class SetupError(SystemExit):
    """One clear line for the user, then exit."""

    def __init__(self, message):
        super().__init__("vowrewards: " + message)


def say(message):
    print("vowrewards: " + message, flush=True)


def port_open(host, port, timeout=1.0):
    try:
        with socket.create_connection((host or "127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_for_port(host, port, seconds, what):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if port_open(host, port):
            return
        time.sleep(0.3)
    raise SetupError("%s did not start listening on %s:%s within %ds" % (what, host, port, seconds))


def is_root():
    return os.geteuid() == 0


def can_install_packages():
    return is_root() and shutil.which("apt-get") is not None


_apt_updated = []


def install_packages(*packages):
    if not _apt_updated:
        subprocess.run(["apt-get", "update", "-qq"], check=True)
        _apt_updated.append(True)
    say("installing %s from the system's packages" % " ".join(packages))
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    # policy-rc.d keeps the packages' own services from starting: we start ours
    policy = "/usr/sbin/policy-rc.d"
    wrote_policy = not os.path.exists(policy)
    if wrote_policy:
        with open(policy, "w") as fh:
            fh.write("#!/bin/sh\nexit 101\n")
        os.chmod(policy, 0o755)
    try:
        subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends"] + list(packages),
                       check=True, env=env)
    finally:
        if wrote_policy:
            os.remove(policy)


def local_address(url, default_port, what):
    """(host, port) of a server we may start here; a remote one we never start."""
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    if host not in LOCAL_HOSTS:
        raise SetupError("%s at %s is unreachable (it is not local, so none is started)" % (what, _safe(url)))
    return host, parts.port or default_port


def find_or_install(find, package, what, url, setting):
    """The server's binary: found, or installed from the system's packages when we may."""
    found = find()
    if found is None:
        if not can_install_packages():
            raise SetupError("%s is not running at %s and not installed: install it (Debian/Ubuntu: "
                             "sudo apt-get install %s) or set %s" % (what, _safe(url), package, setting))
        install_packages(package)
        found = find()
        if found is None:
            raise SetupError("installing %s did not provide it; install %s by hand" % (package, what))
    return found


def run_as(user, argv, **kwargs):
    """Run ``argv`` as ``user`` when we are root (servers refuse to run as root)."""
    if is_root() and user:
        argv = ["runuser", "-u", user, "--"] + argv
    return subprocess.run(argv, **kwargs)


# -- PostgreSQL -------------------------------------------------------------------
def postgres_reachable(url):
    import psycopg2
    try:
        psycopg2.connect(url, dbname="postgres", connect_timeout=3).close()
        return True
    except psycopg2.OperationalError as exc:
        # a server that answers but refuses us is reachable; starting another would not help
        text = str(exc)
        if "does not exist" in text or "authentication" in text or "password" in text:
            raise SetupError("PostgreSQL at %s refused us: %s" % (_safe(url), text.strip()))
        return False


def find_pg_bindir():
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True)
    for path in candidates:
        if os.path.exists(os.path.join(path, "pg_ctl")):
            return path
    pg_ctl = shutil.which("pg_ctl")
    return os.path.dirname(pg_ctl) if pg_ctl else None


def _version_key(path):
    try:
        return float(path.split("/")[-2])
    except ValueError:
        return 0.0


def ensure_postgres(url):
    """Returns a stop function when a project-local server was started, else None."""
    if postgres_reachable(url):
        return None
    host, port = local_address(url, 5432, "PostgreSQL")
    bindir = find_or_install(find_pg_bindir, "postgresql", "PostgreSQL", url, "DATABASE_URL")
    owner = "postgres" if is_root() else None
    if is_root() and not _user_exists("postgres"):
        raise SetupError("running as root needs a 'postgres' system user to run PostgreSQL")
    data = PG_DIR / "data"
    sockets = PG_DIR / "run"
    for path in (PG_DIR, sockets):
        path.mkdir(parents=True, exist_ok=True)
        if owner:
            shutil.chown(path, owner, owner)
    superuser = urlsplit(url).username or "postgres"
    if not (data / "PG_VERSION").exists():
        say("initialising a project-local PostgreSQL in %s" % data)
        run_as(owner, [os.path.join(bindir, "initdb"), "-D", str(data), "-U", superuser,
                       "--auth=trust", "-E", "UTF8", "--locale=C"],
               check=True, stdout=subprocess.DEVNULL)
    say("starting a project-local PostgreSQL on %s:%d" % (host, port))
    options = "-p %d -k %s -c listen_addresses=%s" % (port, sockets, "127.0.0.1" if host in
                                                       ("localhost", "") else host)
    run_as(owner, [os.path.join(bindir, "pg_ctl"), "-D", str(data), "-o", options,
                   "-l", str(PG_DIR / "postgres.log"), "-w", "-t", "60", "start"],
           check=True, stdout=subprocess.DEVNULL)
    wait_for_port(host, port, 30, "PostgreSQL")

    def stop():
        run_as(owner, [os.path.join(bindir, "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return stop


def _user_exists(name):
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def _safe(url):
    parts = urlsplit(url)
    return "%s:%s" % (parts.hostname, parts.port or "")


# -- RabbitMQ ---------------------------------------------------------------------
def amqp_reachable(uri):
    from kombu import Connection
    parts = urlsplit(uri)
    if not port_open(parts.hostname, parts.port or 5672):
        return False
    try:
        with Connection(_root_vhost(uri), connect_timeout=5) as conn:
            conn.ensure_connection(max_retries=1)
        return True
    except Exception as exc:
        raise SetupError("RabbitMQ at %s refused us: %s" % (_safe(uri), exc))


def _root_vhost(uri):
    parts = urlsplit(uri)
    return "%s://%s/" % (parts.scheme, parts.netloc)


def find_rabbitmq_server():
    for path in ("/usr/lib/rabbitmq/bin/rabbitmq-server", "/usr/local/sbin/rabbitmq-server",
                 "/opt/homebrew/sbin/rabbitmq-server", "/usr/local/opt/rabbitmq/sbin/rabbitmq-server"):
        if os.path.exists(path):
            return path
    return shutil.which("rabbitmq-server")


def rabbit_env(port):
    for sub in ("mnesia", "log", "home"):
        (RABBIT_DIR / sub).mkdir(parents=True, exist_ok=True)
    conf = RABBIT_DIR / "rabbitmq.conf"
    conf.write_text("listeners.tcp.1 = 127.0.0.1:%d\nloopback_users = none\n" % port)
    env_file = RABBIT_DIR / "rabbitmq-env.conf"
    env_file.write_text("")
    plugins = RABBIT_DIR / "enabled_plugins"
    plugins.write_text("[].\n")
    env = dict(os.environ)
    env.update({
        "RABBITMQ_NODENAME": RABBIT_NODE,
        "RABBITMQ_NODE_PORT": str(port),
        "RABBITMQ_DIST_PORT": str(port + 20000),
        "RABBITMQ_MNESIA_BASE": str(RABBIT_DIR / "mnesia"),
        "RABBITMQ_LOG_BASE": str(RABBIT_DIR / "log"),
        "RABBITMQ_CONFIG_FILE": str(conf.with_suffix("")),
        "RABBITMQ_CONF_ENV_FILE": str(env_file),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(plugins),
        "RABBITMQ_PID_FILE": str(RABBIT_DIR / "rabbitmq.pid"),
        "HOME": str(RABBIT_DIR / "home"),
    })
    return env


def ensure_rabbitmq(uri):
    """Returns a stop function when a project-local broker was started, else None."""
    if amqp_reachable(uri):
        return None
    host, port = local_address(uri, 5672, "RabbitMQ")
    server = find_or_install(find_rabbitmq_server, "rabbitmq-server", "RabbitMQ", uri, "AMQP_URI")
    env = rabbit_env(port)
    say("starting a project-local RabbitMQ on %s:%d" % (host, port))
    subprocess.run([server, "-detached"], env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_port(host, port, 90, "RabbitMQ")
    ctl = os.path.join(os.path.dirname(server), "rabbitmqctl")
    subprocess.run([ctl, "-n", RABBIT_NODE, "await_startup", "--timeout", "60"], env=env,
                   check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.environ["VOWREWARDS_RABBITMQ_NODE"] = RABBIT_NODE

    def stop():
        subprocess.run([ctl, "-n", RABBIT_NODE, "stop"], env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return stop


# -- RabbitMQ virtual hosts (test isolation) --------------------------------------
def _rabbitmqctl_command():
    ctl = shutil.which("rabbitmqctl") or "/usr/sbin/rabbitmqctl"
    argv = [ctl]
    node = os.environ.get("VOWREWARDS_RABBITMQ_NODE")
    env = None
    if node:
        server = find_rabbitmq_server()
        argv = [os.path.join(os.path.dirname(server), "rabbitmqctl"), "-n", node]
        env = rabbit_env(int(urlsplit(cfg.env("AMQP_URI", cfg.DEFAULT_AMQP_URI)).port or 5672))
    return argv, env


def rabbitmqctl(*args):
    """Run rabbitmqctl against the broker in use (ours if we started one)."""
    argv, env = _rabbitmqctl_command()
    return subprocess.run(argv + list(args), env=env, capture_output=True, text=True)


def have_rabbitmqctl():
    return bool(shutil.which("rabbitmqctl") or os.environ.get("VOWREWARDS_RABBITMQ_NODE"))


def _management_api(method, path, uri, **kwargs):
    import requests
    from urllib.parse import unquote
    parts = urlsplit(uri)
    api = cfg.env("RABBITMQ_API_URL", "http://%s:15672" % (parts.hostname or "127.0.0.1"))
    return requests.request(method, api + path, auth=(unquote(parts.username or "guest"),
                                                      unquote(parts.password or "guest")),
                            timeout=10, **kwargs)


def create_vhost(uri, vhost):
    """Create an isolated vhost (rabbitmqctl, else the management API)."""
    from urllib.parse import quote
    user = urlsplit(uri).username or "guest"
    result = None
    if shutil.which("rabbitmqctl") or os.environ.get("VOWREWARDS_RABBITMQ_NODE"):
        result = rabbitmqctl("add_vhost", vhost)
        if result.returncode == 0:
            rabbitmqctl("set_permissions", "-p", vhost, user, ".*", ".*", ".*")
            return
    try:
        response = _management_api("PUT", "/api/vhosts/" + quote(vhost, safe=""), uri)
        if response.status_code in (201, 204):
            _management_api("PUT", "/api/permissions/%s/%s" % (quote(vhost, safe=""), user), uri)
            return
    except Exception:
        pass
    detail = result.stderr.strip().splitlines()[-1] if result is not None and result.stderr else ""
    raise SetupError("could not create a test vhost on RabbitMQ (needs rabbitmqctl on this "
                     "machine or the management plugin) %s" % detail)


def delete_vhost(uri, vhost):
    from urllib.parse import quote
    if shutil.which("rabbitmqctl") or os.environ.get("VOWREWARDS_RABBITMQ_NODE"):
        if rabbitmqctl("delete_vhost", vhost).returncode == 0:
            return
    try:
        _management_api("DELETE", "/api/vhosts/" + quote(vhost, safe=""), uri)
    except Exception:
        pass


# -- RabbitMQ users: one per component -------------------------------------------------
def _broker_is_local(uri):
    return (urlsplit(uri).hostname or "127.0.0.1") in LOCAL_HOSTS


def provision_broker_users(uri, users):
    """Create (or update) ``users`` (component -> (user, password)) with their permissions in the
    vhost of ``uri`` (``plumbing.broker.permissions`` and ``topic_permissions``): one ``rabbitmqctl import_definitions`` for
    a local broker, else the management HTTP API. Raises ``SetupError`` when neither can."""
    import json
    from urllib.parse import quote
    from plumbing import broker
    vhost = broker.vhost_of(uri)
    detail = ""
    if have_rabbitmqctl() and _broker_is_local(uri):
        # on standard input: the file would have to be readable by the broker's own user
        argv, env = _rabbitmqctl_command()
        result = subprocess.run(argv + ["import_definitions", "--format", "json"], env=env,
                                input=json.dumps(broker.definitions(vhost, users)),
                                capture_output=True, text=True)
        if result.returncode == 0:
            return _await_users(uri, users)
        detail = (result.stderr or result.stdout).strip().splitlines()[-1:] or [""]
        detail = detail[0]
    try:
        for component, (user, password) in users.items():
            created = _management_api("PUT", "/api/users/" + quote(user, safe=""), uri,
                                      json={"password": password, "tags": ""})
            granted = _management_api("PUT", "/api/permissions/%s/%s" % (quote(vhost, safe=""),
                                                                          quote(user, safe="")),
                                      uri, json=broker.permissions(component))
            statuses = [created.status_code, granted.status_code]
            for grant in broker.topic_permissions(component):
                statuses.append(_management_api(
                    "PUT", "/api/topic-permissions/%s/%s" % (quote(vhost, safe=""), quote(user, safe="")),
                    uri, json=grant).status_code)
            if any(status not in (201, 204) for status in statuses):
                raise SetupError("the management API refused user %s: HTTP %s" % (
                    user, "/".join(map(str, statuses))))
        return _await_users(uri, users)
    except SetupError:
        raise
    except Exception as exc:
        detail = detail or str(exc)
    raise SetupError("could not create the broker users (needs rabbitmqctl for a local broker, "
                     "or the management plugin) %s" % detail)


def _await_users(uri, users, timeout=15.0):
    """Definitions are imported asynchronously: wait until each user can open the vhost."""
    from kombu import Connection
    from urllib.parse import quote
    deadline = time.monotonic() + timeout
    for user, password in users.values():
        url = cfg.with_user(uri, quote(user, safe=""), quote(password, safe=""))
        while True:
            try:
                with Connection(url, connect_timeout=5) as conn:
                    conn.ensure_connection(max_retries=1)
                break
            except Exception as exc:
                if time.monotonic() > deadline:
                    raise SetupError("broker user %s cannot connect after being created: %s" % (user, exc))
                time.sleep(0.2)


def delete_broker_users(uri, names):
    """Delete broker users (they are global, not per vhost); best effort."""
    from urllib.parse import quote
    names = list(names)
    if have_rabbitmqctl() and _broker_is_local(uri):
        argv, env = _rabbitmqctl_command()
        running = [subprocess.Popen(argv + ["delete_user", name], env=env, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL) for name in names]
        if all(process.wait() == 0 for process in running):
            return
    for name in names:
        try:
            _management_api("DELETE", "/api/users/" + quote(name, safe=""), uri)
        except Exception:
            pass


def ensure_all():
    """Make both servers reachable; returns the stop functions of those we started."""
    stops = []
    for ensure, url in ((ensure_postgres, cfg.admin_database_url()),
                        (ensure_rabbitmq, cfg.env("AMQP_URI", cfg.DEFAULT_AMQP_URI))):
        stop = ensure(url)
        if stop:
            stops.append(stop)
    return stops


def stop_all(stops):
    for stop in reversed(stops):
        stop()


if __name__ == "__main__":
    started = ensure_all()
    say("servers ready%s" % (" (started %d project-local)" % len(started) if started else ""))
    sys.exit(0)
