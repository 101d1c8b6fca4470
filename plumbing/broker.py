"""Who may do what on the broker: one RabbitMQ user per component, and the operator's topology.

Every component (the gateway and each service) connects as its own broker user,
whose permissions in the vhost (three regular expressions: configure, write,
read; see https://www.rabbitmq.com/docs/access-control) let it:

* publish events only on its own topic exchange ``<component>.events``
  (basic.publish needs *write* on the exchange);
* use nameko RPC: publish requests and replies on ``nameko-rpc`` (write), declare,
  bind and consume its own ``rpc-<component>`` queue and its ``rpc.reply-<component>-<uuid>``
  reply queues (queue.declare needs *configure* on the queue, queue.bind *write* on the
  queue and *read* on the exchange, basic.consume *read* on the queue); a topic permission on
  ``nameko-rpc`` limits the keys it may bind to ``<component>.*`` and reply ids, so it cannot
  listen in on requests (and their bearer tokens) meant for another service;
* declare, bind and consume its own event-handler queues
  (``evt-<source>-<type>--<component>.<method>``), bound to any component's events
  exchange and to its own ``<component>.redeliver``;
* use its own retry queues ``<component>.retry.<ms>`` (their dead-letter exchange is
  its own ``<component>.redeliver``: declaring a queue with a DLX also needs *write* on that
  exchange and *read* on the queue) and publish replays on ``<component>.redeliver``;
* declare, bind to ``gateway.events`` and consume exclusive queues named
  ``broadcast.<component>.<anything>`` (a broadcast every replica hears).

It may configure (declare, and so also delete) nothing that is not its own: its queues, its
``redeliver`` exchange and its retry exchanges (named like its retry queues); never another
component's queue, ``nameko-rpc`` or any ``<component>.events`` exchange, not even its own
(deleting that would drop every subscriber's binding). Those shared exchanges and every
subscriber's queue are declared once by the operator's bootstrap, with the admin credentials
(``plumbing.topology.declare_topology``, from the table there), before any component starts; the
bootstrap's last act is the ``vowrewards.topology.<generation>`` marker each process waits for. A process then
declares (again, harmlessly) only what is its own.

Every event carries ``user_id`` = its publisher's user, which RabbitMQ checks against the
connection; consumers refuse events whose publisher does not own the event type
(``plumbing.events``).
"""
import base64
import hashlib
import logging
import os
import re
import time
from urllib.parse import unquote, urlsplit

from kombu import Connection

from plumbing import config as cfg

log = logging.getLogger(__name__)

RPC_EXCHANGE = "nameko-rpc"
# its generation goes up when a release changes bindings that running publishers rely on (2: every
# subscriber binds "<type>.#", plumbing.contracts): a process waits for its own code's bootstrap
TOPOLOGY_MARKER = "vowrewards.topology.2"

# Names are built from these pieces only (service names, event types, method names).
_WORD = "[a-z0-9_]+"


def permissions(component, rpc_exchange=RPC_EXCHANGE, event_sources=cfg.ALL_COMPONENTS):
    """The ``{"configure", "write", "read"}`` regular expressions of ``component``'s user.

    RabbitMQ matches them unanchored, so each is anchored here. ``event_sources`` are the
    components whose events exchanges it may bind its own queues to (reading events is not
    what needs guarding; publishing them is).
    """
    c = _literal(component)
    own_queues = [
        "rpc-%s" % c,                                          # nameko's RPC queue
        r"rpc\.reply-%s-[0-9a-f-]+" % c,                       # nameko's reply queues
        r"evt-%s-%s--%s\.%s" % (_WORD, _WORD, c, _WORD),        # its event handlers' queues
        r"%s\.retry\.[0-9]+" % c,                              # its retry queues (and exchanges)
        r"broadcast\.%s\..+" % c,                              # its broadcast queues
    ]
    own_exchanges = [r"%s\.events" % c, r"%s\.redeliver" % c, r"%s\.retry\.[0-9]+" % c]
    rpc = _literal(rpc_exchange)
    sources = [r"%s\.events" % _literal(source) for source in event_sources]
    return {
        # its queues, its redeliver exchange and its retry exchanges (named like the queues)
        "configure": _anchored(own_queues + [r"%s\.redeliver" % c]),
        # queue.bind needs write on the queue; publishing needs write on the exchange
        "write": _anchored(own_queues + own_exchanges + [rpc]),
        # basic.consume (and a DLX queue's declaration) reads the queue; queue.bind reads the exchange
        "read": _anchored(own_queues + [rpc, r"%s\.redeliver" % c, r"%s\.retry\.[0-9]+" % c] + sources),
    }


