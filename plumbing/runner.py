"""Run one component as its own process: ``python -m services.redemption``.

Patches the standard library for eventlet before anything opens a socket,
applies the component's migrations (unless ``MIGRATE_ON_START=0``, as on
Kubernetes where a Job does it), declares the whole event topology, then runs
the nameko container until SIGTERM or Ctrl-C, stopping gracefully (in-flight
workers finish, unacknowledged messages return to their queues).
"""
import warnings

warnings.filterwarnings("ignore", message="(?s).*Eventlet is deprecated")  # it says so on import

import eventlet  # noqa: E402

eventlet.monkey_patch()  # noqa: E402 - must precede every other import

import errno  # noqa: E402
import importlib  # noqa: E402
import logging  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
import warnings  # noqa: E402

from kombu import Connection  # noqa: E402
from nameko.runners import ServiceRunner  # noqa: E402

from plumbing import config as cfg  # noqa: E402
from plumbing.logs import configure_logging  # noqa: E402

log = logging.getLogger("vowrewards.runner")


def load(path):
    module_name, _, attr = path.partition(":")
    return getattr(importlib.import_module(module_name), attr)


def declare_all(config, topology):
    from plumbing.events import declare_topology
    with Connection(config["AMQP_URI"], connect_timeout=10) as connection:
        connection.ensure_connection(max_retries=5)
        return declare_topology(topology(), config, connection)


def main(component, service_path, topology, **config_overrides):
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    configure_logging(component, level=cfg.env("LOG_LEVEL", "INFO"),
                      fmt=cfg.env("LOG_FORMAT", "json"))
    config = cfg.service_config(component, **config_overrides)
    service_cls = load(service_path)

    if cfg.env("MIGRATE_ON_START", "1") not in ("0", "false", "no"):
        from plumbing.migrations import upgrade
        upgrade(component, config["DATABASE_URL"])
    queues = declare_all(config, topology)
    log.info("declared %d subscriber queues", len(queues))

    runner = ServiceRunner(config)
    runner.add_service(service_cls)

    def shutdown(signum, frame):
        log.info("stopping %s (signal %d)", component, signum)
        eventlet.spawn_n(runner.stop)

    signal.signal(signal.SIGTERM, shutdown)
    runner.start()
    log.info("%s started (health on port %s)", component, config.get("HEALTH_PORT"))
    runnlet = eventlet.spawn(runner.wait)
    while True:
        try:
            runnlet.wait()
            break
        except OSError as exc:
            if exc.errno == errno.EINTR:
                continue
            raise
        except KeyboardInterrupt:
            try:
                runner.stop()
            except KeyboardInterrupt:
                runner.kill()
    log.info("%s stopped", component)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit("run a component with: python -m services.<name> or python -m gateway")
