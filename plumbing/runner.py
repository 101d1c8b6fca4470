"""Run one component as its own process: ``python -m services.redemption``.

Patches the standard library for eventlet before anything opens a socket,
applies the component's migrations (unless ``MIGRATE_ON_START=0``, as on
Kubernetes where an init container does it), waits until the operator's
bootstrap has declared the event topology (``plumbing.broker``: the process
itself, as its own broker user, may declare only its own queues), then runs
the nameko container until SIGTERM or Ctrl-C, stopping gracefully (in-flight
workers finish, unacknowledged messages return to their queues).
"""
import warnings

warnings.filterwarnings("ignore", message="(?s).*Eventlet is deprecated")  # it says so on import

import eventlet  # noqa: E402

eventlet.monkey_patch()  # noqa: E402 - must precede every other import (plumbing/framework.py says why)

import errno  # noqa: E402
import gc  # noqa: E402
import importlib  # noqa: E402
import logging  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
import warnings  # noqa: E402

from nameko.runners import ServiceRunner  # noqa: E402

from plumbing import config as cfg  # noqa: E402
from plumbing.logs import configure_logging  # noqa: E402

log = logging.getLogger("vowrewards.runner")


def load(path):
    module_name, _, attr = path.partition(":")
    return getattr(importlib.import_module(module_name), attr)


def check_broker_user(component, config):
    """Say which broker user this process is, and refuse to run as one whose events would be refused."""
    from plumbing.broker import user_of
    user = user_of(config["AMQP_URI"])
    expected = (config.get("BROKER_USERS") or {}).get(component)
    if expected is None:
        log.warning("broker: every component shares the user %s (BROKER_USER_PER_SERVICE=0): "
                    "events are not checked for their publisher", user)
    elif user != expected:
        raise cfg.ConfigError("%s connects to RabbitMQ as %s but BROKER_USERS says %s: every consumer "
                              "would refuse its events" % (component, user, expected))
    else:
        log.info("broker: connecting as %s (publishes only on %s.events)", user, component)


def await_topology(config):
    from plumbing.broker import wait_for_topology
    why = wait_for_topology(config["AMQP_URI"], timeout=cfg.env_float("TOPOLOGY_WAIT_SECONDS", 60))
    if why is not None:
        raise cfg.ConfigError("%s: run `make migrate` (or `python -m plumbing.migrate --topology` "
                              "with the admin AMQP_URI)" % why)


def freeze_startup_heap():
    """Keep what the started process holds (modules, schemas, the container, its pools) out of
    the collector's full passes, which otherwise walk all of it: a 45-75 ms stop of every worker
    of the process, measured under load, that a till waits through. Garbage made while starting
    is collected first, not kept."""
    gc.collect()
    gc.freeze()


def main(component, service_path, **config_overrides):
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    configure_logging(component, level=cfg.env("LOG_LEVEL", "INFO"),
                      fmt=cfg.env("LOG_FORMAT", "json"))
    try:
        config = cfg.service_config(component, **config_overrides)
        check_broker_user(component, config)
    except cfg.ConfigError as exc:
        log.error("%s", exc)
        return 2
    service_cls = load(service_path)

    if cfg.env("MIGRATE_ON_START", "1") not in ("0", "false", "no"):
        from plumbing.migrations import upgrade
        upgrade(component, config["DATABASE_URL"])
    try:
        await_topology(config)
    except cfg.ConfigError as exc:
        log.error("%s", exc)
        return 2

    runner = ServiceRunner(config)
    runner.add_service(service_cls)

    def shutdown(signum, frame):
        log.info("stopping %s (signal %d)", component, signum)
        eventlet.spawn_n(runner.stop)

    signal.signal(signal.SIGTERM, shutdown)
    runner.start()
    freeze_startup_heap()
    log.info("%s started (health on %s:%s)", component, config.get("HEALTH_ADDRESS"), config.get("HEALTH_PORT"))
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