UUID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def topic_permissions(component, rpc_exchange=RPC_EXCHANGE):
    """Routing-key permissions on the RPC exchange (a topic exchange, where RabbitMQ checks a
    queue.bind's key against ``read``): ``component`` binds only ``<component>.*`` (its RPC queue)
    and reply keys, so it cannot bind a queue of its own to another service's requests, bearer
    tokens and all. Requests and replies may be published to any key."""
    return [{"exchange": rpc_exchange, "write": ".*",
             "read": "^(%s\\.\\*|%s)$" % (_literal(component), UUID)}]


def _literal(name):
    return re.escape(name).replace("\\-", "-")  # names hold [a-z0-9_.-]; a bare "-" is literal


def _anchored(patterns):
    unique = list(dict.fromkeys(patterns))
    return "^(%s)$" % "|".join(unique)


def operator_declares_exchanges(config):
    """With a broker user per component (``BROKER_USERS``) no process may declare (and so
    delete) a shared exchange: the operator's bootstrap declared them all."""
    return bool(config.get("BROKER_USERS"))


def user_of(amqp_uri):
    """The user an AMQP URI connects as (what RabbitMQ validates ``user_id`` against)."""
    parts = urlsplit(amqp_uri)
    return unquote(parts.username) if parts.username else "guest"


def password_hash(password, salt=None):
    """RabbitMQ's salted SHA-256 password hash (for definitions): base64(salt + sha256(salt + password))."""
    salt = os.urandom(4) if salt is None else salt
    return base64.b64encode(salt + hashlib.sha256(salt + password.encode("utf-8")).digest()).decode()


def definitions(vhost, users, rpc_exchange=RPC_EXCHANGE):
    """A RabbitMQ definitions document creating ``users`` (component -> (user, password)) with
    their permissions in ``vhost``; importing it adds or updates them and touches nothing else."""
    return {
        "users": [{"name": user, "password_hash": password_hash(password),
                   "hashing_algorithm": "rabbit_password_hashing_sha256", "tags": []}
                  for user, password in users.values()],
        "permissions": [dict(user=user, vhost=vhost, **permissions(component, rpc_exchange))
                        for component, (user, _) in users.items()],
        "topic_permissions": [dict(user=user, vhost=vhost, **grant)
                              for component, (user, _) in users.items()
                              for grant in topic_permissions(component, rpc_exchange)],
    }


def vhost_of(amqp_uri):
    path = urlsplit(amqp_uri).path
    return unquote(path[1:]) if len(path) > 1 else "/"


# -- the bootstrap's marker (``plumbing.topology.declare_topology`` declares it last) ---------------
def topology_declared(amqp_uri):
    """Whether the operator's bootstrap has run (a passive declare needs no permission)."""
    with Connection(amqp_uri, connect_timeout=10) as connection:
        connection.ensure_connection(max_retries=3)
        channel = connection.channel()
        try:
            channel.exchange_declare(TOPOLOGY_MARKER, "fanout", passive=True)
            return True
        except Exception as exc:
            if getattr(exc, "code", None) == 404:
                return False
            raise
        finally:
            try:
                channel.close()
            except Exception:
                pass


def wait_for_topology(amqp_uri, timeout=60.0, interval=2.0):
    """Wait until the bootstrap has declared the topology (the broker may still be starting).

    Returns None once it has; otherwise, after ``timeout``, why not (a sentence).
    """
    deadline = time.monotonic() + timeout
    said = False
    while True:
        try:
            if topology_declared(amqp_uri):
                return None
            why = "the event topology was never declared on this vhost"
        except Exception as exc:
            why = "the broker refused or did not answer (%s: %s)" % (type(exc).__name__, exc)
        if time.monotonic() >= deadline:
            return why
        if not said:
            log.warning("waiting for the event topology (declared by `make migrate`, `make run` "
                        "or the Kubernetes topology Job): %s", why)
            said = True
        time.sleep(interval)


def main(argv=None):
    """``python -m plumbing.broker [--vhost VHOST]``: the rabbitmqctl commands granting each
    component's user its permissions and topic permissions (for a broker no operator manages;
    create the users first with ``rabbitmqctl add_user <user> <password>``)."""
    import argparse
    import shlex
    parser = argparse.ArgumentParser(prog="python -m plumbing.broker", description=main.__doc__)
    parser.add_argument("--vhost", default="/")
    args = parser.parse_args(argv)
    for component in cfg.ALL_COMPONENTS:
        grant = permissions(component)
        print(" ".join(["rabbitmqctl", "set_permissions", "-p", shlex.quote(args.vhost),
                        shlex.quote(cfg.broker_user(component))]
                       + [shlex.quote(grant[key]) for key in ("configure", "write", "read")]))
        for topic in topic_permissions(component):
            print(" ".join(["rabbitmqctl", "set_topic_permissions", "-p", shlex.quote(args.vhost),
                            shlex.quote(cfg.broker_user(component))]
                           + [shlex.quote(topic[key]) for key in ("exchange", "write", "read")]))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
